"""Features computed from a response's text alone (no encoder).

A sentence embedding is unit length and sees at most its encoder's window, so it erases how
long a response is. This module is the one place that measures a response's text directly;
the length baseline and the reward heads' text-feature block both read it.

:func:`log_length` is ``log(1 + number of characters)``, the length the learned length
baseline uses. It does not tokenize: it needs no encoder and gives the same number
everywhere a text is seen (training, scoring, serving, validation).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["log_length"]


def log_length(texts: Sequence[str]) -> np.ndarray:
    """``log(1 + len(text))`` for each text, as float64 of shape ``(n,)``.

    Example
    -------
    >>> log_length(["", "abc"]).round(3).tolist()
    [0.0, 1.386]
    """
    return np.log1p(np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts)))
