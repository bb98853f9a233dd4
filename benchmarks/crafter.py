"""Per-instruction success of a Crafter-instructions run, like the paper's table.

Evaluates the latest checkpoint of a run directory (trained with ``--preset crafter`` or any
``env.name=crafter-instructions`` run) on its own generated instructions (row ``(generated)``: the overall
success) and then on each listed instruction alone (``env.kwargs.instructions=[...]``, ``--episodes`` rollouts
each); instructions longer than the run's ``goals`` are skipped. Prints success, the fraction of goals
completed and the number of rollouts per instruction.

    .venv/bin/python benchmarks/crafter.py runs/crafter --episodes 24
    .venv/bin/python benchmarks/crafter.py runs/crafter --instructions collect_coal place_furnace make_stone_pickaxe

The same numbers for one evaluation over a fixed set (drawn uniformly per rollout) come from ``icrl eval``:

    .venv/bin/icrl eval runs/crafter 'env.kwargs.instructions=["collect_coal", "place_table+make_wood_pickaxe"]'

which prints ``eval/instruction/<name>/success`` for each of them and ``eval/success`` over all.
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

from icrl.envs.suites.crafter import ACHIEVEMENTS, instruction_name, make_crafter_instructions, parse_instruction
from icrl.train import evaluate_run
from icrl.train.rundir import load_config

# Every single achievement, then chains along the tech tree.
DEFAULT_INSTRUCTIONS = list(ACHIEVEMENTS) + [
    "collect_wood+place_table+make_wood_pickaxe", "make_wood_pickaxe+collect_stone+make_stone_pickaxe",
    "collect_stone+place_furnace+collect_coal", "collect_sapling+place_plant+eat_plant"]


def instruction_table(run_dir: Path, instructions: list[str], episodes: int,
                      greedy: bool = False) -> list[tuple[str, float, float, int]]:
    """(instruction, success, fraction of goals completed, rollouts) rows: generated instructions first."""
    kwargs = load_config(run_dir).env.kwargs
    k = int(kwargs.get("goals", inspect.signature(make_crafter_instructions).parameters["goals"].default))
    jobs = [("(generated)", [])]
    for spec in instructions:
        names = parse_instruction(spec)
        if len(names) <= k:
            name = instruction_name(names)
            jobs.append((name, [f"env.kwargs.instructions={json.dumps([name])}"]))
    rows = []
    for name, overrides in jobs:
        m = evaluate_run(run_dir, episodes=episodes, greedy=greedy, overrides=overrides)
        rows.append((name, m["eval/success"], m["eval/goals"], int(m["eval/rollouts"])))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--instructions", nargs="+", default=DEFAULT_INSTRUCTIONS,
                   help="achievements joined by '+' (default: the 22 achievements and 4 tech-tree chains)")
    p.add_argument("--episodes", type=int, default=24, help="rollouts per instruction")
    p.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    args = p.parse_args()
    rows = instruction_table(args.run_dir, args.instructions, args.episodes, args.greedy)
    width = max(len(r[0]) for r in rows)
    print(f"{'instruction':<{width}}  success  goals  rollouts")
    for name, success, goals, n in rows:
        print(f"{name:<{width}}  {success:7.2f}  {goals:5.2f}  {n:8d}")


if __name__ == "__main__":
    main()
