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
