"""The metrics log: one JSON object per logging step in `<output_dir>/metrics.jsonl`.

TRL counts the non-padding tokens that went through the model (`num_tokens`, summed over every
process); tokens/s is the growth of that count between two logs divided by the wall time between
them. Only the main process writes.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback

# Keys copied from the trainer's log when present, under the same names.
KEPT = (
    "loss",
    "learning_rate",
    "grad_norm",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
    "mean_token_accuracy",
    "entropy",
)


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; a non-finite value is recorded as null
    return v


class MetricsLog(TrainerCallback):
    def __init__(self, path: Path):
        self.path = path
        self.start = None
        self.last_time = None
        self.last_tokens = 0
        self.rows: list[dict] = []
        self.train_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.last_time = time.perf_counter()
        if state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return  # the end-of-training summary from the Trainer; the stage writes its own
        now = time.perf_counter()
        tokens = int(logs.get("num_tokens", self.last_tokens))
        span = now - self.last_time
        row = {"step": state.global_step, "epoch": _plain(logs.get("epoch", state.epoch))}
        row.update({k: _plain(logs[k]) for k in KEPT if k in logs})
        row["tokens"] = tokens
        row["tokens_per_second"] = round((tokens - self.last_tokens) / span, 2) if span > 0 else None
        row["elapsed_seconds"] = round(now - self.start, 3)
        self.last_time, self.last_tokens, self.train_tokens = now, tokens, tokens
        self.rows.append(row)
        if state.is_world_process_zero:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    def write_summary(self, summary: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"summary": True, **summary}) + "\n")
