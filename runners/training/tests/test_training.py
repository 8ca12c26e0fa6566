"""The training command on the pipeline's own shards: SFT, then DPO from the SFT checkpoint, with a
tiny random Llama and an offline tokenizer, run as subprocesses the way the launcher runs them."""
from __future__ import annotations

import json
import math
import pathlib
import shutil
import sys

import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import DPO_RECIPE, SFT_RECIPE, command, train


def mean(xs):
    return sum(xs) / len(xs)


def test_tiny_model_and_tokenizer_are_built_from_the_shards(tiny_model, sft_shards):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tokenizer) <= 2000
    row = pq.read_table(sft_shards[0], columns=["messages"]).slice(0, 1).to_pylist()[0]["messages"]
    ids = tokenizer.apply_chat_template(row, tokenize=True, return_dict=True)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    # Learnt merges: the shard text takes far fewer tokens than bytes.
    text = "".join(m["content"] for m in row)
    assert len(ids) < len(text.encode()) / 2
    # The generation prompt of a conversation is a token prefix of the conversation with its answer.
    prompt = tokenizer.apply_chat_template(row[:1], tokenize=True, add_generation_prompt=True, return_dict=True)
    assert ids[: len(prompt["input_ids"])] == prompt["input_ids"]


def test_sft_loss_falls_and_outputs_are_complete(sft_run, sft_shards, tiny_model):
    steps = sft_run.steps()
    assert [s["step"] for s in steps] == list(range(1, 41))
    losses = [s["loss"] for s in steps]
    start, end = mean(losses[:5]), mean(losses[-5:])
    print(f"SFT loss: first 5 steps {start:.3f}, last 5 steps {end:.3f}")
    assert end < start - 1.0, (start, end)
    for s in steps:
        for key in ("epoch", "loss", "learning_rate", "grad_norm", "tokens", "tokens_per_second", "elapsed_seconds"):
            assert isinstance(s[key], (int, float)) and math.isfinite(s[key]), (key, s)
    assert steps[0]["learning_rate"] == pytest.approx(3e-3)
    tokens = [s["tokens"] for s in steps]
    assert all(b > a for a, b in zip(tokens, tokens[1:]))
    summary = sft_run.metrics()[-1]
    assert summary["summary"] is True and summary["steps"] == 40

    complete = sft_run.complete()
    final = sft_run.output_dir / "final"
    assert complete["stage"] == "sft"
    assert complete["checkpoint"] == str(final.resolve())
    assert complete["steps"] == 40
    assert complete["final_loss"] == losses[-1]
    assert complete["train_tokens"] == tokens[-1] > 0
    assert complete["tokens_per_second"] > 0 and complete["seconds"] > 0
    assert complete["base_model"] == str(tiny_model.resolve())
    assert complete["data"] == [str(p) for p in sft_shards]
    assert complete["recipe"]["learning_rate"] == 3e-3 and complete["recipe"]["batch_size"] == 8

    assert sft_run.last_stdout_line() == f"moaa-training: checkpoint {final.resolve()}"
    model = AutoModelForCausalLM.from_pretrained(final)
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert tokenizer.chat_template
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not torch.equal(model.model.embed_tokens.weight, base.model.embed_tokens.weight)
    # save_steps 20 with save_total_limit 1: one periodic checkpoint kept.
    assert [p.name for p in (sft_run.output_dir / "checkpoints").glob("checkpoint-*")] == ["checkpoint-40"]


def test_dpo_starts_at_ln2_and_learns_the_preferences(dpo_run, sft_run, dpo_shards):
    steps = dpo_run.steps()
    first = steps[0]
    print(f"DPO first loss {first['loss']:.5f}; ln 2 = {math.log(2):.5f}")
    assert first["step"] == 1
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert first["rewards/margins"] == pytest.approx(0.0, abs=1e-3)
    for s in steps:
        for key in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"):
            assert math.isfinite(s[key]), (key, s)
    accuracy = mean([s["rewards/accuracies"] for s in steps[-5:]])
    margins = mean([s["rewards/margins"] for s in steps[-5:]])
    print(f"DPO reward accuracy over the last 5 steps {accuracy:.3f}, margin {margins:.3f}")
    assert accuracy > 0.5
    assert margins > 0
    complete = dpo_run.complete()
    assert complete["stage"] == "dpo"
    assert complete["base_model"] == str((sft_run.output_dir / "final").resolve())
    assert complete["data"] == [str(p) for p in dpo_shards]
    assert complete["recipe"]["beta"] == 0.1  # TRL's default, since the recipe does not set it
    assert dpo_run.last_stdout_line() == f"moaa-training: checkpoint {(dpo_run.output_dir / 'final').resolve()}"
    AutoModelForCausalLM.from_pretrained(dpo_run.output_dir / "final")


