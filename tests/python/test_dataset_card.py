"""The dataset cards written by the Java DatasetCardTest, read back with Hugging Face `datasets`.

The card's features must equal what `datasets` itself derives from a shard's Arrow schema, and the
output folder must load as a dataset from its README.md alone (configs, data_files, split).
"""
import pathlib

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

E2E = pathlib.Path(__file__).resolve().parents[1] / "target" / "e2e"


def card_header(out):
    card = out / "README.md"
    if not card.exists():
        pytest.fail(f"no card at {card}: run the Maven tests first (./run-tests does)")
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.mark.parametrize("run", ["card-sft", "card-dpo"])
def test_card_features_equal_the_features_datasets_reads_from_the_shards(run):
    out = E2E / run / "out"
    header = card_header(out)
    declared = datasets.Features._from_yaml_list(header["dataset_info"]["features"])
    shards = sorted(out.glob(header["configs"][0]["data_files"][0]["path"]))
    assert shards, "the card's data_files glob matches the shards"
    for shard in shards:
        assert declared == datasets.Features.from_arrow_schema(pq.read_schema(shard)), shard.name


@pytest.mark.parametrize("run", ["card-sft", "card-dpo"])
def test_the_folder_loads_from_its_card_alone(run):
    out = E2E / run / "out"
    header = card_header(out)
    ds = datasets.load_dataset(str(out), split="train")
    assert len(ds) == header["dataset_info"]["splits"][0]["num_examples"]
    assert ds.features == datasets.Features._from_yaml_list(header["dataset_info"]["features"])
    first = ds[0]
    messages = first["messages"] if run == "card-sft" else first["chosen"]
    assert messages and set(messages[0]) == {"role", "content"}
