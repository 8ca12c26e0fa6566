"""The recipe: defaults per stage, typing, paths, precedence of command-line values, errors."""
from __future__ import annotations

import pytest

from moaa_training.recipe import RecipeError, batch_layout, load, resolve_data_files


def write(tmp_path, text: str, name: str = "r.yaml"):
    path = tmp_path / "recipes" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


MINIMAL = "stage: {stage}\nbase_model: models/base\noutput_dir: out\ndata: shards/*.parquet\n"


def test_sft_defaults_follow_the_paper_and_trl(tmp_path):
    r = load(str(write(tmp_path, MINIMAL.format(stage="sft"))))
    assert (r.learning_rate, r.batch_size) == (8e-6, 128)  # MoAA paper, SFT stage
    assert (r.epochs, r.max_steps, r.per_device_batch_size, r.max_length) == (3.0, None, 8, 1024)
    assert (r.beta, r.logging_steps, r.gradient_checkpointing, r.seed) == (0.1, 10, True, 42)
    assert r.lora.enabled is False and r.bf16 == "auto" and r.packing is False


def test_dpo_defaults_are_trls(tmp_path):
    r = load(str(write(tmp_path, MINIMAL.format(stage="dpo"))))
    assert (r.learning_rate, r.batch_size, r.beta) == (1e-6, 8, 0.1)


def test_relative_paths_resolve_against_the_recipe_folder_and_cli_paths_against_cwd(tmp_path):
    path = write(tmp_path, MINIMAL.format(stage="sft"))
    r = load(str(path))
    folder = path.parent.resolve()
    assert r.base_model == str(folder / "models" / "base")
    assert r.output_dir == str(folder / "out")
    assert r.data == [str(folder / "shards" / "*.parquet")]
    r = load(str(path), overrides={"output_dir": "elsewhere", "data": ["a/*.parquet", "/abs/b.parquet"]},
             cwd=str(tmp_path))
    assert r.output_dir == str(tmp_path / "elsewhere")
    assert r.data == [str(tmp_path / "a" / "*.parquet"), "/abs/b.parquet"]


def test_numbers_written_without_a_dot_are_numbers(tmp_path):
    # PyYAML reads 8e-6 as the string "8e-6"; the recipe still treats it as a number.
    r = load(str(write(tmp_path, MINIMAL.format(stage="sft") + "learning_rate: 8e-6\nbeta: 1e-1\n")))
    assert r.learning_rate == 8e-6 and r.beta == 0.1


def test_set_wins_over_flags_which_win_over_the_file(tmp_path):
    path = write(tmp_path, MINIMAL.format(stage="sft") + "max_steps: 5\nlearning_rate: 1.0e-5\n")
    r = load(str(path), overrides={"stage": "dpo"}, sets=["max_steps=9", "learning_rate=2e-4", "bf16=false"])
    assert r.stage == "dpo" and r.max_steps == 9 and r.learning_rate == 2e-4 and r.bf16 is False
    assert r.batch_size == 8  # the stage given on the command line picks the stage's defaults
    r = load(str(path), sets=["stage=sft", "max_steps=null"])
    assert r.max_steps is None


def test_lora_as_a_switch_a_section_or_dotted_keys(tmp_path):
    base = MINIMAL.format(stage="sft")
    assert load(str(write(tmp_path, base + "lora: true\n"))).lora.enabled
    r = load(str(write(tmp_path, base + "lora: {r: 16, alpha: 32, dropout: 0.05, target_modules: [q_proj]}\n")))
    assert (r.lora.enabled, r.lora.r, r.lora.alpha, r.lora.dropout, r.lora.target_modules) == (
        True, 16, 32, 0.05, ["q_proj"])
    r = load(str(write(tmp_path, base)), sets=["lora.enabled=true", "lora.target_modules=q_proj,v_proj"])
    assert r.lora.enabled and r.lora.target_modules == ["q_proj", "v_proj"] and r.lora.r == 8
    assert not load(str(write(tmp_path, base + "lora: {enabled: false, r: 4}\n"))).lora.enabled


@pytest.mark.parametrize(
    "extra, message",
    [
        ("learning_rte: 1\n", "unknown key 'learning_rte'"),
        ("lora: {rank: 4}\n", "unknown key lora.rank"),
        ("stage: ppo\n", "stage: expected one of sft, dpo, got 'ppo'"),
        ("max_length: 1.5\n", "max_length: expected an integer, got 1.5"),
        ("bf16: sometimes\n", "bf16: expected true or false"),
        ("epochs:\n", "epochs: no value given"),
        ("packing: true\nstage: dpo\n", "packing: only the sft stage"),
        ("data: []\n", "data: expected a glob or a list of globs"),
    ],
)
def test_errors_name_the_key(tmp_path, extra, message):
    with pytest.raises(RecipeError, match=None) as e:
        load(str(write(tmp_path, MINIMAL.format(stage="sft") + extra)))
    assert message in str(e.value)


def test_required_keys_and_missing_files(tmp_path):
    with pytest.raises(RecipeError, match="base_model is required"):
        load(None, overrides={"stage": "sft", "output_dir": "o", "data": ["d"]}, cwd=str(tmp_path))
    with pytest.raises(RecipeError, match="recipe not found"):
        load(str(tmp_path / "nope.yaml"))
    with pytest.raises(RecipeError, match="--set expects key=value"):
        load(str(write(tmp_path, MINIMAL.format(stage="sft"))), sets=["max_steps"])


def test_data_globs_must_each_match_a_file(tmp_path):
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "b.parquet").write_bytes(b"")
    (tmp_path / "shards" / "a.parquet").write_bytes(b"")
    r = load(None, overrides={"stage": "sft", "base_model": "m", "output_dir": "o",
                              "data": ["shards/*.parquet", "shards"]}, cwd=str(tmp_path))
    assert resolve_data_files(r) == [str(tmp_path / "shards" / n) for n in ("a.parquet", "b.parquet")]
    r.data.append(str(tmp_path / "missing" / "*.parquet"))
    with pytest.raises(RecipeError, match="no shards match .*missing"):
        resolve_data_files(r)


@pytest.mark.parametrize(
    "batch, per_device, processes, expected",
    [(128, 8, 1, (8, 16)), (128, 8, 8, (8, 2)), (8, 8, 2, (4, 1)), (12, 8, 1, (6, 2)), (8, 16, 1, (8, 1))],
)
def test_the_global_batch_splits_into_micro_batches_and_accumulation(batch, per_device, processes, expected):
    micro, accumulation = batch_layout(batch, per_device, processes)
    assert (micro, accumulation) == expected
    assert micro * accumulation * processes == batch


def test_a_batch_that_does_not_split_across_processes_is_refused():
    with pytest.raises(RecipeError, match="batch_size 9 is not a multiple of the 2 training processes"):
        batch_layout(9, 8, 2)
