"""Offline datasets: Minari episodes become replay trajectories in a protected dataset directory of the store.

A Minari episode holds ``T + 1`` observations, ``T`` actions, rewards, terminations and truncations in the
env's own spaces. ``EpisodeConverter`` turns it into the ``Trajectory`` the online collector would have stored
for the same steps: observations through ``icrl.spaces.obs_converter`` (non-dict -> key ``"observation"``,
Discrete -> one-hot), actions through ``action_converter(...).from_env`` and ``ActionSpec.encode`` (Box rescaled
to [-1, 1], discrete one-hot), and the policy inputs built like the env wrapper builds them::

    prev_action = [0, a_0, ..., a_{T-1}]     prev_reward = [0, r_0, ..., r_{T-1}]
    time_idx    = [0, 1, ..., T]             terminated  = [False, term_0, ..., term_{T-1}]

Truncation is not stored: like a time limit online, the last step of a truncated episode bootstraps.

``import_dataset`` converts a dataset once into ``buffer/protected/<name>/`` (each file written atomically) and
finishes with a ``dataset.json`` marker; a directory without the marker is an import that was interrupted and
is redone from scratch. ``write_dataset`` writes episodes as a Minari dataset (tests, generated expert data;
``icrl.testing.record_dataset`` rolls a policy out and writes what it did); it builds Minari's episode buffers
directly, so it needs no Minari ``create`` extra (jax). Nothing here steps an env.

Minari (``pip install 'icrl[offline]'``) is imported only here, only when used, and never downloads: a dataset
id must already be in the local Minari root (``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from icrl.data.store import TrajectoryStore
from icrl.errors import DataError
from icrl.fsutil import atomic_write_text
from icrl.records import Episode, Trajectory
from icrl.spaces import ActionConverter, ActionSpec, action_converter, obs_converter

MARKER = "dataset.json"
EXTRA_HINT = "pip install 'icrl[offline]'"


def _minari():
    try:
        import minari
    except ImportError as err:
        raise DataError(f"offline datasets need the optional package minari ({err}); install it with "
                        f"`{EXTRA_HINT}`.") from err
    return minari


class EpisodeConverter:
    """Episodes in an env's spaces -> ``Trajectory`` records in the agent's (module docstring)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.dict_obs = isinstance(observation_space, gym.spaces.Dict)
        items = observation_space.spaces.items() if self.dict_obs else [("observation", observation_space)]
        converted = {key: obs_converter(space, key) for key, space in items}
        self.obs = {key: fn for key, (_, fn) in converted.items()}
        self.obs_shapes = {key: tuple(int(s) for s in box.shape) for key, (box, _) in converted.items()}
        self.actions: ActionConverter = action_converter(action_space)
        self.action_spec = ActionSpec.from_space(self.actions.space)

    def check(self, obs_shapes: dict[str, tuple[int, ...]], action_spec: ActionSpec, what: str) -> None:
        """Raise DataError unless the converted data fits an env with these observation shapes and actions."""
        mine = {k: tuple(v) for k, v in self.obs_shapes.items()}
        theirs = {k: tuple(v) for k, v in obs_shapes.items()}
        if mine != theirs or self.action_spec != action_spec:
            raise DataError(f"{what} does not fit the environment: dataset observations {mine} and actions "
                            f"{self.action_spec}, env observations {theirs} and actions {action_spec}. Train on "
                            "the env the dataset was recorded in (env.name, env.kwargs).")

    def __call__(self, episode: Episode, env_name: str = "") -> Trajectory:
        rewards = np.asarray(episode.rewards, np.float32).reshape(-1)
        T = rewards.shape[0]
        raw = episode.observations if self.dict_obs else {"observation": episode.observations}
        try:
            obs = {k: fn(raw[k]) for k, fn in self.obs.items()}
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise DataError(f"an episode's observations do not fit the dataset's observation space "
                            f"({type(err).__name__}: {err}); clean the dataset or fix its observation_space.") from err
        if not all(np.isfinite(v).all() for v in obs.values()):
            raise DataError("episode has non-finite observations; clean the dataset first.")
        bad = [k for k, v in obs.items() if v.shape[0] != T + 1]
        if bad or len(episode.actions) != T or len(episode.terminations) != T:
            raise DataError(f"episode with {T} rewards has {len(episode.actions)} actions, "
                            f"{len(episode.terminations)} terminations and observations {bad} not of length T+1.")
        if not np.all(np.isfinite(rewards)):
            raise DataError("episode has non-finite rewards; clean the dataset first.")
        encoded = self.action_spec.encode(self.actions.from_env(episode.actions)) if T else \
            np.zeros((0, self.action_spec.dim), np.float32)
        return Trajectory(obs, np.concatenate([np.zeros((1, self.action_spec.dim), np.float32), encoded]),
                          np.concatenate([[0.0], rewards]).astype(np.float32), np.arange(T + 1, dtype=np.int64),
                          np.concatenate([[False], np.asarray(episode.terminations, bool).reshape(-1)]), env_name)


