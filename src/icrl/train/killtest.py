"""Kill test: a small training run is SIGKILLed at random moments, resumed with the same command, and checked.

``run_killtest`` drives it (``benchmarks/killtest.py`` is the command line, ``tests/train/test_killtest.py`` a
short version). Each kill aims at one phase (collection, buffer writes, updates, evaluation, checkpoint
writes: the run announces its phase in ``run_dir/status``), waits a random part of that phase's usual length,
kills, and reads back which phase the kill actually hit. After every resume it checks:

* the run resumed without help: the same command starts a session that reports its checkpoint and counters
  (``sessions.jsonl``) and goes on training;
* counters never go back: the resumed counters are at least those of the newest checkpoint before the kill;
* no corrupt or partial file is loaded: every file a reader can see under its final name (buffer files, the
  newest checkpoint) loads; partial files left by the kill are counted as rejected when the run deletes them,
  and an unreadable checkpoint or buffer file the run skips is counted too;
* no complete rollout is lost: every buffer file complete at the kill is still there at the next look, unless
  the FIFO rule (oldest first, over capacity) removed it.

At the end the run must have the same epochs, updates and env steps as an unkilled run of the same command,
and ``metrics.jsonl`` every epoch exactly once. The last line of the report has the fixed form
``killtest: K/N survived, L complete rollouts lost, R corrupt files rejected``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from icrl.data.store import _NAME as BUFFER_NAME
from icrl.data.store import TrajectoryStore
from icrl.errors import ICRLError
from icrl.train.checkpoint import find_latest
from icrl.train.logging import read_metrics
from icrl.train.status import STATUS_FILE, read_phase, read_sessions

TARGET_PHASES = ("collect", "store", "update", "eval", "checkpoint")
COUNTERS = ("epoch", "env_steps", "updates", "rollouts")
# A tiny built-in env and model: a fraction of a second per epoch on one CPU core. The FIFO holds about four
# epochs of data, so eviction happens throughout.
TINY_RUN = ["env.name=meta-frozen-lake", "env.kwargs.size=3", "env.kwargs.attempts=2", "env.num_envs=4",
            "env.eval_num_envs=4", "model.d_model=16", "model.n_layers=1", "model.n_heads=2",
            "model.encoder_hidden=16", "model.encoder_out=16", "model.head_hidden=16", "learn.batch_size=4",
            "learn.num_critics=3", "train.steps_per_epoch=24", "train.updates_per_epoch=4", "train.eval_every=1",
            "train.eval_episodes=4", "train.ckpt_every=1", "train.device=cpu", "replay.prefetch=2",
            "replay.capacity_steps=400"]


def epochs_for(kills: int) -> int:
    """Enough epochs that every kill happens before the run ends (a kill advances the run by two at most)."""
    return 2 * kills + 4


@dataclass
class Snapshot:
    """What a reader finds in a run directory right after a kill."""

    files: dict[str, tuple[int, int]]  # complete FIFO buffer files: name -> (sequence number, transitions)
    counters: dict[str, float]  # of the newest readable checkpoint ({} before the first)
    unreadable: list[str]  # files under a final name that do not load (must stay empty)


def snapshot(run_dir: Path) -> Snapshot:
    """Read the run directory the way a resuming run would (the process must be dead)."""
    fifo = run_dir / "buffer" / "fifo"
    files, unreadable = {}, []
    for path in sorted(fifo.iterdir()) if fifo.is_dir() else []:
        m = BUFFER_NAME.match(path.name)
        if not m:
            continue
        files[path.name] = (int(m.group(1)), int(m.group(3)))
        try:
            TrajectoryStore.load(path)
        except ICRLError:
            unreadable.append(str(path))
    counters: dict[str, float] = {}
    try:
        loaded = find_latest(run_dir / "checkpoints")
    except ICRLError as err:
        unreadable.append(str(err))
        loaded = None
    if loaded is not None:
        counters = {k: loaded.meta["counters"][k] for k in COUNTERS}
        unreadable += loaded.rejected
    return Snapshot(files, counters, unreadable)


def lost_files(before: Snapshot, after: Snapshot, capacity_steps: int) -> list[str]:
    """Files complete in ``before`` and missing in ``after`` that the FIFO rule did not remove.

    The FIFO deletes oldest first, only while it holds more than ``capacity_steps``, and once it has deleted
    it stays within one trajectory of its capacity. A missing file was evicted when no surviving file is older
    and the FIFO is that full now; any other missing file is lost.
    """
    missing = {n: v for n, v in before.files.items() if n not in after.files}
    if not missing:
        return []
    oldest_left = min((seq for seq, _ in after.files.values()), default=float("inf"))
    held = sum(length for _, length in after.files.values())
    full = held + max(length for _, length in missing.values()) > capacity_steps
    return sorted(name for name, (seq, _) in missing.items() if seq > oldest_left or not full)


def counters_back(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """Counters that went back (resumed below the newest checkpoint before the kill)."""
    return [f"{k}: {before[k]} -> {after.get(k)}" for k in before if after.get(k, -1) < before[k]]


@dataclass
class KillRecord:
    target: str
    hit: str
    epoch: int
    resumed_from: str | None = None
    resume_s: float = 0.0
    rejected: int = 0
    dropped_rollouts: int = 0
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.problems and not self.lost

    def line(self, k: int, n: int) -> str:
        verdict = "ok" if self.survived else "FAILED: " + "; ".join([*self.problems, *(f"lost {n}" for n in self.lost)])
        return (f"kill {k}/{n}: aimed at {self.target:<10} hit {self.hit:<10} (epoch {self.epoch:>3}); resumed from "
                f"{self.resumed_from} in {self.resume_s:.1f} s, {self.rejected} rejected, "
                f"{self.dropped_rollouts} in-flight rollouts dropped: {verdict}")


@dataclass
class KillReport:
    kills: list[KillRecord]  # the kills that happened
    planned: int
    final: dict[str, float]
    expected: dict[str, float]
    problems: list[str]  # of the run as a whole (also marked on the last kill)

    @property
    def survived(self) -> int:
        return sum(k.survived for k in self.kills)

    @property
    def lost(self) -> int:
        return sum(len(k.lost) for k in self.kills)

    @property
    def rejected(self) -> int:
        return sum(k.rejected for k in self.kills)

    def summary(self) -> str:
        return (f"killtest: {self.survived}/{self.planned} survived, {self.lost} complete rollouts lost, "
                f"{self.rejected} corrupt files rejected")


class _Run:
    """The training command on one run directory, started (and restarted) as a child process."""

    def __init__(self, run_dir: Path, overrides: list[str], log_dir: Path) -> None:
        self.run_dir, self.log_dir = run_dir, log_dir
        self.cmd = [sys.executable, "-m", "icrl.cli", "train", *overrides, "--no-progress", "--run-dir", str(run_dir)]
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.sessions = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        (self.run_dir / STATUS_FILE).unlink(missing_ok=True)  # the phase shown is then this process's own
        self.sessions += 1
        with open(self.log_dir / f"session_{self.sessions:03d}.log", "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def log_tail(self) -> str:
        return (self.log_dir / f"session_{self.sessions:03d}.log").read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait_session(self, timeout: float) -> dict | None:
        """The ``sessions.jsonl`` line of the running process, once written; None if it exits or times out."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = [r for r in read_sessions(self.run_dir) if r.get("pid") == self.proc.pid]
            if rows:
                return rows[-1]
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def wait_phase(self, target: str, min_epoch: int, timeout: float) -> bool:
        """Poll the status file until this process is in ``target`` at epoch >= ``min_epoch``; False if it ends."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = read_phase(self.run_dir)
            if now is not None and now[0] == target and now[1] >= min_epoch:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.0005)
        return False

    def first_epoch(self, timeout: float) -> int | None:
        """The epoch at which this process begins training (the one it resumed at)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = read_phase(self.run_dir)
            if now is not None and now[0] != "start":
                return now[1] if now[0] in ("collect", "store", "update", "eval") else now[1] - 1
            if self.proc.poll() is not None:
                return None
            time.sleep(0.001)
        return None


