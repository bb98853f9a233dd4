"""``model``: the networks (per-step encoder, sequence model, actor and critic heads)."""

from __future__ import annotations

from dataclasses import dataclass

from icrl.config.fields import NON_NEGATIVE, POSITIVE, UNIT, Section, one_of, registered, require, setting


def sequence_models() -> list[str]:
    """Names in the sequence-model registry (imported here, when a config is checked, so that the built-in
    models and those registered by user code are all known)."""
    from icrl.nets.sequence import sequence_model_names

    return sequence_model_names()


@dataclass(frozen=True)
class ModelConfig(Section):
    """Sizes and switches of the networks; positions are rollout time indices."""

    section = "model"

    sequence: str = setting("transformer",
                            "sequence model; feedforward has no memory, lstm and mamba are not in the method",
                            registered("sequence model", sequence_models,
                                       "add your own with icrl.nets.sequence.register_sequence_model"))
    d_model: int = setting(128, "width of the sequence model", POSITIVE)
    n_layers: int = setting(3, "layers of the sequence model", POSITIVE)
    n_heads: int = setting(8, "attention heads (transformer); must divide d_model", POSITIVE)
    d_ff: int = setting(0, "transformer feed-forward width (0 = 4 * d_model)", NON_NEGATIVE)
    pos_emb: str = setting("fixed", "position embedding: fixed (sinusoidal), learned (a table) or rope",
                           one_of("fixed", "learned", "rope"))
    max_time_idx: int = setting(0, "rows of the learned position table (0 = from the env's rollout length)",
                                NON_NEGATIVE)
    max_seq_len: int = setting(0, "context length in observations, training and acting alike (0 = whole "
                                  "rollout; else >= 3, or >= 2 for feedforward)", NON_NEGATIVE)
    dropout_emb: float = setting(0.05, "dropout on the sequence model's input embedding", UNIT)
    dropout_ff: float = setting(0.05, "dropout in the transformer's feed-forward blocks", UNIT)
    sigma_reparam: bool = setting(True, "sigma-reparameterised linear layers inside transformer layers")
    normformer_norms: bool = setting(True, "NormFormer's extra norms after attention and inside the FF block")
    head_scaling: bool = setting(True, "learnable per-head attention output scale")
    mamba_d_state: int = setting(16, "mamba: SSM state size per channel", POSITIVE)
    mamba_d_conv: int = setting(4, "mamba: kernel of the causal depthwise conv before the scan", POSITIVE)
    mamba_expand: int = setting(2, "mamba: inner width = mamba_expand * d_model", POSITIVE)
    mamba_scan: str = setting("auto", "mamba: full-pass scan; auto = mamba-ssm's CUDA kernel if installed and on a "
                                      "GPU, else sequential on a CPU (fastest there), chunked on other devices; all "
                                      "compute the same function", one_of("auto", "sequential", "chunked"))
    encoder_hidden: int = setting(128, "width of the per-step MLP encoder", POSITIVE)
    encoder_layers: int = setting(1, "hidden layers of the per-step MLP encoder", NON_NEGATIVE)
    encoder_out: int = setting(64, "width of the per-step embedding", POSITIVE)
    normalize_inputs: bool = setting(True, "running mean/std normalisation of vector observations")
    head_hidden: int = setting(256, "width of the actor and critic MLPs", POSITIVE)
    head_layers: int = setting(2, "hidden layers of the actor and critic MLPs", NON_NEGATIVE)
    separate_actor_trunk: bool = setting(
        False, "the actor gets its own encoder and sequence model trained by the actor loss alone, the critic "
               "keeps the other (false: one shared trunk trained end to end, as in the method)", beyond_method=True)

    def check(self) -> None:
        # a window of W observations holds W - 1 transitions, and its first state has seen nothing before it
        require(self.max_seq_len != 1, "model.max_seq_len", self.max_seq_len,
                "0 (whole rollouts) or >= 2: a window of 1 observation holds no transition to learn from")
        require(self.max_seq_len != 2 or self.sequence == "feedforward", "model.max_seq_len", self.max_seq_len,
                f">= 3 with model.sequence={self.sequence!r}: a window of 2 observations holds one transition, "
                "whose state is the window's first step, so the sequence model would train on no history at all "
                "(or use model.sequence=feedforward)")
        require(self.d_model % self.n_heads == 0, "model.n_heads", self.n_heads, "a divisor of model.d_model")
        if self.pos_emb == "rope":
            require((self.d_model // self.n_heads) % 2 == 0, "model.n_heads", self.n_heads,
                    "a value giving an even head width for rope")
