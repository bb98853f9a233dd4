"""The stations import each other one way only (design.md, practice 7), directly or through any chain of imports.

Every ``icrl`` module belongs to a unit of ``FORBIDDEN`` (a station folder or a top-level module; ``icrl.config``
is a prefix, so a ``config.py`` module and a ``config/`` package are both covered) and must not reach the units it
lists. Reaching counts every import statement, lazy ones inside functions included (they run when called), and
the packages Python runs on the way: importing ``icrl.envs.registry`` runs ``icrl/envs/__init__.py`` first. The
package root is the exception: it re-exports lazily (``test_package_root_imports_lazily``), so importing any
module never runs what the root exports.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "icrl"

NETS, ENVS, ROLLOUT, DATA, LEARN = "icrl.nets", "icrl.envs", "icrl.rollout", "icrl.data", "icrl.learn"
AGENT, TRAIN, BENCH, CLI, TESTING = "icrl.agent", "icrl.train", "icrl.bench", "icrl.cli", "icrl.testing"
CONFIG, PRESETS, DEVICE, EXPORT = "icrl.config", "icrl.presets", "icrl.device", "icrl.export"
MAIN = "icrl.__main__"  # ``python -m icrl`` (and ``torchrun -m icrl``): the command line, nothing more
ABOVE_THE_LOOP = (TRAIN, BENCH, CLI, TESTING)  # the driver, what runs it, and test helpers for users
# Foundations (errors, files, records, spaces, devices) serve every station and import none.
FOUNDATION = (NETS, ENVS, ROLLOUT, DATA, LEARN, AGENT, EXPORT, CONFIG, PRESETS, DEVICE, *ABOVE_THE_LOOP)

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the data loop (design.md, "the house in one picture")
    NETS: (ENVS, ROLLOUT, DATA, LEARN, AGENT, *ABOVE_THE_LOOP),
    ENVS: (NETS, ROLLOUT, DATA, LEARN, AGENT, CONFIG, *ABOVE_THE_LOOP),
    ROLLOUT: (DATA, LEARN, *ABOVE_THE_LOOP),
    DATA: (NETS, ENVS, ROLLOUT, LEARN, AGENT, *ABOVE_THE_LOOP),
    LEARN: (ENVS, ROLLOUT, DATA, *ABOVE_THE_LOOP),
    AGENT: (ENVS, ROLLOUT, DATA, LEARN, EXPORT, *ABOVE_THE_LOOP),  # the networks and act(): nothing only training needs
    EXPORT: (ENVS, ROLLOUT, DATA, LEARN, *ABOVE_THE_LOOP),  # one step of the agent's policy, as a file
    # above the loop: the driver, the suite runner on it, the command line on top; testing sits beside them
    TRAIN: (BENCH, CLI, TESTING),
    BENCH: (CLI, TESTING),
    CLI: (TESTING,),
    MAIN: (TESTING,),
    TESTING: (TRAIN, BENCH, CLI),
    # settings: validated against registries (nets' sequence models), never against a running loop
    CONFIG: (ENVS, ROLLOUT, DATA, LEARN, AGENT, *ABOVE_THE_LOOP),
    PRESETS: (NETS, ENVS, ROLLOUT, DATA, LEARN, AGENT, DEVICE, *ABOVE_THE_LOOP),
    DEVICE: tuple(u for u in FOUNDATION if u != DEVICE),
    "icrl.errors": FOUNDATION,
    "icrl.fsutil": FOUNDATION,
    "icrl.records": FOUNDATION,
    "icrl.spaces": FOUNDATION,
    "icrl": (),  # the package root: public re-exports, all lazy
}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _imports(path: Path) -> set[str]:
    """The modules named by every import statement in ``path`` (``from a import b`` gives ``a``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package modules an import in ``path`` runs: ``from a import b`` is module ``a.b`` when that exists,
    else ``a`` (b is an attribute of a, e.g. a lazy re-export of the root)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names)
    return found & modules


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports (any import statement), plus its parent package, which Python
    runs first. The root package is nobody's implicit parent: it re-exports lazily.

    ``src`` is the package folder. Relative imports are not followed: the package has none
    (``test_imports_are_absolute``).
    """
    files = {_module_name(p, src): p for p in src.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        edges = _imported_modules(path, set(files))
        parent = name.rpartition(".")[0]
        if parent and parent != src.name:
            edges.add(parent)
        graph[name] = edges - {name}
    return graph


def chain_to(graph: dict[str, set[str]], start: str, forbidden: tuple[str, ...]) -> list[str] | None:
    """The shortest import chain from ``start`` to a module within a ``forbidden`` prefix, or None."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if any(_within(node, f) for f in forbidden):
            chain = [node]
            while (before := previous[chain[-1]]) is not None:
                chain.append(before)
            return chain[::-1]
        for nxt in sorted(graph.get(node, ())):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def unit_of(module: str, rules: dict[str, tuple[str, ...]]) -> str | None:
    """The most specific unit of ``rules`` that holds ``module`` (the root unit holds only the root itself)."""
    root = module.split(".")[0]
    units = [u for u in rules if _within(module, u) and (u != root or module == root)]
    return max(units, key=len) if units else None


