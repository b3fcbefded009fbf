"""Active labeling: choose which unlabelled pairs to send to annotators next.

Strategies (each ``Selector().select(pool, model, k, labelled=None, exclude=None) -> indices``;
``STRATEGIES`` names them, ``get_selector(name, **params)`` builds one and refuses unknown
names and parameters; all share :class:`BaseSelector` and its input checks):

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

from .._validation import check_in, check_params
from ._common import BaseSelector
from .baselines import EnsembleDisagreementSelector, RandomSelector, UncertaintySelector
from .coreset import CoresetSelector, greedy_k_center
from .doptimal import (
    DOptimalSelector,
    PastAwareDOptimalSelector,
    fisher_information,
    greedy_d_optimal,
)
from .pools import (
    CrossPromptPool,
    ExplicitPairPool,
    PairPool,
    SubsetPool,
    WithinPromptPool,
    get_pool,
)

STRATEGIES = {
    "random": RandomSelector,
    "uncertainty": UncertaintySelector,
    "ensemble": EnsembleDisagreementSelector,
    "d-optimal": DOptimalSelector,
    "past-aware": PastAwareDOptimalSelector,
    "coreset": CoresetSelector,
}


def selector_options(strategy: str, **options) -> dict:
    """The subset of ``options`` the named strategy's selector takes.

    For callers holding options meant for some strategies only (``lam`` is D-optimal's,
    ``random_state`` the random strategies'): each strategy gets what it takes, while
    :func:`get_selector` itself refuses what a strategy does not take.

    Example
    -------
    >>> selector_options("random", lam=1.0, random_state=0)
    {'random_state': 0}
    >>> sorted(selector_options("uncertainty", lam=1.0, random_state=0, n_jobs=1))
    ['n_jobs']
    """
    check_in(strategy, tuple(STRATEGIES), name="strategy")
    accepted = STRATEGIES[strategy]().get_params(deep=False)
    return {k: v for k, v in options.items() if k in accepted}


def get_selector(strategy: str, **params):
    """A selector by name (one of ``STRATEGIES``), built with ``params``.

    An unknown strategy or a parameter the chosen selector does not take (e.g. ``lam`` for
    uncertainty) is refused with a :class:`~prefspace.exceptions.ConfigError` that lists the
    accepted ones.

    Example
    -------
    >>> get_selector("d-optimal", lam=0.5)
    DOptimalSelector(lam=0.5)
    >>> get_selector("uncertainty", lam=0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: UncertaintySelector (strategy 'uncertainty') has no parameter 'lam'; ...
    """
    check_in(strategy, tuple(STRATEGIES), name="strategy")
    cls = STRATEGIES[strategy]
    check_params(cls, params, what=f"strategy {strategy!r}")
    return cls(**params)


def select_pairs(
    pool, model, k: int, strategy: str = "d-optimal", *, labelled=None, exclude=None, **params
) -> np.ndarray:
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
    **params : parameters of the strategy's selector (``lam``, ``exploration``, ``outlier_z``,
        ``random_state``, ``measure``, ``chunk_size``, ``n_jobs``; see :func:`selector_options`);
        others are refused

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
    "BaseSelector",
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
    "get_pool",
    "select_pairs",
    "selector_options",
]
