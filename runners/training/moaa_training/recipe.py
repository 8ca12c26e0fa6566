"""The training recipe: a small YAML file, checked key by key, with command-line overrides.

Every key has a type and a default. A default comes from the MoAA paper where the paper states one
(SFT learning rate and batch size) and from TRL / transformers / PEFT otherwise; `DEFAULTS_SOURCE`
says which. Relative paths in the file resolve against the file's folder; relative paths given on
the command line resolve against the current directory.
"""
from __future__ import annotations

import copy
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RecipeError(Exception):
    """A recipe or command-line value that cannot be used; the message names the key."""


STAGES = ("sft", "dpo")

# Stage-dependent defaults. SFT: the MoAA paper (learning rate 8e-6, batch 128).
# DPO: TRL's DPOConfig (learning rate 1e-6; per-device batch 8 with no accumulation, i.e. 8).
STAGE_DEFAULTS = {
    "sft": {"learning_rate": 8e-6, "batch_size": 128},
    "dpo": {"learning_rate": 1e-6, "batch_size": 8},
}

LORA_DEFAULTS = {"enabled": False, "r": 8, "alpha": 8, "dropout": 0.0, "target_modules": None}

# key -> (kind, default). Kinds: str, path, globs, float, int, bool, auto_bool, lora, choice:<a|b>.
SCHEMA: dict[str, tuple[str, Any]] = {
    "stage": ("choice:sft|dpo", None),
    "base_model": ("path", None),
    "output_dir": ("path", None),
    "data": ("globs", None),
    "learning_rate": ("float", None),  # per stage, see STAGE_DEFAULTS
    "epochs": ("float", 3.0),  # transformers TrainingArguments.num_train_epochs
    "max_steps": ("int?", None),  # when set, overrides epochs
    "batch_size": ("int", None),  # global batch per optimizer step, per stage
    "per_device_batch_size": ("int", 8),  # transformers per_device_train_batch_size
    "max_length": ("int", 1024),  # TRL SFTConfig / DPOConfig
    "beta": ("float", 0.1),  # TRL DPOConfig
    "lora": ("lora", None),
    "bf16": ("auto_bool", "auto"),  # on when the GPU supports it; TRL itself defaults to on
    "seed": ("int", 42),  # transformers
    "logging_steps": ("int", 10),  # TRL
    "save_steps": ("int", 500),  # transformers
    "save_total_limit": ("int?", None),  # transformers: keep every checkpoint
    "gradient_checkpointing": ("bool", True),  # TRL
    "lr_scheduler": ("str", "linear"),  # transformers
    "warmup": ("float", 0.0),  # transformers warmup_steps: steps, or a ratio of all steps when < 1
    "packing": ("bool", False),  # TRL SFTConfig (SFT only)
    "packing_strategy": ("choice:bfd|bfd_split|wrapped", "bfd"),  # TRL SFTConfig
    "assistant_only_loss": ("bool", False),  # TRL SFTConfig (SFT only)
}

DEFAULTS_SOURCE = {
    "learning_rate": "SFT 8e-6: MoAA paper; DPO 1e-6: TRL DPOConfig",
    "batch_size": "SFT 128: MoAA paper; DPO 8: TRL (8 per device, no accumulation)",
    "epochs": "transformers (3)",
    "per_device_batch_size": "transformers (8)",
    "max_length": "TRL (1024)",
    "beta": "TRL DPOConfig (0.1)",
    "lora": "off; r/alpha/dropout/target_modules from PEFT's LoraConfig (8, 8, 0.0, per-architecture)",
    "bf16": "auto: on when a CUDA device supports bf16",
    "seed": "transformers (42)",
    "logging_steps": "TRL (10)",
    "save_steps": "transformers (500)",
    "gradient_checkpointing": "TRL (on)",
    "lr_scheduler": "transformers (linear)",
    "warmup": "transformers (0)",
    "packing": "TRL (off)",
    "packing_strategy": "TRL (bfd; bfd is padding-free, meant for FlashAttention; wrapped suits sdpa)",
    "assistant_only_loss": "TRL (off)",
}


@dataclass
class Lora:
    enabled: bool = False
    r: int = 8
    alpha: int = 8
    dropout: float = 0.0
    target_modules: list[str] | None = None


