"""Command line: ``icrl train | eval | envs | plot``. The only module that parses arguments."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from icrl.config import RunConfig, apply_overrides
from icrl.errors import ICRLError
from icrl.presets import PRESETS, preset_overrides

EPILOG = """overrides are section.field=value pairs, e.g.
  icrl train learn.lr=3e-4 model.d_model=256 env.kwargs.size=4 train.epochs=50
sections: env, model, learn, replay, explore, train (see icrl/config.py for every field)"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="icrl", description="In-context reinforcement learning (AMAGO).")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume) an agent", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("overrides", nargs="*", help="section.field=value config overrides")
    t.add_argument("--preset", default=None, help=f"named settings: {', '.join(PRESETS)}")
    t.add_argument("--run-dir", type=Path, default=None, help="run directory (default runs/<env name>)")
    t.add_argument("--config", type=Path, default=None, help="start from a config.json instead of defaults")
    t.add_argument("--no-progress", action="store_true", help="plain log lines instead of a progress bar")
    t.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    e = sub.add_parser("eval", help="evaluate the latest checkpoint of a run")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--episodes", type=int, default=None, help="rollouts to run (default train.eval_episodes)")
    e.add_argument("--greedy", action="store_true", help="act with the policy's mode instead of sampling")
    e.add_argument("--json", action="store_true", help="print metrics as JSON")
    sub.add_parser("envs", help="list the registered environments")
    pl = sub.add_parser("plot", help="write learning-curve and per-attempt PNGs of a run")
    pl.add_argument("run_dir", type=Path)
    return p


def _resolve_config(args: argparse.Namespace) -> RunConfig:
    base = RunConfig()
    if args.config is not None:
        base = RunConfig.from_dict(json.loads(args.config.read_text()))
    overrides = (preset_overrides(args.preset) if args.preset else []) + list(args.overrides)
    return apply_overrides(base, overrides)


def _cmd_train(args: argparse.Namespace) -> None:
    cfg = _resolve_config(args)
    if args.print_config:
        print(cfg.to_json())
        return
    from icrl.train import train

    run_dir = args.run_dir or Path("runs") / cfg.env.name
    print(f"icrl: training on {cfg.env.name} -> {run_dir}", flush=True)
    metrics = train(cfg, run_dir, progress="plain" if args.no_progress else "auto")
    _print_metrics(metrics, keys=("env_steps", "updates", "eval/return", "eval/success",
                                  "eval/success_after_first", "time/total"))
    print(f"plots: {run_dir / 'learning_curve.png'}", flush=True)


def _cmd_eval(args: argparse.Namespace) -> None:
    from icrl.train import evaluate_run

    metrics = evaluate_run(args.run_dir, episodes=args.episodes, greedy=args.greedy)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        _print_metrics(metrics)


def _cmd_envs(_: argparse.Namespace) -> None:
    from icrl.envs import list_envs

    rows = list_envs()
    width = max(len(name) for name, *_ in rows)
    for name, description, extra in rows:
        dep = f" [needs icrl[{extra}]]" if extra else ""
        print(f"{name:<{width}}  {description}{dep}")
    print(f"{'<gymnasium id>':<{width}}  any installed gymnasium env id, e.g. CartPole-v1, Pendulum-v1")


def _cmd_plot(args: argparse.Namespace) -> None:
    from icrl.train.plots import plot_run

    for path in plot_run(args.run_dir):
        print(path)


def _print_metrics(metrics: dict[str, float], keys: tuple[str, ...] | None = None) -> None:
    for k in keys or sorted(metrics):
        if k in metrics:
            print(f"  {k:<32} {metrics[k]:.4g}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"train": _cmd_train, "eval": _cmd_eval, "envs": _cmd_envs, "plot": _cmd_plot}
    try:
        commands[args.command](args)
    except ICRLError as err:
        print(f"icrl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icrl: interrupted; re-run the same command to resume from the last checkpoint.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
