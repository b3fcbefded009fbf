"""RewardEnsemble says which pairs its members hold out, and synthesis leaves them alone."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.exceptions import ConfigError
from prefspace.models import BradleyTerryLinear, BradleyTerryMLP, RewardEnsemble
from prefspace.synth import augment_pairs


class RecordingMLP(BradleyTerryMLP):
    """Remembers the rows it held out for early stopping."""

    def _fit(self, X, sample_weight, margin, layout):
        _, val = self._split(layout)
        self.held_rows_ = {X[i].tobytes() for i in val}
        return super()._fit(X, sample_weight, margin, layout)


def _pairs(n=150, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    E = rng.normal(size=(n, 2, dim)).astype(np.float32)
    swap = E[:, 0] @ w < E[:, 1] @ w
    E[swap] = E[swap][:, ::-1]
    return E, np.arange(n) // 2  # two pairs per prompt


def test_ensemble_validation_split_is_what_its_members_hold_out():
    X, groups = _pairs()
    ens = RewardEnsemble(RecordingMLP(hidden_sizes=(8,), max_epochs=3), n_members=3, random_state=4)
    held = ens.validation_split(X, groups)
    assert 0 < held.sum() < len(X) // 2
    # whole prompts
    assert all(held[groups == g].all() or not held[groups == g].any() for g in np.unique(groups))
    aug = augment_pairs(X, method="perturb", factor=2, estimator=ens, groups=groups)
    parent = aug.parent
    assert not held[parent[parent >= 0]].any()  # nothing synthesized from a held-out pair
    assert aug.report.n_heldout == held.sum() and aug.n_synthetic == 2 * (len(X) - held.sum())
    ens.fit(aug.X, sample_weight=aug.sample_weight, **aug.fit_params)
    members_held = set().union(*(m.held_rows_ for m in ens.members_))
    assert all(m.held_rows_ for m in ens.members_)  # every member early-stops on pairs of its own
    held_prompts = np.unique(groups[[i for i in range(len(X)) if X[i].tobytes() in members_held]])
    np.testing.assert_array_equal(held, np.isin(groups, held_prompts))  # their prompts, whole
    # the same ensemble without synthetic pairs holds out the same pairs: the plan is the seed's
    plain = RewardEnsemble(
        RecordingMLP(hidden_sizes=(8,), max_epochs=3), n_members=3, random_state=4
    ).fit(X, groups=groups)
    assert set().union(*(m.held_rows_ for m in plain.members_)) == members_held


def test_ensemble_of_heads_that_hold_out_nothing_holds_out_nothing():
    X, groups = _pairs()
    assert (
        not RewardEnsemble(BradleyTerryLinear(), n_members=3, random_state=0)
        .validation_split(X, groups)
        .any()
    )
    with pytest.raises(ConfigError, match="give it an int random_state"):
        RewardEnsemble(BradleyTerryMLP(), n_members=2).validation_split(X, groups)
