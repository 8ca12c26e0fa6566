"""`python -m moaa_training.tiny`: a small Llama-style model with random weights and a tokenizer
trained on the spot, both saved with `save_pretrained`. Nothing is downloaded.

The tokenizer is byte-level BPE (any text can be encoded, so no unknown token is ever needed)
trained on the message texts of the given shards. Its chat template marks each turn with a role
token, ends user and system turns with <|end|> and assistant turns with the end-of-sequence token,
and wraps assistant text in generation markers so TRL's assistant-only loss can find it. Role
tokens are special tokens, so a prompt rendered with the generation prompt is always a token
prefix of the same prompt followed by an answer, which is what DPO's tokenization relies on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

BOS, EOS, PAD, END = "<s>", "</s>", "<pad>", "<|end|>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
SPECIAL = [PAD, BOS, EOS, END, *ROLE_TOKENS]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% elif message['role'] in ['system', 'user'] %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% else %}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tokenizer(texts: list[str], vocab_size: int):
    """A `PreTrainedTokenizerFast` with BPE merges learnt from `texts` (deterministic for a given
    list), the special tokens above and the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[END, *ROLE_TOKENS],
        model_max_length=1 << 20,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int,
                vocab: int | None, max_positions: int, seed: int):
    """A `LlamaForCausalLM` initialised at random from a fixed seed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab_size = max(vocab or 0, len(tokenizer))
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # served (transformers serve), a checkpoint samples only when its generation config says so; the
    # loop's DPO step needs K different answers from its policy, as a sampling server gives them
    model.generation_config.do_sample = True
    model.generation_config.temperature = 1.0
    model.generation_config.top_k = 0
    return model


def corpus_texts(globs: list[str]) -> tuple[list[str], list[str]]:
    import glob as globlib

    from .data import texts
    from .recipe import RecipeError

    files: list[str] = []
    for pattern in globs:
        matched = sorted(p for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
        if not matched:
            raise RecipeError(f"no shards match {pattern}")
        files += [m for m in matched if m not in files]
    return files, texts(files)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m moaa_training.tiny", description=__doc__.split("\n")[0])
    p.add_argument("--output", required=True, help="folder to write the model and tokenizer to")
    p.add_argument("--corpus", nargs="*", default=[], metavar="GLOB",
                   help="Parquet shards whose message texts train the tokenizer (none: bytes only)")
    p.add_argument("--vocab", type=int, default=2000, help="tokenizer vocabulary size (default 2000)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=None, help="default: same as --heads")
    p.add_argument("--intermediate", type=int, default=None, help="default: 4 x hidden")
    p.add_argument("--max-positions", type=int, default=2048)
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args(argv)

    from .recipe import RecipeError

    try:
        files, texts = corpus_texts(a.corpus)
    except RecipeError as e:
        print(f"moaa-training: error: {e}", file=sys.stderr)
        return 2
    tokenizer = build_tokenizer(texts, a.vocab)
    model = build_model(tokenizer, a.hidden, a.layers, a.heads, a.kv_heads or a.heads,
                        a.intermediate or 4 * a.hidden, None, a.max_positions, a.seed)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    params = sum(t.numel() for t in model.parameters())
    print(f"moaa-training: tiny model {out.resolve()} ({params} parameters, vocabulary {len(tokenizer)}, "
          f"tokenizer trained on {len(texts)} texts from {len(files)} shards)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
