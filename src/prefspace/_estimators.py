"""One helper for every estimator: a copy seeded with ``random_state`` where it takes one."""

from __future__ import annotations

from typing import Any

__all__ = ["seeded"]


def seeded(estimator: Any, random_state: Any) -> Any:
    """An unfitted copy (``sklearn.base.clone``) of ``estimator`` with ``random_state`` set,
    if the estimator has that parameter; otherwise just the copy.

    Heads, ensembles, synthesizers and selectors all take their randomness this way, so a seed
    given once reaches whichever of them has randomness to seed.

    Example
    -------
    >>> from prefspace.models import BradleyTerryLinear, BradleyTerryMLP
    >>> seeded(BradleyTerryMLP(), 3).random_state, seeded(BradleyTerryLinear(alpha=2.0), 3)
    (3, BradleyTerryLinear(alpha=2.0))
    """
    from sklearn.base import clone

    copy = clone(estimator)
    if "random_state" in copy.get_params(deep=False):
        copy.set_params(random_state=random_state)
    return copy
