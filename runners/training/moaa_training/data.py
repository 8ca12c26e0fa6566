"""Reads the pipeline's Parquet shards as they are, keeping only the columns a stage trains on.

SFT shards carry `messages` (a list of {role, content}); DPO shards carry `prompt`, `chosen` and
`rejected` in the same conversational form. Lineage columns stay on disk and are dropped in memory.
"""
from __future__ import annotations

import pyarrow.parquet as pq

from .recipe import RecipeError

COLUMNS = {"sft": ["messages"], "dpo": ["prompt", "chosen", "rejected"]}


def check_columns(stage: str, files: list[str]) -> None:
    """Fails with the file and the missing column when a shard cannot feed this stage."""
    for f in files:
        try:
            names = set(pq.read_schema(f).names)
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported with its name
            raise RecipeError(f"cannot read {f} as Parquet: {e}")
        missing = [c for c in COLUMNS[stage] if c not in names]
        if missing:
            raise RecipeError(
                f"{f} has no column {', '.join(missing)}: the {stage} stage needs {', '.join(COLUMNS[stage])}"
            )


def load_rows(stage: str, files: list[str]):
    """A `datasets.Dataset` holding only the stage's training columns, rows in file order."""
    from datasets import load_dataset

    check_columns(stage, files)
    ds = load_dataset("parquet", data_files=files, split="train", columns=COLUMNS[stage])
    if ds.num_rows == 0:
        raise RecipeError(f"the shards hold no rows: {', '.join(files)}")
    return ds


def texts(files: list[str]) -> list[str]:
    """Every message text in the shards (any of the conversational columns), for training a tokenizer."""
    out: list[str] = []
    for f in files:
        names = set(pq.read_schema(f).names)
        cols = [c for c in ("messages", "prompt", "chosen", "rejected") if c in names]
        if not cols:
            raise RecipeError(f"{f} has no conversational column (messages, prompt, chosen or rejected)")
        table = pq.read_table(f, columns=cols)
        for col in cols:
            for conversation in table.column(col).to_pylist():
                for message in conversation or []:
                    if message and message.get("content"):
                        out.append(message["content"])
    return out
