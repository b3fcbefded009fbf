"""The sentence-transformers backend on the real bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import render_prompt_text
from prefspace.embed import SentenceTransformerEncoder, get_encoder
from prefspace.embed.sentence_transformer import bundled_minilm_path
from prefspace.exceptions import ConfigError, DataError


def test_default_name_resolves_to_the_bundled_weights_without_loading():
    enc = get_encoder()
    assert isinstance(enc, SentenceTransformerEncoder)
    assert enc._local == bundled_minilm_path() and enc._st is None
    assert (enc.dim, enc.feature_dim, enc.layout) == (384, 768, "separate")  # read from the files
    assert enc._st is None


def test_encode_returns_float32_rows_equal_to_sentence_transformers(minilm):
    texts = ["The cat sat on the mat.", "A completely different sentence about tax law.", ""]
    E = minilm.encode(texts)
    assert E.dtype == np.float32 and E.shape == (3, 384) and E.flags.c_contiguous
    direct = minilm.st.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(E, direct, atol=1e-5)
    np.testing.assert_allclose(
        np.linalg.norm(E, axis=1), 1.0, atol=1e-5
    )  # the model's Normalize layer
    assert minilm.encode([]).shape == (0, 384)


def test_encode_refuses_a_bare_string(minilm):
    with pytest.raises(DataError, match="list of strings; got one string"):
        minilm.encode("hello")
    with pytest.raises(DataError, match=r"texts\[1\] must be a string; got int"):
        minilm.encode(["a", 3])


def test_long_prompt_keeps_its_end_and_response_keeps_its_start(minilm):
    head = "The first turn talks about gardening and tomatoes. " * 40
    tail = "Finally, the user asks how to bake sourdough bread at home."
    prompt = head + tail
    kept = minilm.keep_end(prompt)
    assert kept.endswith(tail) and len(kept) < len(prompt) and prompt.endswith(kept)
    n_tokens = len(minilm.st.tokenizer(kept, add_special_tokens=True)["input_ids"])
    assert 240 <= n_tokens <= 256  # fills the 256-token window, no more
    assert minilm.keep_end("short prompt") == "short prompt"

    as_prompt = minilm.encode_prompts([prompt])
    np.testing.assert_allclose(as_prompt, minilm.encode([kept]), atol=1e-5)
    # the plain path keeps the start: it differs from the prompt path on this long text
    assert float(minilm.encode([prompt])[0] @ as_prompt[0]) < 0.95


def test_message_prompts_are_rendered_as_plain_text(minilm):
    messages = [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    np.testing.assert_allclose(
        minilm.encode_prompts([messages]), minilm.encode([render_prompt_text(messages)]), atol=1e-5
    )


def test_joint_layout_embeds_prompt_and_response_as_one_text(minilm):
    joint = get_encoder(layout="joint")
    joint._st = minilm.st  # share the loaded weights; the encoder's settings are its own
    E = joint.encode_joint([[{"role": "user", "content": "2+2?"}]], ["4"])
    assert joint.feature_dim == 384 and E.shape == (1, 384)
    np.testing.assert_allclose(E, minilm.encode(["User: 2+2?\n\nAssistant: 4"]), atol=1e-5)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="layout must be 'separate'.*got 'both'"):
        get_encoder(layout="both")
    with pytest.raises(ConfigError, match="max_length must be an int >= 8"):
        get_encoder(max_length=2)
    with pytest.raises(ConfigError, match="backend must be one of"):
        get_encoder(backend="tensorrt")


def test_n_jobs_sets_the_threads_while_encoding_only(minilm, monkeypatch):
    import torch

    monkeypatch.delenv("PREFSPACE_NUM_THREADS", raising=False)
    seen, real = [], minilm._run
    monkeypatch.setattr(
        minilm, "_run", lambda texts: (seen.append(torch.get_num_threads()), real(texts))[1]
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        minilm.encode(["a cat"])  # n_jobs=None: torch's own setting
        monkeypatch.setattr(minilm, "n_jobs", 1)
        E = minilm.encode(["a cat"])
        assert seen == [2, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(E, real(["a cat"]), rtol=1e-5, atol=1e-6)
    assert "n_jobs" not in minilm.config()  # a setting of this process, not of the embeddings
    with pytest.raises(ConfigError, match="n_jobs must be None, -1"):
        get_encoder(n_jobs=0)


@pytest.mark.parametrize("max_length", [None, 128])
def test_window_tokens_from_the_model_files_equals_the_loaded_models(max_length):
    kwargs = {} if max_length is None else {"max_length": max_length}
    from_files = get_encoder("all-MiniLM-L6-v2", **kwargs)
    window = from_files.window_tokens
    assert from_files._st is None  # a run served from the cache does not load the model
    loaded = get_encoder("all-MiniLM-L6-v2", **kwargs)
    tokenizer = loaded.st.tokenizer
    limit = max_length or loaded.st.max_seq_length
    assert window == loaded.window_tokens == limit - tokenizer.num_special_tokens_to_add(pair=False)
