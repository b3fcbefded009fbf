"""Slicing the missing texts by hash (--num-shards/--shard-index), computing slices, merging caches."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from prefspace.cli import main
from prefspace.data import demo_path, load_demo
from prefspace.embed import EmbeddingCache, embed_pairs
from prefspace.embed.shards import (
    check_shard_args,
    compute_plan,
    decode_item,
    encode_item,
    plan_pairs,
    plan_stats,
    shard_of,
)
from prefspace.exceptions import ConfigError, ShapeError


def run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def table(cache: EmbeddingCache) -> dict:
    """{namespace: {text: vector}} over every stored row."""
    out = {}
    for fp in cache.fingerprints():
        out[fp] = {t: v for texts, vectors in cache.entries(fp) for t, v in zip(texts, vectors)}
    return out


def assert_same_cache(a: EmbeddingCache, b: EmbeddingCache) -> None:
    ta, tb = table(a), table(b)
    assert sorted(ta) == sorted(tb)
    for fp in ta:
        assert sorted(ta[fp]) == sorted(tb[fp]), fp
        keys = sorted(ta[fp])
        np.testing.assert_allclose(a.get(fp, keys), b.get(fp, keys), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def demo40():
    return load_demo().select(range(40))  # 40 prompts + 80 responses, short texts


# -- slicing ------------------------------------------------------------------------------------
def test_shard_of_is_pinned_to_sha256():
    # The rule must never change: array jobs of one run may use different prefspace versions.
    assert shard_of("hello", 1000) == int("2cf24dba5fb0a30e", 16) % 1000
    assert shard_of("", 3) == int("e3b0c44298fc1c14", 16) % 3


def test_slices_partition_the_keys_evenly():
    keys = [f"text number {i}" for i in range(800)]
    slices = [[k for k in keys if shard_of(k, 4) == i] for i in range(4)]
    assert sorted(k for s in slices for k in s) == sorted(keys)
    assert all(140 <= len(s) <= 260 for s in slices), [len(s) for s in slices]


@pytest.mark.parametrize(
    "n, i, match",
    [
        (0, 0, "num_shards must be a whole number >= 1"),
        (4, 4, r"shard_index must be an integer in \[0, 3\]"),
        (2, -1, "SLURM_ARRAY_TASK_ID"),
    ],
)
def test_check_shard_args_rejects_bad_values(n, i, match):
    with pytest.raises(ConfigError, match=match):
        check_shard_args(n, i)


def test_items_round_trip_through_their_string_form():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert encode_item("abc", "abc") == ""
    assert decode_item("text", "abc", "") == "abc"
    assert decode_item("prompt", "k", encode_item("k", messages)) == messages
    assert decode_item("joint", "k", encode_item("k", ("p", "r"))) == ("p", "r")


# -- planning and computing ------------------------------------------------------------------------
def test_plan_counts_what_embed_pairs_would_compute(demo40, minilm, tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    plans = plan_pairs(demo40, minilm, cache)
    assert [p.role for p in plans] == ["prompt", "text"]
    assert [len(p) for p in plans] == [40, 80]
    assert all(p.keys == sorted(p.keys, key=lambda k: (len(k), k)) for p in plans)
    assert plan_stats(plans).computed == {"prompt": 40, "text": 80}
    with pytest.raises(ConfigError, match="shard_index"):
        plan_pairs(demo40, minilm, cache, num_shards=2, shard_index=2)


def test_slices_then_merge_equal_a_single_run(demo40, minilm, tmp_path, capsys):
    single = EmbeddingCache(tmp_path / "single")
    reference = embed_pairs(demo40, minilm, single)

    # three slice jobs, each into its own cache, small shards so each writes several
    slice_dirs, computed = [], []
    for i in range(3):
        cache = EmbeddingCache(tmp_path / f"slice-{i}")
        plans = plan_pairs(demo40, minilm, cache, num_shards=3, shard_index=i)
        assert all(shard_of(k, 3) == i for p in plans for k in p.keys)
        stats = compute_plan(plans, minilm, cache, shard_size=16)
        computed.append(sum(stats.computed.values()))
        assert (
            plan_pairs(demo40, minilm, cache, num_shards=3, shard_index=i)[1].keys == []
        )  # rerun: nothing left
        slice_dirs.append(cache.directory)
    assert sum(computed) == 120 and min(computed) > 0

    code, out, err = run(["cache", "merge", *slice_dirs, "--into", tmp_path / "merged"], capsys)
    assert code == 0, err
    merged = EmbeddingCache(tmp_path / "merged")
    assert_same_cache(merged, single)
    again = embed_pairs(demo40, minilm, merged)
    assert sum(again.stats.computed.values()) == 0
    np.testing.assert_allclose(again.X, reference.X, atol=1e-5, rtol=0)


def test_merge_refuses_a_cache_of_another_dimension(tmp_path):
    a, b = EmbeddingCache(tmp_path / "a"), EmbeddingCache(tmp_path / "b")
    a.write_shard("enc.text", ["x"], np.ones((1, 4), np.float32))
    b.write_shard("enc.text", ["y"], np.ones((1, 8), np.float32))
    with pytest.raises(ShapeError, match="dimension"):
        a.merge(b)
    assert a.count("enc.text") == 1


# -- the CLI ----------------------------------------------------------------------------------------
def test_cli_slices_into_one_shared_cache_then_embed_computes_nothing(tmp_path, capsys):
    data = demo_path()
    cache = tmp_path / "shared-cache"
    new = 0
    for i in range(2):
        code, out, err = run(
            [
                "embed",
                data,
                "--limit",
                30,
                "--cache",
                cache,
                "--num-shards",
                2,
                "--shard-index",
                i,
                "--json",
            ],
            capsys,
        )
        assert code == 0, err
        summary = json.loads(out)
        assert summary["num_shards"] == 2 and summary["shard_index"] == i
        new += summary["new_texts"]
    assert new == 90  # 30 prompts + 60 responses, each embedded by exactly one slice
    code, out, err = run(["embed", data, "--limit", 30, "--cache", cache, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["new_texts"] == 0 and json.loads(out)["pairs"] == 30


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--num-shards", 2, "--shard-index", 2], "shard_index must be an integer in"),
        (["--shard-index", 1], r"shard_index must be an integer in \[0, 0\]"),
        (["--num-workers", 2], "apply to --backend ray"),
    ],
)
def test_cli_rejects_bad_scaling_options(argv, match, tmp_path, capsys):
    code, _, err = run(
        ["embed", demo_path(), "--limit", 2, "--cache", tmp_path / "c", *argv], capsys
    )
    assert code == 2
    assert re.search(match, " ".join(err.split())), err
