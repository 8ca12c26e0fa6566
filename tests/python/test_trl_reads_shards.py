"""The DPO and SFT shards written by the Java end-to-end tests, loaded the way a TRL user loads them."""
import pathlib

import pytest
from datasets import load_dataset
from trl.data_utils import is_conversational

E2E = pathlib.Path(__file__).resolve().parents[1] / "target" / "e2e"
DPO = E2E / "dpo" / "moa" / "dpo" / "parquet"
SFT = E2E / "sft-direct" / "out" / "sft" / "parquet"


def load(folder):
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        pytest.fail(f"no shards under {folder}: run the Maven tests first (./run-tests does)")
    return load_dataset("parquet", data_files=files, split="train")


def test_dpo_shards_load_with_datasets_and_are_conversational_preference_rows():
    ds = load(DPO)
    assert ds.num_rows >= 95
    for column in ("prompt", "chosen", "rejected", "score_chosen", "score_rejected"):
        assert column in ds.column_names
    for row in ds:
        assert is_conversational(row), row["id"]
        assert row["prompt"][-1]["role"] == "user"
        assert [m["role"] for m in row["chosen"]] == ["assistant"]
        assert [m["role"] for m in row["rejected"]] == ["assistant"]
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]
        assert row["score_chosen"] > row["score_rejected"]


def test_multi_turn_dpo_prompts_carry_their_history():
    ds = load(DPO).filter(lambda r: r["id"].startswith("mt-"))
    assert ds.num_rows == 10
    for row in ds:
        assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]


def test_sft_shards_load_with_datasets_and_are_conversational():
    ds = load(SFT)
    assert ds.num_rows == 200
    assert all(is_conversational(row) for row in ds)
