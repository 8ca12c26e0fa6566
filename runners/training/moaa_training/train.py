"""One training stage: SFT (TRL's SFTTrainer) or DPO (TRL's DPOTrainer), from a checked recipe.

Outputs under `output_dir`:
  checkpoints/checkpoint-N/   the Trainer's periodic checkpoints (every `save_steps`)
  final/                      the trained model and its tokenizer (`save_pretrained`); with LoRA the
                              adapter is merged into the base weights here, so `final/` loads with
                              `AutoModelForCausalLM.from_pretrained` and serves like any model
  adapter/                    with LoRA only: the adapter on its own (PEFT format)
  metrics.jsonl               one line per logging step, then a summary line
  training_complete.json      written last: its presence means the stage finished
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .recipe import Recipe, RecipeError, batch_layout, resolve_data_files

MARKER = "training_complete.json"




def _use_bf16(setting) -> bool:
    import torch

    if setting == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(setting)


def check_base_model(path: str) -> None:
    if not Path(path, "config.json").is_file():
        raise RecipeError(f"base model not found: {path} (no config.json there)")


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise RecipeError(f"the tokenizer in {path} has no chat template; the shards are conversations")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _config(recipe: Recipe, micro: int, accum: int, bf16: bool):
    import torch

    common = dict(
        output_dir=str(Path(recipe.output_dir) / "checkpoints"),
        learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps if recipe.max_steps else -1,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        max_length=recipe.max_length,
        bf16=bf16,
        seed=recipe.seed,
        logging_steps=recipe.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        gradient_checkpointing=recipe.gradient_checkpointing,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup,
        report_to="none",
        ddp_find_unused_parameters=False,  # every weight of a causal LM takes part in each forward pass
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        model_init_kwargs={"dtype": "float32"},
    )
    if recipe.stage == "sft":
        from trl import SFTConfig

        return SFTConfig(
            **common,
            packing=recipe.packing,
            packing_strategy=recipe.packing_strategy,
            assistant_only_loss=recipe.assistant_only_loss,
        )
    from trl import DPOConfig

    return DPOConfig(**common, beta=recipe.beta)


def _lora_config(recipe: Recipe):
    if not recipe.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM",
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=recipe.lora.target_modules,
    )


def build_trainer(recipe: Recipe, extra_callbacks=()):
    """Checks the inputs, then builds the TRL trainer and the metrics log; returns both."""
    from .data import load_rows
    from .metrics import MetricsLog

    files = recipe.data_files or resolve_data_files(recipe)
    check_base_model(recipe.base_model)
    bf16 = _use_bf16(recipe.bf16)
    tokenizer = _load_tokenizer(recipe.base_model)
    rows = load_rows(recipe.stage, files)
    # The process count is read from the arguments themselves, which set up torch.distributed the
    # way the Trainer will (plain, torchrun or accelerate launch; CPU or GPU).
    args = _config(recipe, recipe.per_device_batch_size, 1, bf16)
    micro, accum = batch_layout(recipe.batch_size, recipe.per_device_batch_size, args.world_size)
    args.per_device_train_batch_size = micro
    args.gradient_accumulation_steps = accum
    log = MetricsLog(Path(recipe.output_dir) / "metrics.jsonl")
    kwargs = dict(
        model=recipe.base_model,
        args=args,
        train_dataset=rows,
        processing_class=tokenizer,
        peft_config=_lora_config(recipe),
        callbacks=[log, *extra_callbacks],
    )
    if recipe.stage == "sft":
        from trl import SFTTrainer

        trainer = SFTTrainer(**kwargs)
    else:
        from trl import DPOTrainer

        # No ref_model: TRL loads a second copy of base_model as the frozen reference (with LoRA it
        # uses the base weights with the adapter switched off), so policy = reference at step 0.
        trainer = DPOTrainer(**kwargs)
    return trainer, log


def _save_final(trainer, recipe: Recipe) -> dict:
    """Writes final/ (and adapter/ with LoRA). Every process calls it; only the main one writes."""
    out = Path(recipe.output_dir)
    final = out / "final"
    extra = {}
    if not recipe.lora.enabled:
        trainer.save_model(str(final))
    else:
        if trainer.is_world_process_zero():
            model = trainer.accelerator.unwrap_model(trainer.model)
            model.save_pretrained(str(out / "adapter"))
            merged = model.merge_and_unload()
            merged.save_pretrained(str(final))
            trainer.processing_class.save_pretrained(str(final))
        extra = {"adapter": str((out / "adapter").resolve()), "lora_merged_into_final": True}
    trainer.accelerator.wait_for_everyone()
    return extra


def forget_completion(recipe: Recipe) -> None:
    """Removes the marker of an earlier run in the same output_dir: from the moment a run starts,
    the folder is incomplete until this run finishes. Every process may call it (before any of
    them has initialised torch.distributed); the removal tolerates the others' doing the same."""
    (Path(recipe.output_dir) / MARKER).unlink(missing_ok=True)


def run(recipe: Recipe) -> tuple[Path, bool]:
    """Trains one stage and writes its outputs; returns the absolute path of final/ and whether
    this is the main process (the one that wrote the outputs)."""
    out = Path(recipe.output_dir)
    marker = out / MARKER
    forget_completion(recipe)
    out.mkdir(parents=True, exist_ok=True)
    trainer, log = build_trainer(recipe)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    extra = _save_final(trainer, recipe)
    final = (out / "final").resolve()
    if trainer.is_world_process_zero():
        tokens = int(getattr(trainer, "_total_train_tokens", log.train_tokens))
        losses = [r["loss"] for r in log.rows if r.get("loss") is not None]
        summary = {
            "stage": recipe.stage,
            "checkpoint": str(final),
            "steps": trainer.state.global_step,
            "final_loss": losses[-1] if losses else None,
            "mean_loss": result.training_loss,
            "train_tokens": tokens,
            "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None,
            "seconds": round(seconds, 3),
            "processes": trainer.args.world_size,
            "per_device_batch_size": trainer.args.per_device_train_batch_size,
            "gradient_accumulation_steps": trainer.args.gradient_accumulation_steps,
            "bf16": bool(trainer.args.bf16),
            "base_model": recipe.base_model,
            "data": recipe.data_files,
            **extra,
        }
        log.write_summary(summary)
        complete = {**summary, "recipe": {**recipe.as_dict(), "source": recipe.source}}
        tmp = marker.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(complete, indent=2) + "\n")
        tmp.replace(marker)
    return final, trainer.is_world_process_zero()
