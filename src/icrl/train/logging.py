"""Where metrics go: ``metrics.jsonl`` (every epoch), ``eval.csv`` (epochs with evaluation), TensorBoard
(``tb/``), optionally Weights & Biases; and the progress display.

The JSONL file is appended one line per epoch and flushed, so a killed run loses at most the line being written;
``read_metrics`` skips a torn last line. A resumed session drops the rows of epochs after its checkpoint
(``keep_epochs``): those epochs are done again, and every epoch appears once. ``eval.csv`` is rewritten
atomically with the union of all columns.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from icrl.errors import MissingExtraError
from icrl.fsutil import atomic_write_text, read_jsonl

METRICS_FILE, EVAL_FILE, TB_DIR = "metrics.jsonl", "eval.csv", "tb"


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """All complete rows of ``metrics.jsonl`` (an unfinished last line, from a kill, is ignored)."""
    return read_jsonl(Path(run_dir) / METRICS_FILE)


def _row_epoch(line: str) -> float:
    """The epoch of one metrics line (infinite for an unreadable line, so that dropping rows drops it)."""
    try:
        return float(json.loads(line).get("epoch", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return float("inf")


class RunLogger:
    def __init__(self, run_dir: Path, use_tensorboard: bool = True, use_wandb: bool = False,
                 wandb_project: str = "icrl", config: dict | None = None, keep_epochs: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_torn_line()
        if keep_epochs is not None:
            self._drop_rows_after(keep_epochs)
        self.jsonl = open(self.run_dir / METRICS_FILE, "a")  # noqa: SIM115 (closed in close())
        self.tb = None
        if use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.run_dir / TB_DIR))
        self.wandb = _start_wandb(self.run_dir, wandb_project, config or {}) if use_wandb else None

    def _truncate_torn_line(self) -> None:
        """A kill in the middle of a write leaves a partial last line: drop it before appending."""
        path = self.run_dir / METRICS_FILE
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                atomic_write_text(path, data[: data.rfind(b"\n") + 1].decode())

    def _drop_rows_after(self, epoch: int) -> None:
        """Rows of epochs after ``epoch`` (logged after the checkpoint a session resumes from) are removed."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if _row_epoch(line) <= epoch]
        if len(kept) != len(lines):
            atomic_write_text(path, "".join(kept))

    def log(self, metrics: dict[str, float], step: int) -> None:
        row = {k: float(v) for k, v in metrics.items()}
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in row.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(row, step=step)
        if any(k.startswith("eval/") for k in row):
            self._write_eval_csv()

    def _write_eval_csv(self) -> None:
        rows = [r for r in read_metrics(self.run_dir) if any(k.startswith("eval/") for k in r)]
        keys = ["epoch", "env_steps", "updates", "time/total"]
        columns = [k for k in keys if any(k in r for r in rows)]
        columns += sorted({k for r in rows for k in r if k.startswith("eval/")})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.run_dir / EVAL_FILE, buf.getvalue())

    def close(self) -> None:
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _start_wandb(run_dir: Path, project: str, config: dict) -> Any:
    try:
        import wandb
    except ImportError as err:
        raise MissingExtraError("train.wandb=true needs Weights & Biases: pip install 'icrl[wandb]'.") from err
    return wandb.init(project=project, dir=str(run_dir), config=config, name=run_dir.name, resume="allow",
                      id=run_dir.resolve().name)


PROGRESS_MODES = ("auto", "bar", "plain", "off")


class Progress:
    """Epoch progress: a tqdm bar (``bar``), one plain line per epoch on stderr (``plain``: logs, CI), or
    nothing (``off``); ``auto`` is a bar on a terminal and plain lines otherwise."""

    def __init__(self, total_epochs: int, initial: int = 0, mode: str = "auto", label: str = "") -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress mode {mode!r} is not one of {PROGRESS_MODES}")
        self.enabled = mode != "off"
        self.prefix = f"[{label}] " if label else ""
        self.total = total_epochs
        self.bar = None
        if mode == "bar" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm import tqdm

            self.bar = tqdm(total=total_epochs, initial=initial, unit="epoch", dynamic_ncols=True, desc=label or None)

    def update(self, epoch: int, **postfix: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.n = epoch
            self.bar.set_postfix(postfix, refresh=True)
        else:
            fields = " ".join(f"{k}={v}" for k, v in postfix.items())
            print(f"{self.prefix}epoch {epoch}/{self.total} {fields}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