def phase_durations(run_dir: Path, proc: subprocess.Popen) -> dict[str, float]:
    """Median length of each phase, from the status file polled while ``proc`` runs."""
    seen: list[tuple[str, int, float]] = []
    while proc.poll() is None:
        now = read_phase(run_dir)
        if now is not None and (not seen or now != seen[-1]):
            seen.append(now)
        time.sleep(0.0005)
    lengths: dict[str, list[float]] = {}
    for (phase, _, t0), (_, _, t1) in zip(seen, seen[1:]):
        lengths.setdefault(phase, []).append(t1 - t0)
    return {p: float(np.median(v)) for p, v in lengths.items()}


def _final_counters(run_dir: Path) -> dict[str, float]:
    loaded = find_latest(run_dir / "checkpoints")
    return {} if loaded is None else {k: loaded.meta["counters"][k] for k in COUNTERS}


# Typical phase lengths of ``TINY_RUN`` on an idle core, used when no unkilled run measured them.
DEFAULT_DURATIONS = {"collect": 0.1, "store": 0.03, "update": 0.15, "eval": 0.08, "checkpoint": 0.03}


def expected_counters(kills: int) -> dict[str, float]:
    """Epochs, updates and env steps of an unkilled ``TINY_RUN`` (every epoch collects and updates)."""
    epochs = epochs_for(kills)
    values = dict(arg.split("=", 1) for arg in TINY_RUN)
    return {"epoch": epochs, "env_steps": epochs * int(values["train.steps_per_epoch"]) * int(values["env.num_envs"]),
            "updates": epochs * int(values["train.updates_per_epoch"])}