def test_lora_trains_and_final_holds_the_merged_model(workdir, tiny_model):
    recipe = {**SFT_RECIPE, "output_dir": "lora", "max_steps": 20, "learning_rate": 1e-2, "save_steps": 1000,
              "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}}
    run = train(workdir, recipe, name="lora.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    losses = [s["loss"] for s in run.steps()]
    assert mean(losses[-3:]) < mean(losses[:3])
    complete = run.complete()
    assert complete["lora_merged_into_final"] is True
    assert (run.output_dir / "adapter" / "adapter_config.json").is_file()

    from peft import PeftModel

    final = AutoModelForCausalLM.from_pretrained(run.output_dir / "final")
    assert not any("lora" in name for name, _ in final.named_parameters())
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), run.output_dir / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = torch.tensor([[1, 5, 40, 41, 42, 3, 6, 50, 51]])
    with torch.no_grad():
        merged_logits = final(ids).logits
        adapter_logits = with_adapter(ids).logits
        base_logits = base(ids).logits
    assert torch.allclose(merged_logits, adapter_logits, atol=1e-4)
    assert not torch.allclose(merged_logits, base_logits, atol=1e-4)


def test_two_processes_under_torchrun_write_once_and_flags_override_the_recipe(workdir, tiny_model, sft_shards):
    torchrun = pathlib.Path(sys.executable).parent / "torchrun"
    assert torchrun.is_file(), "torchrun comes with torch, beside this python"
    out = workdir / "ddp"
    recipe = {**SFT_RECIPE, "output_dir": "ignored", "data": "/nowhere/*.parquet", "save_steps": 1000}
    run = train(workdir, recipe, "--data", str(sft_shards[0]), "--output-dir", str(out), "--set", "max_steps=4",
                "--set", "learning_rate=1e-4", name="ddp.yaml",
                launcher=[str(torchrun), "--nproc_per_node", "2", "-m"])
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("moaa-training: checkpoint") == 1
    assert run.last_stdout_line() == f"moaa-training: checkpoint {(out / 'final').resolve()}"
    assert [s["step"] for s in run.steps()] == [1, 2, 3, 4]
    complete = run.complete()
    assert complete["processes"] == 2
    # batch_size 8 over two processes: 4 rows per process and step, no accumulation.
    assert (complete["per_device_batch_size"], complete["gradient_accumulation_steps"]) == (4, 1)
    assert complete["data"] == [str(sft_shards[0])]
    assert complete["recipe"]["learning_rate"] == 1e-4 and complete["recipe"]["max_steps"] == 4
    assert not (workdir / "ignored").exists()
    AutoModelForCausalLM.from_pretrained(out / "final")


@pytest.mark.parametrize(
    "change, extra, message",
    [
        ({"learning_rat": 1e-3}, [], "moaa-training: error: unknown key 'learning_rat'"),
        ({"lora": {"rank": 4}}, [], "moaa-training: error: unknown key lora.rank"),
        ({"data": "/nowhere/*.parquet"}, [], "moaa-training: error: no shards match /nowhere/*.parquet"),
        ({"base_model": "no-such-model"}, [], "moaa-training: error: base model not found:"),
        ({}, ["--stage", "dpo"], "has no column prompt, chosen, rejected"),
        ({"batch_size": 0}, [], "moaa-training: error: batch_size: must be positive"),
        ({}, ["--set", "epochs=many"], "moaa-training: error: epochs: expected a number, got 'many'"),
    ],
)
def test_a_bad_recipe_fails_with_one_clear_line(workdir, tiny_model, change, extra, message):
    recipe = {**SFT_RECIPE, "output_dir": "bad", **change}
    run = train(workdir, recipe, *extra, name="bad.yaml")
    assert run.returncode == 2
    assert message in run.last_stderr_line()
    assert run.last_stderr_line().startswith("moaa-training: error: ")
    assert "moaa-training: checkpoint" not in run.stdout
    assert not (workdir / "bad").exists()


def test_a_rerun_that_fails_its_checks_no_longer_claims_completion(workdir, tiny_model):
    out = workdir / "rerun"
    out.mkdir(exist_ok=True)
    (out / "training_complete.json").write_text(json.dumps({"stage": "sft"}))
    run = train(workdir, {**SFT_RECIPE, "output_dir": str(out), "data": "/nowhere/*.parquet"}, name="rerun.yaml")
    assert run.returncode == 2
    assert not (out / "training_complete.json").exists()


def test_a_failure_after_the_checks_exits_1_and_removes_a_stale_marker(workdir, tiny_model):
    broken = workdir / "broken-model"
    broken.mkdir(exist_ok=True)
    shutil.copy(tiny_model / "config.json", broken / "config.json")  # a config, but no weights or tokenizer
    out = workdir / "stale"
    out.mkdir(exist_ok=True)
    (out / "training_complete.json").write_text(json.dumps({"stage": "sft"}))
    run = train(workdir, {**SFT_RECIPE, "base_model": str(broken), "output_dir": str(out)}, name="broken.yaml")
    assert run.returncode == 1
    assert run.last_stderr_line().startswith("moaa-training: error: ")
    assert "moaa-training: checkpoint" not in run.stdout
    assert not (out / "training_complete.json").exists()


def test_the_benchmark_entry_point_reports_throughput_on_cpu(workdir, sft_shards):
    p = command("-m", "moaa_training.bench", "--output", "bench", "--data", str(sft_shards[0]), "--size", "tiny",
                "--steps", "4", "--warmup-steps", "1", "--max-length", "128", "--per-device-batch", "2",
                "--vocab", "1000", "--no-bf16", cwd=workdir)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads((workdir / "bench" / "bench.json").read_text())
    assert result["steps"] == 4 and result["warmup_steps_excluded"] == 1
    assert result["measured_tokens"] > 0 and result["tokens_per_second"] > 0
    assert result["flops_per_token"] == 6 * result["params_without_input_embedding"] + 12 * 2 * 64 * 128
    assert result["mfu"] >= 0 and "6*N + 12*L*H*S" in result["mfu_formula"]
    assert result["command"].split()[1:3] == ["-m", "moaa_training.bench"]
