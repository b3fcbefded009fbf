"""On-disk format of synthetic pairs and the diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.exceptions import FormatError
from prefspace.synth import LatentSynthesizer, PerturbationSynthesizer
from prefspace.synth import diagnostics as diag
from prefspace.synth.io import load_synthetic, save_synthetic


def test_save_then_load_round_trip(tmp_path, alpaca_pairs):
    syn = PerturbationSynthesizer().fit(alpaca_pairs[:30]).sample(4)
    ids = [f"pair-{i}" for i in range(30)]
    save_synthetic(tmp_path, syn, parent_ids=ids, metadata={"encoder_fingerprint": "abc"})
    back = load_synthetic(tmp_path)
    np.testing.assert_array_equal(back.X, syn.X)
    np.testing.assert_array_equal(back.parent, syn.parent)
    np.testing.assert_array_equal(back.synthetic_side, syn.synthetic_side)
    assert back.method == "perturb" and back.info["encoder_fingerprint"] == "abc"
    lines = (tmp_path / "provenance.csv").read_text().splitlines()
    assert lines[0] == "row,parent,parent_id,source,method,chosen_synthetic,rejected_synthetic"
    assert (
        len(lines) == 121
        and lines[1].split(",")[2] == f"pair-{syn.parent[0]}"
        and ",synthetic,perturb," in lines[1]
    )
    assert not list(tmp_path.glob("*.tmp-*"))


def test_load_refuses_other_folders(tmp_path):
    with pytest.raises(FormatError, match="not a synthetic-pairs folder"):
        load_synthetic(tmp_path)
    (tmp_path / "synthetic.safetensors").write_bytes(b"garbage")
    with pytest.raises(FormatError, match="not a readable safetensors"):
        load_synthetic(tmp_path)


def test_diagnostics_and_plots(tmp_path, alpaca_pairs, toy_pairs):
    X = alpaca_pairs[:150]
    lens = LatentSynthesizer(latent_dim=8, hidden_dim=64, max_steps=80)
    curve = diag.reconstruction_curve(X, lens, sizes=(20, 60, 100), n_heldout=50)
    assert [r["n_pairs"] for r in curve] == [20, 60, 100]
    assert all(
        0 < r["train_variance_kept"] < 1 and r["heldout_variance_kept"] < r["train_variance_kept"]
        for r in curve
    )
    rows = diag.label_preservation(
        toy_pairs, PerturbationSynthesizer(), sigma2s=(0.01, 25.0), factors=(2, 4)
    )
    assert (
        len(rows) == 4
        and all(0 <= r["agreement"] <= 1 for r in rows)
        and rows[0]["real_agreement"] > 0.85
    )
    small = [r["agreement"] for r in rows if r["sigma2"] == 0.01]
    big = [r["agreement"] for r in rows if r["sigma2"] == 25.0]
    assert min(small) > max(big)  # heavy noise breaks inherited labels more often
    for path in (
        diag.plot_reconstruction(curve, tmp_path / "r.png"),
        diag.plot_label_preservation(rows, tmp_path / "l.png"),
        diag.plot_projection(X, lens.fit(X).sample(2), tmp_path / "p.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_own_heldout_row_measures_the_fits_early_stopping_pairs(alpaca_pairs):
    X = alpaca_pairs[:100]
    lens = LatentSynthesizer(latent_dim=8, hidden_dim=64, max_steps=80).fit(X)
    row = diag.own_heldout_row(X, lens)
    held = lens.heldout_pairs_
    assert row["n_pairs"] == 90 and "10 early-stopping pairs" in row["heldout"]
    assert row["heldout_variance_kept"] == pytest.approx(
        lens.reconstruction_report(X[held])["variance_kept"]
    )
    assert row["heldout_variance_kept"] < row["train_variance_kept"]
    # nothing held out: no row (PCA, early stopping off, or a synthesizer fitted on other pairs)
    assert (
        diag.own_heldout_row(X, LatentSynthesizer(max_steps=5, early_stopping=False).fit(X)) is None
    )
    assert diag.own_heldout_row(X.copy(), lens) is None


def test_label_check_reuses_the_pairs_already_sampled_at_its_own_settings(toy_pairs):
    s = PerturbationSynthesizer(sigma2=0.05).fit(toy_pairs)
    drawn = s.sample(3)
    kw = dict(sigma2s=(0.05, 1.0), factors=(3,))
    fresh = diag.label_preservation(toy_pairs, s, **kw)
    assert diag.label_preservation(toy_pairs, s, sampled=drawn, **kw) == fresh
    # the given pairs are what the cell at sigma2 0.05, factor 3 judges: reversed pairs disagree
    flipped = type(drawn)(drawn.X[:, ::-1], drawn.parent, drawn.synthetic_side, method="perturb")
    rows = diag.label_preservation(toy_pairs, s, sampled=flipped, **kw)
    assert rows[0]["agreement"] == pytest.approx(1 - fresh[0]["agreement"])
    assert rows[1] == fresh[1] and s.sigma2 == 0.05
