"""Export one step of a run's policy as a pure function, to ONNX or TorchScript, for use without icrl.

    step(obs..., prev_action, prev_reward, time_idx, state...) -> (action, dist, new_state...)

Inputs, N envs stepped together (N may differ from call to call):

* ``obs.<key>``, one per observation key the networks read (sorted): (N, *shape), float32 (uint8 for images),
  as ``icrl.envs.wrap`` makes them (Discrete observations one-hot, ...);
* ``prev_action`` (N, A) float32: the *encoded* previous action (one-hots for categorical actions, [-1, 1] for
  Box), zeros at a rollout's first step;
* ``prev_reward`` (N,) float32: the reward that action got, 0 at a rollout's first step;
* ``time_idx`` (N,) int64: steps since the rollout began, 0 at its first step;
* the memory, by sequence model (``model.sequence``); float32 unless said otherwise, N on the axis named N:

  - ``transformer``: ``state.keys`` and ``state.values`` (layers, N, heads, S, d_model / heads), the KV cache as
    a ring buffer of S = the run's context length (``max_seq_len``) slots, and ``state.steps`` (N,) int64, the
    tokens seen since the memory was cleared (the next slot is ``steps % S``);
  - ``gru``: ``state.h`` (layers, N, d_model); ``lstm``: ``state.h`` and ``state.c``, both (layers, N, d_model);
  - ``feedforward``: none.

Outputs:

* ``action`` (N, A) float32: the policy's mode, encoded like ``prev_action`` (what ``icrl eval --greedy`` plays);
  decode it with ``icrl.spaces.ActionSpec.decode`` (argmax per one-hot block; Box: rescale [-1, 1] to the env's
  bounds);
* ``dist`` (N, P) float32, the distribution ``Agent.act`` samples from: for categorical actions (Discrete,
  MultiDiscrete, MultiBinary) the clamped probabilities, one block per component (P = A); for Box the mean and
  log std of the Gaussian before tanh, concatenated (P = 2A): ``action = tanh(mean + exp(log_std) * noise)``;
* ``new_state.*``: the memory after this step, shaped like its inputs; feed it to the next call.

A rollout starts from zeros in every state tensor (zero env n's slice along its N axis when env n starts a new
rollout): that is the memory ``Agent.act`` clears on a reset. The step is ``Agent.act``'s own code, traced in eval
mode with fp32 weights (``icrl.agent.policy_params``), so the two agree to float rounding; the tests replay 100
steps through onnxruntime and TorchScript against ``act`` (max abs difference below 1e-4).

The file carries this interface as JSON (ONNX: metadata property ``icrl``; TorchScript: extra file
``icrl.json``), and ``icrl export`` writes it next to the file as ``FILE.json`` too. A run directory's policy is
opened by ``icrl.load_run(run_dir, device="cpu")``, then written by ``export_policy``.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from icrl.agent import Agent, policy_params
from icrl.errors import ICRLError, MissingExtraError
from icrl.fsutil import atomic_save
from icrl.nets.distributions import PolicyFamily, TanhGaussian
from icrl.nets.sequence.feedforward import FeedForward
from icrl.nets.sequence.rnn import RNN
from icrl.nets.sequence.transformer import KVCache, Transformer
from icrl.spaces import ActionSpec, ObsSpec

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 18


class ExportError(ICRLError):
    """The policy cannot be exported as asked (a sequence model without a fixed-shape state, a bad format)."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the exported step: its name, shape (``"N"`` marks the batch axis) and dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str