def violations(graph: dict[str, set[str]], rules: dict[str, tuple[str, ...]]) -> list[str]:
    """One line per module that reaches a unit its own unit forbids: the shortest import chain that gets there."""
    chains = [chain_to(graph, m, rules[u]) for m in sorted(graph) if (u := unit_of(m, rules)) is not None]
    return [" -> ".join(c) for c in chains if c]


GRAPH = import_graph(SRC)


@pytest.mark.parametrize("station", sorted(FORBIDDEN))
def test_station_imports_follow_the_data_flow(station: str) -> None:
    members = [m for m in GRAPH if unit_of(m, FORBIDDEN) == station]
    assert members, f"unit {station} has no modules; remove it from FORBIDDEN"
    bad = [" -> ".join(chain) for m in members if (chain := chain_to(GRAPH, m, FORBIDDEN[station]))]
    assert not bad, f"{station} reaches what it must not import:\n  " + "\n  ".join(bad)


def test_every_module_has_a_rule() -> None:
    """A new top-level module or station needs a row in FORBIDDEN, so nothing escapes the rules."""
    assert not [m for m in GRAPH if unit_of(m, FORBIDDEN) is None]


def test_only_cli_and_bench_import_train() -> None:
    """The training driver sits on top; only the command line and the suite runner (above it) use it."""
    for module in GRAPH:
        unit = unit_of(module, FORBIDDEN)
        if unit in (TRAIN, BENCH, CLI, MAIN, "icrl"):
            continue
        assert chain_to(GRAPH, module, (TRAIN,)) is None, f"{module} reaches icrl.train"


def test_package_root_imports_lazily() -> None:
    """``icrl/__init__.py`` imports no icrl module at module level, so ``import icrl.X`` runs nothing else."""
    tree = ast.parse((SRC / "__init__.py").read_text())
    eager = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
             and any(_within(n, "icrl") for n in ([a.name for a in node.names] if isinstance(node, ast.Import)
                                                  else [node.module or ""]))]
    assert not eager, "icrl/__init__.py imports icrl modules eagerly; re-export them through __getattr__"


def test_imports_are_absolute() -> None:
    relative = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert not relative, f"relative imports (the rules follow absolute ones only): {relative}"


def test_checker_reports_a_planted_transitive_chain(tmp_path: Path) -> None:
    """A lazy import two steps away, reached through a package's ``__init__``, is found and its chain named."""
    pkg = tmp_path / "pkg"
    files = {"__init__.py": "", "low/__init__.py": "from pkg.low import a\n", "low/a.py": "",
             "low/b.py": "import os\n", "mid.py": "def f():\n    from pkg.high import run  # lazy\n",
             "high/__init__.py": "", "high/run.py": "",
             "user.py": "from pkg.low.b import x\n"}  # user imports low.b only; low/__init__ runs first
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    graph = import_graph(pkg)
    assert graph["pkg.low.b"] == {"pkg.low"} and graph["pkg.mid"] == {"pkg.high.run"}
    assert graph["pkg.low.a"] == {"pkg.low"} and "pkg" not in graph["pkg.user"]
    rules = {"pkg.low": ("pkg.high",), "pkg.mid": (), "pkg.high": (), "pkg.user": ("pkg.high",), "pkg": ()}
    assert violations(graph, rules) == []
    (pkg / "low" / "a.py").write_text("from pkg import mid\n")  # plant: low -> mid -> (lazily) high
    graph = import_graph(pkg)
    assert violations(graph, rules) == ["pkg.low -> pkg.low.a -> pkg.mid -> pkg.high.run",
                                        "pkg.low.a -> pkg.mid -> pkg.high.run",
                                        "pkg.low.b -> pkg.low -> pkg.low.a -> pkg.mid -> pkg.high.run",
                                        "pkg.user -> pkg.low.b -> pkg.low -> pkg.low.a -> pkg.mid -> pkg.high.run"]
    assert unit_of("pkg.high.run", rules) == "pkg.high" and unit_of("pkg.other", rules) is None


def test_the_agent_imports_nothing_from_learn() -> None:
    """The agent is the networks and ``act()``; what only training needs (losses, statistics) stays in learn."""
    bad = sorted(m for m in _imports(SRC / "agent.py") if m == "icrl.learn" or m.startswith("icrl.learn."))
    assert not bad, f"agent.py imports {bad}"
