"""Behaviour specific to each head: objectives, early stopping, global state, features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prefspace.exceptions import ConfigError, ShapeError
from prefspace.models import (
    HEADS,
    BradleyTerryLinear,
    BradleyTerryMLP,
    PreferenceClassifierLGBM,
    PreferenceClassifierMLP,
    RewardEnsemble,
    with_prompt_features,
)


def test_linear_matches_the_bradley_terry_optimum(toy_pairs):
    model = BradleyTerryLinear(alpha=1.0, standardize=False, tol=1e-10).fit(toy_pairs)
    diff = (toy_pairs[:, 0] - toy_pairs[:, 1]).astype(np.float64)
    z = diff @ model.coef_
    grad = (
        -(diff.T @ (1.0 / (1.0 + np.exp(z)))) + 1.0 * model.coef_
    )  # stationarity of the penalised loss
    assert np.abs(grad).max() / len(toy_pairs) < 1e-5  # the mean-loss gradient L-BFGS drives to 0
    assert model.predict(toy_pairs.reshape(-1, 16)).mean() == pytest.approx(0.0, abs=1e-9)


def test_linear_standardisation_is_folded_into_coef(toy_pairs):
    scaled = toy_pairs * np.linspace(0.5, 4.0, 16, dtype=np.float32)
    a = BradleyTerryLinear(alpha=1.0).fit(toy_pairs)
    b = BradleyTerryLinear(alpha=1.0).fit(scaled)
    np.testing.assert_allclose(
        a.predict(toy_pairs[:, 0]), b.predict(scaled[:, 0]), rtol=1e-4, atol=1e-5
    )


def test_labels_y_orient_pairs(toy_pairs):
    X = toy_pairs.copy()
    y = np.ones(len(X), dtype=int)
    y[::2] = 0
    X[::2] = X[::2][:, ::-1]
    a = BradleyTerryLinear().fit(toy_pairs).coef_
    b = BradleyTerryLinear().fit(X, y).coef_
    np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ShapeError, match=r"y must hold 1 .* or 0"):
        BradleyTerryLinear().fit(X, np.full(len(X), 2))


def test_mlp_early_stopping_keeps_the_best_validation_epoch(toy_pairs):
    model = BradleyTerryMLP(
        hidden_sizes=(32,), learning_rate=3e-2, n_iter_no_change=3, random_state=0
    ).fit(toy_pairs)
    losses = [h["eval_loss"] for h in model.history_]
    # the kept epoch is the last that improved on the best by more than tol
    assert losses[model.best_epoch_ - 1] <= min(losses) + model.tol
    assert all(
        loss > losses[model.best_epoch_ - 1] - model.tol for loss in losses[model.best_epoch_ :]
    )
    assert model.n_epochs_ == len(model.history_) <= model.best_epoch_ + 3
    assert model.metrics_["eval_accuracy"] == pytest.approx(
        model.history_[model.best_epoch_ - 1]["eval_accuracy"]
    )
    assert {"loss", "eval_loss", "eval_accuracy", "epoch"} <= model.history_[0].keys()


def test_mlp_without_early_stopping_runs_on_training_loss(toy_pairs):
    model = BradleyTerryMLP(
        hidden_sizes=(8,), early_stopping=False, max_epochs=4, random_state=0
    ).fit(toy_pairs)
    assert model.n_epochs_ == 4 and "eval_loss" not in model.history_[0]
    assert not any(k.startswith("eval_") for k in model.metrics_)


def test_mlp_training_leaves_torch_global_state_alone(toy_pairs):
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    BradleyTerryMLP(hidden_sizes=(8,), max_epochs=3, n_jobs=1, random_state=0).fit(toy_pairs)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_mlp_objectives_differ(toy_pairs):
    bt = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=5, random_state=0).fit(toy_pairs)
    clf = PreferenceClassifierMLP(hidden_sizes=(8,), max_epochs=5, random_state=0).fit(toy_pairs)
    assert not np.allclose(bt.predict(toy_pairs[:, 0]), clf.predict(toy_pairs[:, 0]))


def test_mlp_transform_is_the_last_hidden_layer(toy_pairs):
    model = BradleyTerryMLP(hidden_sizes=(12, 6), max_epochs=3, random_state=0).fit(toy_pairs)
    T = model.transform(toy_pairs[:, 0])
    assert T.shape == (200, 6) and (T >= 0).all()  # after ReLU
    assert model.last_layer_weights_.shape == (6,)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(hidden_sizes=(0,)), "hidden_sizes must be positive"),
        (dict(activation="swish"), "activation must be one of"),
        (dict(validation_fraction=1.0), "must be < 1"),
        (dict(learning_rate=0), "learning_rate must be > 0"),
    ],
)
def test_mlp_bad_parameters_are_config_errors(params, match, toy_pairs):
    with pytest.raises(ConfigError, match=match):
        BradleyTerryMLP(**params).fit(toy_pairs)


def test_lgbm_leaf_features_are_one_hot_per_tree(toy_pairs):
    model = PreferenceClassifierLGBM(n_estimators=15, min_child_samples=5, random_state=0).fit(
        toy_pairs
    )
    T = model.transform(toy_pairs[:, 0])
    assert set(np.unique(T)) <= {0.0, 1.0}
    np.testing.assert_array_equal(T.sum(axis=1), np.full(200, model.n_trees_))
    assert "eval_loss" in model.history_[0]
    with pytest.raises(ConfigError, match=r"subsample must be in \(0, 1\]"):
        PreferenceClassifierLGBM(subsample=1.5).fit(toy_pairs)


def test_ensemble_members_uncertainty_and_aggregates(toy_pairs):
    base = RewardEnsemble(BradleyTerryLinear(alpha=1.0), n_members=4, random_state=0).fit(
        toy_pairs[:120]
    )
    E = toy_pairs[120:, 0]
    R = base.predict_members(E)
    assert R.shape == (4, 80) and not np.allclose(R[0], R[1])  # bootstrap samples differ
    np.testing.assert_allclose(base.predict_std(E), R.std(axis=0))
    np.testing.assert_allclose(base.predict(E), R.mean(axis=0))
    base.set_params(aggregate="min")
    np.testing.assert_allclose(base.predict(E), R.min(axis=0))
    base.set_params(aggregate="mean_minus_std", lam=2.0)
    np.testing.assert_allclose(base.predict(E), R.mean(axis=0) - 2.0 * R.std(axis=0))
    assert all(h["n_pairs"] < 120 for h in base.history_)  # each member left some pairs out


def test_ensemble_without_bootstrap_differs_only_by_seed(toy_pairs):
    ens = RewardEnsemble(
        BradleyTerryMLP(hidden_sizes=(8,), max_epochs=3),
        n_members=2,
        bootstrap=False,
        random_state=0,
    ).fit(toy_pairs)
    assert [m.random_state for m in ens.members_][0] != ens.members_[1].random_state
    assert all(h["n_pairs"] == 200 for h in ens.history_)


def test_ensemble_refuses_bad_settings(toy_pairs):
    with pytest.raises(ConfigError, match="aggregate must be one of"):
        RewardEnsemble(BradleyTerryLinear(), aggregate="max").fit(toy_pairs)
    with pytest.raises(ConfigError, match="must be a prefspace reward head"):
        RewardEnsemble("bt-mlp").fit(toy_pairs)


def test_with_prompt_features_builds_prompt_response_rows():
    X = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    P = np.array([[100.0], [200.0]])
    out = with_prompt_features(X, P)
    assert out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out[1, 0], [200, 6, 7, 8])
    assert with_prompt_features(X[:, 0], P).shape == (2, 4)
    with pytest.raises(ShapeError, match="same n"):
        with_prompt_features(X, P[:1])


def test_heads_registry_names_the_cli_heads():
    assert set(HEADS) == {"bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm"}