def open_dataset(source: str):
    """A ``minari.MinariDataset`` from a local folder (the dataset's, or its ``data/``) or a local dataset id."""
    minari = _minari()
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            return minari.MinariDataset(str(path / "data" if (path / "data").is_dir() else path))
        return minari.load_dataset(source, download=False)
    except FileNotFoundError as err:
        raise DataError(f"Minari dataset {source!r} is neither a folder nor a dataset in the local Minari root "
                        f"({err}). icrl never downloads: fetch it once with `minari download {source}`, or give "
                        "the dataset's folder.") from err
    except ImportError as err:  # a storage backend (h5py, pyarrow) is missing
        raise DataError(f"reading Minari dataset {source!r} needs {err.name or err}; install `{EXTRA_HINT}` (hdf5) "
                        "or `pip install 'minari[arrow]'` for arrow datasets.") from err
    except ValueError as err:
        raise DataError(f"{source!r} is not a readable Minari dataset: {err}") from err
    except (OSError, KeyError) as err:  # a truncated or corrupt data file
        raise DataError(f"Minari dataset {source!r} is unreadable ({type(err).__name__}: {err}); its files are "
                        "truncated or corrupt: download or record it again.") from err


def read_episodes(dataset, source: str = "") -> Iterator[Episode]:
    """The episodes of a ``MinariDataset`` in storage order; a damaged file raises DataError naming the episode."""
    episodes = iter(dataset.iterate_episodes())
    index = 0
    while True:
        try:
            ep = next(episodes)
        except StopIteration:
            return
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise DataError(f"Minari dataset {source!r}: episode {index} is unreadable ({type(err).__name__}: "
                            f"{err}); its files are truncated or corrupt: download or record it again.") from err
        yield Episode(ep.observations, np.asarray(ep.actions), np.asarray(ep.rewards),
                      np.asarray(ep.terminations), np.asarray(ep.truncations))
        index += 1


@dataclass(frozen=True)
class DatasetInfo:
    """What an import stored (the ``dataset.json`` marker of a dataset directory)."""

    name: str
    source: str
    episodes: int
    steps: int
    mean_return: float
    min_return: float
    max_return: float


def imported_info(store: TrajectoryStore, name: str) -> DatasetInfo | None:
    """The marker of a finished import of ``name``, or None."""
    marker = store.source_dir(name) / MARKER
    if not marker.exists():
        return None
    try:
        return DatasetInfo(**json.loads(marker.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:  # damaged: the import is redone
        warnings.warn(f"{marker} is unreadable ({err}); dataset {name!r} is imported again from its source.",
                      RuntimeWarning, stacklevel=2)
        return None


def import_dataset(store: TrajectoryStore, name: str, source: str,
                   env: tuple[dict[str, tuple[int, ...]], ActionSpec] | None = None) -> DatasetInfo:
    """Convert the Minari dataset ``source`` into the store's dataset directory ``name``, once.

    A finished import (its marker exists) is not redone; an unfinished one is deleted and redone. ``env``
    (observation shapes, action spec) checks that the data fits the env before anything is written.
    """
    done = imported_info(store, name)
    if done is not None:
        return done
    store.remove_source(name)
    dataset = open_dataset(source)
    convert = EpisodeConverter(dataset.observation_space, dataset.action_space)
    if env is not None:
        convert.check(*env, what=f"Minari dataset {source!r}")
    returns, steps = [], 0
    try:
        for episode in read_episodes(dataset, source):
            traj = convert(episode, env_name=name)
            if len(traj) == 0:
                continue
            store.write(traj, source=name)
            returns.append(episode.ret)
            steps += len(traj)
    except DataError:
        store.remove_source(name)  # no half import left behind
        raise
    if not returns:
        store.remove_source(name)
        raise DataError(f"Minari dataset {source!r} holds no episode with at least one step.")
    info = DatasetInfo(name, source, len(returns), steps, float(np.mean(returns)), float(np.min(returns)),
                       float(np.max(returns)))
    atomic_write_text(store.source_dir(name) / MARKER, json.dumps(asdict(info), indent=2))
    return info


@contextlib.contextmanager
def _minari_root(root: Path | str | None):
    """Point Minari at ``root`` (its ``MINARI_DATASETS_PATH``) for the duration of the block."""
    if root is None:
        yield
        return
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).resolve())  # Minari mishandles relative roots
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def write_dataset(dataset_id: str, episodes: list[Episode], observation_space: gym.Space, action_space: gym.Space,
                  root: Path | str | None = None, description: str = "written by icrl") -> Path:
    """Write ``episodes`` as the Minari dataset ``dataset_id`` (``name-vN``) under ``root`` (default: Minari's
    root); returns the dataset's folder, which ``import_dataset`` and ``replay.datasets`` accept as a source."""
    minari = _minari()
    from minari.data_collector import EpisodeBuffer
    from minari.storage.datasets_root_dir import get_dataset_path

    buffers = [EpisodeBuffer(id=i, observations=ep.observations, actions=np.asarray(ep.actions),
                             rewards=np.asarray(ep.rewards, np.float64), terminations=np.asarray(ep.terminations, bool),
                             truncations=np.asarray(ep.truncations, bool), infos={})
               for i, ep in enumerate(episodes)]
    with _minari_root(root), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # metadata Minari recommends (eval env, permalink)
        try:
            minari.create_dataset_from_buffers(
                dataset_id, buffers, observation_space=observation_space, action_space=action_space,
                algorithm_name="icrl", author="icrl", author_email="-", code_permalink="-", description=description)
        except ImportError as err:
            raise DataError(f"writing a Minari dataset needs {err.name or err}; install `{EXTRA_HINT}`.") from err
        except ValueError as err:
            raise DataError(f"cannot write Minari dataset {dataset_id!r}: {err}") from err
        return Path(get_dataset_path(dataset_id)).resolve()
