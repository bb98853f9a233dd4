"""The stations import each other one way only (design.md, practice 7)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "icrl"

FORBIDDEN = {
    "nets": ("icrl.envs", "icrl.rollout", "icrl.data", "icrl.learn", "icrl.train", "icrl.agent", "icrl.cli"),
    "envs": ("icrl.nets", "icrl.rollout", "icrl.data", "icrl.learn", "icrl.train", "icrl.agent", "icrl.cli"),
    "data": ("icrl.nets", "icrl.envs", "icrl.rollout", "icrl.learn", "icrl.train", "icrl.agent", "icrl.cli"),
    "rollout": ("icrl.data", "icrl.learn", "icrl.train", "icrl.cli"),
    "learn": ("icrl.envs", "icrl.rollout", "icrl.data", "icrl.train", "icrl.cli"),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("station", sorted(FORBIDDEN))
def test_station_imports_follow_the_data_flow(station: str) -> None:
    files = list((SRC / station).rglob("*.py"))
    assert files, f"station {station} has no modules"
    for path in files:
        bad = {m for m in _imports(path) for f in FORBIDDEN[station] if m == f or m.startswith(f + ".")}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_only_cli_and_bench_import_train() -> None:
    """The training driver sits on top; only the command line and the suite runner (above it) use it."""
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("train", "bench", "cli.py"):
            continue
        assert not any(m.startswith("icrl.train") for m in _imports(path)), f"{rel} imports icrl.train"


def test_the_agent_imports_nothing_from_learn() -> None:
    """The agent is the networks and ``act()``; what only training needs (losses, statistics) stays in learn."""
    bad = sorted(m for m in _imports(SRC / "agent.py") if m == "icrl.learn" or m.startswith("icrl.learn."))
    assert not bad, f"agent.py imports {bad}"
