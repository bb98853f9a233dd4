"""Networks: per-step encoders, sequence models, actor/critic heads and policy distributions."""