@dataclass
class Recipe:
    stage: str
    base_model: str
    output_dir: str
    data: list[str]
    learning_rate: float
    epochs: float
    max_steps: int | None
    batch_size: int
    per_device_batch_size: int
    max_length: int
    beta: float
    lora: Lora
    bf16: bool | str
    seed: int
    logging_steps: int
    save_steps: int
    save_total_limit: int | None
    gradient_checkpointing: bool
    lr_scheduler: str
    warmup: float
    packing: bool
    packing_strategy: str
    assistant_only_loss: bool
    source: str | None = None  # the recipe file, if any
    data_files: list[str] = field(default_factory=list)  # filled by resolve_data_files

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in SCHEMA}
        out["lora"] = dict(vars(self.lora))
        return out


def _number(key: str, value: Any, kind: type) -> Any:
    # PyYAML reads "8e-6" (no dot) as a string, so numbers are converted here rather than trusted.
    if isinstance(value, bool):
        raise RecipeError(f"{key}: expected a number, got {value!r}")
    try:
        number = kind(value) if kind is float else int(str(value), 10)
    except (TypeError, ValueError):
        raise RecipeError(f"{key}: expected {'a number' if kind is float else 'an integer'}, got {value!r}")
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise RecipeError(f"{key}: expected true or false, got {value!r}")


def _path(key: str, value: Any, base: Path) -> str:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise RecipeError(f"{key}: expected a path, got {value!r}")
    p = Path(os.path.expanduser(str(value)))
    return str(p if p.is_absolute() else (base / p).resolve())


def _lora(value: Any, current: Lora) -> Lora:
    if isinstance(value, (bool, str)):
        return Lora(**{**vars(current), "enabled": _bool("lora", value)})
    if not isinstance(value, dict):
        raise RecipeError(f"lora: expected true/false or a mapping, got {value!r}")
    merged = dict(vars(current))
    merged["enabled"] = True  # writing a lora section means wanting LoRA, unless it says enabled: false
    for k, v in value.items():
        if k not in LORA_DEFAULTS:
            raise RecipeError(f"unknown key lora.{k} (known: {', '.join(LORA_DEFAULTS)})")
        merged[k] = _lora_field(k, v)
    return Lora(**merged)


def _lora_field(k: str, v: Any) -> Any:
    name = f"lora.{k}"
    if k == "enabled":
        return _bool(name, v)
    if k in ("r", "alpha"):
        return _number(name, v, int)
    if k == "dropout":
        return _number(name, v, float)
    if v is None:
        return None
    if isinstance(v, str):
        v = [s.strip() for s in v.split(",") if s.strip()]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise RecipeError(f"{name}: expected a list of module names, got {v!r}")
    return v


def _convert(key: str, value: Any, base: Path) -> Any:
    kind = SCHEMA[key][0]
    if kind.startswith("choice:"):
        choices = kind.split(":", 1)[1].split("|")
        if value not in choices:
            raise RecipeError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
        return value
    if kind == "path":
        return _path(key, value, base)
    if kind == "globs":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(s, str) and s.strip() for s in items):
            raise RecipeError(f"{key}: expected a glob or a list of globs, got {value!r}")
        return [_path(key, s, base) for s in items]
    if kind == "float":
        return _number(key, value, float)
    if kind == "int":
        return _number(key, value, int)
    if kind == "int?":
        return None if value is None or str(value).lower() in ("none", "null") else _number(key, value, int)
    if kind == "bool":
        return _bool(key, value)
    if kind == "auto_bool":
        return "auto" if str(value).lower() == "auto" else _bool(key, value)
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise RecipeError(f"{key}: expected a string, got {value!r}")
        return value
    raise AssertionError(kind)


def _unknown(key: str) -> RecipeError:
    return RecipeError(f"unknown key {key!r} (known: {', '.join(SCHEMA)})")


