"""Shared set-up: the shards the Java end-to-end tests wrote, a tiny model built from them, and the
training command run as a user runs it (a subprocess), once per session for SFT and for DPO."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass

import pytest
import yaml

TRAINING = pathlib.Path(__file__).resolve().parents[1]
REPO = TRAINING.parents[1]
E2E = pathlib.Path(os.environ.get("MOAA_E2E_DIR", REPO / "tests" / "target" / "e2e"))
SFT_SHARDS = E2E / "sft-direct" / "out" / "sft" / "parquet"
DPO_SHARDS = E2E / "dpo" / "moa" / "dpo" / "parquet"

sys.path.insert(0, str(TRAINING))

# Small, fast and still learning: a 2-layer, 64-wide model, short sequences, high learning rates.
SFT_RECIPE = {
    "stage": "sft",
    "base_model": "tiny",  # relative: resolved against the recipe's folder
    "output_dir": "sft",
    "data": str(SFT_SHARDS / "*.parquet"),
    "learning_rate": "3e-3",  # written as YAML reads it (a string), to check it is converted
    "max_steps": 40,
    "batch_size": 8,
    "per_device_batch_size": 8,
    "max_length": 256,
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
    "save_steps": 20,
    "save_total_limit": 1,
    "seed": 7,
}

DPO_RECIPE = {
    "stage": "dpo",
    "base_model": "sft/final",
    "output_dir": "dpo",
    "data": str(DPO_SHARDS / "*.parquet"),
    "learning_rate": 5e-3,
    "max_steps": 30,
    "batch_size": 8,
    "max_length": 256,
    "logging_steps": 1,
    "gradient_checkpointing": False,
    "bf16": False,
    "save_steps": 1000,
    "seed": 7,
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    output_dir: pathlib.Path

    def metrics(self) -> list[dict]:
        return [json.loads(line) for line in (self.output_dir / "metrics.jsonl").read_text().splitlines()]

    def steps(self) -> list[dict]:
        return [m for m in self.metrics() if not m.get("summary")]

    def complete(self) -> dict:
        return json.loads((self.output_dir / "training_complete.json").read_text())

    def last_stdout_line(self) -> str:
        return self.stdout.rstrip("\n").splitlines()[-1]

    def last_stderr_line(self) -> str:
        return self.stderr.rstrip("\n").splitlines()[-1]


def environment() -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(TRAINING), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        TOKENIZERS_PARALLELISM="false",
        CUDA_VISIBLE_DEVICES="",
        WANDB_DISABLED="true",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
    )
    return env


def command(*args: str, cwd: pathlib.Path, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(launcher or [sys.executable]), *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def train(workdir: pathlib.Path, recipe: dict, *extra: str, name: str = "recipe.yaml",
          launcher: list[str] | None = None) -> Run:
    path = workdir / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    p = command("-m", "moaa_training", "--recipe", str(path), *extra, cwd=workdir, launcher=launcher)
    out = pathlib.Path(recipe["output_dir"])
    for i, arg in enumerate(extra):
        if arg == "--output-dir":
            out = pathlib.Path(extra[i + 1])
    return Run(p.returncode, p.stdout, p.stderr, out if out.is_absolute() else (workdir / out).resolve())


def shards(folder: pathlib.Path) -> list[pathlib.Path]:
    found = sorted(folder.glob("*.parquet"))
    if not found:
        pytest.fail(f"no shards under {folder}: run the Maven end-to-end tests first (./run-tests does)")
    return found


@pytest.fixture(scope="session")
def sft_shards() -> list[pathlib.Path]:
    return shards(SFT_SHARDS)


@pytest.fixture(scope="session")
def dpo_shards() -> list[pathlib.Path]:
    return shards(DPO_SHARDS)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("training")


@pytest.fixture(scope="session")
def tiny_model(workdir, sft_shards, dpo_shards) -> pathlib.Path:
    p = command("-m", "moaa_training.tiny", "--output", "tiny", "--corpus",
                str(SFT_SHARDS / "*.parquet"), str(DPO_SHARDS / "*.parquet"), cwd=workdir)
    assert p.returncode == 0, p.stderr
    return workdir / "tiny"


@pytest.fixture(scope="session")
def sft_run(workdir, tiny_model) -> Run:
    run = train(workdir, SFT_RECIPE, name="sft.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="session")
def dpo_run(workdir, sft_run) -> Run:
    run = train(workdir, DPO_RECIPE, name="dpo.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    return run
