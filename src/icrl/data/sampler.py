"""Random training windows from the store: padding, masks, and a background loader.

``max_seq_len`` counts observations: a window holds ``L <= max_seq_len`` observations and ``L - 1``
transitions, the same context the policy sees at inference (no train/test off-by-one).

Each batch is drawn from its own RNG, seeded by ``(seed, batch_index)``: the sequence of batches depends only
on the buffer contents and how many batches were consumed, never on how far the background thread ran
ahead, so a resumed run draws exactly the batches the uninterrupted run would have drawn.

Hindsight relabeling (``icrl.data.relabel``), when configured, rewrites a share of the sampled trajectories
before their windows are cut (relabeling needs the whole rollout); its draws come from a second RNG seeded by
``(seed, batch_index, 1)``, so with a share of 0 the batches are exactly those of a sampler without relabeler.
Side keys (``icrl.spaces.is_side_key``, e.g. ``_achieved``) never reach a window.

Mixture of datasets (method 4.5): with ``source_weights`` (source name -> weight, ``icrl.data.store`` sources),
each window first draws its source with probability proportional to the weights of the sources that hold data
(renormalised: before collection starts, only the datasets), then a trajectory of that source uniformly (or by
length), then the window. Sources without a weight are not sampled. Without ``source_weights`` every file is
pooled (one source).
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from icrl.data.relabel import Relabeler, relabel_share
from icrl.data.store import StoredTrajectory, TrajectoryStore
from icrl.errors import DataError
from icrl.records import Batch, Trajectory
from icrl.spaces import is_side_key


def window_start(num_obs: int, max_seq_len: int, rng: np.random.Generator, mode: str) -> tuple[int, int]:
    """(start, stop) observation indices of a window. Padded modes allow shorter windows at either end.

    With ``T + 1 = num_obs`` observations and window ``W = max_seq_len``:
    ``none``: start in [0, T+1-W] (always full); ``left``: start in [-(W-2), T+1-W], clipped to 0 (short windows
    at the start); ``right``: start in [0, T-1] (short windows at the end); ``both``: [-(W-2), T-1]. Every
    window holds at least two observations (one transition).
    """
    if num_obs <= max_seq_len:
        return 0, num_obs
    lo = -(max_seq_len - 2) if mode in ("left", "both") else 0
    hi = num_obs - 2 if mode in ("right", "both") else num_obs - max_seq_len
    start = int(rng.integers(lo, hi + 1))
    stop = min(start + max_seq_len, num_obs)
    return max(start, 0), stop


def sample_window(traj: Trajectory, max_seq_len: int, rng: np.random.Generator, mode: str = "none") -> Trajectory:
    """A random window of ``traj`` (see ``window_start``), without side keys."""
    start, stop = window_start(len(traj) + 1, max_seq_len, rng, mode)
    cut = slice(start, stop)
    obs = {k: v[cut] for k, v in traj.obs.items() if not is_side_key(k)}
    return Trajectory(obs, traj.prev_action[cut], traj.prev_reward[cut],
                      traj.time_idx[cut], traj.terminated[cut], traj.env_name)


def _pad(arrays: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def collate(windows: list[Trajectory]) -> Batch:
    """Right-pad windows with zeros to the longest; ``valid`` marks real observations."""
    length = max(len(w) + 1 for w in windows)
    valid = np.zeros((len(windows), length), dtype=bool)
    for i, w in enumerate(windows):
        valid[i, : len(w) + 1] = True
    t = torch.from_numpy
    obs = {k: t(_pad([w.obs[k] for w in windows], length)) for k in windows[0].obs}
    return Batch(obs, t(_pad([w.prev_action for w in windows], length)).float(),
                 t(_pad([w.prev_reward for w in windows], length)).float(),
                 t(_pad([w.time_idx for w in windows], length)).long(),
                 t(_pad([w.terminated for w in windows], length)), t(valid), [w.env_name for w in windows])


@dataclass(frozen=True)
class MixtureSource:
    """One source of a mixture, as sampled now.

    Attributes:
        name: source name (``icrl.data.store.ONLINE`` or a dataset directory).
        share: probability that a window comes from it (weights renormalised over sources that hold data).
        members: indices of its trajectories in the sampler's entry list.
        probs: probabilities of its members (None: uniform).
    """

    name: str
    share: float
    members: np.ndarray
    probs: np.ndarray | None


def _file_probs(entries: list[StoredTrajectory], by_length: bool) -> np.ndarray | None:
    lengths = np.array([e.length for e in entries], dtype=np.float64)
    return lengths / lengths.sum() if by_length and len(entries) else None


def make_mixture(entries: list[StoredTrajectory], weights: dict[str, float],
                 by_length: bool = False) -> tuple[list[StoredTrajectory], list[MixtureSource]]:
    """(sampled entries, sources) from the store's index: sources with weight > 0 that hold data, shares summing
    to 1; entries of other sources are left out."""
    groups: dict[str, list[StoredTrajectory]] = {}
    for e in entries:
        if weights.get(e.source, 0.0) > 0:
            groups.setdefault(e.source, []).append(e)
    total = sum(weights[name] for name in groups)
    kept: list[StoredTrajectory] = []
    sources = []
    for name in sorted(groups):
        members = np.arange(len(kept), len(kept) + len(groups[name]))
        kept += groups[name]
        sources.append(MixtureSource(name, weights[name] / total, members, _file_probs(groups[name], by_length)))
    return kept, sources


class WindowSampler:
    """Batches of random windows from a ``TrajectoryStore`` (all files pooled, or a weighted mixture of sources).

    ``relabeler`` rewrites each sampled trajectory with probability ``relabel_prob`` (hindsight relabeling);
    ``source_weights`` (source name -> weight >= 0) samples sources in those proportions (module docstring).
    ``mirror_prob`` negates every action of that share of windows (``replay.mirror_actions``; continuous actions).
    """

    def __init__(self, store: TrajectoryStore, batch_size: int, max_seq_len: int, padded_sampling: str = "none",
                 weight_by_length: bool = False, seed: int = 0, cache_trajectories: int = 20_000,
                 relabeler: Relabeler | None = None, relabel_prob: float = 0.0,
                 source_weights: dict[str, float] | None = None, mirror_prob: float = 0.0) -> None:
        self.store, self.batch_size, self.max_seq_len = store, batch_size, max_seq_len
        self.mirror_prob = mirror_prob
        self.mode, self.weight_by_length, self.seed = padded_sampling, weight_by_length, seed
        self.cache_size = cache_trajectories
        self.relabeler, self.relabel_prob = relabeler, relabel_prob
        self.source_weights = dict(source_weights) if source_weights is not None else None
        self._cache: OrderedDict[str, Trajectory] = OrderedDict()
        self._lock = threading.Lock()
        self.batches_drawn = 0
        self.refresh()

    def refresh(self) -> None:
        """Pick up the store's current index (call after writing or evicting)."""
        entries = self.store.index()
        live = {str(e.path) for e in entries}
        sources = None
        if self.source_weights is not None:
            entries, sources = make_mixture(entries, self.source_weights, self.weight_by_length)
        with self._lock:
            self._entries: list[StoredTrajectory] = entries
            self._sources: list[MixtureSource] | None = sources
            self._probs = _file_probs(entries, self.weight_by_length)
            for key in [k for k in self._cache if k not in live]:
                del self._cache[key]

    def ready(self, min_steps: int) -> bool:
        """True once the sampled trajectories (mixture: of sources with weight > 0) hold ``min_steps`` steps."""
        return len(self._entries) > 0 and sum(e.length for e in self._entries) >= min_steps

    def source_shares(self) -> dict[str, float]:
        """Probability of each source now (one pooled source ``all`` without a mixture)."""
        with self._lock:
            sources = self._sources
        return {"all": 1.0} if sources is None else {s.name: s.share for s in sources}

    def _pick(self, rng: np.random.Generator, n_entries: int, probs, sources) -> list[int]:
        """Indices of the ``batch_size`` trajectories of a batch: pooled, or source first, then a member."""
        if sources is None:
            return list(rng.choice(n_entries, size=self.batch_size, p=probs))
        which = rng.choice(len(sources), size=self.batch_size, p=[s.share for s in sources])
        return [int(sources[k].members[rng.choice(len(sources[k].members), p=sources[k].probs)]) for k in which]

    def _load(self, entry: StoredTrajectory) -> Trajectory:
        key = str(entry.path)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        traj = self.store.load(entry.path)
        if self.cache_size:
            with self._lock:
                self._cache[key] = traj
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return traj

    def _load_all(self, picked: list[StoredTrajectory]) -> list[Trajectory] | None:
        """The picked trajectories; None after moving an unreadable file aside (the batch is then drawn again from
        the remaining files: a damaged file costs the run that file, not the run)."""
        out = []
        for entry in picked:
            try:
                out.append(self._load(entry))
            except DataError as err:
                self.store.quarantine(entry.path, str(err))
                self.refresh()
                return None
        return out

    def sample(self, batch_index: int | None = None) -> Batch:
        """The batch number ``batch_index`` (default: the next one)."""
        if batch_index is None:
            batch_index, self.batches_drawn = self.batches_drawn, self.batches_drawn + 1
        while True:
            with self._lock:
                entries, probs, sources = self._entries, self._probs, self._sources
            if not entries:
                raise DataError(f"the replay buffer at {self.store.root} is empty; collect data before sampling.")
            rng = np.random.default_rng([self.seed, batch_index])
            picks = self._pick(rng, len(entries), probs, sources)
            trajs = self._load_all([entries[i] for i in picks])  # cached objects: relabeling returns new ones
            if trajs is not None:
                break
        if self.relabeler is not None and self.relabel_prob > 0:
            relabel_rng = np.random.default_rng([self.seed, batch_index, 1])
            trajs = relabel_share(trajs, self.relabeler, self.relabel_prob, relabel_rng)
        batch = collate([sample_window(t, self.max_seq_len, rng, self.mode) for t in trajs])
        if self.mirror_prob > 0:
            mirror_rng = np.random.default_rng([self.seed, batch_index, 2])
            flip = torch.from_numpy(mirror_rng.random(len(trajs)) < self.mirror_prob)
            batch.prev_action[flip] = -batch.prev_action[flip]
        return batch

    def rng_state(self) -> dict:
        return {"batches_drawn": self.batches_drawn}

    def set_rng_state(self, state: dict) -> None:
        self.batches_drawn = int(state["batches_drawn"])