def load(
    recipe_path: str | None,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    cwd: str | None = None,
) -> Recipe:
    """Reads the recipe file (if any), applies `overrides` (already-typed CLI options such as
    stage or data) and then `--set key=value` strings, and checks the result."""
    cwd_path = Path(cwd or os.getcwd())
    values: dict[str, Any] = {}
    lora = Lora()

    def put(key: str, raw: Any, base: Path) -> None:
        nonlocal lora
        if key.startswith("lora."):
            sub = key.split(".", 1)[1]
            if sub not in LORA_DEFAULTS:
                raise RecipeError(f"unknown key {key!r} (known: {', '.join('lora.' + k for k in LORA_DEFAULTS)})")
            lora = Lora(**{**vars(lora), sub: _lora_field(sub, raw)})
            return
        if key not in SCHEMA:
            raise _unknown(key)
        if key == "lora":
            lora = _lora(raw, lora)
            return
        values[key] = None if raw is None and SCHEMA[key][0] == "int?" else _convert(key, raw, base)

    if recipe_path:
        path = Path(recipe_path)
        if not path.is_file():
            raise RecipeError(f"recipe not found: {recipe_path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise RecipeError(f"recipe {recipe_path} is not valid YAML: {e}".replace("\n", " "))
        if not isinstance(loaded, dict):
            raise RecipeError(f"recipe {recipe_path}: expected a mapping of keys to values")
        base = path.resolve().parent
        for key, raw in loaded.items():
            if raw is None and SCHEMA.get(key, ("",))[0] != "int?" and key != "lora":
                raise RecipeError(f"{key}: no value given")
            put(str(key), raw, base)

    for key, raw in (overrides or {}).items():
        if raw is not None:
            put(key, raw, cwd_path)

    for item in sets or []:
        if "=" not in item:
            raise RecipeError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        raw = yaml.safe_load(text) if text.strip() else None
        if key == "data" and isinstance(raw, str):
            raw = [s for s in raw.split(",") if s]
        put(key, raw, cwd_path)

    for key in ("stage", "base_model", "output_dir", "data"):
        if key not in values:
            raise RecipeError(f"{key} is required (in the recipe or as --{key.replace('_', '-')})")
    stage = values["stage"]
    for key, (_, default) in SCHEMA.items():
        if key not in values:
            values[key] = STAGE_DEFAULTS[stage][key] if key in STAGE_DEFAULTS[stage] else copy.deepcopy(default)
    values["lora"] = lora
    recipe = Recipe(**values, source=str(Path(recipe_path).resolve()) if recipe_path else None)
    _check(recipe)
    return recipe


def _check(r: Recipe) -> None:
    positive = ("learning_rate", "batch_size", "per_device_batch_size", "max_length", "logging_steps", "save_steps")
    for key in positive:
        if getattr(r, key) <= 0:
            raise RecipeError(f"{key}: must be positive, got {getattr(r, key)}")
    if r.epochs <= 0 and not r.max_steps:
        raise RecipeError(f"epochs: must be positive, got {r.epochs}")
    if r.max_steps is not None and r.max_steps <= 0:
        raise RecipeError(f"max_steps: must be positive, got {r.max_steps}")
    if r.beta <= 0:
        raise RecipeError(f"beta: must be positive, got {r.beta}")
    if r.warmup < 0:
        raise RecipeError(f"warmup: must not be negative, got {r.warmup}")
    if r.lora.enabled and (r.lora.r <= 0 or r.lora.alpha <= 0 or not 0 <= r.lora.dropout < 1):
        raise RecipeError(f"lora: r and alpha must be positive and dropout in [0, 1), got {vars(r.lora)}")
    if r.stage == "dpo" and r.packing:
        raise RecipeError("packing: only the sft stage packs sequences")
    if r.stage == "dpo" and r.assistant_only_loss:
        raise RecipeError("assistant_only_loss: only applies to the sft stage")


def batch_layout(batch_size: int, per_device: int, world_size: int) -> tuple[int, int]:
    """Splits the global batch into (per-device micro-batch, gradient accumulation steps).

    The micro-batch is at most `per_device` and divides the share of each process exactly, so an
    optimizer step always sees exactly `batch_size` rows."""
    if batch_size % world_size:
        raise RecipeError(f"batch_size {batch_size} is not a multiple of the {world_size} training processes")
    share = batch_size // world_size
    micro = min(per_device, share)
    while share % micro:
        micro -= 1
    return micro, share // micro


def resolve_data_files(recipe: Recipe) -> list[str]:
    """Expands the data globs; each glob must match at least one Parquet file."""
    files: list[str] = []
    for pattern in recipe.data:
        if os.path.isdir(pattern):
            matched = sorted(glob.glob(os.path.join(pattern, "*.parquet")))
        else:
            matched = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matched:
            raise RecipeError(f"no shards match {pattern}")
        files.extend(m for m in matched if m not in files)
    recipe.data_files = files
    return files
