"""Offline and offline-to-online RL on a generated expert dataset (nothing is downloaded).

1. Record ``--episodes`` CartPole episodes (200-step limit) of a noisy scripted expert (``icrl.testing.CartPoleExpert``:
   a random action with probability ``--noise``) as a Minari dataset.
2. Behaviour cloning (``learn.fake_filter=true learn.online_coeff=0 learn.offline_coeff=1``), pure offline.
3. Offline RL (critic + advantage-filtered BC, ``learn.filter``) from the same data for the same number of epochs,
   then online collection (``train.start_collecting_at_epoch``) with the dataset kept in the replay mixture.

It prints the dataset's mean return, the BC policy's return, the offline-RL return at the switch to online and the
return after the online epochs; "sampled" acts like training evaluation (``explore.sample_eval``), "greedy" takes
the policy's most likely action. Needs ``pip install 'icrl[offline]'``. Runs resume (run directories under --out);
a stage already measured at the same epochs is read back from ``--out/results.json``, so re-running with more
``--online-epochs`` continues the online stage. Windows may start before t=0 (``replay.padded_sampling=both``):
with windows of 32 from ~120-step episodes, BC otherwise hardly sees the first step and fails in closed loop
(``benchmarks/RESULTS.md``).

    .venv/bin/python benchmarks/offline.py --out bench/offline                # the default budget
    .venv/bin/python benchmarks/offline.py --out /tmp/offline-smoke --scale 0.05   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from icrl.config import RunConfig, apply_overrides
from icrl.fsutil import atomic_write_text


def common(args: argparse.Namespace, epochs: int) -> list[str]:
    return ["env.name=CartPole-v1", "env.kwargs.max_episode_steps=200", f"env.num_envs={args.envs}",
            f"env.eval_num_envs={args.eval_episodes}", "model.max_seq_len=32", "model.d_model=64", "model.n_layers=2",
            "model.n_heads=4", "model.head_hidden=128", "learn.batch_size=16", "learn.gamma=0.99",
            "learn.reward_multiplier=1", "learn.lr=3e-4", "learn.warmup_steps=100", f"train.epochs={epochs}",
            f"train.updates_per_epoch={args.updates}", f"train.steps_per_epoch={args.steps}",
            f"train.eval_every={max(epochs // 4, 1)}", f"train.eval_episodes={args.eval_episodes}",
            f"train.seed={args.seed}", f"train.threads={args.threads}", "explore.eps_start=0.05",
            "explore.eps_end=0.01", "replay.padded_sampling=both"]


def run(label: str, name: str, overrides: list[str], out: Path, args: argparse.Namespace,
        saved: dict | None) -> dict[str, float]:
    """Train (or resume) the run ``out / name``; its sampled and greedy evaluation returns.

    ``saved``: this stage's row from an earlier call; it is reused when it was measured at the same number of
    epochs (the "rl" run goes on past the offline stage, so the offline stage cannot be re-measured later).
    """
    from icrl.train import load_run, train
    from icrl.train.logging import read_metrics

    cfg = apply_overrides(RunConfig(), overrides)
    if saved is not None and saved.get("epochs") == cfg.train.epochs:
        _print(label + " (saved)", saved)
        return saved
    start = time.perf_counter()
    metrics = train(cfg, out / name, progress="off")
    if not metrics:  # finished earlier: nothing trained now, so take the latest logged value of each metric
        for logged in read_metrics(out / name):
            metrics.update(logged)
    if metrics.get("epoch") != cfg.train.epochs:
        raise SystemExit(f"{out / name} has trained past this stage ({metrics.get('epoch')} epochs, not "
                         f"{cfg.train.epochs}) and results.json has no row for it; use a fresh --out.")
    greedy = load_run(out / name).evaluate(episodes=args.eval_episodes, greedy=True)
    row = {"sampled": metrics.get("eval/return", float("nan")), "greedy": greedy["eval/return"],
           "updates": metrics["updates"], "env_steps": metrics["env_steps"], "epochs": cfg.train.epochs,
           "minutes": (time.perf_counter() - start) / 60}
    _print(label, row)
    return row


def _print(label: str, row: dict) -> None:
    print(f"{label:<30} return sampled {row['sampled']:7.1f}  greedy {row['greedy']:7.1f}   "
          f"({int(row['updates'])} updates, {int(row['env_steps'])} env steps, {row['minutes']:.1f} min)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bench/offline"))
    p.add_argument("--episodes", type=int, default=200, help="expert episodes in the dataset")
    p.add_argument("--noise", type=float, default=0.5, help="probability of a random expert action")
    p.add_argument("--offline-epochs", type=int, default=20)
    p.add_argument("--online-epochs", type=int, default=60)
    p.add_argument("--updates", type=int, default=50, help="updates per epoch")
    p.add_argument("--steps", type=int, default=50, help="env steps per env per online epoch")
    p.add_argument("--envs", type=int, default=4)
    p.add_argument("--eval-episodes", type=int, default=16)
    p.add_argument("--filter", choices=("binary", "exp"), default="binary", help="offline-RL advantage filter")
    p.add_argument("--online-weight", type=float, default=0.5, help="share of online data once collecting")
    p.add_argument("--scale", type=float, default=1.0, help="multiply episodes, epochs and updates (smoke runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    scaled = lambda n: max(int(round(n * args.scale)), 1) if n else 0  # noqa: E731
    args.episodes, args.updates = scaled(args.episodes), scaled(args.updates)
    offline_epochs, online_epochs = scaled(args.offline_epochs), scaled(args.online_epochs)

    from icrl.data.offline import open_dataset
    from icrl.testing import record_expert_dataset

    folder = args.out / "minari" / "cartpole-noisy-expert-v0"
    if not folder.exists():
        record_expert_dataset("CartPole-v1", "cartpole-noisy-expert-v0", args.episodes, root=args.out / "minari",
                              noise=args.noise, seed=args.seed, max_episode_steps=200)
    dataset = open_dataset(str(folder))
    returns = [float(ep.rewards.sum()) for ep in dataset.iterate_episodes()]
    print(f"dataset: {len(returns)} episodes, {dataset.total_steps} steps, mean return "
          f"{sum(returns) / len(returns):.1f} (expert noise {args.noise})", flush=True)

    spec = [{"source": str(folder.resolve()), "name": "expert", "weight": 1.0 - args.online_weight}]
    data = [f"replay.datasets={json.dumps(spec)}", f"replay.online_weight={args.online_weight}"]
    path = args.out / "results.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    results = {"dataset": sum(returns) / len(returns)}
    bc = ["train.steps_per_epoch=0", "learn.fake_filter=true", "learn.online_coeff=0", "learn.offline_coeff=1"]
    results["bc"] = run("behaviour cloning", "bc", common(args, offline_epochs) + data + bc, args.out, args,
                        saved.get("bc"))
    rl = data + [f"learn.filter={args.filter}", "learn.online_coeff=0", "learn.offline_coeff=1",
                 f"train.start_collecting_at_epoch={offline_epochs}"]
    results["offline_rl"] = run("offline RL", "rl", common(args, offline_epochs) + rl, args.out, args,
                                saved.get("offline_rl"))
    if online_epochs:  # the same run, resumed with more epochs: collection starts where offline learning ended
        results["offline_to_online"] = run("offline RL + online", "rl", common(args, offline_epochs + online_epochs)
                                           + rl, args.out, args, saved.get("offline_to_online"))
    atomic_write_text(path, json.dumps(results, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
