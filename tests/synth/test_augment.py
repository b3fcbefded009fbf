"""augment_pairs for every method, the label-consistency filter and the guarded "auto"."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefspace.exceptions import ConfigError
from prefspace.models import BradleyTerryLinear
from prefspace.synth import METHODS, augment_pairs, label_agreement, synthesize
from prefspace.synth.augment import prompt_groups

FAST = {"lens": dict(latent_dim=8, hidden_dim=64, max_steps=60)}


@pytest.mark.parametrize("method", [m for m in METHODS if m != "auto"])
def test_augment_every_method_real_first_with_weights(method, alpaca_pairs):
    X = alpaca_pairs[:50]
    aug = augment_pairs(X, method=method, factor=2, synthetic_weight=0.5, **FAST.get(method, {}))
    X_aug, w, info = aug.X, aug.sample_weight, aug.report
    n_syn = 0 if method == "none" else 100
    assert X_aug.shape == (50 + n_syn, 2, 384) and X_aug.dtype == np.float32
    np.testing.assert_array_equal(X_aug[:50], X)  # real pairs first, unchanged
    # counts that add up to the real pairs: a parent and its 2 children share weight 1,
    # each child weighing half its parent (synthetic_weight=0.5)
    if n_syn:
        np.testing.assert_allclose(w, np.r_[np.full(50, 0.5), np.full(n_syn, 0.25)])
    else:
        np.testing.assert_array_equal(w, np.ones(50))
    assert w.sum() == pytest.approx(50)
    assert info.method == method and info.n_real == 50 and info.n_synthetic == n_syn
    parent = aug.parent
    assert (parent[:50] == -1).all() and (parent[50:] >= 0).all() and parent.shape == (50 + n_syn,)
    json.dumps(info.to_json())  # a report the CLI can write as is
    # a head trains on it directly
    BradleyTerryLinear().fit(X_aug, sample_weight=w, **aug.fit_params)


def test_default_synthetic_weight_is_one_over_k_and_follows_real_weights(alpaca_pairs):
    X = alpaca_pairs[:20]
    real_w = np.r_[np.full(10, 2.0), np.ones(10)]
    aug = augment_pairs(X, method="repeat", factor=4, sample_weight=real_w)
    w = aug.sample_weight
    np.testing.assert_allclose(w[:20], real_w / 2)  # the real pair keeps half its weight
    np.testing.assert_allclose(w[20:], np.repeat(real_w, 4) / 8)  # 4 copies share the other half
    assert w.sum() == pytest.approx(real_w.sum()) and aug.report.synthetic_weight == 0.25


def test_repeat_with_the_linear_head_is_the_real_only_model(separate_pairs):
    # The penalty is stated against the total weight and a parent's copies share its weight, so
    # four copies of every pair change nothing: the control the issue asked for.
    X, X_test = separate_pairs[:150], separate_pairs[150:]
    none = BradleyTerryLinear().fit(X)
    for weight in (None, 1.0):
        aug = augment_pairs(
            X, method="repeat", factor=4, synthetic_weight=weight, estimator=BradleyTerryLinear()
        )
        rep = BradleyTerryLinear().fit(aug.X, sample_weight=aug.sample_weight, **aug.fit_params)
        np.testing.assert_allclose(
            rep.coef_, none.coef_, rtol=1e-5, atol=1e-7 * np.abs(none.coef_).max()
        )
        assert rep.score(X_test) == none.score(X_test)
    # without the shared weights (every copy weighing 1, as before) the penalty is diluted 5x
    diluted = BradleyTerryLinear().fit(aug.X)
    assert not np.allclose(diluted.coef_, none.coef_, rtol=1e-2)


def test_validation_pairs_are_real_and_nothing_is_synthesized_from_them(separate_pairs):
    from prefspace.models import BradleyTerryMLP
    from prefspace.models.holdout import PairLayout, split_rng

    X = separate_pairs[:120]
    head = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=3, random_state=0)
    held = head.validation_split(X, prompt_groups(X))
    assert 0 < held.sum() < len(X)
    aug = augment_pairs(X, method="perturb", factor=4, estimator=head)
    info, parent = aug.report, aug.parent
    pca = augment_pairs(
        X, method="pca", factor=2, estimator=head, report_pairs=separate_pairs[200:]
    ).report
    assert 0 < pca.heldout_variance_kept < pca.train_variance_kept <= 1
    # no synthetic pair descends from a held-out pair, and the synthesizer never saw one: the
    # synthetic pairs are those of a synthesizer fitted on the other pairs alone
    assert not held[parent[parent >= 0]].any()
    from prefspace.synth import PCASynthesizer

    X_pca = augment_pairs(X, method="pca", factor=2, estimator=head).X
    alone = PCASynthesizer(random_state=0).fit(X[~held]).sample(2)
    np.testing.assert_array_equal(X_pca[len(X) :], alone.X)
    everything = PCASynthesizer(random_state=0).fit(X).sample(2)
    assert not np.allclose(
        everything.X[: len(alone)], alone.X
    )  # the control: fitted on all, it differs
    assert info.n_heldout == held.sum() and info.n_synthetic == 4 * (len(X) - held.sum())
    # fit holds out exactly those real pairs
    layout = PairLayout.build(aug.X, aug.groups, parent)
    train, val = layout.split(head.validation_fraction, split_rng(head.random_state))
    np.testing.assert_array_equal(val, np.flatnonzero(held))
    assert (parent[train] < 0).sum() == len(X) - held.sum()


def test_augment_is_deterministic(alpaca_pairs):
    a = augment_pairs(alpaca_pairs[:40], method="lens", factor=4, random_state=3, **FAST["lens"])
    b = augment_pairs(alpaca_pairs[:40], method="lens", factor=4, random_state=3, **FAST["lens"])
    np.testing.assert_array_equal(a.X, b.X)


def test_augment_refuses_bad_arguments(alpaca_pairs):
    X = alpaca_pairs[:20]
    with pytest.raises(ConfigError, match="augment method must be one of"):
        augment_pairs(X, method="smote")
    with pytest.raises(ConfigError, match="factor must be a whole number"):
        augment_pairs(X, method="lens", factor=0)
    with pytest.raises(ConfigError, match="synthetic_weight must be >= 0"):
        augment_pairs(X, method="perturb", synthetic_weight=-1)
    with pytest.raises(ConfigError, match="has no parameter 'sigma'; its parameters are"):
        augment_pairs(X, method="perturb", sigma=0.1)
    with pytest.raises(ConfigError, match="method 'none' takes no synthesizer parameters"):
        augment_pairs(X, method="none", sigma2=0.1)


def test_label_agreement_is_cross_fitted_and_filter_keeps_only_agreeing(toy_pairs):
    X = toy_pairs[:120]
    syn = synthesize(X, method="perturb", factor=4, sigma2=4.0)
    agree = label_agreement(X, syn)
    assert agree.shape == (len(syn),) and 0.5 < agree.mean() < 1.0  # heavy noise flips some
    kept = synthesize(X, method="perturb", factor=4, sigma2=4.0, label_filter=True)
    assert kept.info["filter_kept"] == len(kept) <= 4 * 120
    assert np.bincount(kept.parent, minlength=120).max() <= 4
    assert label_agreement(X, kept).mean() > agree.mean()


def test_prompt_groups_from_shared_columns(separate_pairs, alpaca_pairs):
    g = prompt_groups(separate_pairs[:30])
    assert g is not None and len(g) == 30
    same = (separate_pairs[:30, 0, :384][:, None] == separate_pairs[:30, 0, :384][None]).all(-1)
    np.testing.assert_array_equal(g[:, None] == g[None], same)
    assert prompt_groups(alpaca_pairs[:30]) is None  # response-only rows: no prompt columns


def test_auto_falls_back_when_synthesis_only_adds_label_noise(toy_pairs):
    # Separable pairs: the real-only head is nearly perfect; pairs synthesized with noise ten
    # times the data's own scale and weighted 5x can only hurt, so auto must decline them.
    grid = [("perturb", 8, 5.0, {"sigma2": 100.0}), ("gaussian", 4, 5.0, {})]
    aug = augment_pairs(toy_pairs[:150], method="auto", grid=grid)
    info = aug.report
    assert info.method == "none" and info.requested == "auto" and info.chosen is None
    assert aug.X.shape == (150, 2, 16) and (aug.sample_weight == 1).all()
    assert "no synthesis" in info.reason and len(info.candidates) == 2
    assert all(c.gain <= 0 for c in info.candidates)
    saved = json.loads(json.dumps(info.to_json()))
    assert saved["chosen"] is None and all("gain_vs_repeat" in c for c in saved["candidates"])


class CountingLinear(BradleyTerryLinear):
    fits: list = []

    def fit(self, X, *args, **kwargs):
        CountingLinear.fits.append(self.alpha)
        return super().fit(X, *args, **kwargs)


def test_auto_reports_its_choice_and_uses_the_given_head(alpaca_pairs):
    grid = [("perturb", 2, 1.0, {}), ("pca", 2, 0.5, {"latent_dim": 8})]
    CountingLinear.fits = []
    aug = augment_pairs(
        alpaca_pairs[:90], method="auto", grid=grid, estimator=CountingLinear(alpha=1.0), n_folds=3
    )
    info = aug.report
    assert info.requested == "auto" and [c.method for c in info.candidates] == ["perturb", "pca"]
    # every fit of the cross-validation is a clone of the given head: per fold, real-only, the
    # repeat control at each of the 2 (factor, weight) and the 2 candidates
    assert CountingLinear.fits == [1.0] * 3 * (1 + 2 + 2)
    # 90 pairs: a gain would have to reach 1.96 standard errors (about 9 points) in every fold;
    # neither candidate does, so no synthesis
    assert info.chosen is None and info.method == "none" and "no synthesis" in info.reason
    assert aug.X.shape[0] == 90 and (aug.sample_weight == 1).all()
    assert all(c.gain < 0.09 or min(c.fold_gains) <= 0 for c in info.candidates)


def test_auto_folds_keep_prompts_together(copied_pairs):
    from prefspace.synth import choose_augmentation

    X, groups = copied_pairs
    grid = [("perturb", 2, None, {})]
    head = BradleyTerryLinear(alpha=1.0)
    for given in (groups, None):  # given, or read from the shared prompt columns by augment_pairs
        info = augment_pairs(X, method="auto", grid=grid, estimator=head, groups=given).report
        # chance: no copy of a held-out pair was trained on, by the head or the synthesizer
        assert 0.3 < info.candidates[0].accuracy - info.candidates[0].gain < 0.7
        assert 0.3 < info.candidates[0].repeat_accuracy < 0.7 and info.chosen is None
    # the control: one group per pair lets copies fall on both sides of a fold, and the head recalls them
    leaky = choose_augmentation(X, estimator=head, grid=grid, groups=np.arange(len(X)))
    assert leaky.real_accuracy > 0.9


def test_auto_refuses_bad_grid(alpaca_pairs):
    with pytest.raises(ConfigError, match="must name a synthesizer"):
        augment_pairs(alpaca_pairs[:30], method="auto", grid=[("none", 2, 1.0, {})])
    with pytest.raises(ConfigError, match="repeat is the control"):
        augment_pairs(alpaca_pairs[:30], method="auto", grid=[("repeat", 2, 1.0, {})])
    with pytest.raises(ConfigError, match="has no parameter"):
        augment_pairs(alpaca_pairs[:30], method="auto", grid=[("lens", 2, 1.0, {"sigma": 1})])


def test_a_synthesis_that_cannot_fit_in_memory_is_refused_before_allocating():
    from prefspace.synth import get_synthesizer

    X = np.random.default_rng(0).normal(size=(40, 2, 16)).astype(np.float32)
    with pytest.raises(
        ConfigError, match=r"factor 100000000 would make 4,000,000,000 synthetic pairs.*GiB"
    ):
        augment_pairs(X, method="repeat", factor=100_000_000)
    with pytest.raises(ConfigError, match="smaller factor"):
        get_synthesizer("repeat").fit(X).sample(100_000_000)
    assert augment_pairs(X, method="repeat", factor=4).X.shape == (
        200,
        2,
        16,
    )  # a usual factor still works


def test_auto_needs_to_beat_the_repeat_control_too(toy_pairs):
    # An MLP trained for one epoch learns more from more rows: near-copies of the real pairs
    # (perturbation with almost no noise) beat real pairs alone clearly, but no more than exact
    # copies do, so they are no reason to synthesize.
    from prefspace.models import BradleyTerryMLP
    from prefspace.models.selection import GuardRule
    from prefspace.synth import choose_augmentation

    head = BradleyTerryMLP(
        hidden_sizes=(8,),
        max_epochs=1,
        learning_rate=1e-3,
        batch_size=16,
        early_stopping=False,
        random_state=0,
    )
    out = choose_augmentation(
        toy_pairs, estimator=head, grid=[("perturb", 4, 1.0, {"sigma2": 1e-6})]
    )
    c = out.candidates[0]
    assert (
        c.gain >= 0.01 and c.z >= GuardRule().z_needed(1) and min(c.fold_gains) > 0
    )  # passes against real-only
    assert c.gain_vs_repeat <= 0 and out.chosen is None  # ... and not against repeat


def test_auto_folds_run_side_by_side_with_the_same_result(alpaca_pairs):
    # folds on threads: the VAE's initial weights and the MLP head's draws both come from torch's
    # global generator, under one lock, so running the folds side by side changes nothing
    from prefspace.models import BradleyTerryMLP
    from prefspace.synth import choose_augmentation

    head = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=3, early_stopping=False, random_state=0)
    grid = [("lens", 2, None, {"max_steps": 30, "latent_dim": 4, "hidden_dim": 16})]
    one, three = (
        choose_augmentation(alpaca_pairs[:60], estimator=head, grid=grid, n_jobs=k) for k in (1, 3)
    )
    assert one.cv_results == three.cv_results and one.reason == three.reason
    assert one.real_accuracy == three.real_accuracy
