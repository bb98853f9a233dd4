"""The data-parallel learner: two gloo ranks, each updating from half of every batch (unequal transition counts),
end with the weights and statistics of one learner updated from the whole batches, and identical to each other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("parallel_worker.py")
TIMEOUT_S = 120  # bound: a hung collective fails the test instead of the suite


def _launch(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(procs: list[subprocess.Popen]) -> None:
    try:
        outputs = [p.communicate(timeout=TIMEOUT_S)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out


def _run(tmp_path: Path, kind: str, single: bool) -> list[dict[str, torch.Tensor]]:
    """The tensors of [rank 0, rank 1] (+ one learner on the whole batches) after the worker's updates."""
    init = tmp_path / "pg_init"
    names = ["rank0", "rank1"] + (["single"] if single else [])
    outs = [tmp_path / f"{name}.safetensors" for name in names]
    args = [["0", "2"], ["1", "2"], ["0", "0"]][:len(names)]
    _finish([_launch([*a, str(init), str(out), kind]) for a, out in zip(args, outs, strict=True)])
    return [load_file(p) for p in outs]


needs_gloo = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


@needs_gloo
def test_gloo_two_ranks_equal_one_learner_on_the_combined_batch(tmp_path) -> None:
    rank0, rank1, single = _run(tmp_path, "discrete", single=True)
    assert single.keys() == rank0.keys() == rank1.keys()
    for key in single:  # the ranks agree exactly: identical gradients, statistics and arithmetic
        assert torch.equal(rank0[key], rank1[key]), key
    moved = [k for k in single if k.startswith("stats.popart.mu") or k.endswith(".mu")]
    assert moved and all(single[k].abs().sum() > 0 for k in moved)  # the statistics did move
    # against one learner: only the order of floating-point sums differs
    for key in single:
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5, msg=key)


@needs_gloo
def test_gloo_ranks_stay_identical_with_random_policy_samples_and_a_temperature(tmp_path) -> None:
    rank0, rank1 = _run(tmp_path, "box", single=False)
    assert "stats.temperature.log_alpha" in rank0 or any(k.startswith("stats.temperature") for k in rank0)
    for key in rank0:  # each rank drew its own samples, yet the combined step and statistics are the same
        assert torch.equal(rank0[key], rank1[key]), key
