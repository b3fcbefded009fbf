"""`prefspace embed`, `prefspace info`, `prefspace cache merge` and `cache compact`, run through the
real entry point."""

from __future__ import annotations

import json

import pytest

from prefspace.cli import main


def run(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


@pytest.fixture
def pairs_file(tmp_path):
    rows = [
        {
            "prompt": "How do I boil an egg?",
            "chosen": "Simmer it for nine minutes.",
            "rejected": "Microwave it whole.",
        },
        {
            "prompt": "How do I boil an egg?",
            "chosen": "Use a timer and cold water after.",
            "rejected": "Just guess.",
        },
        {
            "prompt": "Is the earth flat?",
            "chosen": "No, it is roughly a sphere.",
            "rejected": "Yes.",
        },
        {"prompt": "Say something kind.", "chosen": "You are doing well.", "rejected": "No."},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_embed_then_everything_cached_then_info(pairs_file, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, out, err = run(["embed", pairs_file, "--cache", cache, "--json"], capsys)
    assert code == 0, err
    first = json.loads(out)
    assert first["pairs"] == 4 and first["feature_dim"] == 776  # 768 + the text-feature block
    assert (
        first["distinct"] == {"prompt": 3, "text": 8}
        and first["cached_texts"] == 0
        and first["new_texts"] == 11
    )

    code, out, err = run(["embed", pairs_file, "--cache", cache], capsys)
    assert code == 0, err
    assert "everything was cached; 11 cached" in out and "4 pairs" in out

    code, out, err = run(["info", cache], capsys)
    assert code == 0, err
    # 11 vectors and the 8 responses' text-feature blocks (8 dims, their own key space)
    assert (
        f"{first['fingerprint']}.prompt" in out
        and "19 texts" in out
        and "384 dims" in out
        and "x 8 dims" in out
    )
    code, out, _ = run(["info", cache, "--json"], capsys)
    assert json.loads(out)["fingerprints"][f"{first['fingerprint']}.text"]["texts"] == 8


def test_cache_merge_and_compact(pairs_file, tmp_path, capsys):
    assert run(["embed", pairs_file, "--cache", tmp_path / "a", "-q"], capsys)[0] == 0
    code, out, err = run(["cache", "merge", tmp_path / "a", "--into", tmp_path / "b"], capsys)
    assert code == 0, err
    assert "19 texts added" in out  # 11 vectors and the 8 responses' text-feature blocks
    code, out, _ = run(["embed", pairs_file, "--cache", tmp_path / "b", "--json"], capsys)
    assert json.loads(out)["new_texts"] == 0
    # small shards (3 prompts -> 2 shards, 8 responses -> 4 shards) compact into one per key space
    small = tmp_path / "small"
    assert run(["embed", pairs_file, "--cache", small, "--shard-size", "2", "-q"], capsys)[0] == 0
    code, out, err = run(["cache", "compact", small], capsys)
    assert code == 0, err
    assert "6 shards rewritten as 2" in out
    code, out, _ = run(["embed", pairs_file, "--cache", small, "--json"], capsys)
    assert json.loads(out)["cached_texts"] == 11


def _small_cache(path):
    """A cache of precomputed vectors: 3 texts of 64 dims in 2 shards under one key space (with
    encoder settings, over 1 KiB), 1 prompt of 2 dims under another (without, under 1 KiB), and
    a temporary file of a killed writer."""
    import numpy as np

    from prefspace.embed import EmbeddingCache

    cache = EmbeddingCache(path)
    vecs = np.arange(3 * 64, dtype=np.float32).reshape(3, 64)
    config = {"backend": "test-backend", "model": "tiny", "layout": "separate", "max_length": 8}
    shards = [
        cache.write_shard("enc.text", ["a", "b"], vecs[:2], encoder_config=config),
        cache.write_shard("enc.text", ["c"], vecs[2:], encoder_config=config),
        cache.write_shard("enc.prompt", ["p"], vecs[:1, :2]),
    ]
    (path / "enc.text" / f".{shards[0].name}.tmp-otherhost-1").write_bytes(b"partial")
    return cache, [p.stat().st_size for p in shards]


def test_cache_commands_print_the_cache_reports_line_for_line(tmp_path, capsys):
    cache, size = _small_cache(tmp_path / "c")
    code, out, err = run(["info", tmp_path / "c", "--json"], capsys)
    assert code == 0, err
    assert out == json.dumps(cache.summary().to_json(), indent=2) + "\n"
    assert json.loads(out)["fingerprints"]["enc.text"] == {
        "texts": 3,
        "dim": 64,
        "shards": 2,
        "bytes": size[0] + size[1],
        "encoder": {
            "backend": "test-backend",
            "layout": "separate",
            "max_length": 8,
            "model": "tiny",
        },
    }
    texts_kib, all_kib = (size[0] + size[1]) / 1024, sum(size) / 1024
    assert size[2] < 1024 <= size[0] + size[1]  # sizes print in B below 1 KiB, else in KiB
    code, out, err = run(["info", tmp_path / "c"], capsys)
    assert code == 0, err
    assert out.splitlines() == [
        f"embedding cache {tmp_path / 'c'} (format v1): 4 texts, {all_kib:.1f} KiB",
        "  enc.prompt",
        f"      ? ?: 1 texts x 2 dims in 1 shards, {size[2]} B",
        "  enc.text",
        "      test-backend tiny (layout=separate, max_length=8): 3 texts x 64 dims in 2 shards, "
        f"{texts_kib:.1f} KiB",
        "  1 temporary files left by interrupted runs (ignored; removed by the next embed)",
    ]
    code, out, err = run(["cache", "merge", tmp_path / "c", "--into", tmp_path / "m"], capsys)
    assert code == 0, err
    assert out == f"{tmp_path / 'c'}: 4 texts added to {tmp_path / 'm'}\n"
    code, out, err = run(["cache", "compact", tmp_path / "c"], capsys)
    assert code == 0, err
    assert (
        out == f"{tmp_path / 'c'}: 2 shards rewritten as 1 (one per key space that had several)\n"
    )


def test_info_on_a_model_folder_describes_the_model(tmp_path, toy_pairs, capsys):
    from prefspace.models import BradleyTerryLinear, save_model

    model_dir = tmp_path / "model"
    save_model(BradleyTerryLinear().fit(toy_pairs), model_dir)
    code, out, err = run(["info", model_dir, "--json"], capsys)
    assert code == 0, err
    described = json.loads(out)
    assert described["class"] == "BradleyTerryLinear" and described["n_features_in"] == 16
    # text by default, like a cache: a headline, then one line per part
    code, out, err = run(["info", model_dir], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[0].startswith(f"model {model_dir} (BradleyTerryLinear") and "16 features" in lines[0]
    )
    assert any(line.lstrip().startswith("params:") and "alpha=" in line for line in lines)
    assert any(line.lstrip().startswith("files:") and "model.json" in line for line in lines)


@pytest.mark.parametrize(
    "args, message",
    [
        (["embed", "{missing}", "--cache", "{cache}"], "no such file"),
        (
            ["embed", "{pairs}", "--cache", "{cache}", "--layout", "both"],
            "layout must be 'separate'",
        ),
        (["embed", "{pairs}", "--cache", "{notcache}"], "not a prefspace embedding cache"),
        (["embed", "{pairs}", "--cache", "{cache}", "--prompt-key", "question"], "question"),
        (["info", "{notcache}"], "neither an embedding cache"),
        (["embed", "{pairs}", "--batch-size", "0"], "batch-size"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, message, pairs_file, tmp_path, capsys):
    notcache = tmp_path / "notcache"
    notcache.mkdir()
    (notcache / "x.txt").write_text("x")
    fill = {
        "{missing}": tmp_path / "missing.jsonl",
        "{cache}": tmp_path / "cache",
        "{pairs}": pairs_file,
        "{notcache}": notcache,
    }
    code, out, err = run([fill.get(a, a) for a in args], capsys)
    assert code == 2, out + err
    assert message in (out + err)
