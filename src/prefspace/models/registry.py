"""The reward heads by name: ``HEADS`` and ``get_head``.

The CLI (``prefspace train --head``), the experiment config and the benchmarks take their head
names from ``HEADS``; ``get_head`` builds one and refuses a name or a parameter it does not know,
naming the choices. An ensemble is not a head of its own here: wrap any head in
:class:`~prefspace.models.RewardEnsemble`.
"""

from __future__ import annotations

from typing import Any

from .._validation import check_params
from ..exceptions import ConfigError
from ._base import RewardHead
from .lgbm import PreferenceClassifierLGBM
from .linear import BradleyTerryLinear
from .mlp import BradleyTerryMLP, PreferenceClassifierMLP

__all__ = ["HEADS", "get_head"]

HEADS: dict[str, type[RewardHead]] = {
    "bt-linear": BradleyTerryLinear,
    "bt-mlp": BradleyTerryMLP,
    "clf-mlp": PreferenceClassifierMLP,
    "clf-lgbm": PreferenceClassifierLGBM,
}


def get_head(name: str, **params: Any) -> RewardHead:
    """An unfitted reward head by name (one of ``HEADS``), built with ``params``.

    Unknown names and parameters are refused with a :class:`~prefspace.exceptions.ConfigError`
    that lists the accepted ones; values are checked when the head is fitted.

    Example
    -------
    >>> get_head("bt-linear", alpha=10.0)
    BradleyTerryLinear(alpha=10.0)
    >>> get_head("bt-mlp", hidden=(64,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: BradleyTerryMLP (head 'bt-mlp') has no parameter 'hidden'; ...
    """
    if name not in HEADS:
        raise ConfigError(f"head must be one of {', '.join(map(repr, HEADS))}; got {name!r}.")
    cls = HEADS[name]
    check_params(cls, params, what=f"head {name!r}")
    return cls(**params)
