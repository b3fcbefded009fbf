"""embed_texts / embed_responses / embed_pairs: dedup, cache reuse, layouts, progress."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import PreferenceDataset
from prefspace.embed import (
    EmbeddingCache,
    PairEmbeddings,
    embed_pairs,
    embed_responses,
    embed_texts,
)
from prefspace.exceptions import DataError


class CountingEncoder:
    """Wraps a real encoder and records every item it is asked to embed (to observe dedup)."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_role(self, role, items):
        self.seen.extend((role, i if isinstance(i, str) else repr(i)) for i in items)
        return self.inner.encode_role(role, items)


def test_embed_texts_embeds_each_distinct_text_once(minilm, tmp_path):
    enc = CountingEncoder(minilm)
    texts = ["red apple", "green pear", "red apple", "blue sky", "green pear"]
    E = embed_texts(texts, enc, cache=tmp_path / "c")
    assert E.shape == (5, 384) and E.dtype == np.float32
    assert sorted(t for _, t in enc.seen) == ["blue sky", "green pear", "red apple"]
    np.testing.assert_array_equal(E[0], E[2])
    np.testing.assert_allclose(E, minilm.encode(texts), atol=1e-5)
    enc.seen.clear()
    np.testing.assert_array_equal(embed_texts(texts[::-1], enc, cache=tmp_path / "c"), E[::-1])
    assert enc.seen == []  # all cached


def test_embed_pairs_shapes_order_and_shared_prompts(minilm, hh_small, tmp_path):
    # every pair twice, so each prompt is shared by two pairs (and each response appears twice)
    ds = hh_small.select(list(range(len(hh_small))) * 2)
    ds.ids = [f"{i}" for i in range(len(ds))]
    enc = CountingEncoder(minilm)
    cache = EmbeddingCache(tmp_path / "c")
    pairs = embed_pairs(ds, enc, cache)
    n = len(ds)
    assert isinstance(pairs, PairEmbeddings)
    assert pairs.X.shape == (n, 2, 768) and pairs.X.dtype == np.float32 and pairs.ids == ds.ids
    assert pairs.fingerprint == minilm.fingerprint and pairs.layout == "separate"
    prompts_done = [t for role, t in enc.seen if role == "prompt"]
    assert len(prompts_done) == len(set(hh_small.prompt_keys())) == pairs.stats.computed["prompt"]
    # X[:, 0] is the chosen response, X[:, 1] the rejected one, through the one row function
    np.testing.assert_array_equal(
        pairs.X[:, 0], embed_responses(ds.prompts, ds.chosen, minilm, cache)
    )
    np.testing.assert_array_equal(
        pairs.X[:, 1], embed_responses(ds.prompts, ds.rejected, minilm, cache)
    )
    np.testing.assert_array_equal(pairs.prompt_embeddings, pairs.X[:, 1, :384])
    # separate layout: [prompt alone, response alone]
    np.testing.assert_allclose(pairs.X[:3, 0, 384:], minilm.encode(ds.chosen[:3]), atol=1e-5)
    np.testing.assert_allclose(
        pairs.X[:3, 0, :384], minilm.encode_prompts(ds.prompts[:3]), atol=1e-5
    )
    # a second run computes nothing and gives the same array
    again = embed_pairs(ds, minilm, EmbeddingCache(tmp_path / "c"))
    assert sum(again.stats.computed.values()) == 0 and again.stats.cached == pairs.stats.total
    np.testing.assert_array_equal(again.X, pairs.X)


def test_cache_and_no_cache_give_the_same_rows(minilm, hh_small, tmp_path):
    ds = hh_small.select(range(6))
    np.testing.assert_allclose(
        embed_pairs(ds, minilm).X, embed_pairs(ds, minilm, cache=tmp_path / "c").X, atol=1e-6
    )


def test_joint_layout_rows_have_encoder_dim(minilm, hh_small, tmp_path):
    from prefspace.embed import get_encoder

    joint = get_encoder(layout="joint")
    joint._st = minilm.st
    ds = hh_small.select(range(4))
    pairs = embed_pairs(ds, joint, cache=tmp_path / "c")
    assert pairs.X.shape == (4, 2, 384) and pairs.prompt_embeddings is None
    assert set(pairs.stats.total) == {"joint"}
    assert {fp.rsplit(".", 1)[1] for fp in EmbeddingCache(tmp_path / "c").fingerprints()} == {
        "joint"
    }


def test_progress_reports_each_role_up_to_its_work(minilm, tmp_path):
    seen = []
    prompts = ["q1", "q2", "q1"]
    responses = ["a", "b", "c"]
    embed_responses(prompts, responses, minilm, tmp_path / "c", batch_size=2, progress=seen.append)
    by_role = {}
    for p in seen:
        by_role.setdefault(p.role, []).append(p.done)
        assert p.n_distinct == p.cached + p.to_compute and p.total == p.to_compute
    assert by_role == {"prompt": [0, 2], "text": [0, 2, 3]}


def test_mismatched_inputs_are_refused(minilm):
    with pytest.raises(DataError, match="2 prompts but 1 responses"):
        embed_responses(["a", "b"], ["x"], minilm)
    with pytest.raises(DataError, match="needs a PreferenceDataset"):
        embed_pairs([("p", "c", "r")], minilm)
    with pytest.raises(DataError, match="got one string"):
        embed_texts("hello", minilm)


def test_embed_pairs_on_an_empty_dataset(minilm):
    ds = PreferenceDataset(prompts=[], chosen=[], rejected=[], ids=[])
    assert embed_pairs(ds, minilm).X.shape == (0, 2, 768)
