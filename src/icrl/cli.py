"""Command line: ``icrl train | eval | envs | config | plot | bench | export``. The only module that parses
arguments."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from icrl.config import RunConfig, apply_overrides, read_config_file
from icrl.errors import ConfigError, ICRLError
from icrl.presets import PRESETS, preset_overrides

EPILOG = """overrides are section.field=value pairs, e.g.
  icrl train learn.lr=3e-4 model.d_model=256 env.kwargs.size=4 train.epochs=50
sections: env, model, learn, replay, explore, train; `icrl config [SECTION]` lists every field with its
default, allowed values and doc (also docs/configuration.md)"""


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
    e.add_argument("--checkpoint", default=None, help="a checkpoint name (ckpt_N) instead of the latest")
    e.add_argument("--per-instruction", nargs="*", default=None, metavar="INSTRUCTION",
                   help="crafter-instructions runs: a table of success per instruction, each evaluated alone "
                        "(achievements joined by '+'; default: every achievement and 4 tech-tree chains; "
                        "--episodes rollouts each)")
    e.add_argument("overrides", nargs="*", help="evaluation-only overrides of env.* and explore.sample_eval, "
                                                "train.eval_episodes/seed/device/threads/precision, e.g. "
                                                "env.kwargs.split=eval_out")
    sub.add_parser("envs", help="list the registered environments")
    c = sub.add_parser("config", help="list the config fields: default, allowed values, doc")
    c.add_argument("section", nargs="?", help="only this section (env, model, learn, replay, explore, train)")
    c.add_argument("--markdown", action="store_true", help="all sections as a Markdown page (docs/configuration.md)")
    b = sub.add_parser("bench", help="run a benchmark suite over seeds; resumable; writes tables and plots")
    b.add_argument("suite", nargs="?", help="suite name (see --list)")
    b.add_argument("--list", action="store_true", help="list suites, tasks, budgets and expected wall time "
                                                         "(of one suite and budget when they are given)")
    b.add_argument("--budget", default=None, help="a named budget of the suite (default: its first); aib: 'quick' "
                                                  "(CPU-sized) or 'paper' (the published schedule)")
    b.add_argument("--out", type=Path, default=None,
                   help="results folder (default bench/<suite>, bench/<suite>-<budget> for other budgets)")
    b.add_argument("--seeds", type=int, default=None, help="seeds per task (default: the suite's)")
    b.add_argument("--first-seed", type=int, default=0,
                   help="number the seeds from here (e.g. --first-seed 3 --seeds 3: seeds 3-5 on a second machine)")
    b.add_argument("--tasks", nargs="+", default=None, help="only these tasks of the suite")
    b.add_argument("--jobs", type=int, default=1, help="runs in parallel (each gets cores // jobs threads)")
    b.add_argument("--budget-scale", type=float, default=1.0,
                   help="multiple of each task's env-step budget: <1 for a quick, non-comparable smoke run, "
                        ">1 to train on past it (both marked in the table)")
    b.add_argument("overrides", nargs="*", help="settings changed for every task, e.g. learn.tau=0.0025 (marked in "
                                                "the table; pass them again to resume)")
    pl = sub.add_parser("plot", help="write learning-curve and per-attempt PNGs of a run")
    pl.add_argument("run_dir", type=Path)
    x = sub.add_parser("export", help="write one policy step as an ONNX or TorchScript file", epilog=EXPORT_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    x.add_argument("run_dir", type=Path)
    x.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="onnx needs icrl[export]")
    x.add_argument("--out", type=Path, default=None, help="file to write (default RUN_DIR/policy.onnx or .pt)")
    x.add_argument("--checkpoint", default=None, help="a checkpoint name (ckpt_N) instead of the latest")
    return p


def _resolve_config(args: argparse.Namespace) -> RunConfig:
    base = RunConfig()
    if args.config is not None:
        base = read_config_file(args.config, "fix it, or write a fresh one with `icrl train --print-config > FILE`.")
    overrides = (preset_overrides(args.preset) if args.preset else []) + list(args.overrides)
    return apply_overrides(base, overrides)


def _cmd_train(args: argparse.Namespace) -> None:
    cfg = _resolve_config(args)
    if args.print_config:
        print(cfg.to_json())
        return
    from icrl.train import train
    from icrl.train.distributed import is_main_process, launched_by_torchrun, train_data_parallel

    run_dir = args.run_dir or Path("runs") / cfg.env.name
    print(f"icrl: training on {cfg.env.name} -> {run_dir}", flush=True)
    run = train_data_parallel if launched_by_torchrun() else train  # torchrun: one learner over its processes
    metrics = run(cfg, run_dir, progress="plain" if args.no_progress else "auto")
    if not is_main_process():
        return
    _print_metrics(metrics, keys=("env_steps", "updates", "eval/return", "eval/success",
                                  "eval/success_after_first", "time/total"))
    print(f"plots: {run_dir / 'learning_curve.png'}", flush=True)


def _cmd_eval(args: argparse.Namespace) -> None:
    from icrl.train import load_run

    run = load_run(args.run_dir, checkpoint=args.checkpoint)
    if args.per_instruction is not None:
        _instruction_table(run, args)
        return
    metrics = run.evaluate(episodes=args.episodes, greedy=args.greedy, overrides=args.overrides)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        print(f"{args.run_dir} at {run.checkpoint} ({int(run.progress.get('env_steps', 0)):,} env steps)")
        _print_metrics(metrics)


def _instruction_table(run, args: argparse.Namespace) -> None:
    from icrl.envs.suites.crafter import TABLE_INSTRUCTIONS
    from icrl.train.saved import evaluate_instructions

    given = [s for s in args.per_instruction if "=" not in s]  # overrides typed after the instructions
    overrides = list(args.overrides) + [s for s in args.per_instruction if "=" in s]
    rows = evaluate_instructions(run, given or TABLE_INSTRUCTIONS, args.episodes, args.greedy, overrides)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(r["instruction"]) for r in rows)
    print(f"{'instruction':<{width}}  success  goals  rollouts")
    for r in rows:
        print(f"{r['instruction']:<{width}}  {r['success']:7.2f}  {r['goals']:5.2f}  {r['rollouts']:8d}")


def _cmd_envs(_: argparse.Namespace) -> None:
    from icrl.envs import list_envs

    rows = list_envs()
    width = max(len(name) for name, *_ in rows)
    for name, description, extra in rows:
        dep = f" [needs icrl[{extra}]]" if extra else ""
        print(f"{name:<{width}}  {description}{dep}")
    print(f"{'<gymnasium id>':<{width}}  any installed gymnasium env id, e.g. CartPole-v1, Pendulum-v1")


def _cmd_config(args: argparse.Namespace) -> None:
    from icrl.config.reference import render_markdown, render_text

    print(render_markdown() if args.markdown else render_text(args.section))


def _list_suites(name: str | None, budget: str | None) -> None:
    """Suites (or one), each at its budgets (or one): per task the budget in vector steps and env transitions,
    the updates and the expected hours of one seed on this machine."""
    from icrl.bench import SUITES, get_suite
    from icrl.bench.suites import budgets

    for suite_name in [name] if name else list(SUITES):
        for budget_name in [budget] if budget else budgets(suite_name):
            suite = get_suite(suite_name, budget_name)
            extra = f" [needs icrl[{suite.extra}]]" if suite.extra else ""
            label = suite.name if suite.budget == "default" else f"{suite.name} --budget {suite.budget}"
            hours = [task.schedule()["hours"] for task in suite.tasks]
            print(f"{label}: {suite.description}{extra}")
            print(f"  {suite.seeds} seeds, about {suite.seeds * sum(hours):,.1f} h on 2 CPU cores (one job at a time; "
                  f"{sum(hours):,.1f} h per seed); published: {suite.source}")
            for how in dict.fromkeys(t.rate.how for t in suite.tasks if t.rate):
                print(f"  hours from measured rates: {how}")
            print(f"    {'task':<24} {'vector steps':>12} {'env transitions':>16} {'updates':>10} "
                  f"{'hours/seed':>10}  splits")
            for task in suite.tasks:
                plan = task.schedule()
                print(f"    {task.name:<24} {plan['vector_steps']:>12,} {plan['env_steps']:>16,} "
                      f"{plan['updates']:>10,} {plan['hours']:>10.1f}  {', '.join(task.splits)}")
            for note in dict.fromkeys(t.note for t in suite.tasks if t.note):
                print(f"    {', '.join(t.name for t in suite.tasks if t.note == note)}: {note}")


def _cmd_bench(args: argparse.Namespace) -> None:
    from icrl.bench import SUITES, collect_results, get_suite, run_suite, write_report

    if args.list or not args.suite:
        if args.suite:
            get_suite(args.suite, args.budget)  # an unknown name or budget: an error that lists them
        _list_suites(args.suite, args.budget)
        return
    suite = get_suite(args.suite, args.budget)
    if not args.budget_scale > 0:
        raise ConfigError(f"--budget-scale={args.budget_scale} must be > 0.")
    default_out = suite.name if suite.budget == SUITES[suite.name].budget else f"{suite.name}-{suite.budget}"
    out = args.out or Path("bench") / default_out
    outcome = run_suite(suite, out, seeds=args.seeds, tasks=args.tasks, jobs=args.jobs,
                        epochs_scale=args.budget_scale, overrides=args.overrides, first_seed=args.first_seed)
    results = collect_results(suite, out)  # this call's runs and every run finished earlier in the folder
    if results:
        for path in write_report(suite, results, out):
            print(path)
        print((out / "summary.md").read_text())
    if outcome.failures:
        raise ICRLError(f"{len(outcome.failures)} run(s) failed (re-run the same command to retry them):\n  "
                        + "\n  ".join(outcome.failures))


EXPORT_EPILOG = """step(obs.<key>..., prev_action (N,A) f32, prev_reward (N,) f32, time_idx (N,) i64, state...)
  -> action (N,A) f32 (the mode, encoded), dist (N,P) f32 (probabilities, or Box: mean|log_std before tanh),
     new_state... (same shapes as state); state starts at zeros for a new rollout. State by model.sequence:
  transformer: state.keys, state.values (layers, N, heads, max_seq_len, d_model/heads) f32 (a ring KV cache),
               state.steps (N,) i64 (tokens seen);  gru: state.h (layers, N, d_model) f32;
  lstm: state.h, state.c (layers, N, d_model) f32;  feedforward: none.
