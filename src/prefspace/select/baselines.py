"""The simple strategies: random (the baseline every claim is measured against), uncertainty
(smallest predicted reward gap) and ensemble disagreement.

Each scores candidates chunk by chunk from per-row model outputs (rewards are computed once per
row, then gathered per pair), keeping only the best ``k`` so far; no pool is ever enumerated in
memory.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import expit

from .._validation import check_in, check_random_state
from ..exceptions import ConfigError
from ._common import BaseSelector, ChunkedSelector, row_rewards, stream_top_k
from .pools import DEFAULT_CHUNK_SIZE, PairPool

logger = logging.getLogger(__name__)


class RandomSelector(BaseSelector):
    """``k`` candidates uniformly at random, without replacement; the model is not used.

    Parameters
    ----------
    random_state : None, int or numpy Generator
        An int picks the same pairs every time, None different ones; a Generator is drawn from.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.select import WithinPromptPool
    >>> pool = WithinPromptPool(np.zeros((6, 2)), [0, 0, 0, 1, 1, 1])
    >>> sorted(RandomSelector(random_state=0).select(pool, None, 6).tolist())
    [0, 1, 2, 3, 4, 5]
    """

    strategy_name = "random"

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.random_state, np.random.Generator):
            check_random_state(self.random_state)

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        rng = check_random_state(self.random_state)
        n = len(pool)
        # draw a few extra so that excluded indices can be dropped without a second round
        m = min(n, k + exclude.size)
        draw = rng.choice(n, size=m, replace=False)
        if exclude.size:
            draw = draw[~np.isin(draw, exclude)]
        return draw[:k].astype(np.int64)


class UncertaintySelector(ChunkedSelector):
    """The ``k`` candidates with the smallest predicted reward gap ``|r(a) - r(b)|``, i.e. the
    preference probability closest to 1/2. Ties go to the lower pool index.

    Parameters
    ----------
    chunk_size, n_jobs : as in every selector (:class:`BaseSelector`); the threads compute the
        model's rewards.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.select import ExplicitPairPool
    >>> class Head:
    ...     def predict(self, E): return E[:, 0]
    >>> pool = ExplicitPairPool(np.array([[0.0], [0.1], [2.0]]), [[0, 2], [0, 1], [1, 2]])
    >>> UncertaintySelector().select(pool, Head(), 1).tolist()
    [1]
    """

    strategy_name = "uncertainty"

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        """Most uncertain first."""
        r = row_rewards(model, pool.features, "uncertainty")
        return stream_top_k(
            pool,
            lambda rows: np.abs(r[rows[:, 0]] - r[rows[:, 1]]),
            k,
            largest=False,
            exclude=exclude,
            chunk_size=self.chunk_size,
        )


def member_rewards(model, features: np.ndarray) -> np.ndarray:
    """Each ensemble member's rewards per row, float64 ``(n_rows, n_members)``.

    Takes a fitted ``prefspace.models.RewardEnsemble`` (``predict_members``) or any object with
    a list of fitted heads in ``members_``.
    """
    if callable(getattr(model, "predict_members", None)):
        R = np.asarray(model.predict_members(features), dtype=np.float64).T
    elif getattr(model, "members_", None):
        R = np.stack([row_rewards(m, features, "ensemble") for m in model.members_], axis=1)
    else:
        raise ConfigError(
            "the ensemble strategy needs a fitted prefspace.models.RewardEnsemble; got "
            f"{type(model).__name__}. Train with RewardEnsemble(estimator, n_members=5)."
        )
    if R.ndim != 2 or R.shape[0] != features.shape[0] or R.shape[1] < 2:
        raise ConfigError(
            f"the ensemble strategy needs at least 2 members' rewards per row; got shape {R.shape}."
        )
    return R


class EnsembleDisagreementSelector(ChunkedSelector):
    """The ``k`` candidates on which the members of a ``RewardEnsemble`` disagree most.

    Parameters
    ----------
    measure : ``"proba"``: standard deviation across members of ``P(a > b)``;
        ``"reward"``: standard deviation across members of the reward gap ``r(a) - r(b)``.
    chunk_size, n_jobs : as in every selector (:class:`BaseSelector`); the threads compute the
        members' rewards.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.select import ExplicitPairPool
    >>> class Head:
    ...     def __init__(self, w): self.w = w
    ...     def predict(self, E): return E @ self.w
    >>> class Ens: members_ = [Head(np.array([1.0, 1.0])), Head(np.array([1.0, -1.0]))]
    >>> pool = ExplicitPairPool(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), [[0, 1], [0, 2]])
    >>> EnsembleDisagreementSelector().select(pool, Ens(), 1).tolist()
    [1]
    """

    strategy_name = "ensemble"

    def __init__(
        self,
        measure: str = "proba",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        n_jobs: int | None = None,
    ):
        super().__init__(chunk_size=chunk_size, n_jobs=n_jobs)
        self.measure = measure

    def _check_params(self) -> None:
        check_in(self.measure, ("proba", "reward"), name="measure")

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        """Largest disagreement first."""
        R = member_rewards(model, pool.features)  # (n_rows, n_members)

        def spread(rows: np.ndarray) -> np.ndarray:
            gap = R[rows[:, 0]] - R[rows[:, 1]]
            return (expit(gap) if self.measure == "proba" else gap).std(axis=1)

        return stream_top_k(
            pool, spread, k, largest=True, exclude=exclude, chunk_size=self.chunk_size
        )
