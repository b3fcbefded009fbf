"""`prefspace synth` on a small slice of the shared HH data with the offline MiniLM."""

from __future__ import annotations

import json

import numpy as np

from prefspace.cli import main
from prefspace.synth.io import load_synthetic


def _run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:  # main() exits only on errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_synth_cli_writes_pairs_provenance_summary_and_plots(tmp_path, hh_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        capsys,
        "synth",
        str(hh_path),
        "--limit",
        "30",
        "--factor",
        "2",
        "--sigma2",
        "0.02",
        "--vae-steps",
        "30",
        "--seed",
        "1",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
    )
    assert code == 0, stderr
    assert "synthesized 60 pairs (lens, x2) from 30 real pairs" in stdout
    syn = load_synthetic(out)
    assert syn.X.shape == (60, 2, 768) and np.bincount(syn.parent).tolist() == [2] * 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["sigma2"] == 0.02 and summary["params"]["random_state"] == 1
    assert summary["shared_columns"] >= 384  # the prompt half of the separate layout is kept
    assert {r["sigma2"] for r in summary["label_preservation"]} >= {0.02}
    # fast diagnostics: the fit's own early-stopping pairs give the held-out share (no refit)
    r = summary["reconstruction"]
    assert r["heldout_pairs"] == "early_stopping" and r["heldout_fit_pairs"] == 27
    assert [c["n_pairs"] for c in summary["reconstruction_curve"]] == [27]  # no refit
    assert "held-out pairs (the fit's own early-stopping pairs)" in stdout
    for name in (
        "reconstruction.png",
        "label_preservation.png",
        "projection.png",
        "provenance.csv",
    ):
        assert (out / name).stat().st_size > 0


def test_synth_cli_bad_method_exits_2(tmp_path, hh_path, capsys):
    code, _, stderr = _run(
        capsys,
        "synth",
        str(hh_path),
        "--limit",
        "5",
        "--method",
        "smote",
        "--out",
        str(tmp_path / "o"),
    )
    assert (
        code == 2 and "Invalid value for '--method' / '-m': 'smote' is not one of 'lens'" in stderr
    )
