"""``replay``: the buffer of trajectories, how windows are sampled from it, relabeling and offline data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icrl.config.fields import NON_NEGATIVE, POSITIVE, UNIT, Rule, Section, fail, one_of, require, setting

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DATASET_FORM = '[{"source": ID_OR_FOLDER, "weight": W, "name": NAME}, ...]'


def _dataset_entry(item: Any) -> dict[str, Any]:
    """One ``replay.datasets`` entry with every key filled in: {"source", "weight", "name"}."""
    ok = isinstance(item, dict) and isinstance(item.get("source"), str) and item["source"] != "" \
        and set(item) <= {"source", "weight", "name"}
    require(ok, "replay.datasets", item, f"entries like {_DATASET_FORM}")
    source = item["source"]
    default = Path(source).name if source.startswith(("/", ".", "~")) else source
    name = item.get("name") or re.sub(r"[^A-Za-z0-9._-]+", "-", default).strip(".-")
    require(isinstance(name, str) and bool(_NAME.fullmatch(name)) and name != "online", "replay.datasets", name,
            "names of letters, digits, '.', '_', '-' (not 'online')")
    weight = item.get("weight", 1.0)
    require(isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 <= weight < float("inf"),
            "replay.datasets", weight, "finite weights >= 0")
    return {"source": source, "weight": float(weight), "name": name}


def _datasets(value: Any) -> bool:
    names = [d["name"] for d in value]
    return len(set(names)) == len(names)


@dataclass(frozen=True)
class ReplayConfig(Section):
    """The replay buffer (FIFO in timesteps, protected data kept), window sampling and data mixtures."""

    section = "replay"

    capacity_steps: int = setting(1_000_000, "FIFO size of the buffer in timesteps (protected data not counted)",
                                  POSITIVE)
    min_steps: int = setting(1, "updates start once the buffer holds this many timesteps", NON_NEGATIVE)
    padded_sampling: str = setting("none", "where windows may start (method section 4.1)",
                                   one_of("none", "left", "right", "both"))
    weight_by_length: bool = setting(False, "sample trajectories in proportion to their length (false: uniformly, "
                                            "as in the method)", beyond_method=True)
    prefetch: int = setting(4, "batches prepared ahead by the background loader", POSITIVE)
    cache_trajectories: int = setting(20_000, "trajectories kept in memory after their first read (0 = always "
                                              "read from disk)", NON_NEGATIVE)
    relabel_prob: float = setting(0.0, "share of sampled trajectories rewritten by hindsight relabeling (method "
                                       "section 5; 0 = off; needs whole rollouts and an env with instructions)",
                                  UNIT)
    relabeler: str = setting("goal-sequence", "registered relabeler (icrl.data.relabel.register_relabeler adds "
                                              "yours)", Rule("a non-empty relabeler name", lambda v: v != ""))
    relabel_kwargs: dict = setting({}, 'relabeler arguments, e.g. {"fill": "all"}',
                                   Rule("a JSON object of the relabeler's arguments", lambda v: True))
    datasets: tuple = setting((), "offline Minari datasets imported into buffer/protected/ and sampled with the "
                                  'online buffer, e.g. [{"source": "D4RL/door/human-v2", "weight": 0.8}] '
                                  "(method 4.5; needs icrl[offline])",
                              Rule(f"entries {_DATASET_FORM} with distinct names", _datasets))
    online_weight: float = setting(1.0, "with datasets: relative share of windows from the online buffer",
                                   NON_NEGATIVE)
    mirror_actions: float = setting(0.0, "share of sampled windows whose actions are all negated, for continuous "
                                         "envs where that is an exact symmetry given a hidden context (the AIB's "
                                         "sign; 0 = off)", UNIT, beyond_method=True)

    @classmethod
    def resolve(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Dataset entries with their defaults filled in (weight 1, a name derived from the source)."""
        if "datasets" not in values:
            return values
        items = values["datasets"]
        if not isinstance(items, (tuple, list)):
            raise fail("replay.datasets", items, f"a list like {_DATASET_FORM}")
        return {**values, "datasets": tuple(_dataset_entry(item) for item in items)}

    def check(self) -> None:
        require(not self.datasets or self.online_weight + sum(d["weight"] for d in self.datasets) > 0,
                "replay.online_weight", self.online_weight, "> 0 when every dataset weight is 0")
