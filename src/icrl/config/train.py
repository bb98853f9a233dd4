"""``train``: the epoch loop (collect, update, evaluate, checkpoint), devices and logging."""

from __future__ import annotations

from dataclasses import dataclass

from icrl.config.fields import NON_NEGATIVE, POSITIVE, Rule, Section, one_of, setting


def _device(value: object) -> bool:
    if value in ("auto", "cpu", "cuda"):
        return True
    return isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit()


@dataclass(frozen=True)
class TrainConfig(Section):
    """How long and how the run goes; the fields a resumed run may change are in ``icrl.train.rundir``."""

    section = "train"

    epochs: int = setting(100, "epochs of collection and updates", POSITIVE)
    steps_per_epoch: int = setting(100, "env steps per training env per epoch (0: pure offline, no collection)",
                                   NON_NEGATIVE)
    start_collecting_at_epoch: int = setting(0, "no env steps before this epoch: learn from stored data first",
                                             NON_NEGATIVE)
    updates_per_epoch: int = setting(100, "gradient updates per epoch", NON_NEGATIVE)
    eval_every: int = setting(2, "evaluate every N epochs (0 = never; always at the last epoch)", NON_NEGATIVE)
    eval_episodes: int = setting(48, "finished evaluation rollouts per evaluation", POSITIVE)
    ckpt_every: int = setting(1, "checkpoint every N epochs (and at the end)", POSITIVE)
    seed: int = setting(0, "seed of every random stream of the run", NON_NEGATIVE)
    device: str = setting("auto", "auto: CUDA when available, else cpu", Rule("'auto', 'cpu', 'cuda' or 'cuda:N'",
                                                                               _device))
    precision: str = setting("auto", "the learner's forward pass: bf16 (autocast), fp32, or auto: bf16 where the "
                                     "hardware has it natively; weights and optimiser state stay fp32",
                             one_of("auto", "bf16", "fp32"))
    time_limit_min: float = setting(0.0, "stop (and checkpoint) after this many minutes (0 = no limit)",
                                    NON_NEGATIVE)
    log_every: int = setting(50, "updates between learner metric logs", POSITIVE)
    wandb: bool = setting(False, "also log to Weights & Biases (needs `pip install icrl[wandb]`)")
    wandb_project: str = setting("icrl", "Weights & Biases project", Rule("a non-empty project name",
                                                                           lambda v: v != ""))
    threads: int = setting(0, "torch CPU threads (0 = torch's default)", NON_NEGATIVE)
    mode: str = setting("sync", "sync: one process alternates collection and updates; async: actor processes "
                                "collect while the learner updates, at the sync loop's update-to-data ratio",
                        one_of("sync", "async"))
    actors: int = setting(2, "async mode: actor processes; they split the env.num_envs training envs between them",
                          POSITIVE)
    publish_every: int = setting(10, "async mode: learner updates between published policy weights", POSITIVE)
    actors_backend: str = setting("process", "async mode: process: actor processes on this machine, sharing the run "
                                             "directory; ray: Ray actors placed by a Ray cluster, rollouts and "
                                             "weights sent through Ray (needs `pip install icrl[ray]`)",
                                  one_of("process", "ray"))
    ray_address: str | None = setting(None, "actors_backend=ray: the Ray cluster to join (ray.init's address, e.g. "
                                            "'auto' or 'ray://host:10001'); null starts a local instance",
                                      Rule("null or a non-empty address", lambda v: v is None or
                                           (isinstance(v, str) and v != "")))
