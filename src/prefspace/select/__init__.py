"""Active labeling: choose which unlabelled pairs to send to annotators next.

Strategies (each ``Selector().select(pool, model, k, labelled=None, exclude=None) -> indices``):

    RandomSelector                 the baseline every claim is measured against
    UncertaintySelector            smallest predicted reward gap |r(a) - r(b)|
    EnsembleDisagreementSelector   spread of a RewardEnsemble's members on P(a > b)
    DOptimalSelector               greedy log-det of the final layer's Fisher information
    PastAwareDOptimalSelector      the same, starting from the already-labelled pairs
    CoresetSelector                greedy k-center on pair features

Pools (lazy, indexed by integer): ``WithinPromptPool``, ``CrossPromptPool``,
``ExplicitPairPool``, and ``pool.subset(...)`` / ``pool.sample(n)``.
The active-learning simulation against gold scores is
:func:`prefspace.experiments.run_active_learning`.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_in
from .baselines import EnsembleDisagreementSelector, RandomSelector, UncertaintySelector
from .coreset import CoresetSelector, greedy_k_center
from .doptimal import DOptimalSelector, PastAwareDOptimalSelector, fisher_information, greedy_d_optimal
from .pools import CrossPromptPool, ExplicitPairPool, PairPool, SubsetPool, WithinPromptPool, make_pool

STRATEGIES = {
    "random": RandomSelector,
    "uncertainty": UncertaintySelector,
    "ensemble": EnsembleDisagreementSelector,
    "d-optimal": DOptimalSelector,
    "past-aware": PastAwareDOptimalSelector,
    "coreset": CoresetSelector,
}


def get_selector(strategy: str, **params):
    """A selector by name (one of ``STRATEGIES``), built with ``params`` it accepts.

    Parameters the chosen selector does not take (e.g. ``lam`` for uncertainty) are ignored,
    so callers can pass one set of options for every strategy.

    Example
    -------
    >>> get_selector("uncertainty", lam=0.5)
    UncertaintySelector()
    """
    check_in(strategy, tuple(STRATEGIES), name="strategy")
    cls = STRATEGIES[strategy]
    accepted = cls().get_params()
    return cls(**{k: v for k, v in params.items() if k in accepted})


def select_pairs(pool, model, k: int, strategy: str = "d-optimal", *, labelled=None, exclude=None, **params) -> np.ndarray:
    """Choose ``k`` candidates of ``pool`` with the named strategy.

    Parameters
    ----------
    pool : a candidate pool (``WithinPromptPool``, ``CrossPromptPool``, ...)
    model : a fitted reward head (``predict``; ``transform`` for d-optimal, past-aware and
        coreset; a ``RewardEnsemble`` for ensemble); ignored by random
    k : how many pairs
    strategy : one of ``random``, ``uncertainty``, ``ensemble``, ``d-optimal``, ``past-aware``,
        ``coreset``
    labelled : array of shape (m, 2, D), pairs already labelled (past-aware, coreset)
    exclude : pool indices never to choose
    **params : selector parameters (``lam``, ``random_state``, ``measure``, ``chunk_size``)

    Returns int64 indices of shape (k,), into ``pool``, all distinct.

    Example
    -------
    >>> import numpy as np
    >>> pool = WithinPromptPool(np.random.default_rng(0).normal(size=(10, 4)), [0] * 5 + [1] * 5)
    >>> select_pairs(pool, None, 3, "random", random_state=0).shape
    (3,)
    """
    selector = get_selector(strategy, **params)
    return selector.select(pool, model, k, labelled=labelled, exclude=exclude)


__all__ = [
    "STRATEGIES",
    "CoresetSelector",
    "CrossPromptPool",
    "DOptimalSelector",
    "EnsembleDisagreementSelector",
    "ExplicitPairPool",
    "PairPool",
    "PastAwareDOptimalSelector",
    "RandomSelector",
    "SubsetPool",
    "UncertaintySelector",
    "WithinPromptPool",
    "fisher_information",
    "get_selector",
    "greedy_d_optimal",
    "greedy_k_center",
    "make_pool",
    "select_pairs",
]
