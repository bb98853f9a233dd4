"""Kill test: SIGKILL a small training run at random moments, resume it each time, check nothing was lost.

    python benchmarks/killtest.py --kills 20

Prints one line per kill (the phase it aimed at and the one it hit, the checkpoint the run resumed from, files
rejected, rollouts dropped) and ends with ``killtest: K/N survived, L complete rollouts lost, R corrupt files
rejected``. The checks are in ``icrl.train.killtest``; exit status 0 only when every kill survived with nothing
lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from icrl.train.killtest import run_killtest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="number of kills (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    args = parser.parse_args()
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    with tempfile.TemporaryDirectory(prefix="icrl-killtest-") as tmp:
        report = run_killtest(args.work or Path(tmp) / "work", kills=args.kills, seed=args.seed)
    return 0 if report.survived == args.kills and report.lost == 0 and not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
