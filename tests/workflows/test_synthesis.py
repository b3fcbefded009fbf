"""`synthesize_file` returns a typed summary whose JSON form is `summary.json`, byte for byte."""

from __future__ import annotations

import json

import pytest

from prefspace.cli import main
from prefspace.workflows import SynthesisSummary, synthesize_file
from prefspace.workflows.synthesis import Reconstruction, SynthesisSeconds


@pytest.fixture(scope="module")
def embedded_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synthesis-cache")


def _written(out) -> str:
    return (out / "summary.json").read_text()


@pytest.mark.parametrize("method", ["pca", "perturb"])
def test_the_summary_is_typed_and_its_json_is_the_file(
    method, hh_path, minilm, embedded_cache, tmp_path
):
    out = tmp_path / method
    summary = synthesize_file(
        hh_path,
        out,
        encoder=minilm,
        cache=embedded_cache,
        method=method,
        factor=2,
        load_kwargs={"limit": 12},
    )
    assert isinstance(summary, SynthesisSummary) and isinstance(summary.seconds, SynthesisSeconds)
    assert summary.pairs == 12 and summary.synthetic_pairs == 24 and summary.factor == 2
    assert summary.cache.texts > 0 and summary.diagnostics == "fast"
    written = json.loads(_written(out))
    assert summary.to_json() == written and list(summary.to_json()) == list(written)
    assert list(written["seconds"]) == [
        "embed",
        "fit",
        "sample",
        "save",
        "diagnostic_parts",
        "diagnostics",
        "total",
    ]
    assert summary.seconds.diagnostics is not None and summary.label_preservation
    if method == "pca":  # a latent synthesizer: its reconstruction, held out by a refit
        assert isinstance(summary.reconstruction, Reconstruction)
        assert summary.reconstruction.heldout.pairs == "refit"
        assert list(written)[list(written).index("cache") + 1] == "reconstruction"
        assert summary.reconstruction_curve
    else:  # no latent model: neither a reconstruction nor its curve
        assert summary.reconstruction is None and summary.reconstruction_curve is None
        assert "reconstruction" not in written and "reconstruction_curve" not in written


def test_without_diagnostics_their_parts_are_left_out(hh_path, minilm, embedded_cache, tmp_path):
    summary = synthesize_file(
        hh_path,
        tmp_path / "o",
        encoder=minilm,
        cache=embedded_cache,
        method="pca",
        factor=2,
        diagnostics="none",
        load_kwargs={"limit": 12},
    )
    written = json.loads(_written(tmp_path / "o"))
    assert summary.to_json() == written
    assert summary.seconds.diagnostics is None and "diagnostics" not in written["seconds"]
    assert summary.reconstruction.heldout is None
    assert "heldout_variance_kept" not in written["reconstruction"]
    assert "label_preservation" not in written and "reconstruction_curve" not in written


def test_synth_json_prints_the_summary_file(hh_path, embedded_cache, tmp_path, capsys):
    out = tmp_path / "cli"
    main(
        [
            "synth",
            str(hh_path),
            "--limit",
            "12",
            "--method",
            "perturb",
            "--factor",
            "2",
            "--diagnostics",
            "none",
            "--json",
            "--out",
            str(out),
            "--cache",
            str(embedded_cache),
        ]
    )
    assert json.loads(capsys.readouterr().out) == json.loads(_written(out))


def test_diagnostics_begun_beside_the_fit_match_them_run_one_after_another(
    hh_path, minilm, embedded_cache, tmp_path
):
    # the label check's reference heads run on another thread while the synthesizer fits: the
    # figures must be those of the plain sequence
    from prefspace.data import load_preferences
    from prefspace.embed import EmbeddingCache, embed_pairs
    from prefspace.synth import diagnostics as diag
    from prefspace.synth import get_synthesizer
    from prefspace.workflows.synthesis import diagnostic_grid

    params = {"max_steps": 60, "latent_dim": 4, "hidden_dim": 32}
    out = tmp_path / "lens"
    synthesize_file(
        hh_path,
        out,
        encoder=minilm,
        cache=embedded_cache,
        method="lens",
        factor=2,
        params=params,
        load_kwargs={"limit": 60},
    )
    written = json.loads(_written(out))
    X = embed_pairs(load_preferences(hh_path, limit=60), minilm, EmbeddingCache(embedded_cache)).X
    lens = get_synthesizer("lens", random_state=0, **params).fit(X)
    _, sigma2s, factors = diagnostic_grid(len(X), lens.sigma2, "fast", 2)
    curve = [diag.own_heldout_row(X, lens)]  # "fast" refits nothing for LENS
    labels = diag.label_preservation(
        X, lens, sigma2s=sigma2s, factors=factors, random_state=0, sampled=lens.sample(2)
    )
    assert written["reconstruction_curve"] == curve  # same computations, same order: exact
    assert written["label_preservation"] == labels
    assert written["reconstruction"]["heldout_pairs"] == "early_stopping"
