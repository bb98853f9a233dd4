"""Worker of ``test_parallel.py`` (a script, not a test): a few updates of a tiny agent from fixed batches, either
one ``Learner`` on the whole batches (``world == 0``) or rank ``rank`` of a 2-process gloo group holding its
share of each batch (``DataParallelLearner``). Writes the agent's and the statistics' tensors to ``out``.

    python parallel_worker.py RANK WORLD INIT_FILE OUT KIND

KIND ``discrete``: a loss that draws nothing at random (one critic, no dropout) with the dynamics head on;
``box``: continuous actions with an entropy temperature (random policy samples, so only the ranks can agree).
"""

from __future__ import annotations

import sys

import torch
from safetensors.torch import save_file

from icrl.agent import make_agent
from icrl.config import LearnConfig, ModelConfig, RunConfig
from icrl.learn import Learner
from icrl.records import Batch
from icrl.spaces import ActionSpec, ObsSpec

UPDATES = 3
LENGTHS = (7, 3, 2, 6)  # rank 0 holds the first two windows, rank 1 the last two: unequal transition counts


def make_learner_parts(kind: str):
    """A tiny agent of ``kind`` (module docstring)."""
    model = ModelConfig(d_model=16, n_layers=1, n_heads=2, encoder_hidden=16, encoder_out=8, head_hidden=16,
                        dropout_emb=0.0, dropout_ff=0.0)
    extra = {"target_entropy": -1.0} if kind == "box" else {}
    learn = LearnConfig(extra_gammas=(0.9,), num_critics=1, num_critics_td=1, dynamics_coeff=0.5, lr=3e-3,
                        warmup_steps=1, **extra)
    spec = ActionSpec("box", box_dim=2) if kind == "box" else ActionSpec("discrete", (4,))
    torch.manual_seed(0)
    agent = make_agent(RunConfig(model=model, learn=learn), ObsSpec({"x": (3,)}, {"x": "float32"}), spec,
                       max_seq_len=12, max_time_idx=32)
    return agent, learn


def make_batch(seed: int, kind: str) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    B, L = len(LENGTHS), max(LENGTHS)
    valid = torch.arange(L)[None] < torch.tensor(LENGTHS)[:, None]
    if kind == "box":
        actions = (torch.rand(B, L, 2, generator=gen) * 2 - 1) * valid[..., None]
    else:
        actions = torch.nn.functional.one_hot(torch.randint(4, (B, L), generator=gen), 4).float() * valid[..., None]
    term = torch.zeros(B, L, dtype=torch.bool)
    term[0, LENGTHS[0] - 1] = True
    obs = 3.0 + 2.0 * torch.randn(B, L, 3, generator=gen) * valid[..., None]
    return Batch({"x": obs}, actions, torch.randn(B, L, generator=gen) * valid, torch.arange(L).repeat(B, 1) * valid,
                 term & valid, valid)


def shard(batch: Batch, rank: int, world: int) -> Batch:
    rows = slice(rank * len(LENGTHS) // world, (rank + 1) * len(LENGTHS) // world)
    return Batch({k: v[rows] for k, v in batch.obs.items()}, batch.prev_action[rows], batch.prev_reward[rows],
                 batch.time_idx[rows], batch.terminated[rows], batch.valid[rows])


def main(rank: int, world: int, init_file: str, out: str, kind: str) -> None:
    torch.set_num_threads(1)
    agent, learn = make_learner_parts(kind)
    if world == 0:
        learner = Learner(agent, learn)
    else:
        import torch.distributed as dist

        from icrl.learn.parallel import DataParallelLearner

        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
        torch.manual_seed(100 + rank)  # the ranks' generators differ; the loss draws nothing from them
        learner = DataParallelLearner(agent, learn)
    for i in range(UPDATES):
        batch = make_batch(i, kind)
        learner.update(batch if world == 0 else shard(batch, rank, world))
    tensors = {f"agent.{k}": v.detach().clone() for k, v in agent.state_dict().items()}
    tensors.update({f"stats.{k}": v.detach().clone() for k, v in learner.stats.state_dict().items()})
    save_file(tensors, out)
    if world:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
