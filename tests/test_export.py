"""``icrl export``: the exported step, run by onnxruntime and by TorchScript, replays ``Agent.act``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from icrl.agent import Agent, make_agent, policy_params
from icrl.cli import main as cli_main
from icrl.config import RunConfig, apply_overrides
from icrl.envs import make_env
from icrl.envs.interface import split_observation
from icrl.errors import MissingExtraError
from icrl.export import ExportError, dist_outputs, export_policy, state_to_tensors
from icrl.nets.sequence import SequenceModel
from icrl.spaces import ActionSpec, ObsSpec
from icrl.train import train
from icrl.train.parts import EnvInfo, probe_env
from scaffold import TINY_MODEL

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

TOLERANCE = 1e-4  # max abs difference allowed between the exported step and Agent.act (measured: ~1e-7)
MODEL = [*TINY_MODEL, "model.n_layers=2"]  # two layers: the exported state stacks a cache per layer
# (sequence model, env, its kwargs, extra overrides): rollouts shorter than the 100 replayed steps, so the replay
# crosses rollout starts (state zeroed); the transformer's ring cache of 16 slots wraps around several times.
CASES = {
    "transformer": ("transformer", "testing-continuous", {"length": 40}, ["model.max_seq_len=16"]),
    "gru": ("gru", "testing-multibinary", {"length": 30}, []),
    "lstm": ("lstm", "testing-image", {"length": 20}, []),  # a uint8 image and a vector
}


def _agent(case: str) -> tuple[Agent, EnvInfo]:
    sequence, env_name, kwargs, extra = CASES[case]
    cfg = apply_overrides(RunConfig(), [f"env.name={env_name}", f"env.kwargs={json.dumps(kwargs)}",
                                        f"model.sequence={sequence}", *MODEL, *extra])
    env = probe_env(cfg)
    agent = make_agent(cfg, env.obs_spec, env.action_spec, env.max_seq_len, env.max_time_idx)
    with torch.no_grad():  # statistics other than the initial ones, so the exported normalisation is exercised
        agent.policy_modules()[0].norm.mu.uniform_(-0.5, 0.5)
    return agent.eval(), env


def _runner(fmt: str, path: Path):
    """The exported file as a function of numpy arrays -> numpy arrays, through onnxruntime or TorchScript."""
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return lambda arrays: session.run(None, dict(zip(names, arrays)))
    module = torch.jit.load(str(path))
    return lambda arrays: [y.numpy() for y in module(*(torch.from_numpy(a) for a in arrays))]


def _replay(agent: Agent, case: str, obs_spec: ObsSpec, action_spec: ActionSpec, run,
            steps: int = 100) -> tuple[float, float]:
    """Step a real env for ``steps`` with ``Agent.act`` (greedy) and, beside it, with the exported step fed its own
    state; returns the max abs differences of the actions and of the distribution parameters."""
    _, sequence, _ = agent.policy_modules()
    cpu = torch.device("cpu")
    _, name, kwargs, _ = CASES[case]
    env = make_env(name, **kwargs)
    obs, _ = env.reset(seed=0)
    act_state, ref_state = agent.initial_state(1, cpu), agent.initial_state(1, cpu)
    reset, exported_state, worst, starts = torch.ones(1, dtype=torch.bool), None, [0.0, 0.0], 0
    for _ in range(steps):
        if reset.item():  # a new rollout: the exported step's memory starts from zeros
            exported_state = [np.zeros_like(t.numpy()) for t in state_to_tensors(sequence, agent.initial_state(1, cpu))]
            starts += 1
        o, pa, pr, t = split_observation({k: np.asarray(v)[None] for k, v in obs.items()})
        o = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in o.items()}
        pa, pr = torch.from_numpy(pa).float(), torch.from_numpy(np.asarray(pr)).float().reshape(1)
        t = torch.from_numpy(np.asarray(t)).long().reshape(1)
        action, act_state = agent.act(o, pa, pr, t, reset, act_state, sample=False)
        with torch.inference_mode():
            params, ref_state = policy_params(*agent.policy_modules(), o, pa, pr, t, reset, ref_state)
            _, ref_dist = dist_outputs(agent.family, params)
        inputs = [o[k].numpy() for k in obs_spec.shapes] + [pa.numpy(), pr.numpy(), t.numpy()]
        out_action, out_dist, *exported_state = run(inputs + exported_state)
        worst = [max(worst[0], float(np.abs(out_action - action.numpy()).max())),
                 max(worst[1], float(np.abs(out_dist - ref_dist.numpy()).max()))]
        obs, _, terminated, truncated, _ = env.step(action_spec.decode(action.numpy())[0])
        reset = torch.tensor([terminated or truncated])
        if reset.item():
            obs, _ = env.reset()
    assert starts >= 3, "the replay should cross rollout starts"
    return worst[0], worst[1]


ONNX_SLOW = pytest.mark.slow  # torch's ONNX exporter takes tens of seconds a model, as long as a short training run


@pytest.mark.parametrize(("case", "fmt"), [pytest.param("transformer", "onnx", marks=ONNX_SLOW),
                                           pytest.param("gru", "onnx", marks=ONNX_SLOW), ("transformer", "torchscript"),
                                           ("gru", "torchscript"), ("lstm", "torchscript")])
def test_exported_step_replays_act(tmp_path: Path, case: str, fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    agent, env = _agent(case)
    path = tmp_path / f"policy.{fmt}"
    info = export_policy(agent, env.obs_spec, env.action_spec, fmt, path)
    assert info["sequence"] == case and [t["name"] for t in info["inputs"]][-1].startswith("state.")
    action_diff, dist_diff = _replay(agent, case, env.obs_spec, env.action_spec, _runner(fmt, path))
    print(f"{case} {fmt}: max abs diff action {action_diff:.2e}, dist {dist_diff:.2e}")
    assert action_diff <= TOLERANCE and dist_diff <= TOLERANCE
    if fmt == "onnx":  # the interface travels inside the file
        import onnxruntime as ort

        meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
        assert json.loads(meta["icrl"]) == json.loads(json.dumps(info))


def test_exported_step_takes_any_batch_size(tmp_path: Path) -> None:
    """Traced with 2 envs, the step runs 3 at once, each env on its own memory."""
    agent, env = _agent("transformer")
    export_policy(agent, env.obs_spec, env.action_spec, "torchscript", tmp_path / "p.pt")
    module = torch.jit.load(str(tmp_path / "p.pt"))
    n, sequence = 3, agent.policy_modules()[1]
    obs = torch.randn(n, *env.obs_spec.shapes["observation"])
    prev_action, prev_reward, time_idx = torch.rand(n, 2) * 2 - 1, torch.randn(n), torch.tensor([0, 0, 0])
    state = state_to_tensors(sequence, agent.initial_state(n, torch.device("cpu")))
    action, dist, *_ = module(obs, prev_action, prev_reward, time_idx, *state)
    ref, _ = agent.act({"observation": obs}, prev_action, prev_reward, time_idx, torch.ones(n, dtype=torch.bool),
                       agent.initial_state(n, torch.device("cpu")), sample=False)
    assert action.shape == (n, 2) and dist.shape == (n, 4)
    assert torch.allclose(action, ref, atol=TOLERANCE) and not torch.allclose(action[0], action[1])


class _Opaque(SequenceModel):
    """A sequence model whose state icrl.export knows nothing about."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.lin, self.out_dim = torch.nn.Linear(in_dim, 16), 16

    def step(self, x, time_idx, state, reset):
        return self.lin(x), state