def state_specs(sequence: nn.Module) -> list[TensorSpec]:
    """The memory tensors of ``sequence`` as the exported step takes them (the module docstring lists them)."""
    if isinstance(sequence, Transformer):
        kv = (len(sequence.layers), "N", sequence.n_heads, sequence.max_seq_len, sequence.d_model // sequence.n_heads)
        return [TensorSpec("keys", kv, "float32"), TensorSpec("values", kv, "float32"),
                TensorSpec("steps", ("N",), "int64")]
    if isinstance(sequence, RNN):
        names = ("h", "c") if sequence.cell == "lstm" else ("h",)
        return [TensorSpec(name, (sequence.n_layers, "N", sequence.d_model), "float32") for name in names]
    if isinstance(sequence, FeedForward):
        return []
    raise ExportError(f"cannot export a {type(sequence).__name__} sequence model: its state has no fixed tensor "
                      "layout known to icrl.export. Exportable: model.sequence=transformer, gru, lstm, feedforward.")


def state_to_tensors(sequence: nn.Module, state: Any) -> tuple[torch.Tensor, ...]:
    """``Agent.initial_state`` / ``act``'s state -> the exported step's state tensors, in ``state_specs`` order."""
    if isinstance(sequence, Transformer):
        return torch.stack(state.keys), torch.stack(state.values), state.seen
    if isinstance(sequence, RNN):
        return tuple(state) if sequence.cell == "lstm" else (state,)
    state_specs(sequence)  # raises for unknown models
    return ()


def _state_from_tensors(sequence: nn.Module, tensors: tuple[torch.Tensor, ...]) -> Any:
    """The inverse of ``state_to_tensors``; the KV cache is copied, since the transformer's step writes in place."""
    if isinstance(sequence, Transformer):
        keys, values, steps = tensors
        return KVCache([k.clone() for k in keys.unbind(0)], [v.clone() for v in values.unbind(0)], steps)
    if isinstance(sequence, RNN):
        return tuple(tensors) if sequence.cell == "lstm" else tensors[0]
    return None


def dist_outputs(family: PolicyFamily, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw actor parameters (N, P) -> (mode action (N, A), distribution parameters ``dist``, see the docstring)."""
    dist = family.distribution(params)
    if isinstance(dist, TanhGaussian):
        return dist.mode(), torch.cat([dist.mean, dist.log_std], dim=-1)
    return dist.mode(), dist.probs


class PolicyStep(nn.Module):
    """The exported function: ``Agent.act``'s step (without sampling) on flat tensors, state in and out."""

    def __init__(self, agent: Agent, obs_keys: list[str]) -> None:
        super().__init__()
        self.encoder, self.sequence, self.actor = agent.policy_modules()
        self.family, self.obs_keys = agent.family, list(obs_keys)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k = len(self.obs_keys)
        obs = dict(zip(self.obs_keys, inputs[:k]))
        prev_action, prev_reward, time_idx = inputs[k : k + 3]
        state = _state_from_tensors(self.sequence, tuple(inputs[k + 3 :]))
        no_reset = torch.zeros_like(time_idx, dtype=torch.bool)
        params, state = policy_params(self.encoder, self.sequence, self.actor, obs, prev_action, prev_reward,
                                      time_idx, no_reset, state)
        return (*dist_outputs(self.family, params), *state_to_tensors(self.sequence, state))


def interface(agent: Agent, obs_spec: ObsSpec, action_spec: ActionSpec) -> dict[str, Any]:
    """Names, shapes and dtypes of the exported step's inputs and outputs, and how actions are encoded."""
    sequence = agent.policy_modules()[1]
    a, p = action_spec.dim, agent.family.param_dim
    state = state_specs(sequence)
    inputs = [TensorSpec(f"obs.{key}", ("N", *shape), "uint8" if obs_spec.is_image(key) else "float32")
              for key, shape in obs_spec.shapes.items()]
    inputs += [TensorSpec("prev_action", ("N", a), "float32"), TensorSpec("prev_reward", ("N",), "float32"),
               TensorSpec("time_idx", ("N",), "int64")]
    inputs += [TensorSpec(f"state.{s.name}", s.shape, s.dtype) for s in state]
    outputs = [TensorSpec("action", ("N", a), "float32"), TensorSpec("dist", ("N", p), "float32")]
    outputs += [TensorSpec(f"new_state.{s.name}", s.shape, s.dtype) for s in state]
    dist = "tanh_gaussian(mean, log_std)" if action_spec.kind == "box" else "categorical probabilities"
    kind = sequence.cell if isinstance(sequence, RNN) else type(sequence).__name__.lower()
    return {"format_version": 1, "sequence": kind,
            "action_spec": {"kind": action_spec.kind, "nvec": list(action_spec.nvec), "box_dim": action_spec.box_dim},
            "dist": dist, "inputs": [asdict(t) for t in inputs], "outputs": [asdict(t) for t in outputs]}


def example_inputs(agent: Agent, obs_spec: ObsSpec, n: int = 2) -> tuple[torch.Tensor, ...]:
    """Inputs for ``n`` envs at a rollout's first step (zero memory): what tracing runs, and a smoke test."""
    encoder, sequence, _ = agent.policy_modules()
    obs = [torch.zeros((n, *shape), dtype=torch.uint8 if obs_spec.is_image(key) else torch.float32)
           for key, shape in obs_spec.shapes.items()]
    rl2 = (torch.zeros(n, encoder.action_dim), torch.zeros(n), torch.zeros(n, dtype=torch.long))
    return (*obs, *rl2, *state_to_tensors(sequence, agent.initial_state(n, torch.device("cpu"))))


def export_policy(agent: Agent, obs_spec: ObsSpec, action_spec: ActionSpec, fmt: str, out: Path) -> dict[str, Any]:
    """Write ``agent``'s step to ``out`` as ``fmt`` ("onnx" or "torchscript"), atomically; returns the interface.

    The agent is copied to the CPU in fp32 and eval mode (no dropout, frozen input statistics) first.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    info = interface(agent, obs_spec, action_spec)  # raises for models without a known state layout
    agent = _cpu_fp32_copy(agent)
    step = PolicyStep(agent, list(obs_spec.shapes)).eval()
    args = example_inputs(agent, obs_spec)
    writer = _write_onnx if fmt == "onnx" else _write_torchscript
    atomic_save(Path(out), lambda tmp: writer(step, args, info, tmp))
    return info


def _cpu_fp32_copy(agent: Agent) -> Agent:
    return copy.deepcopy(agent).to(device="cpu", dtype=torch.float32).eval().requires_grad_(False)


def _write_torchscript(step: PolicyStep, args: tuple[torch.Tensor, ...], info: dict, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated (still works) and warns while tracing
        traced = torch.jit.trace(step, args, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"icrl.json": json.dumps(info)})


def _write_onnx(step: PolicyStep, args: tuple[torch.Tensor, ...], info: dict, path: Path) -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(f"ONNX export needs the onnx packages ({err.name} is missing): "
                                "pip install 'icrl[export]'.") from err
    names_in = [t["name"] for t in info["inputs"]]
    names_out = [t["name"] for t in info["outputs"]]
    batch = torch.export.Dim("N", min=1)
    shapes = tuple({list(t["shape"]).index("N"): batch} for t in info["inputs"])  # every input has a batch axis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(step, args, dynamo=True, input_names=names_in, output_names=names_out,
                                    dynamic_shapes=(shapes,), opset_version=ONNX_OPSET, verbose=False)
    program.model.metadata_props["icrl"] = json.dumps(info)
    program.save(str(path), external_data=False)
