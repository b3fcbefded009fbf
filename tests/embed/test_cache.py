"""EmbeddingCache: content addressing, dedup, atomic shards, memory-mapped reads, merging, and
the typed reports of its summary, merge and compaction."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from safetensors import safe_open

from prefspace.embed import (
    CacheCompactReport,
    CacheMergeReport,
    CacheMissError,
    CacheSummary,
    EmbeddingCache,
    FingerprintSummary,
    merge_caches,
)
from prefspace.embed.cache import MARKER, text_digest
from prefspace.exceptions import ConfigError, FormatError, ShapeError

FP = "0123abcd.text"


def _vecs(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_roundtrip_returns_rows_in_request_order(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    texts = ["alpha", "beta", "gamma", ""]
    V = _vecs(4)
    cache.write_shard(FP, texts, V)
    got = cache.get(FP, ["gamma", "", "alpha", "gamma"])
    assert got.dtype == np.float32 and got.shape == (4, 8)
    np.testing.assert_array_equal(got, V[[2, 3, 0, 2]])


def test_missing_lists_distinct_unstored_texts_in_first_appearance_order(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    cache.write_shard(FP, ["b"], _vecs(1))
    assert cache.missing(FP, ["c", "b", "a", "c", "a"]) == ["c", "a"]
    assert cache.contains(FP, ["a", "b"]).tolist() == [False, True]


def test_write_shard_skips_texts_already_stored_or_repeated(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    first = _vecs(2, seed=1)
    cache.write_shard(FP, ["x", "y"], first)
    path = cache.write_shard(FP, ["y", "z", "z"], _vecs(3, seed=2))
    assert cache.count(FP) == 3
    with safe_open(str(path), framework="np") as f:  # only the new text went into the new shard
        assert f.get_tensor("vectors").shape == (1, 8)
    assert cache.write_shard(FP, ["x", "z"], _vecs(2)) is None  # nothing new: no shard
    np.testing.assert_array_equal(cache.get(FP, ["y"]), first[[1]])  # the first vector stays


def test_get_of_unknown_text_raises_a_clear_error(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    cache.write_shard(FP, ["known"], _vecs(1))
    with pytest.raises(CacheMissError, match="1 of 2 texts are not in cache.*'unknown'"):
        cache.get(FP, ["known", "unknown"])


def test_shards_are_plain_safetensors_with_the_documented_tensors(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    path = cache.write_shard(FP, ["héllo", "wörld"], _vecs(2), encoder_config={"backend": "test"})
    assert path.parent.name == FP and path.name.startswith("shard-")
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        assert meta["format"] == "prefspace-embedding-shard" and meta["fingerprint"] == FP
        assert json.loads(meta["encoder"]) == {"backend": "test"}
        assert f.get_tensor("digests")[0].tobytes() == text_digest("héllo")
        offsets, blob = f.get_tensor("text_offsets"), f.get_tensor("text_bytes").tobytes()
        assert blob[offsets[1] : offsets[2]].decode() == "wörld"
    assert (
        json.loads((tmp_path / "c" / MARKER).read_text())["format"] == "prefspace-embedding-cache"
    )


def test_many_shards_read_back_through_memmap(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    texts = [f"t{i}" for i in range(300)]
    V = _vecs(300, dim=16)
    for s in range(0, 300, 37):
        cache.write_shard(FP, texts[s : s + 37], V[s : s + 37])
    reopened = EmbeddingCache(tmp_path / "c")  # the index is rebuilt from the shards alone
    order = np.random.default_rng(3).permutation(300)
    np.testing.assert_array_equal(reopened.get(FP, [texts[i] for i in order]), V[order])
    assert reopened.summary().fingerprint(FP).shards == 9


def test_a_second_handle_sees_shards_written_by_another(tmp_path):
    writer, reader = EmbeddingCache(tmp_path / "c"), EmbeddingCache(tmp_path / "c")
    assert reader.missing(FP, ["a"]) == ["a"]
    writer.write_shard(FP, ["a"], _vecs(1))
    assert reader.missing(FP, ["a"]) == []


def test_leftover_temporary_files_are_ignored_and_cleaned(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    cache.write_shard(FP, ["a"], _vecs(1))
    # what a writer killed before its rename leaves behind: a partial file under a temp name
    stray = tmp_path / "c" / FP / ".shard-00000000000000000000.safetensors.tmp-otherhost-1"
    stray.write_bytes(b"\x10\x00partial")
    dead_here = (
        tmp_path
        / "c"
        / FP
        / f".shard-11111111111111111111.safetensors.tmp-{__import__('socket').gethostname()}-999999999"
    )
    dead_here.write_bytes(b"partial")
    reopened = EmbeddingCache(tmp_path / "c")
    assert reopened.count(FP) == 1 and len(reopened.temp_files()) == 2
    assert (
        reopened.remove_temp_files() == 1
    )  # only this host's dead writer; the other host may be alive
    assert stray.exists() and not dead_here.exists()


def test_a_corrupt_shard_is_refused_with_the_fix(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    path = cache.write_shard(FP, ["a", "b"], _vecs(2))
    path.write_bytes(path.read_bytes()[:-20])  # truncated behind our back
    with pytest.raises(FormatError, match="truncated.*Delete"):
        EmbeddingCache(tmp_path / "c").get(FP, ["a"])


def test_folder_that_is_not_a_cache_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(FormatError, match="not a prefspace embedding cache"):
        EmbeddingCache(tmp_path)
    with pytest.raises(FormatError, match="no prefspace-cache.json"):
        EmbeddingCache(tmp_path / "new", create=False)


def test_dimension_and_fingerprint_checks(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    cache.write_shard(FP, ["a"], _vecs(1, dim=8))
    with pytest.raises(ShapeError, match="dimension 4 but"):
        cache.write_shard(FP, ["b"], _vecs(1, dim=4))
    with pytest.raises(ShapeError, match=r"shape \(2, dim\)"):
        cache.write_shard(FP, ["b", "c"], _vecs(3))
    with pytest.raises(ShapeError, match="NaN"):
        cache.write_shard(FP, ["b"], np.full((1, 8), np.nan, np.float32))
    with pytest.raises(ConfigError, match="fingerprint"):
        cache.get("../escape", ["a"])


def test_merge_copies_only_what_is_missing(tmp_path):
    a, b = EmbeddingCache(tmp_path / "a"), EmbeddingCache(tmp_path / "b")
    Va = _vecs(3, seed=1)
    a.write_shard(FP, ["x", "y", "z"], Va)
    a.write_shard("other.prompt", ["p"], _vecs(1, dim=4))
    b.write_shard(FP, ["y", "w"], _vecs(2, seed=2))
    report = b.merge(a)
    assert report == CacheMergeReport(source=tmp_path / "a", added={FP: 2, "other.prompt": 1})
    assert report.texts_added == 3
    np.testing.assert_array_equal(b.get(FP, ["x", "z"]), Va[[0, 2]])
    assert b.count(FP) == 4 and b.merge(a).added == {FP: 0, "other.prompt": 0}


def test_compact_rewrites_many_small_shards_as_one_and_readers_keep_working(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    texts = [f"t{i}" for i in range(50)]
    V = _vecs(50)
    for s in range(0, 50, 5):  # what a server writing per request leaves: many small shards
        cache.write_shard(FP, texts[s : s + 5], V[s : s + 5])
    reader = EmbeddingCache(tmp_path / "c")
    np.testing.assert_array_equal(reader.get(FP, texts[:3]), V[:3])  # indexed the 10 old shards
    report = cache.compact()
    assert report == CacheCompactReport(rewritten={FP: 10})
    assert (report.shards_rewritten, report.key_spaces_compacted) == (10, 1)
    assert len(list((tmp_path / "c" / FP).glob("shard-*.safetensors"))) == 1
    np.testing.assert_array_equal(reader.get(FP, texts), V)  # its shards vanished: re-indexed
    np.testing.assert_array_equal(EmbeddingCache(tmp_path / "c").get(FP, texts[::-1]), V[::-1])
    again = cache.compact()
    assert again.rewritten == {FP: 0} and again.key_spaces_compacted == 0


def test_summary_names_every_key_space_and_its_json_is_the_documented_dict(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    first = cache.write_shard(FP, ["a", "b"], _vecs(2, dim=4), encoder_config={"backend": "test"})
    second = cache.write_shard(FP, ["c"], _vecs(1, dim=4, seed=1))
    prompt = cache.write_shard("0123abcd.prompt", ["p"], _vecs(1, dim=6))
    (tmp_path / "c" / FP / f".{first.name}.tmp-otherhost-1").write_bytes(b"partial")
    size = {p: p.stat().st_size for p in (first, second, prompt)}
    summary = cache.summary()
    assert summary == CacheSummary(
        directory=str(tmp_path / "c"),
        format_version=1,
        fingerprints=(
            FingerprintSummary("0123abcd.prompt", 1, 6, 1, size[prompt], None),
            FingerprintSummary(FP, 3, 4, 2, size[first] + size[second], {"backend": "test"}),
        ),
        temp_files=1,
    )
    assert (summary.texts, summary.bytes) == (4, sum(size.values()))
    with pytest.raises(KeyError):
        summary.fingerprint("absent.text")
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.temp_files = 0  # type: ignore[misc]
    # what `prefspace info CACHE --json` prints, keys in this order
    expected = {
        "directory": str(tmp_path / "c"),
        "format_version": 1,
        "fingerprints": {
            "0123abcd.prompt": {
                "texts": 1,
                "dim": 6,
                "shards": 1,
                "bytes": size[prompt],
                "encoder": None,
            },
            FP: {
                "texts": 3,
                "dim": 4,
                "shards": 2,
                "bytes": size[first] + size[second],
                "encoder": {"backend": "test"},
            },
        },
        "texts": 4,
        "bytes": sum(size.values()),
        "temp_files": 1,
    }
    assert json.dumps(summary.to_json()) == json.dumps(expected)


def test_summary_of_an_empty_cache_has_no_key_spaces(tmp_path):
    summary = EmbeddingCache(tmp_path / "c").summary()
    assert summary.fingerprints == () and (summary.texts, summary.bytes) == (0, 0)
    assert summary.to_json()["fingerprints"] == {}


def test_merge_caches_reports_each_source_as_named(tmp_path):
    a, b = EmbeddingCache(tmp_path / "a"), EmbeddingCache(tmp_path / "b")
    a.write_shard(FP, ["x", "y"], _vecs(2))
    b.write_shard(FP, ["y", "z"], _vecs(2, seed=1))
    b.write_shard("other.prompt", ["p"], _vecs(1, dim=4))
    reports = merge_caches([str(tmp_path / "a"), tmp_path / "b"], tmp_path / "into")
    assert reports == [
        CacheMergeReport(source=tmp_path / "a", added={FP: 2}),
        CacheMergeReport(source=tmp_path / "b", added={FP: 1, "other.prompt": 1}),
    ]
    assert [r.texts_added for r in reports] == [2, 2]
    assert EmbeddingCache(tmp_path / "into").count(FP) == 3
