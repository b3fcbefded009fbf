"""Precomputed embeddings: the alpaca_bon arrays, lookups by text and id, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from prefspace.data import load_scored_responses
from prefspace.embed import (
    PrecomputedEncoder,
    embed_responses,
    encoder_from_config,
    get_encoder,
    scored_response_features,
)
from prefspace.exceptions import ConfigError, DataError, ShapeError


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    return load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz"
    )


def test_alpaca_features_are_prompt_then_response_and_match_minilm(alpaca, alpaca_dir, minilm):
    F = scored_response_features(
        alpaca, alpaca_dir / "prompt_emb_minilm.npy", alpaca_dir / "response_emb_minilm.npy"
    )
    assert F.shape == (48290, 768) and F.dtype == np.float32
    # the arrays line up with the loaded rows: re-embedding a few texts with MiniLM agrees
    rows = [0, 17, 30001, 48289]
    fresh_r = minilm.encode([alpaca.responses[i] for i in rows])
    fresh_p = minilm.encode([alpaca.prompts[alpaca.prompt_index[i]] for i in rows])
    assert (np.sum(F[rows, 384:] * fresh_r, axis=1) > 0.99).all()
    assert (np.sum(F[rows, :384] * fresh_p, axis=1) > 0.99).all()


def test_alpaca_features_refuse_misaligned_arrays(alpaca):
    with pytest.raises(ShapeError, match="805 prompts"):
        scored_response_features(alpaca, np.zeros((10, 384)), np.zeros((48290, 384)))
    with pytest.raises(ShapeError, match="48290 responses"):
        scored_response_features(alpaca, np.zeros((805, 384)), np.zeros((5, 384)))


def test_precomputed_encoder_gives_the_same_rows_as_the_features(alpaca, alpaca_dir):
    enc = PrecomputedEncoder.from_scored_responses(
        alpaca,
        alpaca_dir / "prompt_emb_minilm.npy",
        alpaca_dir / "response_emb_minilm.npy",
        name="minilm-alpaca",
    )
    assert enc.dim == 384 and enc.feature_dim == 768 and enc.layout == "separate"
    rows = np.arange(0, 48290, 997)
    # pick rows whose response text is unique, so the table lookup is unambiguous
    counts = {}
    for r in alpaca.responses:
        counts[r] = counts.get(r, 0) + 1
    rows = [i for i in rows if counts[alpaca.responses[i]] == 1]
    got = embed_responses(
        [alpaca.prompts[alpaca.prompt_index[i]] for i in rows],
        [alpaca.responses[i] for i in rows],
        enc,
    )
    F = scored_response_features(
        alpaca, alpaca_dir / "prompt_emb_minilm.npy", alpaca_dir / "response_emb_minilm.npy"
    )
    np.testing.assert_array_equal(got, F[rows])
    with pytest.raises(
        DataError, match="1 of 1 texts are not in the precomputed table 'minilm-alpaca'.*never seen"
    ):
        enc.encode(["a text never seen"])


def test_load_from_npy_and_safetensors_with_texts_and_ids(tmp_path):
    V = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    np.save(tmp_path / "v.npy", V)
    save_file({"embeddings": V}, str(tmp_path / "v.safetensors"))
    (tmp_path / "rows.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c"}\n')
    a = PrecomputedEncoder.from_file(tmp_path / "v.npy", ["a", "b", "c"], ids=[10, 11, 12])
    b = get_encoder(
        str(tmp_path / "v.safetensors"),
        backend="precomputed",
        texts=tmp_path / "rows.jsonl",
        text_field="text",
    )
    np.testing.assert_array_equal(a.encode(["c", "a"]), V[[2, 0]])
    np.testing.assert_array_equal(b.encode(["b"]), V[[1]])
    np.testing.assert_array_equal(a.vectors_for_ids([12]), V[[2]])
    assert a.fingerprint == b.fingerprint  # same vectors and texts
    rebuilt = encoder_from_config(b.config(), expected_fingerprint=b.fingerprint)
    np.testing.assert_array_equal(rebuilt.encode(["a"]), V[[0]])
    with pytest.raises(ConfigError, match="built in memory"):
        encoder_from_config(a.config())
    with pytest.raises(ConfigError, match="needs the texts"):
        PrecomputedEncoder.from_file(tmp_path / "v.npy")
    with pytest.raises(ShapeError, match="3 vectors but 2 texts"):
        PrecomputedEncoder(V, ["a", "b"])


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "rows.jsonl",
            '{"text": "a"}\n{"text": ' + "1" * 5000 + "}\n",
            r"rows.jsonl:2: invalid JSON \(an integer of 5,000",
        ),
        (
            "rows.jsonl",
            '{"text": "a"}\n' + "[" * 50_000 + "\n",
            r"rows.jsonl:2: invalid JSON \(arrays or objects nested",
        ),
        (
            "rows.jsonl",
            '{"text": "a"}\n[1, 2]\n',
            r"rows.jsonl:2: missing key 'text' \(found: a JSON list\)",
        ),
        ("texts.json", '{"a": 1}', "expected a JSON list of texts"),
    ],
)
def test_malformed_text_files_are_data_errors(tmp_path, name, text, message):
    np.save(tmp_path / "v.npy", np.zeros((2, 4), np.float32))
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError, match=message):
        PrecomputedEncoder.from_file(tmp_path / "v.npy", tmp_path / name, text_field="text")
