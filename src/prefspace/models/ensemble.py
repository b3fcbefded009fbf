"""Ensembles of reward heads: several members, their spread as uncertainty.

Each member is a ``clone`` of the base estimator with its own ``random_state`` (when the
estimator has one) fitted on its own bootstrap sample of the real pairs. The bootstrap is drawn
as integer counts and passed as ``sample_weight`` (a pair drawn twice weighs 2, a pair not drawn
is left out; weights are counts), so no pair is duplicated and a member's validation pairs
never leak into its training pairs. Synthetic pairs (``parent`` in ``fit``) follow their
parent's count.

Members that hold out pairs for early stopping (MLP and LightGBM heads) each hold out whole
prompts of their own sample. :meth:`RewardEnsemble.validation_split` says, before ``fit``, which
real pairs any member will hold out (the members' seeds and samples are drawn from the
ensemble's ``random_state`` the same way each time), so ``augment_pairs(..., estimator=ensemble)``
synthesizes nothing from them and its synthesizer never sees a member's validation pair.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import clone

from .._estimators import seeded
from .._validation import (
    check_embeddings,
    check_in,
    check_pairs,
    check_positive,
    check_random_state,
)
from ..exceptions import ConfigError
from ._base import RewardHead
from .holdout import PairLayout
from .mlp import BradleyTerryMLP

AGGREGATES = ("mean", "min", "mean_minus_std")


class RewardEnsemble(RewardHead):
    """An ensemble of reward heads with mean, pessimistic (min) or uncertainty-penalised reward.

    Parameters
    ----------
    estimator : reward head, default None (a ``BradleyTerryMLP()``)
        Unfitted template; each member is a clone of it.
    n_members : int, default 5
    aggregate : {"mean", "min", "mean_minus_std"}, default "mean"
        How ``predict`` combines the members' rewards: their mean, their minimum (a
        conservative reward against over-optimisation, as in Coste et al. 2024), or
        ``mean - lam * std`` (uncertainty-weighted).
    lam : float, default 1.0
        Weight of the standard deviation for ``aggregate="mean_minus_std"``.
    bootstrap : bool, default True
        Fit each member on a bootstrap sample of the pairs; otherwise only seeds differ.
    random_state : None, int or numpy Generator
        Draws the members' seeds and bootstrap samples: an int gives the same ensemble every
        time, None a different one, a Generator draws from it.

    Attributes
    ----------
    members_ : list of fitted heads
    history_ : list of dict, one per member: its ``metrics_`` and number of distinct pairs
    metrics_ : TRL-named metrics of the aggregated reward on the fitted pairs
    last_layer_weights_, last_layer_bias_ : the members' last layers side by side, scaled by
        ``1 / n_members``, so ``transform(E) @ last_layer_weights_ + last_layer_bias_`` is the
        mean reward (the aggregate for ``aggregate="mean"``).

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.models import BradleyTerryLinear
    >>> X = np.random.default_rng(0).normal(size=(60, 2, 8)).astype("float32")
    >>> ens = RewardEnsemble(BradleyTerryLinear(), n_members=3, random_state=0).fit(X)
    >>> ens.predict_members(X[:, 0]).shape, ens.predict_std(X[:, 0]).shape
    ((3, 60), (60,))
    """

    def __init__(
        self,
        estimator=None,
        n_members: int = 5,
        aggregate: str = "mean",
        lam: float = 1.0,
        bootstrap: bool = True,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_members = n_members
        self.aggregate = aggregate
        self.lam = lam
        self.bootstrap = bootstrap
        self.random_state = random_state

    def _template(self):
        if self.estimator is None:
            return BradleyTerryMLP()
        if not isinstance(self.estimator, RewardHead):
            raise ConfigError(
                f"estimator must be a prefspace reward head (e.g. BradleyTerryMLP()); got {type(self.estimator).__name__}."
            )
        return self.estimator

    def _plan(self, rng, n_real: int):
        """Per member, in order: (its seed or None, bootstrap counts over the real pairs)."""
        k = int(check_positive(self.n_members, name="n_members"))
        template = self._template()
        takes_seed = "random_state" in template.get_params(deep=False)
        for _ in range(k):
            seed = int(rng.integers(2**31 - 1)) if takes_seed else None
            if self.bootstrap:
                counts = np.bincount(rng.integers(0, n_real, size=n_real), minlength=n_real)
            else:
                counts = np.ones(n_real, dtype=np.int64)
            yield seed, counts

    def _member(self, seed):
        return clone(self._template()) if seed is None else seeded(self._template(), seed)

    def validation_split(self, X, groups=None) -> np.ndarray:
        """Bool (n_pairs,): the real pairs ``X`` of every prompt that at least one member will hold
        out for early stopping when the ensemble is fitted on them (none for heads that hold out
        nothing). Whole prompts: a member's bootstrap sample may hold one pair of a prompt and
        not another, and a synthesizer must see neither.

        ``augment_pairs(..., estimator=ensemble)`` synthesizes nothing from these pairs. Needs an
        int (or Generator) ``random_state``: with None the members' samples are new at every fit.
        """
        X = check_pairs(X)
        held = np.zeros(len(X), dtype=bool)
        if not hasattr(self._template(), "validation_split"):
            return held
        if self.random_state is None:
            raise ConfigError(
                "RewardEnsemble(random_state=None) cannot say in advance which pairs its members hold out; "
                "give it an int random_state."
            )
        rs = self.random_state
        rng = check_random_state(copy.deepcopy(rs) if isinstance(rs, np.random.Generator) else rs)
        g = PairLayout.build(X, groups).groups
        for seed, counts in self._plan(rng, len(X)):
            keep = np.flatnonzero(counts)
            held[keep[self._member(seed).validation_split(X[keep], g[keep])]] = True
        return np.isin(g, g[held])

    def _fit(self, X, sample_weight, margin, layout) -> dict:
        check_in(self.aggregate, AGGREGATES, name="aggregate")
        check_positive(self.lam, name="lam", allow_zero=True)
        rng = check_random_state(self.random_state)
        n = len(X)
        real = np.flatnonzero(layout.real)
        syn = ~layout.real
        self.members_, self.history_ = [], []
        for i, (seed, real_counts) in enumerate(self._plan(rng, len(real))):
            member = self._member(seed)
            if self.bootstrap:  # resample real pairs; a synthetic pair follows its parent's count
                counts = np.zeros(n, dtype=np.int64)
                counts[real] = real_counts
                counts[syn] = counts[layout.parent[syn]]
                keep = np.flatnonzero(counts)
                w = counts[keep].astype(np.float64)
                if sample_weight is not None:
                    w = w * sample_weight[keep]
                m = None if margin is None else margin[keep]
                sub = layout.select(keep)
                member.fit(X[keep], sample_weight=w, margin=m, groups=sub.groups, parent=sub.parent)
            else:
                keep = np.arange(n)
                member.fit(
                    X,
                    sample_weight=sample_weight,
                    margin=margin,
                    groups=layout.groups,
                    parent=layout.parent,
                )
            self.members_.append(member)
            self.history_.append({"member": i, "n_pairs": int(len(keep)), **member.metrics_})
        return {}

    # ------------------------------------------------------------------ predictions
    def predict_members(self, E) -> np.ndarray:
        """Each member's rewards: float64 (n_members, n) for rows E (n, D)."""
        self._check_fitted()
        E = check_embeddings(E, dim=self.n_features_in_)
        return self._members(E)

    def predict_std(self, E) -> np.ndarray:
        """Standard deviation of the members' rewards, float64 (n,): the ensemble's uncertainty."""
        return self.predict_members(E).std(axis=0)

    def _members(self, E) -> np.ndarray:
        return np.stack([np.asarray(m._predict(E), dtype=np.float64) for m in self.members_])

    def _predict(self, E):
        return self._aggregate(self._members(E))

    def _text_contribution(self, E):
        # each member's length-controlled reward, aggregated as the rewards are
        controlled = np.stack(
            [
                np.asarray(m._predict(E), dtype=np.float64) - m._text_contribution(E)
                for m in self.members_
            ]
        )
        return self._predict(E) - self._aggregate(controlled)

    def _aggregate(self, R: np.ndarray) -> np.ndarray:
        if self.aggregate == "min":
            return R.min(axis=0)
        if self.aggregate == "mean_minus_std":
            return R.mean(axis=0) - float(self.lam) * R.std(axis=0)
        return R.mean(axis=0)

    def _transform(self, E):
        return np.concatenate(
            [np.asarray(m._transform(E), dtype=np.float64) for m in self.members_], axis=1
        )

    def _last_layer(self) -> tuple[np.ndarray, float]:
        w = np.concatenate([m.last_layer_weights_ for m in self.members_]) / len(self.members_)
        return w, float(np.mean([m.last_layer_bias_ for m in self.members_]))
