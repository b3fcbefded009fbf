"""Causal-LM hidden states: a tiny random Llama checked against manual forward passes, and SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prefspace.embed import CausalLMEncoder, get_encoder
from prefspace.exceptions import ConfigError

TEXTS = [
    "the cat sat on the mat",
    "hello",
    "how are you ? fine thanks , good",
    "dog",
    "yes no yes no yes",
]


def _manual_hidden(enc: CausalLMEncoder, ids: list[int], layer: int) -> torch.Tensor:
    """One unpadded sequence through the model: (len, hidden) states of ``layer``."""
    with torch.no_grad():
        out = enc.lm(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return out.hidden_states[layer][0]


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("layer", [-1, 1])
def test_last_token_pooling_matches_a_manual_forward_pass(tiny_llama_dir, padding_side, layer):
    enc = CausalLMEncoder(str(tiny_llama_dir), padding_side=padding_side, layer=layer, batch_size=5)
    E = enc.encode(TEXTS)  # one batch of mixed lengths: every row but the longest is padded
    assert E.dtype == np.float32 and E.shape == (5, 32)
    for text, row in zip(TEXTS, E):
        ids = enc.tokenizer(text)["input_ids"]
        np.testing.assert_allclose(row, _manual_hidden(enc, ids, layer)[-1].numpy(), atol=1e-5)


def test_mean_pooling_averages_the_response_tokens_only(tiny_llama_dir):
    enc = CausalLMEncoder(str(tiny_llama_dir), pooling="mean", padding_side="left")
    prompts = [
        [{"role": "user", "content": "what is two plus two ?"}],
        [{"role": "user", "content": "say hi"}],
    ]
    responses = ["four", "hello there , nice to meet you !"]
    E = enc.encode_joint(prompts, responses)
    tok = enc.tokenizer
    for p, r, row in zip(prompts, responses, E):
        prefix = tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template([*p, {"role": "assistant", "content": r}], tokenize=False)
        assert full.startswith(prefix)
        n_prefix = len(tok(prefix, add_special_tokens=False)["input_ids"])
        ids = tok(full, add_special_tokens=False)["input_ids"]
        hidden = _manual_hidden(enc, ids, -1)
        np.testing.assert_allclose(row, hidden[n_prefix:].mean(0).numpy(), atol=1e-5)


def test_joint_rows_are_pad_invariant_and_deterministic(tiny_llama_dir):
    enc = CausalLMEncoder(str(tiny_llama_dir), batch_size=8)
    prompts = [
        [{"role": "user", "content": w}]
        for w in ("hello", "how are you ?", "what is four plus five ?")
    ]
    responses = ["hi", "fine thanks", "nine ? no , the answer is a good one"]
    batch = enc.encode_joint(prompts, responses)
    alone = np.concatenate([enc.encode_joint([p], [r]) for p, r in zip(prompts, responses)])
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    np.testing.assert_array_equal(batch, enc.encode_joint(prompts, responses))


def test_prompts_too_long_keep_their_end(tiny_llama_plain_dir):
    enc = CausalLMEncoder(str(tiny_llama_plain_dir), max_length=6, layout="separate")
    long_prompt = "the cat sat on the mat and then the dog said hello world"
    ids = enc.tokenizer(long_prompt)["input_ids"]
    expected = _manual_hidden(enc, ids[-6:], -1)[-1].numpy()
    np.testing.assert_allclose(enc.encode_prompts([long_prompt])[0], expected, atol=1e-5)
    # a text embedded alone keeps its start
    expected_start = _manual_hidden(enc, ids[:6], -1)[-1].numpy()
    np.testing.assert_allclose(enc.encode([long_prompt])[0], expected_start, atol=1e-5)


def test_without_chat_template_joint_text_is_plain(tiny_llama_plain_dir):
    enc = CausalLMEncoder(str(tiny_llama_plain_dir))
    E = enc.encode_joint(["what is two plus two ?"], ["four"])
    np.testing.assert_allclose(E, enc.encode(["what is two plus two ?\n\nfour"]), atol=1e-5)


def test_out_of_range_layer_and_bad_pooling_are_refused(tiny_llama_dir):
    with pytest.raises(ConfigError, match="layer=7 is out of range.*4 hidden states"):
        CausalLMEncoder(str(tiny_llama_dir), layer=7).encode(["hello"])
    with pytest.raises(ConfigError, match="pooling must be 'last'"):
        CausalLMEncoder(str(tiny_llama_dir), pooling="max")
    assert (
        get_encoder(str(tiny_llama_dir)).backend == "causal-lm"
    )  # folder with a ...ForCausalLM config


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_hidden_states_shape_determinism_and_pad_invariance():
    enc = get_encoder("smollm2-135m", batch_size=4)
    assert (enc.layout, enc.pooling, enc.layer) == ("joint", "last", -1)
    prompts = [
        [{"role": "user", "content": "What is 2+2?"}],
        "Say hi.",
        [
            {"role": "user", "content": "Name a fruit."},
            {"role": "assistant", "content": "Apple."},
            {
                "role": "user",
                "content": "Another one, and explain why it is healthy in two sentences.",
            },
        ],
    ]
    responses = [
        "4",
        "Hello there, nice to meet you!",
        "Banana: it is rich in potassium and fibre.",
    ]
    batch = enc.encode_joint(prompts, responses)
    assert batch.dtype == np.float32 and batch.shape == (3, 576) and np.isfinite(batch).all()
    np.testing.assert_array_equal(batch, enc.encode_joint(prompts, responses))
    alone = np.concatenate([enc.encode_joint([p], [r]) for p, r in zip(prompts, responses)])
    np.testing.assert_allclose(batch, alone, atol=1e-3, rtol=1e-3)
    assert enc.encode(["hello", "a longer text to pad against"]).shape == (2, 576)