def test_unsupported_cases_raise_clear_errors(tmp_path: Path, monkeypatch) -> None:
    agent, env = _agent("gru")
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_policy(agent, env.obs_spec, env.action_spec, "tflite", tmp_path / "p")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if the export extra were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'icrl\[export\]'"):
        export_policy(agent, env.obs_spec, env.action_spec, "onnx", tmp_path / "p.onnx")
    agent.sequence = _Opaque(agent.encoder.out_dim)
    with pytest.raises(ExportError, match="cannot export a _Opaque sequence model.*transformer, gru, lstm"):
        export_policy(agent, env.obs_spec, env.action_spec, "torchscript", tmp_path / "p.pt")
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
def test_export_command_writes_the_policy_and_its_interface(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    tiny = ["env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=2", "env.eval_num_envs=2", "learn.batch_size=4",
            "learn.num_critics=2", "train.steps_per_epoch=8", "train.updates_per_epoch=2", "train.eval_every=0",
            "train.epochs=1", "replay.prefetch=2", *MODEL]
    assert cli_main(["export", str(run)]) == 2  # no run yet
    assert "not a run directory" in capsys.readouterr().err
    train(apply_overrides(RunConfig(), tiny), run, progress="off")
    out = tmp_path / "policy.pt"
    assert cli_main(["export", str(run), "--format", "torchscript", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "state.keys (2, 'N', 2, " in printed and f"wrote {out}" in printed
    extra = {"icrl.json": ""}
    module = torch.jit.load(str(out), _extra_files=extra)
    info = json.loads(extra["icrl.json"])
    assert info == json.loads(Path(f"{out}.json").read_text())
    assert info["sequence"] == "transformer" and info["action_spec"]["kind"] == "discrete"
    args = [torch.zeros([1 if d == "N" else d for d in t["shape"]], dtype=getattr(torch, t["dtype"]))
            for t in info["inputs"]]
    action, dist, *state = module(*args)
    assert action.sum().item() == 1.0 and torch.allclose(dist.sum(-1), torch.ones(1))
    assert [tuple(s.shape) for s in state] == [tuple(1 if d == "N" else d for d in t["shape"])
                                                for t in info["outputs"][2:]]
