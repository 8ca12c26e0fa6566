"""The SFT shards written by the Java end-to-end test, read back with pyarrow as a trainer would."""
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

E2E = pathlib.Path(__file__).resolve().parents[1] / "target" / "e2e" / "sft-direct" / "out"


@pytest.fixture(scope="module")
def table():
    shards = sorted((E2E / "sft" / "parquet").glob("*.parquet"))
    if not shards:
        pytest.fail(f"no shards under {E2E}: run the Maven tests first (./run-tests does)")
    return pa.concat_tables([pq.read_table(s) for s in shards])


def test_messages_is_a_list_of_role_content_structs(table):
    messages = table.schema.field("messages").type
    assert pa.types.is_list(messages)
    element = messages.value_type
    assert pa.types.is_struct(element)
    assert {element.field(i).name for i in range(element.num_fields)} == {"role", "content"}
    assert all(pa.types.is_string(element.field(i).type) for i in range(element.num_fields))


def test_every_row_alternates_user_and_assistant_and_ids_are_unique(table):
    rows = table.select(["id", "messages"]).to_pylist()
    assert len(rows) == 200
    assert len({r["id"] for r in rows}) == 200
    for r in rows:
        dialog = [m for m in r["messages"] if m["role"] != "system"]
        assert [m["role"] for m in dialog] == ["user", "assistant"] * (len(dialog) // 2)
        assert all(m["content"] for m in dialog)


def test_lineage_columns_are_nested_and_readable(table):
    row = table.slice(0, 1).to_pylist()[0]
    turn = row["turns"][0]
    assert turn["aggregator"]["model"] == "agg"
    assert {p["layer"] for p in turn["proposals"]} == {1, 2}
    assert row["prompt_tokens"] > 0


def test_manifest_reconciles():
    manifest = json.loads((E2E / "manifest.json").read_text())
    c = manifest["counts"]
    assert c["read"] == c["written"] + c["dead_lettered"] + c["dropped"]
    assert c["reconciled"] is True
