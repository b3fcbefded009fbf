"""--head auto: grouped cross-validation over heads and penalties, and the guard that keeps the default."""

from __future__ import annotations

import numpy as np

from prefspace.models import BradleyTerryLinear, choose_head


def test_reference_is_kept_unless_a_candidate_is_clearly_better(toy_pairs):
    same = [
        ("bt-linear", {}),
        ("bt-linear", {}),
    ]  # the same head twice: no gain, the reference stays
    out = choose_head(toy_pairs, grid=same)
    assert out.best_index == 0 and out.best_name == "bt-linear" and "kept" in out.reason
    assert out.candidates[1].gain == 0.0
    assert isinstance(out.best_estimator, BradleyTerryLinear) and not hasattr(
        out.best_estimator, "coef_"
    )


def test_a_clearly_better_head_replaces_the_reference(toy_pairs):
    # the reference barely trains (one epoch at a tiny learning rate): its out-of-fold accuracy
    # is near chance, the linear head's near 1, far more than one standard error apart
    grid = [
        ("bt-mlp", {"max_epochs": 1, "learning_rate": 1e-7, "hidden_sizes": (4,)}),
        ("bt-linear", {"alpha": 1.0}),
    ]
    out = choose_head(toy_pairs, grid=grid, random_state=0)
    assert (
        out.best_index == 1
        and out.best_params == {"alpha": 1.0}
        and out.best_label == "bt-linear (alpha=1)"
    )
    best = out.candidates[1]
    assert best.accuracy > 0.9 and best.gain > 0.2 and best.z > 1
    assert "raised" in out.reason and "bt-linear (alpha=1)" in out.reason
    assert out.cv_results["accuracy"] == [c.accuracy for c in out.candidates]
    assert out.to_json()["candidates"][1]["label"] == "bt-linear (alpha=1)"
    again = choose_head(toy_pairs, grid=grid, random_state=0)
    assert again.cv_results["accuracy"] == out.cv_results["accuracy"]


def test_folds_keep_prompts_together(copied_pairs):
    X, groups = copied_pairs
    grid = [("bt-linear", {}), ("bt-linear", {"alpha": 1.0})]
    for given in (groups, None):  # given, or read from the shared prompt columns
        out = choose_head(X, grid=grid, groups=given)
        for c in out.candidates:
            assert 0.3 < c.accuracy < 0.7, c  # chance: no copy of a held-out pair was trained on
        assert out.best_index == 0
    # the control: one group per pair lets copies of a pair fall on both sides, and the heads
    # recall them (the weakly penalised one almost perfectly)
    leaky = choose_head(X, grid=grid, groups=np.arange(len(X)))
    assert leaky.candidates[0].accuracy > 0.7 and leaky.candidates[1].accuracy > 0.9


def test_too_few_pairs_keep_the_reference():
    few = choose_head(
        np.zeros((4, 2, 8), np.float32), grid=[("bt-linear", {}), ("bt-linear", {"alpha": 1.0})]
    )
    assert few.best_index == 0 and "too few" in few.reason and few.candidates == ()


def test_folds_side_by_side_give_the_same_choice(toy_pairs):
    linear = [("bt-linear", {}), ("bt-linear", {"alpha": 1.0}), ("bt-linear", {"alpha": 10.0})]
    mlp = [("bt-linear", {}), ("clf-mlp", {"hidden_sizes": (8,), "max_epochs": 3})]
    for grid in (linear, mlp):  # an MLP head (torch's global generator) makes the fits run in turn
        one = choose_head(toy_pairs, grid=grid, random_state=2, n_jobs=1)
        two = choose_head(toy_pairs, grid=grid, random_state=2, n_jobs=2)
        assert one.cv_results == two.cv_results and one.best_index == two.best_index


def test_the_text_features_only_candidate_joins_when_rows_carry_the_block(toy_pairs):
    from prefspace.models import DEFAULT_HEAD_GRID

    grid = DEFAULT_HEAD_GRID[:1] + DEFAULT_HEAD_GRID[-1:]
    assert (
        choose_head(toy_pairs, grid=grid).candidates == ()
    )  # without the block one candidate is left
    out = choose_head(toy_pairs, grid=grid, n_text_features=4)
    assert [c.label for c in out.candidates] == ["bt-linear", "bt-linear (blocks=text)"]
    assert out.best_estimator.n_text_features == 4
