"""Pairing counts, inherited labels, provenance, determinism and errors of every synthesizer."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.exceptions import ConfigError, NotFittedError, ShapeError
from prefspace.synth import (
    GaussianSynthesizer,
    LatentSynthesizer,
    MixupSynthesizer,
    PCASynthesizer,
    PerturbationSynthesizer,
    combine_within_pairs,
    responses_per_side,
)

FAST_LENS = dict(latent_dim=8, hidden_dim=64, max_steps=60)
ALL = [
    lambda: LatentSynthesizer(**FAST_LENS),
    lambda: PCASynthesizer(latent_dim=8),
    lambda: PerturbationSynthesizer(),
    lambda: GaussianSynthesizer(),
    lambda: MixupSynthesizer(),
]
IDS = ["lens", "pca", "perturb", "gaussian", "mixup"]


def test_responses_per_side_is_the_smallest_that_covers_the_factor():
    for k in range(1, 40):
        s = responses_per_side(k)
        assert (s + 1) ** 2 - 1 >= k and (s == 1 or s**2 - 1 < k)


def test_combine_counts_excludes_original_and_covers_all_combinations():
    rng = np.random.default_rng(0)
    n, s, d = 5, 2, 3
    X = rng.normal(size=(n, 2, d)).astype(np.float32)
    Sc, Sr = rng.normal(size=(n, s, d)), rng.normal(size=(n, s, d))
    out = combine_within_pairs(X, Sc, Sr, 8, rng, method="t")
    assert (
        len(out) == 40 and out.synthetic_side.any(axis=1).all()
    )  # never the (real, real) original
    for i in range(n):
        rows = out.X[out.parent == i]
        combos = {(tuple(r[0]), tuple(r[1])) for r in rows}
        assert len(combos) == 8  # all (s+1)^2 - 1 distinct combinations at factor 8
        pool_c = {tuple(v) for v in np.vstack([X[i, :1], Sc[i]]).astype(np.float32)}
        pool_r = {tuple(v) for v in np.vstack([X[i, 1:], Sr[i]]).astype(np.float32)}
        assert all(c in pool_c and r in pool_r for c, r in combos)  # chosen stays chosen
    with pytest.raises(ConfigError, match="needs more than 2 synthetic"):
        combine_within_pairs(X, Sc, Sr, 9, rng, method="t")


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize("factor", [2, 4, 8])
def test_sample_counts_parents_and_provenance(make, factor, alpaca_pairs):
    X = alpaca_pairs[:60]
    syn = make().fit(X).sample(factor)
    assert syn.X.shape == (60 * factor, 2, X.shape[2]) and syn.X.dtype == np.float32
    assert syn.source == "synthetic"
    np.testing.assert_array_equal(np.bincount(syn.parent, minlength=60), factor)
    assert syn.synthetic_side.any(axis=1).all()
    # a real side is the parent's own response on that side: labels are inherited
    real_c = ~syn.synthetic_side[:, 0]
    np.testing.assert_array_equal(syn.X[real_c, 0], X[syn.parent[real_c], 0])
    real_r = ~syn.synthetic_side[:, 1]
    np.testing.assert_array_equal(syn.X[real_r, 1], X[syn.parent[real_r], 1])
    # a synthetic side is new
    assert not np.any(
        np.all(
            syn.X[syn.synthetic_side[:, 0], 0] == X[syn.parent[syn.synthetic_side[:, 0]], 0], axis=1
        )
    )
    table = syn.provenance()
    assert set(table) >= {"parent", "source", "chosen_synthetic", "rejected_synthetic"} and len(
        table["parent"]
    ) == len(syn)


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_same_seed_same_pairs_other_seed_other_pairs(make, alpaca_pairs):
    X = alpaca_pairs[:40]
    a = make().fit(X).sample(4)
    b = make().fit(X).sample(4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.parent, b.parent)
    c = make().set_params(random_state=7).fit(X).sample(4)
    assert not np.array_equal(a.X, c.X)


def test_synthetic_responses_stay_near_their_parent(alpaca_pairs):
    X = alpaca_pairs[:100]
    for s in (LatentSynthesizer(max_steps=150), PCASynthesizer(), PerturbationSynthesizer()):
        syn = s.fit(X).sample(4)
        side = syn.synthetic_side[:, 0]
        own = np.linalg.norm(syn.X[side, 0] - X[syn.parent[side], 0], axis=1).mean()
        other = np.linalg.norm(syn.X[side, 0] - X[(syn.parent[side] + 1) % 100, 0], axis=1).mean()
        assert own < other, type(s).__name__


def test_prompt_columns_are_copied_not_synthesized(separate_pairs):
    X = separate_pairs[:50]
    for s in (
        LatentSynthesizer(**FAST_LENS),
        LatentSynthesizer(condition_on_shared=True, **FAST_LENS),
        MixupSynthesizer(),
        GaussianSynthesizer(),
    ):
        syn = s.fit(X).sample(4)
        assert (
            s.shared_mask_[:384].all() and s.shared_mask_[384:].sum() <= 2
        )  # + MiniLM's constant columns
        np.testing.assert_array_equal(syn.X[:, 0, :384], X[syn.parent, 0, :384])
        np.testing.assert_array_equal(syn.X[:, 1, :384], X[syn.parent, 1, :384])


def test_residual_decoding_keeps_more_of_the_real_embedding(alpaca_pairs):
    X = alpaca_pairs[:100]
    lens = LatentSynthesizer(max_steps=150).fit(X)
    direct = lens.sample(2)
    residual = lens.set_params(decoding="residual").sample(2)
    m = direct.synthetic_side[:, 0]
    d_direct = np.linalg.norm(direct.X[m, 0] - X[direct.parent[m], 0], axis=1).mean()
    d_resid = np.linalg.norm(residual.X[m, 0] - X[residual.parent[m], 0], axis=1).mean()
    assert d_resid < 0.5 * d_direct


def test_reconstruction_report(alpaca_pairs):
    rep = LatentSynthesizer(max_steps=150).fit(alpaca_pairs[:100]).reconstruction_report()
    assert (
        0.0 < rep["variance_kept"] < 1.0
        and 0.0 < rep["recon_mse"] < 1.0
        and rep["latent_dim"] == 16
    )
    pca = PCASynthesizer(latent_dim=16).fit(alpaca_pairs[:100]).reconstruction_report()
    assert 0.0 < pca["variance_kept"] < 1.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LatentSynthesizer(sigma2=-1), "sigma2 must be >= 0"),
        (lambda: LatentSynthesizer(latent_dim=0), "latent_dim must be a whole number"),
        (lambda: LatentSynthesizer(decoding="sideways"), "decoding must be one of"),
        (lambda: LatentSynthesizer(candidate_score="max"), "candidate_score must be one of"),
        (lambda: LatentSynthesizer(gamma=float("nan")), "gamma must be >= 0"),
        (lambda: LatentSynthesizer(max_steps=0), "max_steps must be a whole number"),
        (lambda: PerturbationSynthesizer(sigma2="big"), "sigma2 must be a number"),
        (lambda: GaussianSynthesizer(covariance="full"), "covariance must be"),
        (lambda: MixupSynthesizer(alpha=0), "alpha must be > 0"),
    ],
)
def test_bad_parameters_are_refused_at_fit(make, match, toy_pairs):
    with pytest.raises(ConfigError, match=match):
        make().fit(toy_pairs)


def test_bad_inputs_are_refused(toy_pairs):
    with pytest.raises(ShapeError, match=r"shape \(n_pairs, 2, dim\)"):
        PerturbationSynthesizer().fit(toy_pairs[:, 0])
    with pytest.raises(ShapeError, match="nothing to synthesize"):
        PerturbationSynthesizer().fit(np.repeat(toy_pairs[:, :1], 2, axis=1))
    with pytest.raises(ShapeError, match="at least 2 pairs"):
        PerturbationSynthesizer().fit(toy_pairs[:1])
    with pytest.raises(NotFittedError, match="call fit"):
        PerturbationSynthesizer().sample(2)
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="factor must be a whole number"):
            PerturbationSynthesizer().fit(toy_pairs).sample(bad)


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_estimator_contract_clone_and_params(make):
    from sklearn.base import clone

    est = make()
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "X_")
    assert type(est).__name__ in repr(est)


def test_importing_synth_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, prefspace.synth; assert 'torch' not in sys.modules, 'torch imported'"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    )
