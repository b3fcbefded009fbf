"""How much a reward leans on length: the two numbers issue 20 asks every model to report.

A reward that rises with length teaches a policy to ramble, the best-known reward hack (ODIN,
Chen et al., ICML 2024, report the reward-length correlation of their baseline reward model at
0.451 and of their length-free content head at -0.03). :func:`length_dependence` measures, on
rewards of single responses:

* ``within_prompt_length_corr``: the Pearson correlation of reward with ``log(1 + characters)``
  after removing each prompt's mean from both (so it compares answers to the same question,
  which is where a policy's length choice lives); over all responses when no groups are given;
* ``text_feature_share``: the share of the reward's variance the text-feature block explains
  (R^2 of an ordinary least-squares fit of the reward on the block's columns with an intercept),
  when the block is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.text_features import log_length

__all__ = ["LengthDependence", "length_dependence", "within_group_corr"]


@dataclass(frozen=True)
class LengthDependence:
    """How much rewards of ``n_responses`` responses lean on length (NaN where undefined):
    ``within_prompt_length_corr``, and with a text-feature block ``text_feature_share``
    (None without one)."""

    within_prompt_length_corr: float
    n_responses: int
    text_feature_share: float | None = None

    def to_dict(self) -> dict:
        """The two figures (``text_feature_share`` only when measured) and ``n_responses``."""
        out = {
            "within_prompt_length_corr": self.within_prompt_length_corr,
            "n_responses": self.n_responses,
        }
        if self.text_feature_share is not None:
            out["text_feature_share"] = self.text_feature_share
        return out


def within_group_corr(a, b, groups=None) -> float:
    """Pearson correlation of ``a`` and ``b`` after removing each group's mean from both
    (NaN when either has no spread left)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if groups is not None:
        _, g = np.unique(np.asarray(groups), return_inverse=True)
        g = g.ravel()
        counts = np.bincount(g)
        a = a - (np.bincount(g, a) / counts)[g]
        b = b - (np.bincount(g, b) / counts)[g]
    else:
        a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b / denom) if denom > 0 else float("nan")


def length_dependence(
    rewards, texts: Sequence[str] | None = None, *, lengths=None, groups=None, text_block=None
) -> LengthDependence:
    """``within_prompt_length_corr`` and (with ``text_block``) ``text_feature_share`` of rewards.

    Parameters
    ----------
    rewards : (n,) rewards of single responses
    texts : the n responses (their ``log_length`` is the length), or
    lengths : (n,) lengths to use instead (e.g. the block's ``log_chars`` column)
    groups : (n,) prompt of each response; None treats all as one prompt
    text_block : (n, k) the responses' text-feature block, for ``text_feature_share``

    Example
    -------
    >>> d = length_dependence([1.0, 2.0, 0.5, 1.5], ["a", "abcd", "a", "abcd"], groups=[0, 0, 1, 1])
    >>> round(d.within_prompt_length_corr, 3)
    1.0
    """
    r = np.asarray(rewards, dtype=np.float64).ravel()
    if lengths is None:
        if texts is None:
            raise ValueError("give texts or lengths")
        lengths = log_length(list(texts))
    share = None
    if text_block is not None:
        T = np.asarray(text_block, dtype=np.float64)
        A = np.column_stack([np.ones(len(T)), T])
        coef, *_ = np.linalg.lstsq(A, r, rcond=None)
        resid = r - A @ coef
        total = float(((r - r.mean()) ** 2).sum())
        share = float(1.0 - (resid @ resid) / total) if total > 0 else float("nan")
    return LengthDependence(
        within_prompt_length_corr=within_group_corr(r, lengths, groups),
        n_responses=int(len(r)),
        text_feature_share=share,
    )
