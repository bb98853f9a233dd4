"""The kill test's checks, and a short kill test (3 kills) of a real training run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icrl.train.killtest import Snapshot, counters_back, lost_files, run_killtest


def _snap(*files: tuple[int, int]) -> Snapshot:
    return Snapshot({f"{seq:012d}_env_{n}.npz": (seq, n) for seq, n in files}, {}, [])


def test_files_missing_after_a_resume_are_lost_unless_the_fifo_evicted_them() -> None:
    before = _snap((0, 10), (1, 10), (2, 10), (3, 10))
    assert lost_files(before, _snap((0, 10), (1, 10), (2, 10), (3, 10), (4, 10)), capacity_steps=100) == []
    # the two oldest went, and the FIFO is within one file of its capacity: evicted
    assert lost_files(before, _snap((2, 10), (3, 10), (4, 10)), capacity_steps=30) == []
    assert lost_files(before, _snap((3, 10), (4, 10), (5, 10), (6, 10)), capacity_steps=45) == []
    # the same two missing with room to spare: lost
    assert sorted(lost_files(before, _snap((2, 10), (3, 10), (4, 10)), capacity_steps=100)) == \
        ["000000000000_env_10.npz", "000000000001_env_10.npz"]
    # a hole in the middle is never the FIFO's doing
    assert lost_files(before, _snap((0, 10), (1, 10), (3, 10)), capacity_steps=10) == ["000000000002_env_10.npz"]


def test_counters_that_go_back_are_named() -> None:
    assert counters_back({"epoch": 3, "updates": 12}, {"epoch": 3, "updates": 16}) == []
    assert counters_back({"epoch": 3, "updates": 12}, {"epoch": 2, "updates": 8}) == ["epoch: 3 -> 2",
                                                                                     "updates: 12 -> 8"]


@pytest.mark.slow
def test_three_kills_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    report = run_killtest(tmp_path / "work", kills=3, seed=1, reference=False, echo=lines.append)
    log = "\n".join(lines)
    assert not report.problems, log
    assert len(report.kills) == 3 and all(k.hit in ("collect", "store", "update", "eval", "log", "checkpoint")
                                          for k in report.kills), log
    assert report.final == report.expected, log
    assert re.fullmatch(r"killtest: 3/3 survived, 0 complete rollouts lost, \d+ corrupt files rejected", lines[-1]), log


def test_the_status_file_shows_the_current_phase_and_sessions_survive_a_torn_line(tmp_path: Path) -> None:
    from icrl.train.status import SESSIONS_FILE, PhaseFile, SessionReport, read_phase, read_sessions

    assert read_phase(tmp_path) is None
    phase = PhaseFile(tmp_path)
    phase.set("checkpoint", 12)
    phase.set("eval", 3)  # rewritten in place: a shorter line leaves nothing of the longer one
    phase.close()
    assert read_phase(tmp_path)[:2] == ("eval", 3)
    SessionReport().append_to(tmp_path)
    with open(tmp_path / SESSIONS_FILE, "a") as f:
        f.write('{"resumed_from": "ckpt_0')  # a session killed while writing its line
    SessionReport(resumed_from="ckpt_000001", dropped_rollouts=2).append_to(tmp_path)
    assert [r["resumed_from"] for r in read_sessions(tmp_path)] == [None, "ckpt_000001"]