The run's exact names, shapes and dtypes are printed, stored in the file and written to OUT.json (docs/export.md)."""


def _cmd_export(args: argparse.Namespace) -> None:
    from icrl.export import export_policy
    from icrl.fsutil import atomic_write_text
    from icrl.train.saved import load_run

    out = args.out or args.run_dir / ("policy.onnx" if args.format == "onnx" else "policy.pt")
    run = load_run(args.run_dir, args.checkpoint, device="cpu")
    info = export_policy(run.agent, run.obs_spec, run.action_spec, args.format, out)
    atomic_write_text(Path(f"{out}.json"), json.dumps(info, indent=2) + "\n")
    for kind in ("inputs", "outputs"):
        print(f"{kind}: " + ", ".join(f"{t['name']} {tuple(t['shape'])} {t['dtype']}" for t in info[kind]))
    print(f"wrote {out} and {out}.json")


def _cmd_plot(args: argparse.Namespace) -> None:
    from icrl.train.plots import plot_run

    for path in plot_run(args.run_dir):
        print(path)


def _print_metrics(metrics: dict[str, float], keys: tuple[str, ...] | None = None) -> None:
    for k in keys or sorted(metrics):
        if k in metrics:
            print(f"  {k:<32} {metrics[k]:.4g}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Like ``parse_args``, but ``section.field=value`` overrides may also come after options
    (``icrl eval RUN --episodes 8 env.kwargs.split=eval_out``); argparse alone rejects those."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    commands = {"train": _cmd_train, "eval": _cmd_eval, "envs": _cmd_envs, "config": _cmd_config, "plot": _cmd_plot,
                "bench": _cmd_bench, "export": _cmd_export}
    try:
        commands[args.command](args)
    except ICRLError as err:
        print(f"icrl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icrl: interrupted; re-run the same command to resume from the last checkpoint.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `icrl config | head`: the reader left; say nothing more on the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
