import json

import pytest

from icrl.config import LearnConfig, ModelConfig, RunConfig, apply_overrides
from icrl.errors import ConfigError


def test_defaults_round_trip_through_json() -> None:
    cfg = RunConfig()
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_overrides_parse_json_values_and_nested_kwargs() -> None:
    cfg = apply_overrides(RunConfig(), ["learn.lr=3e-4", "env.kwargs.size=4", "model.sequence=gru",
                                        "learn.extra_gammas=[0.9]", "explore.randomize=false"])
    assert cfg.learn.lr == 3e-4 and cfg.env.kwargs == {"size": 4} and cfg.model.sequence == "gru"
    assert cfg.learn.gammas == (0.9, 0.999) and cfg.explore.randomize is False


def test_gammas_put_the_main_gamma_last_once() -> None:
    cfg = LearnConfig(gamma=0.99, extra_gammas=(0.9, 0.99))
    assert cfg.gammas == (0.9, 0.99)
    assert LearnConfig(use_multigamma=False).gammas == (0.999,)


@pytest.mark.parametrize(("override", "fragment"), [
    ("learn.gamma=1.5", "learn.gamma=1.5"),
    ("model.sequence=mamba2", "model.sequence"),
    ("model.n_heads=3", "divisor of model.d_model"),
    ("learn.lr=-1", "learn.lr"),
    ("learn.nope=1", "learn.nope"),
    ("bogus.x=1", "must start with one of"),
    ("learn.batch_size=abc", "wrong type"),
    ("learn.online_coeff=0", "learn.online_coeff") ,
    ("model.max_seq_len=1", "holds no transition"),
    ("model.max_seq_len=2", "train on no history"),
    ("model.mamba_scan=parallel", "model.mamba_scan"),
    ("model.mamba_d_state=0", "model.mamba_d_state"),
])
def test_bad_values_name_the_field(override: str, fragment: str) -> None:
    extra = ["learn.offline_coeff=0"] if override.startswith("learn.online_coeff") else []
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("=", "=")):
        apply_overrides(RunConfig(), [override, *extra])


def test_override_without_equals_explains_syntax() -> None:
    with pytest.raises(ConfigError, match="section.field=value"):
        apply_overrides(RunConfig(), ["learn.lr"])


def test_two_step_windows_are_for_the_feedforward_model_only() -> None:
    assert ModelConfig(sequence="feedforward", max_seq_len=2).max_seq_len == 2
    for sequence in ("transformer", "gru", "lstm"):
        assert ModelConfig(sequence=sequence, max_seq_len=3).max_seq_len == 3
        with pytest.raises(ConfigError, match="train on no history"):
            ModelConfig(sequence=sequence, max_seq_len=2)


def test_rope_needs_even_head_width() -> None:
    with pytest.raises(ConfigError, match="even head width"):
        ModelConfig(d_model=24, n_heads=8, pos_emb="rope")


def test_agent_switch_brings_the_multitask_defaults() -> None:
    """learn.agent=multitask: DPG off, BC weight 1, 3 baseline samples (method 7.1) unless set explicitly."""
    cfg = apply_overrides(RunConfig(), ["learn.agent=multitask"]).learn
    assert (cfg.online_coeff, cfg.offline_coeff, cfg.actor_samples) == (0.0, 1.0, 3)
    default = RunConfig().learn
    assert (default.agent, default.online_coeff, default.offline_coeff, default.actor_samples) == \
        ("amago", 1.0, 0.1, 1)
    explicit = apply_overrides(RunConfig(), ["learn.online_coeff=0.5", "learn.agent=multitask"]).learn
    assert explicit.online_coeff == 0.5 and explicit.offline_coeff == 1.0  # explicit values stay
    back = apply_overrides(apply_overrides(RunConfig(), ["learn.agent=multitask"]), ["learn.agent=amago"]).learn
    assert back == default
    for override, field in [("learn.agent=sac", "learn.agent"),
                            ("learn.critic_labels=gauss", "learn.critic_labels"),
                            ("learn.critic_bins=1", "learn.critic_bins"),
                            ("learn.critic_min_value=2e5", "learn.critic_max_value"),
                            ("learn.hlgauss_sigma=0", "learn.hlgauss_sigma")]:
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            apply_overrides(RunConfig(), ["learn.agent=multitask", override])
