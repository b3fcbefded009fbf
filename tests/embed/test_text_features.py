"""The text-feature block on response rows: MiniLM's tokenizer, the cache, the fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data.text_features import TEXT_FEATURE_NAMES, TEXT_FEATURES_VERSION
from prefspace.embed import (
    EmbeddingCache,
    embed_pairs,
    embed_responses,
    embed_text_features,
    encoder_from_config,
    get_encoder,
)
from prefspace.exceptions import ConfigError

K = len(TEXT_FEATURE_NAMES)
COL = {name: i for i, name in enumerate(TEXT_FEATURE_NAMES)}


@pytest.fixture(scope="module")
def encoders():
    return get_encoder(), get_encoder(text_features=True)


def test_rows_get_the_block_after_the_embedding(encoders, hh_small, tmp_path):
    plain, featured = encoders
    assert featured.feature_dim == plain.feature_dim + K and featured.n_text_features == K
    cache = EmbeddingCache(tmp_path / "c")
    Xp = embed_pairs(hh_small, plain, cache).X
    pairs = embed_pairs(hh_small, featured, cache)
    X = pairs.X
    assert X.shape == (len(hh_small), 2, plain.feature_dim + K)
    np.testing.assert_array_equal(
        X[:, :, : plain.feature_dim], Xp
    )  # the embedding part is unchanged
    tokens = featured.count_tokens(list(hh_small.chosen))
    np.testing.assert_allclose(
        X[:, 0, plain.feature_dim + COL["log_tokens"]], np.log1p(tokens), rtol=1e-6
    )
    np.testing.assert_array_equal(pairs.prompt_embeddings, Xp[:, 0, : plain.dim])
    assert pairs.n_text_features == K


def test_turning_the_block_on_reuses_cached_vectors_and_caches_the_block(
    encoders, hh_small, tmp_path
):
    plain, featured = encoders
    assert featured.vectors_fingerprint == plain.fingerprint != featured.fingerprint
    cache = EmbeddingCache(tmp_path / "c")
    embed_pairs(hh_small, plain, cache)
    again = embed_pairs(hh_small, featured, cache)
    assert sum(again.stats.computed.values()) == 0  # no vector embedded twice
    names = sorted(p.name for p in (tmp_path / "c").iterdir() if p.is_dir())
    assert featured.text_features_namespace in names
    # a second run reads the block from the cache: same numbers
    np.testing.assert_array_equal(embed_pairs(hh_small, featured, cache).X, again.X)


def test_the_block_counts_minilm_tokens_and_marks_truncation(encoders):
    _, featured = encoders
    assert featured.token_limit == 254  # 256 less [CLS] and [SEP]
    long_text = "word " * 600
    rows = embed_text_features(["short answer", long_text], featured)
    assert rows[0, COL["truncated"]] == 0 and rows[1, COL["truncated"]] == 1
    n = featured.count_tokens([long_text])[0]
    assert n == 600 and rows[1, COL["unseen_fraction"]] == pytest.approx(1 - 254 / 600, rel=1e-6)


def test_config_round_trip_and_unknown_version(encoders):
    _, featured = encoders
    cfg = featured.config()
    assert cfg["text_features"] == TEXT_FEATURES_VERSION
    assert (
        encoder_from_config(cfg, expected_fingerprint=featured.fingerprint).fingerprint
        == featured.fingerprint
    )
    with pytest.raises(ConfigError, match="text-feature version 99"):
        encoder_from_config({**cfg, "text_features": 99})
    with pytest.raises(ConfigError, match="text_features must be"):
        get_encoder(text_features="yes")


def test_joint_layout_rows_carry_the_block_too(hh_small):
    enc = get_encoder(layout="joint", text_features=True)
    rows = embed_responses(list(hh_small.prompts[:3]), list(hh_small.chosen[:3]), enc)
    assert rows.shape == (3, enc.dim + K)


def test_windows_embed_a_long_response_as_the_mean_of_its_windows(encoders):
    plain, _ = encoders
    windowed = get_encoder(long_texts="windows", text_features=True)
    assert windowed.vectors_fingerprint != plain.fingerprint and windowed.token_limit == 254 * 8
    long_text = " ".join(f"word{i % 50} is here." for i in range(400))
    pieces = windowed.windows([long_text, "short"])
    assert len(pieces[0]) > 1 and pieces[1] == ["short"]
    assert all(n <= 254 for n in plain.count_tokens(pieces[0]))
    V = plain.encode(pieces[0])
    mean = V.mean(axis=0)
    mean /= np.linalg.norm(mean)
    got = windowed.encode([long_text, "short"])
    np.testing.assert_allclose(got[0], mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], plain.encode(["short"])[0], rtol=1e-4, atol=1e-5)
    assert (
        embed_text_features([long_text], windowed)[0, COL["truncated"]] == 0
    )  # 8 windows see it all
    with pytest.raises(ConfigError, match="long_texts must be"):
        get_encoder(long_texts="chunks")
