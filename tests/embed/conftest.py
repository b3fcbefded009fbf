"""Fixtures for the embedding tests: the real offline MiniLM, a tiny random Llama, HH texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefspace.data import load_preferences

TINY_WORDS = (
    "the a cat dog sat on mat hello world how are you fine thanks good bad yes no what is two plus "
    "four five say hi there nice to meet"
).split()

# A minimal chat template (SmolLM2-like), so the tiny model exercises the chat-template path.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)


@pytest.fixture(scope="session")
def hh_small(hh_path: Path):
    """The first 12 HH pairs (prompts as messages)."""
    return load_preferences(hh_path, limit=12)


def _build_tiny_llama(directory: Path, *, chat_template: bool) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = [
        "[PAD]",
        "[UNK]",
        "<s>",
        "</s>",
        "<|im_start|>",
        "<|im_end|>",
        "user",
        "assistant",
        "system",
    ]
    vocab = {w: i for i, w in enumerate([*specials, *TINY_WORDS, ":", "?", "!", ".", ","])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        eos_token="</s>",
        bos_token="<s>",
    )
    if chat_template:
        hf_tok.chat_template = TINY_CHAT_TEMPLATE
    hf_tok.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A randomly initialised 3-layer Llama (hidden size 32) with a word-level tokenizer and a chat template."""
    return _build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), chat_template=True)


@pytest.fixture(scope="session")
def tiny_llama_plain_dir(tmp_path_factory) -> Path:
    """The same tiny Llama without a chat template (plain-text rendering)."""
    return _build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-plain"), chat_template=False)
