"""MoAA training stage: SFT then DPO on the pipeline's Parquet shards, with TRL.

Entry points: `python -m moaa_training` (train one stage), `python -m moaa_training.tiny` (a tiny
random model and offline tokenizer for CPU runs), `python -m moaa_training.bench` (GPU throughput).
"""
