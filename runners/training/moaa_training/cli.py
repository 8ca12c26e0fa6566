"""`python -m moaa_training`: the command the Java launcher runs (plainly, or under torchrun /
accelerate launch). Exit 0 and a last stdout line `moaa-training: checkpoint <final/>` on success;
on failure a non-zero exit and a last stderr line `moaa-training: error: <what>`.
Exit codes: 2 for a bad recipe, flag or input; 1 for a failure while training."""
from __future__ import annotations

import argparse
import os
import sys
import traceback

# These modules import only the standard library, PyYAML and pyarrow at load time; torch,
# transformers and TRL are imported inside functions, after the environment below is set.
from .data import check_columns
from .recipe import RecipeError, load, resolve_data_files
from .train import check_base_model, forget_completion, run

PREFIX = "moaa-training:"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{PREFIX} error: {message}", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m moaa_training", description="Train one MoAA stage (SFT or DPO) with TRL.")
    p.add_argument("--recipe", help="the recipe YAML file")
    p.add_argument("--stage", choices=("sft", "dpo"), help="overrides the recipe's stage")
    p.add_argument("--data", nargs="+", metavar="GLOB", help="Parquet shards (globs); replaces the recipe's data")
    p.add_argument("--base-model", help="the model to start from (a local folder)")
    p.add_argument("--output-dir", help="where the checkpoint, metrics and marker go")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any recipe key, e.g. lora.r=16")
    return p


def _quiet_environment() -> None:
    # Offline and quiet by default: the base model is a local folder, and nothing reports to a service.
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
        "WANDB_MODE": "disabled",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DISABLE_MLFLOW_INTEGRATION": "TRUE",
    }.items():
        os.environ.setdefault(key, value)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 500 else text[:497] + "..."


def main(argv: list[str] | None = None) -> int:
    _quiet_environment()
    args = parser().parse_args(argv)
    try:
        recipe = load(
            args.recipe,
            overrides={
                "stage": args.stage,
                "data": args.data,
                "base_model": args.base_model,
                "output_dir": args.output_dir,
            },
            sets=args.set,
        )
        forget_completion(recipe)
        check_columns(recipe.stage, resolve_data_files(recipe))
        check_base_model(recipe.base_model)
        final, main_process = run(recipe)
    except RecipeError as e:
        sys.stdout.flush()
        print(f"{PREFIX} error: {_one_line(e)}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        sys.stdout.flush()
        print(f"{PREFIX} error: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as e:  # noqa: BLE001 - any failure ends the stage with one readable line
        sys.stdout.flush()
        traceback.print_exc()
        print(f"{PREFIX} error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr, flush=True)
        return 1
    if main_process:
        sys.stderr.flush()
        print(f"{PREFIX} checkpoint {final}", flush=True)
    return 0
