"""embed_file: what `prefspace embed` runs, returned as an EmbedRun."""

from __future__ import annotations

import json

import pytest

from prefspace.exceptions import ConfigError
from prefspace.workflows import EmbedRun, embed_file


def test_embed_file_counts_new_texts_then_finds_them_cached(hh_path, tmp_path):
    seen = []
    first = embed_file(
        hh_path, cache=tmp_path / "cache", load_kwargs={"limit": 6}, progress=seen.append
    )
    assert isinstance(first, EmbedRun) and first.n_pairs == 6
    assert first.new_texts == sum(first.stats.total.values()) > 0 and first.cached_texts == 0
    assert {e.stage for e in seen} >= {"embed prompts", "embed responses"}
    again = embed_file(hh_path, cache=tmp_path / "cache", load_kwargs={"limit": 6})
    assert again.new_texts == 0 and again.cached_texts == first.new_texts
    summary = json.loads(json.dumps(again.to_json()))
    assert (
        summary["pairs"] == 6
        and summary["new_texts"] == 0
        and summary["fingerprint"] == again.encoder.fingerprint
    )


def test_one_slice_of_several_assembles_no_pairs(hh_path, tmp_path):
    run = embed_file(
        hh_path, cache=tmp_path / "cache", load_kwargs={"limit": 6}, num_shards=2, shard_index=1
    )
    assert (
        run.n_pairs is None and run.to_json()["shard_index"] == 1 and "pairs" not in run.to_json()
    )


def test_ray_options_need_the_ray_engine(hh_path, tmp_path):
    with pytest.raises(ConfigError, match="apply to --backend ray"):
        embed_file(hh_path, cache=tmp_path / "cache", load_kwargs={"limit": 2}, num_workers=2)
