"""The ONNX Runtime backends ("onnx", "onnx-int8"): export, parity with torch, fingerprints, cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from prefspace.data import render_prompt_text
from prefspace.embed import EmbeddingCache, embed_pairs, encoder_from_config, get_encoder
from prefspace.embed.onnx_backend import NUMERICS, OnnxEncoder, token_budget_batches
from prefspace.embed.sentence_transformer import bundled_minilm_path
from prefspace.exceptions import ConfigError, FingerprintMismatchError


@pytest.fixture(scope="module")
def onnx_fp32():
    return OnnxEncoder(backend="onnx").load()


@pytest.fixture(scope="module")
def onnx_int8():
    return OnnxEncoder(backend="onnx-int8").load()


@pytest.fixture(scope="module")
def hh_texts(hh_small):
    # responses of a few lengths, plus one far over the 256-token limit (truncation must agree)
    return list(dict.fromkeys([*hh_small.chosen, *hh_small.rejected]))[:20] + ["word " * 400]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_fp32_matches_torch(minilm, onnx_fp32, hh_texts):
    ref = minilm.encode(hh_texts)
    got = onnx_fp32.encode(hh_texts)
    assert got.shape == ref.shape == (len(hh_texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-5)


def test_int8_is_close_to_torch(minilm, onnx_int8, hh_texts):
    cos = _cosines(onnx_int8.encode(hh_texts), minilm.encode(hh_texts))
    # measured on 1,000 HH texts: mean 0.9997, min 0.998 (docs/benchmarks.md)
    assert cos.mean() >= 0.995 and cos.min() >= 0.99, cos
    # and it is really quantized: not the fp32 numbers
    assert cos.mean() < 0.999999


def test_prompts_keep_their_end_like_torch(minilm, onnx_fp32, hh_small):
    long_prompt = [{"role": "user", "content": "start " * 300 + "the end of the prompt"}]
    prompts = [*hh_small.prompts[:3], long_prompt]
    np.testing.assert_allclose(
        onnx_fp32.encode_prompts(prompts), minilm.encode_prompts(prompts), rtol=1e-4, atol=2e-5
    )
    assert onnx_fp32.keep_end(render_prompt_text(long_prompt)).endswith("the end of the prompt")


def test_vectors_do_not_depend_on_batching(onnx_int8, hh_texts):
    alone = np.stack([onnx_int8.encode([t])[0] for t in hh_texts[:6]])
    small_budget = OnnxEncoder(backend="onnx-int8", max_batch_tokens=64, batch_size=2)
    np.testing.assert_allclose(small_budget.encode(hh_texts[:6]), alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(onnx_int8.encode(hh_texts[:6]), alone, rtol=1e-4, atol=1e-5)


def test_fingerprints_name_the_backend_and_its_numerics(minilm, onnx_fp32, onnx_int8):
    prints = {minilm.fingerprint, onnx_fp32.fingerprint, onnx_int8.fingerprint}
    assert len(prints) == 3
    assert onnx_int8._identity()["numerics"] == NUMERICS["onnx-int8"]
    assert (
        NUMERICS["onnx-int8"]["precision"] == "int8" and NUMERICS["onnx"]["precision"] == "float32"
    )
    # batching and threads do not change the numbers, so they are not in the fingerprint
    assert (
        OnnxEncoder(backend="onnx-int8", max_batch_tokens=512, n_jobs=1).fingerprint
        == onnx_int8.fingerprint
    )


def test_config_round_trip(onnx_int8):
    cfg = json.loads(json.dumps(onnx_int8.config()))
    assert cfg["backend"] == "onnx-int8"
    rebuilt = encoder_from_config(cfg, expected_fingerprint=onnx_int8.fingerprint)
    assert isinstance(rebuilt, OnnxEncoder) and rebuilt.backend == "onnx-int8"


def test_get_encoder_by_backend_name():
    assert get_encoder(backend="onnx-int8").backend == "onnx-int8"
    assert get_encoder("all-MiniLM-L6-v2", backend="onnx").backend == "onnx"
    with pytest.raises(ConfigError, match="backend"):
        get_encoder(backend="onnx-int4")


def test_cache_never_mixes_backends(tmp_path, minilm, onnx_int8, hh_small):
    cache = EmbeddingCache(tmp_path / "cache")
    torch_rows = embed_pairs(hh_small, minilm, cache)
    int8_rows = embed_pairs(hh_small, onnx_int8, cache)
    # nothing of torch's was reused: every distinct text was computed again by the int8 backend
    assert sum(int8_rows.stats.cached.values()) == 0
    assert int8_rows.stats.computed == torch_rows.stats.computed
    assert int8_rows.fingerprint != torch_rows.fingerprint
    assert int8_rows.encoder_config["backend"] == "onnx-int8"
    assert set(cache.fingerprints()) >= {
        minilm.role_fingerprint("text"),
        onnx_int8.role_fingerprint("text"),
    }
    # the cached int8 vectors are the int8 encoder's, not torch's
    np.testing.assert_allclose(
        int8_rows.X, embed_pairs(hh_small, onnx_int8).X, rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(int8_rows.X, torch_rows.X, rtol=1e-5, atol=1e-6)
    # a second run with each backend finds its own vectors
    again = embed_pairs(hh_small, onnx_int8, cache)
    assert sum(again.stats.computed.values()) == 0
    np.testing.assert_array_equal(again.X, int8_rows.X)


def test_the_graph_is_exported_once_and_reused(tmp_path, hh_texts):
    enc = OnnxEncoder(backend="onnx", artifact_dir=tmp_path)
    first = enc.encode(hh_texts[:3])
    path = enc.artifact_path
    assert path.is_file() and path.parent == tmp_path
    stamp = path.stat().st_mtime_ns
    again = OnnxEncoder(backend="onnx", artifact_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(hh_texts[:3]), first)
    assert path.stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_thread_knob_reaches_onnxruntime(monkeypatch):
    assert (
        OnnxEncoder(backend="onnx", n_jobs=1).session.get_session_options().intra_op_num_threads
        == 1
    )
    monkeypatch.setenv("PREFSPACE_NUM_THREADS", "2")
    assert OnnxEncoder(backend="onnx").session.get_session_options().intra_op_num_threads == 2


def test_bad_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="onnx-int8"):
        OnnxEncoder(backend="int8")
    with pytest.raises(ConfigError, match="CPU"):
        OnnxEncoder(backend="onnx", device="cuda")
    with pytest.raises(ConfigError, match="max_batch_tokens"):
        OnnxEncoder(backend="onnx", max_batch_tokens=0)
    # a sentence-transformers pipeline the ONNX backends do not run: Transformer -> Dense
    folder = tmp_path / "dense-model"
    shutil.copytree(bundled_minilm_path(), folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "sentence_transformers.models.Dense"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="Transformer -> Dense"):
        OnnxEncoder(str(folder), backend="onnx")


def test_token_budget_batches():
    lengths = [3, 250, 40, 41, 7, 249, 1, 40]
    batches = token_budget_batches(lengths, max_tokens=256, max_texts=4)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths == sorted(widths, reverse=True)
    for b, w in zip(batches, widths):
        assert len(b) <= 4 and (len(b) * w <= 256 or len(b) == 1)
    # a text longer than the budget still gets a batch of its own
    assert [b.tolist() for b in token_budget_batches([500, 2], max_tokens=100, max_texts=8)] == [
        [0],
        [1],
    ]


# --------------------------------------------------------------------------- the command line
def _run_cli(argv, capsys) -> tuple[int, str, str]:
    from prefspace.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def test_cli_embed_and_train_with_onnx_int8_record_the_backend(
    hh_path, tmp_path, capsys, onnx_int8
):
    from prefspace.models import RewardScorer, describe_model

    cache = tmp_path / "cache"
    code, out, err = _run_cli(
        [
            "embed",
            hh_path,
            "--limit",
            "12",
            "--cache",
            cache,
            "--encoder-backend",
            "onnx-int8",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    summary = json.loads(out)
    assert (
        summary["encoder"]["backend"] == "onnx-int8"
        and summary["fingerprint"] == onnx_int8.fingerprint
    )
    code, out, err = _run_cli(
        [
            "train",
            hh_path,
            "--limit",
            "12",
            "--cache",
            cache,
            "--encoder-backend",
            "onnx-int8",
            "--head",
            "bt-linear",
            "--out",
            tmp_path / "model",
            "--test-fraction",
            "0.25",
        ],
        capsys,
    )
    assert code == 0, err
    recorded = describe_model(tmp_path / "model").encoder
    assert recorded["config"]["backend"] == "onnx-int8"
    # the saved model rebuilds its int8 encoder and scores with it; a torch encoder is refused
    scorer = RewardScorer(tmp_path / "model")
    assert (
        scorer.encoder.backend == "onnx-int8"
        and scorer.encoder.vectors_fingerprint == onnx_int8.fingerprint
    )
    assert (
        recorded["fingerprint"] == scorer.encoder.fingerprint
    )  # the rows: the vectors and the text-feature block
    assert np.isfinite(scorer.score(["Hi"], ["Hello, how can I help?"])).all()
    with pytest.raises(FingerprintMismatchError):
        RewardScorer(tmp_path / "model", encoder=get_encoder(backend="sentence-transformers"))


def test_cli_rejects_an_unknown_backend(hh_path, tmp_path, capsys):
    code, out, err = _run_cli(
        [
            "embed",
            hh_path,
            "--limit",
            "2",
            "--cache",
            tmp_path / "c",
            "--encoder-backend",
            "onnx-fp8",
        ],
        capsys,
    )
    assert code == 2 and "onnx-int8" in out + err


def test_cli_threads_sets_the_one_knob(monkeypatch, capsys):
    import os

    monkeypatch.setenv(
        "PREFSPACE_NUM_THREADS", "2"
    )  # restored after the test, whatever the CLI sets
    code, _, _ = _run_cli(["--threads", "1", "embed", "--help"], capsys)
    assert code == 0 and os.environ["PREFSPACE_NUM_THREADS"] == "1"
    assert OnnxEncoder(backend="onnx").session.get_session_options().intra_op_num_threads == 1
    code, out, err = _run_cli(["--threads", "0", "embed", "--help"], capsys)
    assert code == 2 and "--threads" in out + err
