"""LengthBaseline: the learned length baseline, on the shared HH and alpaca_bon pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from prefspace.data import load_preferences, load_scored_responses
from prefspace.data.text_features import log_length
from prefspace.evaluate import pairs_from_scores
from prefspace.exceptions import FormatError, NotFittedError, ShapeError
from prefspace.models import (
    BradleyTerryLinear,
    LengthBaseline,
    cross_fit_length_rewards,
    cross_fit_scored_length_rewards,
    describe_model,
    load_length_baseline,
    load_model,
    pair_log_lengths,
    save_model,
)
from prefspace.models.length import LENGTH_MEASURE


@pytest.fixture(scope="module")
def hh(hh_path):
    ds = load_preferences(hh_path)
    return ds, pair_log_lengths(ds.chosen, ds.rejected)


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz", score_key="gold"
    )
    pairs = pairs_from_scores(scored, 2000, random_state=0)
    lengths = log_length(scored.responses)
    return pairs.pair_features(lengths[:, None])[:, :, 0]


def _share_in_direction(L, sign):
    d = sign * (L[:, 0] - L[:, 1])
    return float(np.mean(d > 0))


def test_learns_that_the_shorter_answer_wins_on_hh(hh):
    _, L = hh
    base = LengthBaseline().fit(L)
    assert base.coef_ < 0 and base.direction_ == "shorter"
    # accuracy is the share of pairs whose chosen response is strictly shorter (equal lengths wrong)
    assert base.score(L) == pytest.approx(_share_in_direction(L, -1.0), abs=1e-12)
    assert 0.53 < base.score(L) < 0.58
    assert base.metrics_["accuracy"] == pytest.approx(base.score(L), abs=1e-12)
    assert base.n_pairs_ == len(L)


def test_learns_that_the_longer_answer_wins_on_alpaca_bon(alpaca):
    base = LengthBaseline().fit(alpaca)
    assert base.coef_ > 0 and base.direction_ == "longer"
    assert base.score(alpaca) == pytest.approx(_share_in_direction(alpaca, 1.0), abs=1e-12)
    assert base.score(alpaca) > 0.65


def test_matches_an_intercept_free_logistic_regression(hh):
    # both orientations of every pair, labels 1 and 0: scikit-learn's objective is then 2C times ours
    _, L = hh
    alpha = 3.0
    d = (L[:, 0] - L[:, 1])[:, None]
    ref = LogisticRegression(C=1 / (2 * alpha), fit_intercept=False, tol=1e-12, max_iter=1000)
    ref.fit(np.vstack([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))])
    assert LengthBaseline(alpha=alpha).fit(L).coef_ == pytest.approx(ref.coef_[0, 0], rel=1e-6)


def test_the_fit_is_a_stationary_point(alpaca):
    base = LengthBaseline(alpha=0.5).fit(alpaca)
    d = alpaca[:, 0] - alpaca[:, 1]
    grad = -np.sum(d * expit(-base.coef_ * d)) + 0.5 * base.coef_
    assert abs(grad) < 1e-6 * len(d)


def test_predict_and_predict_proba(alpaca):
    base = LengthBaseline().fit(alpaca)
    r = base.predict(alpaca[:, 0])
    assert r.dtype == np.float64 and r.shape == (len(alpaca),)
    np.testing.assert_allclose(r, base.coef_ * alpaca[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(
        base.predict_texts(["", "abc"]), base.coef_ * np.log1p([0.0, 3.0]), rtol=1e-15
    )
    p = base.predict_proba(alpaca)
    np.testing.assert_allclose(
        p, expit(base.predict(alpaca[:, 0]) - base.predict(alpaca[:, 1])), rtol=1e-12
    )


def test_labels_flip_pairs_and_weights_are_counts(hh):
    _, L = hh
    L = L[:400]
    y = np.ones(len(L), dtype=int)
    y[::3] = 0
    flipped = L.copy()
    flipped[::3] = flipped[::3, ::-1]
    a = LengthBaseline().fit(flipped, y)
    b = LengthBaseline().fit(L)
    assert a.coef_ == pytest.approx(b.coef_, rel=1e-12)
    assert a.score(flipped, y) == pytest.approx(b.score(L), abs=1e-12)
    w = np.ones(len(L))
    w[:50] = 2.0
    w[50:100] = 0.0
    weighted = LengthBaseline().fit(L, sample_weight=w).coef_
    explicit = LengthBaseline().fit(np.vstack([L[:50], L[:50], L[100:]])).coef_
    assert weighted == pytest.approx(explicit, rel=1e-9)
    assert LengthBaseline().fit(L, sample_weight=w).n_pairs_ == 350


def test_no_penalty_and_separable_pairs_stay_finite():
    L = np.array([[3.0, 1.0], [4.0, 2.0], [5.0, 1.0]])
    base = LengthBaseline(alpha=0.0, max_iter=30).fit(L)
    assert np.isfinite(base.coef_) and base.coef_ > 0 and base.score(L) == 1.0
    equal = LengthBaseline(alpha=0.0).fit(np.array([[2.0, 2.0], [1.0, 1.0]]))
    assert (
        equal.coef_ == 0.0
        and equal.direction_ == "none"
        and equal.score(np.array([[2.0, 2.0]])) == 0.0
    )


def test_record_round_trip_and_refusals(alpaca):
    base = LengthBaseline(alpha=2.0).fit(alpaca)
    record = base.to_dict()
    assert record["measure"] == LENGTH_MEASURE and record["direction"] == "longer"
    again = LengthBaseline.from_dict(record)
    assert again.alpha == 2.0 and again.n_pairs_ == len(alpaca)
    np.testing.assert_array_equal(again.predict(alpaca[:, 0]), base.predict(alpaca[:, 0]))
    with pytest.raises(FormatError, match="fitted on 'log tokens'"):
        LengthBaseline.from_dict({**record, "measure": "log tokens"})
    with pytest.raises(FormatError, match="needs 'coef'"):
        LengthBaseline.from_dict({"measure": LENGTH_MEASURE})


def test_bad_input_is_refused(alpaca):
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        LengthBaseline().predict(alpaca[:, 0])
    with pytest.raises(ShapeError, match=r"\(n_pairs, 2\).*predict\(\), which takes \(n,\)"):
        LengthBaseline().fit(alpaca[:, 0])
    with pytest.raises(ShapeError, match=r"\(n_pairs, 2\)"):
        LengthBaseline().fit(alpaca[:, :, None])
    with pytest.raises(ShapeError, match="NaN or infinite"):
        LengthBaseline().fit(np.array([[1.0, np.nan]]))
    base = LengthBaseline().fit(alpaca)
    with pytest.raises(ShapeError, match=r"lengths must have shape \(n,\).*predict_proba"):
        base.predict(alpaca)
    with pytest.raises(ShapeError, match=r"sample_weight must have shape"):
        LengthBaseline().fit(alpaca, sample_weight=np.ones(3))
    with pytest.raises(ShapeError, match="zero for every pair"):
        LengthBaseline().fit(alpaca, sample_weight=np.zeros(len(alpaca)))
    with pytest.raises(ShapeError, match="chosen has 2 texts but rejected has 1"):
        pair_log_lengths(["a", "b"], ["c"])
    assert not hasattr(clone(base), "coef_")


def test_saved_with_a_model_and_read_back(alpaca, tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 2, 8)).astype(np.float32)
    base = LengthBaseline().fit(alpaca)
    save_model(BradleyTerryLinear().fit(X), tmp_path / "with", length_baseline=base)
    assert describe_model(tmp_path / "with").length_baseline["coef"] == base.coef_
    again = load_length_baseline(tmp_path / "with")
    np.testing.assert_array_equal(again.predict(alpaca[:, 0]), base.predict(alpaca[:, 0]))
    assert load_model(tmp_path / "with").n_features_in_ == 8  # the model itself loads as before
    save_model(BradleyTerryLinear().fit(X), tmp_path / "without")
    assert load_length_baseline(tmp_path / "without") is None
    header = tmp_path / "with" / "model.json"
    header.write_text(header.read_text().replace(LENGTH_MEASURE, "log tokens"))
    with pytest.raises(FormatError, match=r"model.json: length_baseline: .*fitted on 'log tokens'"):
        load_length_baseline(tmp_path / "with")


def test_cross_fitted_rewards_come_from_the_other_folds(hh):
    ds, L = hh
    groups = np.arange(len(L)) % 7
    r = cross_fit_length_rewards(L, groups, folds=5)
    assert r.shape == L.shape
    # every pair's reward is some fold's coefficient times its lengths; that coefficient is the
    # one fitted without the pair's own group
    fold_of_group = np.arange(7) % 5
    coefs = []
    for f in range(5):
        test = fold_of_group[groups] == f
        coefs.append(LengthBaseline().fit(L[~test]).coef_)
        np.testing.assert_allclose(r[test], coefs[-1] * L[test], rtol=1e-12, atol=0)
    assert max(coefs) < 0  # on HH every fold learns that the shorter answer wins
    with pytest.raises(ShapeError, match="at least two prompts"):
        cross_fit_length_rewards(L, np.zeros(len(L)))


def test_cross_fitted_scored_rewards_on_alpaca_bon(alpaca_dir):
    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz", score_key="gold"
    )
    rows = np.flatnonzero(scored.prompt_index < 20)
    lengths = log_length([scored.responses[i] for i in rows])
    r = cross_fit_scored_length_rewards(
        lengths, scored.scores[rows], scored.prompt_index[rows], folds=4
    )
    coef = r / lengths
    assert (coef > 0).all()  # the longer answer wins in every fold
    assert np.unique(np.round(coef, 12)).size == 4  # one coefficient per fold of prompts
    for p in range(20):
        assert np.unique(np.round(coef[scored.prompt_index[rows] == p], 12)).size == 1


def test_beside_a_model_on_hh_test_pairs(hh):
    from prefspace.models import length_baseline_beside

    _, L = hh
    train, test = L[:1300], L[1300:]
    model = (
        np.stack([-test[:, 0], -test[:, 1]], axis=1) * 2.0
    )  # "shorter wins", scaled: the same ranking
    base, record = length_baseline_beside(train, test, model, groups=np.arange(len(test)))
    assert record.direction == "shorter" and record.n_pairs == 1300
    assert record.test.accuracy == pytest.approx(base.score(test), abs=1e-12)
    assert record.test.ci_low < record.test.accuracy < record.test.ci_high
    assert record.vs_model.difference == 0.0
    assert record.vs_model.verdict == "not significantly different"
    assert record.to_json()["vs_model"] == record.vs_model.to_dict()
    assert {k: v for k, v in record.to_json().items() if k not in ("test", "vs_model")} == (
        base.to_dict()
    )  # the baseline's own record, which model.json keeps
    _, alone = length_baseline_beside(train)
    assert alone.test is None and "test" not in alone.to_json()
    assert alone.train_accuracy == pytest.approx(base.score(train))
