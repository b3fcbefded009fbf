"""The reward heads by name: ``HEADS`` and ``get_head``.

The CLI (``prefspace train --head``), the experiment config and the benchmarks take their head
names from ``HEADS``; ``get_head`` builds one (from a name or the class's name, seeded with
``random_state`` where the head takes one) and refuses a name or a parameter it does not know,
naming the choices: the one place a head is built from a name. An ensemble is not a head of its own here: wrap any head in
:class:`~prefspace.models.RewardEnsemble`.
"""

from __future__ import annotations

from typing import Any

from .._estimators import seeded
from .._validation import check_params
from ..exceptions import ConfigError
from ._base import RewardHead
from .lgbm import PreferenceClassifierLGBM
from .linear import BradleyTerryLinear
from .mlp import BradleyTerryMLP, PreferenceClassifierMLP

__all__ = ["HEADS", "get_head", "head_class"]

HEADS: dict[str, type[RewardHead]] = {
    "bt-linear": BradleyTerryLinear,
    "bt-mlp": BradleyTerryMLP,
    "clf-mlp": PreferenceClassifierMLP,
    "clf-lgbm": PreferenceClassifierLGBM,
}


# The experiment config may name a head by its class (``BradleyTerryMLP``) as well.
_BY_CLASS_NAME: dict[str, type[RewardHead]] = {cls.__name__: cls for cls in HEADS.values()}


def head_class(name: str) -> type[RewardHead] | None:
    """The head class ``name`` stands for: a key of ``HEADS`` (``bt-mlp``) or a head class's own
    name (``BradleyTerryMLP``); None for anything else."""
    return HEADS.get(name) or _BY_CLASS_NAME.get(name)


def get_head(name: str, *, random_state: Any = None, **params: Any) -> RewardHead:
    """An unfitted reward head by name (one of ``HEADS``, or its class name), built with ``params``.

    ``random_state`` (when not None) seeds the head if it takes a seed (the linear head has no
    randomness and ignores it). Unknown names and parameters are refused with a
    :class:`~prefspace.exceptions.ConfigError` that lists the accepted ones; values are checked
    when the head is fitted.

    Example
    -------
    >>> get_head("bt-linear", alpha=10.0)
    BradleyTerryLinear(alpha=10.0)
    >>> get_head("BradleyTerryMLP", random_state=3).random_state
    3
    >>> get_head("bt-mlp", hidden=(64,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: BradleyTerryMLP (head 'bt-mlp') has no parameter 'hidden'; ...
    """
    cls = head_class(name)
    if cls is None:
        raise ConfigError(f"head must be one of {', '.join(map(repr, HEADS))}; got {name!r}.")
    check_params(cls, params, what=f"head {name!r}")
    head = cls(**params)
    return head if random_state is None else seeded(head, random_state)
