"""`python -m moaa_training.bench`: SFT throughput of the training stage on a GPU.

Builds a Llama-shaped model of about 0.5B or 1B parameters with random weights and a byte-level
BPE tokenizer trained on the shards (nothing is downloaded), then runs the stage's own SFT trainer
(TRL SFTTrainer, through `train.build_trainer`) for a fixed number of optimizer steps in bf16 on the
shards, packed into full `max_length` blocks ("wrapped" packing; `max_steps` cycles over the rows
as many times as needed). Reports, in `<output>/bench.json` and on stdout:

- tokens/s: non-padding tokens through the model per second, over the steps after the warm-up;
- MFU = (6 * N + 12 * L * H * S) * tokens/s / (processes * peak), where N is the parameter count
  without the input embedding table (a lookup, not a matmul), L the layers, H the hidden size and
  S the sequence length; 12*L*H*S counts the attention score and value matmuls forward and backward
  over the full S x S matrix (the PaLM convention, even though a causal kernel skips about half);
  peak defaults to 790e12 FLOP/s (H200 bf16 dense, as this project quotes it);
- peak GPU memory (allocated and reserved), and the exact command.

With gradient checkpointing on, the recomputed forward is not counted (MFU counts model FLOPs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

# name -> (hidden, intermediate, layers, attention heads, key/value heads)
SIZES = {
    "tiny": (64, 256, 2, 4, 4),  # CPU smoke test of this script
    "0.5b": (1536, 4096, 16, 12, 4),  # ~0.55B with a 32k vocabulary
    "1b": (2048, 5632, 22, 32, 4),  # the TinyLlama-1.1B shape
}


class StepClock:
    """Wall time and TRL's cumulative non-padding token count at the end of every optimizer step."""

    def __init__(self):
        self.trainer = None
        self.marks: list[tuple[int, float, int]] = []

    def callback(self):
        from transformers import TrainerCallback

        clock = self

        class _Clock(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.marks.append((0, clock._now(), 0))

            def on_step_end(self, args, state, control, **kwargs):
                clock.marks.append((state.global_step, clock._now(), int(clock.trainer._total_train_tokens)))

        return _Clock()

    @staticmethod
    def _now() -> float:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m moaa_training.bench", description=__doc__.split("\n")[0])
    p.add_argument("--output", required=True, help="folder for the model, the run and bench.json")
    p.add_argument("--data", required=True, nargs="+", metavar="GLOB", help="SFT Parquet shards")
    p.add_argument("--size", choices=sorted(SIZES), default="1b")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--warmup-steps", type=int, default=20, help="first steps left out of tokens/s (default 20)")
    p.add_argument("--max-length", type=int, default=2048, help="packed sequence length (default 2048)")
    p.add_argument("--per-device-batch", type=int, default=16, help="sequences per GPU per step (default 16)")
    p.add_argument("--vocab", type=int, default=32000, help="model vocabulary (default 32000)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--peak-tflops", type=float, default=790.0, help="accelerator peak, TFLOP/s (default 790)")
    a = p.parse_args(argv)
    if a.warmup_steps >= a.steps:
        p.error("--warmup-steps must be below --steps")

    from .cli import _quiet_environment

    _quiet_environment()
    import torch

    from . import recipe as recipes
    from .tiny import build_model, build_tokenizer, corpus_texts
    from .train import build_trainer

    out = Path(a.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    files, texts = corpus_texts(a.data)
    hidden, intermediate, layers, heads, kv_heads = SIZES[a.size]
    model_dir = out / "model"
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(texts, a.vocab)
    model = build_model(tokenizer, hidden, layers, heads, kv_heads, intermediate, a.vocab, max(a.max_length, 2048), 0)
    params = sum(t.numel() for t in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    del model
    build_seconds = time.perf_counter() - t0

    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun / accelerate launch on GPUs set it
    recipe_doc = {
        "stage": "sft",
        "base_model": str(model_dir),
        "output_dir": str(out / "run"),
        "data": [str(Path(f).resolve()) for f in files],
        "learning_rate": 8e-6,
        "max_steps": a.steps,
        "batch_size": a.per_device_batch * world,
        "per_device_batch_size": a.per_device_batch,
        "max_length": a.max_length,
        "packing": True,
        "packing_strategy": "wrapped",
        "bf16": a.bf16,
        "gradient_checkpointing": a.gradient_checkpointing,
        "logging_steps": 10,
        "save_steps": a.steps + 1,
        "seed": 0,
    }
    recipe_path = out / "recipe.yaml"
    import yaml

    recipe_path.write_text(yaml.safe_dump(recipe_doc, sort_keys=False))
    recipe = recipes.load(str(recipe_path))
    clock = StepClock()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer, log = build_trainer(recipe, extra_callbacks=[clock.callback()])
    clock.trainer = trainer
    if trainer.args.world_size != world:
        raise SystemExit(f"moaa-training: error: {trainer.args.world_size} processes, but WORLD_SIZE says {world}")
    trainer.train()

    marks = {step: (t, tokens) for step, t, tokens in clock.marks}
    last = max(marks)
    first = a.warmup_steps
    t_first, tok_first = marks[first]
    t_last, tok_last = marks[last]
    seconds = t_last - t_first
    tokens = tok_last - tok_first
    tokens_per_second = tokens / seconds
    flops_per_token = 6 * (params - embedding) + 12 * layers * hidden * a.max_length
    achieved = flops_per_token * tokens_per_second
    peak = a.peak_tflops * 1e12
    cuda = torch.cuda.is_available()
    result = {
        "size": a.size,
        "params": params,
        "params_without_input_embedding": params - embedding,
        "model": {"hidden": hidden, "intermediate": intermediate, "layers": layers, "heads": heads,
                  "kv_heads": kv_heads, "vocab": a.vocab, "tokenizer_vocab": len(tokenizer)},
        "steps": last,
        "warmup_steps_excluded": first,
        "processes": world,
        "per_device_batch": a.per_device_batch,
        "sequence_length": a.max_length,
        "bf16": a.bf16,
        "gradient_checkpointing": a.gradient_checkpointing,
        "measured_tokens": tokens,
        "measured_seconds": round(seconds, 3),
        "tokens_per_second": round(tokens_per_second, 1),
        "tokens_per_second_per_device": round(tokens_per_second / world, 1),
        "flops_per_token": flops_per_token,
        "achieved_tflops_per_device": round(achieved / world / 1e12, 2),
        "mfu": round(achieved / (world * peak), 4),
        "mfu_formula": "(6*N + 12*L*H*S) * tokens_per_second / (processes * peak); N = params without the "
                       "input embedding, L layers, H hidden, S sequence length; peak = "
                       f"{a.peak_tflops:g}e12 FLOP/s",
        "peak_memory_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_memory_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "final_loss": next((r["loss"] for r in reversed(log.rows) if r.get("loss") is not None), None),
        "model_build_seconds": round(build_seconds, 1),
        "versions": _versions(),
        "data": recipe_doc["data"],
        "command": shlex.join([sys.executable, "-m", "moaa_training.bench", *argv]),
    }
    if trainer.is_world_process_zero():
        (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2), flush=True)
        print(f"moaa-training: bench {out / 'bench.json'}", flush=True)
    return 0


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "tokenizers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


if __name__ == "__main__":
    sys.exit(main())
