import numpy as np

from icrl.config import ExplorationConfig
from icrl.rollout.exploration import Exploration
from icrl.spaces import ActionSpec

FIVE_ACTIONS = ActionSpec("discrete", (5,))


def _explore(kind: str = "egreedy", spec: ActionSpec = FIVE_ACTIONS, **kw) -> Exploration:
    cfg = ExplorationConfig(kind=kind, randomize=False, anneal_steps=100, **kw)
    return Exploration(cfg, spec, num_envs=3, rollout_horizon=10, rng=np.random.default_rng(0))


def test_egreedy_schedule_is_linear_then_flat() -> None:
    ex = _explore(eps_start=1.0, eps_end=0.1)
    t = np.zeros(3)
    assert np.allclose(ex.epsilon(t), 1.0)
    ex.steps = 50
    assert np.allclose(ex.epsilon(t), 0.55)
    ex.steps = 1000
    assert np.allclose(ex.epsilon(t), 0.1)


def test_bilevel_decays_within_the_rollout() -> None:
    ex = _explore("bilevel", eps_start=1.0, eps_end=0.0, eps_end_start=0.5, eps_end_end=0.0)
    assert np.allclose(ex.epsilon(np.array([0, 5, 10])), [1.0, 0.75, 0.5])
    ex.steps = 100
    assert np.allclose(ex.epsilon(np.array([0, 5, 10])), [0.0, 0.0, 0.0])


def test_edges_explores_only_near_the_rollout_ends() -> None:
    ex = _explore("edges", eps_start=1.0, eps_end=0.2, edge_steps=2)  # rollout horizon 10
    assert np.allclose(ex.epsilon(np.array([0, 1, 2])), [1.0, 1.0, 0.0])  # one time index per env
    assert np.allclose(ex.epsilon(np.array([7, 8, 9])), [0.0, 1.0, 1.0])
    ex.steps = 100
    assert np.allclose(ex.epsilon(np.array([0, 5, 9])), [0.2, 0.0, 0.2])


def test_discrete_actions_replaced_at_rate_eps() -> None:
    ex = _explore(eps_start=0.3, eps_end=0.3)
    ex.multiplier = np.ones(3)
    actions = np.zeros(3, dtype=np.int64)
    changed = [ex.perturb(actions, np.zeros(3)) for _ in range(4000)]
    # a replacement draws uniformly from 5 actions, so 4/5 of replacements change the action
    rate = np.mean([c != 0 for c in changed])
    assert abs(rate - 0.3 * 0.8) < 0.02
    assert ex.steps == 4000


def test_gaussian_noise_is_clipped_to_unit_box() -> None:
    ex = _explore(spec=ActionSpec("box", box_dim=2), eps_start=1.0, eps_end=1.0)
    out = ex.perturb(np.full((3, 2), 0.9, dtype=np.float32), np.zeros(3))
    assert out.shape == (3, 2) and out.dtype == np.float32 and np.all(np.abs(out) <= 1.0)
    assert not np.allclose(out, 0.9)


def test_multidiscrete_components_stay_in_range() -> None:
    ex = _explore(spec=ActionSpec("multidiscrete", (2, 3)), eps_start=1.0, eps_end=1.0)
    out = ex.perturb(np.zeros((3, 2), dtype=np.int64), np.zeros(3))
    assert out.shape == (3, 2) and np.all(out[:, 0] < 2) and np.all(out[:, 1] < 3)


def test_state_round_trip() -> None:
    a = Exploration(ExplorationConfig(), ActionSpec("discrete", (2,)), 4, 10, np.random.default_rng(1))
    a.steps = 77
    b = Exploration(ExplorationConfig(), ActionSpec("discrete", (2,)), 4, 10, np.random.default_rng(2))
    b.load_state_dict(a.state_dict())
    assert b.steps == 77 and np.array_equal(a.multiplier, b.multiplier)


def test_uniform_box_noise_replaces_whole_actions_at_rate_eps() -> None:
    ex = _explore(spec=ActionSpec("box", box_dim=2), eps_start=0.3, eps_end=0.3, box_noise="uniform")
    ex.multiplier = np.ones(3)
    at_bound = np.full((3, 2), 1.0, dtype=np.float32)  # a policy mean stuck at the bound
    outs = np.stack([ex.perturb(at_bound, np.zeros(3)) for _ in range(4000)])  # (4000, 3, 2)
    replaced = np.any(outs != 1.0, axis=-1)
    assert outs.dtype == np.float32 and np.all(np.abs(outs) <= 1.0)
    assert abs(replaced.mean() - 0.3) < 0.02
    assert np.all(outs[replaced] != 1.0)  # both components are redrawn together
    assert abs(outs[replaced].mean()) < 0.05 and abs(outs[replaced].std() - 1 / np.sqrt(3)) < 0.02  # U[-1, 1]


def test_unknown_box_noise_is_rejected() -> None:
    import pytest

    from icrl.errors import ConfigError

    with pytest.raises(ConfigError, match="box_noise"):
        ExplorationConfig(box_noise="ou")


def test_a_restored_state_continues_the_noise_stream_instead_of_restarting_it() -> None:
    import json

    first = _explore(eps_start=0.5, eps_end=0.5)
    actions, t = np.zeros(3, np.int64), np.zeros(3)
    for _ in range(5):
        first.perturb(actions, t)
    saved = json.loads(json.dumps(first.state_dict()))  # what a checkpoint's meta.json holds
    resumed = _explore(eps_start=0.5, eps_end=0.5)  # built like a new session builds it: RNG from the seed
    restarted = [resumed.perturb(actions, t) for _ in range(20)]
    resumed = _explore(eps_start=0.5, eps_end=0.5)
    resumed.load_state_dict(saved)
    expected = [first.perturb(actions, t) for _ in range(20)]
    got = [resumed.perturb(actions, t) for _ in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(expected, got)) and resumed.steps == first.steps == 25
    assert not all(np.array_equal(a, b) for a, b in zip(expected, restarted))
