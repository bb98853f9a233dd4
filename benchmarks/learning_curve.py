"""Learning curve of a run: evaluation metrics against env steps and wall time.

Run the README's main command first (or pass --train to run it here), then:

    .venv/bin/python benchmarks/learning_curve.py runs/meta-frozen-lake
    .venv/bin/python benchmarks/learning_curve.py runs/mfl-bench --train train.time_limit_min=15
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from icrl.config import RunConfig, apply_overrides
from icrl.train.logging import read_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--train", action="store_true", help="train (or resume) the run first")
    p.add_argument("overrides", nargs="*", help="config overrides used with --train")
    args = p.parse_args()
    if args.train:
        from icrl.train import train

        train(apply_overrides(RunConfig(), args.overrides), args.run_dir, progress="off")
    rows = [r for r in read_metrics(args.run_dir) if "eval/return" in r]
    if not rows:
        raise SystemExit(f"no evaluation rows in {args.run_dir}/metrics.jsonl")
    attempts = sorted({int(m.group(1)) for k in rows[-1] for m in [re.match(r"eval/attempt_(\d+)/success", k)] if m})
    head = ["env_steps", "minutes", "updates", "return", "success", "succ_2..k"] + [f"att{a}" for a in attempts]
    print(" ".join(f"{h:>9}" for h in head))
    for r in rows:
        vals = [r.get("env_steps", 0), r.get("time/total", 0.0) / 60, r.get("updates", 0),
                r["eval/return"], r.get("eval/success", float("nan")), r.get("eval/success_after_first", float("nan"))]
        vals += [r.get(f"eval/attempt_{a}/success", float("nan")) for a in attempts]
        print(" ".join(f"{v:>9.0f}" if i in (0, 2) else f"{v:>9.3f}" for i, v in enumerate(vals)))


if __name__ == "__main__":
    main()