class KillTest:
    """One kill test (``run_killtest``): the unkilled reference, the kills and their checks, the final checks."""

    def __init__(self, work: Path, kills: int, seed: int, overrides: list[str], capacity_steps: int,
                 timeout: float, echo: Callable[[str], None]) -> None:
        self.work, self.kills, self.capacity, self.timeout, self.echo = work, kills, capacity_steps, timeout, echo
        self.overrides = [*TINY_RUN, f"replay.capacity_steps={capacity_steps}", f"train.epochs={epochs_for(kills)}",
                          *overrides]
        self.rng = np.random.default_rng(seed)
        self.durations = dict(DEFAULT_DURATIONS)
        self.records: list[KillRecord] = []
        self.looks: list[Snapshot] = []  # taken right after each kill
        self.problems: list[str] = []
        self.run = _Run(work / "killed", self.overrides, work)

    def reference(self) -> dict[str, float]:
        """Train unkilled; measure the phase lengths on the way; its final counters."""
        ref = _Run(self.work / "unkilled", self.overrides, self.work)
        ref.start()
        self.durations.update(phase_durations(ref.run_dir, ref.proc))
        if ref.proc.wait() != 0:
            raise ICRLError(f"the unkilled reference run failed:\n{ref.log_tail()}")
        counters = _final_counters(ref.run_dir)
        self.echo("unkilled run: " + ", ".join(f"{k} {v}" for k, v in counters.items()) + "; median phase lengths: "
                  + ", ".join(f"{p} {1000 * d:.0f} ms" for p, d in sorted(self.durations.items())))
        return counters

    def _look(self, now: Snapshot) -> None:
        """A new look at the files settles the previous kill: were its complete files kept?"""
        if self.records and len(self.looks) == len(self.records):
            self.records[-1].lost = lost_files(self.looks[-1], now, self.capacity)
            self.echo(self.records[-1].line(len(self.records), self.kills))

    def kill_and_resume(self, k: int, target: str, first: int) -> int | None:
        """Kill number ``k`` aimed at ``target``, then resume; the epoch the resumed run starts at (None: stop)."""
        run = self.run
        min_epoch = first + int(self.rng.integers(0, 2)) + (target == "checkpoint")
        if not run.wait_phase(target, min_epoch, self.timeout):
            self.problems.append(f"kill {k}: the run ended or stalled before reaching {target} at epoch "
                                 f"{min_epoch}:\n{run.log_tail()}")
            return None
        time.sleep(float(self.rng.uniform(0.0, 0.8)) * self.durations.get(target, 0.01))
        run.kill()
        hit = read_phase(run.run_dir) or ("?", -1, 0.0)
        now = snapshot(run.run_dir)
        self._look(now)
        record = KillRecord(target, hit[0], hit[1])
        self.records.append(record)
        self.looks.append(now)
        record.problems += [f"unreadable after the kill: {u}" for u in now.unreadable]
        started = time.time()
        run.start()
        session = run.wait_session(self.timeout)
        record.resume_s = time.time() - started
        if session is None:
            self.problems.append(f"kill {k}: the run did not resume:\n{run.log_tail()}")
            return None
        record.resumed_from = session["resumed_from"]
        record.rejected = len(session["rejected_checkpoints"]) + session["temp_files_removed"]
        record.dropped_rollouts = session["dropped_rollouts"]
        record.problems += counters_back(now.counters, session["counters"])
        return run.first_epoch(self.timeout)

    def finish(self, expected: dict[str, float]) -> KillReport:
        """Let the last session end; check the whole run against the unkilled one."""
        run, epochs = self.run, epochs_for(self.kills)
        if not self.problems and run.proc.wait(timeout=max(self.timeout, 30.0 * epochs)) != 0:
            self.problems.append(f"the last session failed:\n{run.log_tail()}")
        self._look(snapshot(run.run_dir))
        final = {k: v for k, v in _final_counters(run.run_dir).items() if k in expected}
        if final != expected:
            self.problems.append(f"final counters {final} differ from the unkilled run's {expected}")
        logged = [int(r["epoch"]) for r in read_metrics(run.run_dir)]
        if logged != list(range(1, epochs + 1)):
            self.problems.append(f"metrics.jsonl epochs are {logged}, not 1..{epochs} once each")
        quarantined = sorted(str(p) for p in (run.run_dir / "buffer").rglob("*.corrupt"))
        if quarantined:
            self.problems.append(f"buffer files the run found unreadable: {quarantined}")
        for p in self.problems:
            self.echo(f"problem: {p}")
        if self.problems and self.records:
            self.records[-1].problems.append("the run as a whole failed (problems above)")
        hits = sorted({r.hit for r in self.records})
        self.echo(f"final run: {final} (unkilled: {expected}); in-flight rollouts dropped over all resumes: "
                  f"{sum(r.dropped_rollouts for r in self.records)}; phases hit: "
                  + ", ".join(f"{p} {sum(r.hit == p for r in self.records)}" for p in hits))
        return KillReport(self.records, self.kills, final, expected, self.problems)


def run_killtest(work: Path, kills: int = 20, seed: int = 0, overrides: list[str] | None = None,
                 capacity_steps: int = 400, timeout: float = 120.0, reference: bool = True,
                 echo: Callable[[str], None] = print) -> KillReport:
    """Run the kill test in ``work`` (emptied first); prints one line per kill and returns the report.

    ``reference=False`` skips the unkilled run (the test suite's short version): the expected counters then come
    from the config and the phase lengths from ``DEFAULT_DURATIONS``.
    """
    work = Path(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    test = KillTest(work, kills, seed, overrides or [], capacity_steps, timeout, echo)
    expected = {k: v for k, v in test.reference().items() if k != "rollouts"} if reference else \
        expected_counters(kills)
    test.run.start()
    first = test.run.first_epoch(timeout)
    targets = [TARGET_PHASES[i % len(TARGET_PHASES)] for i in test.rng.permutation(kills)]
    for k, target in enumerate(targets, 1):
        first = None if first is None else test.kill_and_resume(k, target, first)
        if first is None:
            if not test.problems:
                test.problems.append(f"kill {k}: the run never started training:\n{test.run.log_tail()}")
            break
    report = test.finish(expected)
    echo(report.summary())
    return report