class BatchPrefetcher:
    """A background thread keeps ``depth`` batches ready, so the learner never waits on disk.

    Batches are numbered; ``refresh`` drops batches prepared from the old index and restarts numbering at the
    next unconsumed batch, so what the learner receives is independent of thread timing.
    """

    def __init__(self, sampler: WindowSampler, depth: int = 4) -> None:
        self.sampler, self.depth = sampler, depth
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._generation = 0
        self._next = sampler.batches_drawn
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="icrl-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self.sampler._entries or self._queue.full()):
                    self._cond.wait(0.05)
                if self._stop:
                    return
                generation, index = self._generation, self._next
                self._next += 1
            try:
                item = (generation, index, self.sampler.sample(index), None)
            except Exception as err:  # noqa: BLE001 - re-raised in the learner thread by get()
                item = (generation, index, None, err)
            with self._cond:
                if generation == self._generation:
                    self._queue.put(item)

    def get(self, timeout: float = 300.0) -> Batch:
        while True:
            generation, index, batch, err = self._queue.get(timeout=timeout)
            with self._cond:
                if generation != self._generation:
                    continue
                self._cond.notify_all()
            if err is not None:
                raise DataError(f"loading a training batch failed: {err}") from err
            self.sampler.batches_drawn = index + 1
            return batch

    def refresh(self) -> None:
        with self._cond:
            self._generation += 1
            self.sampler.refresh()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._next = self.sampler.batches_drawn
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> BatchPrefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
