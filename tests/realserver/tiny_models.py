#!/usr/bin/env python3
"""Builds three tiny random-weight chat models for the tests that run a real `transformers serve`.

    python tests/realserver/tiny_models.py OUTDIR

writes OUTDIR/plain, OUTDIR/inline-think and OUTDIR/reasoning, each a folder that `transformers serve`
loads when a request's `model` is that folder's path (config.json, model.safetensors,
generation_config.json, tokenizer.json, tokenizer_config.json with the chat template). Nothing is
downloaded: the tokenizer is a byte-level BPE trained here on a few sentences, the weights are random.

The models' output is steered, not learned. Every token's embedding carries the same value (1.0) in
hidden dimension 0, the rest of the embedding is small noise; after the final RMSNorm that dimension
dominates the hidden state (about sqrt(hidden_size)), so column 0 of the (untied) lm_head acts as a
per-token logit bias, while the other columns (random) add context-dependent noise of about one logit.
The biases of <|im_end|> and the think tags are calibrated (on random contexts) to the odds below; the
other special tokens and the byte tokens that do not decode to printable ASCII are suppressed. OUTDIR/BUILT
records the calibrated odds.

  plain         LlamaForCausalLM. ChatML template (system/user/assistant). Printable-ASCII text,
                <|im_end|> (its eos) ~3% per token, so answers are ~30 tokens long unless max_tokens cuts
                them. generation_config: do_sample=true, temperature=1.0, top_k=0, top_p=1.0: two seeds or
                two samples give different text.
  inline-think  LlamaForCausalLM, same template. <think> and </think> are ordinary (non-special) added
                tokens, ~10% per token each. `transformers serve` has no response template for model_type
                "llama" (and the tokenizer declares none), so it answers the decode with special tokens
                skipped: the tags stay inline in message.content, there is no reasoning_content.
  reasoning     Qwen3ForCausalLM (model_type "qwen3", for which `transformers serve` 5.x has a built-in
                response template: thinking between <think> and </think>, content up to <|im_end|>).
                Its Qwen3-style template opens the thinking block in the generation prompt
                ("<|im_start|>assistant\n<think>\n"; an empty, closed block when enable_thinking=false).
                </think> ~8% per token, <|im_end|> ~2%, <think> suppressed: with a generous max_tokens the
                reply usually (~80%) closes its thinking and then has content; with a budget of a few
                tokens it is usually all reasoning_content (content "", finish_reason "length").

All three build in a second or two on a CPU and weigh well under 1 MB each. Building is deterministic
(fixed seeds); the serving side is deterministic for a given request `seed` on the CPU.
"""

import json
import os
import string
import sys

HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 128
VOCAB_TARGET = 512  # BPE vocabulary incl. the 256 byte tokens, before the added tokens
MAX_POSITIONS = 4096
SEED = 1234

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A language model answers questions about the world, one token at a time.",
    "Write a short answer. Think step by step before you answer the question.",
    "Mixture of agents: several proposers answer, an aggregator writes the final response.",
    "The judge compares two responses and says which one is better, and why.",
    "Pipelines read prompts, call the models, and write the answers to Parquet files.",
    "What is the capital of France? The capital of France is Paris.",
    "How many legs does a spider have? A spider has eight legs.",
    "Explain why the sky is blue in one sentence.",
    "Summarize the following text in two sentences, please.",
    "def add(a, b):\n    return a + b\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024.",
    "Yes, no, maybe; first, second, third. (Note: this is only a test!)",
    "You are a helpful assistant. The user asks; the assistant answers.",
]

CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Qwen3's shape: earlier assistant turns lose their thinking; the generation prompt opens <think>
# unless enable_thinking is false, which writes an empty, closed thinking block instead.
QWEN3_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- set content = message['content'] %}"
    "{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>' + '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}"
    "{{- '<think>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Per-token logit biases (log-odds against the ~V ordinary tokens, which get 0).
SUPPRESS = -40.0


def _bpe_tokenizer(think_tokens):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    if think_tokens:
        # Ordinary added tokens, as in Qwen3's vocabulary: kept by skip_special_tokens decoding.
        tok.add_tokens([AddedToken("<think>", special=False, normalized=False),
                        AddedToken("</think>", special=False, normalized=False)])
    return tok


def _printable(tok, token_id):
    """Whether the token decodes to printable ASCII (byte tokens >= 0x80 alone are not valid UTF-8)."""
    text = tok.decode([token_id], skip_special_tokens=False)
    ok = set(string.ascii_letters + string.digits + string.punctuation + " \n")
    return text != "" and all(c in ok for c in text)


def _tokenizer_files(out, tok, template):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=template,
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(out)
    return fast


def _steer(model, tok, biases, targets, noise=1.0):
    """Make lm_head column 0 a per-token bias (see the module docstring), then calibrate the biases of
    the tokens in `targets` (token id -> wanted mean probability per generated token)."""
    import torch

    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    biases = torch.tensor(biases, dtype=head.dtype)
    with torch.no_grad():
        emb[:, 0] = 1.0
        head.normal_(0.0, noise)
        ordinary = [i for i in range(len(biases)) if biases[i] == 0.0]
        gen = torch.Generator().manual_seed(SEED)
        sample = torch.tensor(ordinary)[torch.randint(len(ordinary), (4, 96), generator=gen)]
        hidden = model.model(input_ids=sample).last_hidden_state
        # After RMSNorm dimension 0 is ~sqrt(HIDDEN); measure it rather than assume it.
        scale = float(hidden[..., 0].mean())
        for _ in range(6):
            head[:, 0] = biases / scale
            probs = torch.softmax(model.lm_head(hidden).float(), dim=-1).mean(dim=(0, 1))
            for token_id, want in targets.items():
                biases[token_id] += float(torch.log(torch.tensor(want) / probs[token_id]))
        head[:, 0] = biases / scale
        probs = torch.softmax(model.lm_head(hidden).float(), dim=-1).mean(dim=(0, 1))
    return {token_id: round(float(probs[token_id]), 4) for token_id in targets}


def _biases(tok, suppress_open_think=False):
    """0 for printable ordinary tokens, <|im_end|> and the think tags (calibrated later), else suppressed."""
    vocab = tok.get_vocab_size(with_added_tokens=True)
    special_ids = {tok.token_to_id(s) for s in SPECIALS}
    think = tok.token_to_id("<think>")
    close = tok.token_to_id("</think>")
    eos = tok.token_to_id("<|im_end|>")
    b = []
    for i in range(vocab):
        if i == eos or i == close:
            b.append(0.0)
        elif i == think:
            b.append(SUPPRESS if suppress_open_think else 0.0)
        elif i in special_ids:
            b.append(SUPPRESS)
        else:
            b.append(0.0 if _printable(tok, i) else SUPPRESS)
    return b


def _generation_config(out, tok):
    from transformers import GenerationConfig

    GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=256,
        eos_token_id=tok.token_to_id("<|im_end|>"),
        pad_token_id=tok.token_to_id("<|endoftext|>"),
    ).save_pretrained(out)


def _common(tok):
    return dict(
        vocab_size=tok.get_vocab_size(with_added_tokens=True),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=False,
        eos_token_id=tok.token_to_id("<|im_end|>"),
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        bos_token_id=None,
    )


def _save(model, out):
    model.save_pretrained(out, safe_serialization=True)


def build(outdir):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    os.makedirs(outdir, exist_ok=True)

    # Wanted mean probability per generated token (calibrated on random contexts).
    specs = {
        "plain": dict(think=False, arch="llama", targets={"<|im_end|>": 0.03}),
        "inline-think": dict(think=True, arch="llama",
                             targets={"<|im_end|>": 0.03, "<think>": 0.10, "</think>": 0.10}),
        "reasoning": dict(think=True, arch="qwen3", suppress_open_think=True,
                          targets={"<|im_end|>": 0.02, "</think>": 0.08}),
    }
    calibrated = {}
    for name, s in specs.items():
        out = os.path.join(outdir, name)
        torch.manual_seed(SEED)
        tok = _bpe_tokenizer(s["think"])
        template = QWEN3_TEMPLATE if s["arch"] == "qwen3" else CHATML_TEMPLATE
        _tokenizer_files(out, tok, template)
        if s["arch"] == "qwen3":
            model = Qwen3ForCausalLM(Qwen3Config(head_dim=HIDDEN // HEADS, **_common(tok)))
        else:
            model = LlamaForCausalLM(LlamaConfig(**_common(tok)))
        model.eval()
        biases = _biases(tok, suppress_open_think=s.get("suppress_open_think", False))
        targets = {tok.token_to_id(t): p for t, p in s["targets"].items()}
        got = _steer(model, tok, biases, targets)
        calibrated[name] = {t: got[tok.token_to_id(t)] for t in s["targets"]}
        _save(model, out)
        _generation_config(out, tok)
    with open(os.path.join(outdir, "BUILT"), "w") as f:
        json.dump(calibrated, f, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: tiny_models.py OUTDIR", file=sys.stderr)
        sys.exit(2)
    build(sys.argv[1])
