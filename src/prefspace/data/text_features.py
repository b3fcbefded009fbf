"""Features computed from a response's text alone (no encoder).

A sentence embedding is unit length and sees at most its encoder's window, so it erases how
long a response is. This module is the one place that measures a response's text directly;
the length baseline and the reward heads' text-feature block both read it.

:func:`log_length` is ``log(1 + number of characters)``, the length the learned length
baseline uses. It does not tokenize: it needs no encoder and gives the same number
everywhere a text is seen (training, scoring, serving, validation).

:func:`text_feature_block` is the *text-feature block* a reward head sees beside the embedding
(version :data:`TEXT_FEATURES_VERSION`, columns :data:`TEXT_FEATURE_NAMES`):

==================  =====================================================================
``log_chars``        ``log(1 + characters)`` (= :func:`log_length`)
``log_tokens``       ``log(1 + tokens)``, counted by the encoder's own tokenizer
``log_lines``        ``log(1 + non-empty lines)``
``log_list_items``   ``log(1 + lines that start a list item)`` (``-``, ``*``, ``+``, ``•``,
                     ``1.``, ``1)``, after optional indentation)
``log_code_blocks``  ``log(1 + fenced code blocks)`` (pairs of lines starting with three
                     backticks or tildes; an unclosed fence counts as one block)
``log_headings``     ``log(1 + Markdown headings)`` (lines starting with 1 to 6 ``#`` and a space)
``truncated``        1 if the encoder saw only part of the text (more tokens than it reads), else 0
``unseen_fraction``  the share of the text's tokens the encoder did not see (0 when it saw all)
==================  =====================================================================

The token count and the encoder's limit come from the caller (the embed layer asks the
encoder), so this module stays free of models. Counts enter through ``log1p`` so that a
response twice as long moves a feature by a constant, whatever the scale.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "log_length",
    "text_feature_block",
    "truncation_summary",
    "TEXT_FEATURE_NAMES",
    "TEXT_FEATURES_VERSION",
    "check_text_features_version",
]

#: Bumped whenever a column is added, removed or computed differently: a model records the
#: version it was trained with, and one with a version this library does not know is refused.
TEXT_FEATURES_VERSION = 1
TEXT_FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_tokens",
    "log_lines",
    "log_list_items",
    "log_code_blocks",
    "log_headings",
    "truncated",
    "unseen_fraction",
)

_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.MULTILINE)


def log_length(texts: Sequence[str]) -> np.ndarray:
    """``log(1 + len(text))`` for each text, as float64 of shape ``(n,)``.

    Example
    -------
    >>> log_length(["", "abc"]).round(3).tolist()
    [0.0, 1.386]
    """
    return np.log1p(np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts)))


def check_text_features_version(version) -> int:
    """``version`` if this library computes that version of the block, else a ValueError naming
    the versions it knows (the caller turns it into the error of its layer)."""
    if version != TEXT_FEATURES_VERSION:
        raise ValueError(
            f"text-feature version {version!r} is not one this prefspace computes "
            f"(it knows version {TEXT_FEATURES_VERSION}); upgrade prefspace or retrain the model."
        )
    return int(version)


def _structure_counts(text: str) -> tuple[int, int, int, int]:
    lines = sum(1 for line in text.splitlines() if line.strip())
    fences = len(_FENCE.findall(text))
    return lines, len(_LIST_ITEM.findall(text)), (fences + 1) // 2, len(_HEADING.findall(text))


def text_feature_block(
    texts: Sequence[str], n_tokens: Sequence[int] | np.ndarray, token_limit: int | None
) -> np.ndarray:
    """The text-feature block of each text: float32 ``(n, len(TEXT_FEATURE_NAMES))``.

    Parameters
    ----------
    texts : sequence of n str
    n_tokens : sequence of n int, each text's token count under the encoder's tokenizer
        (special tokens not counted)
    token_limit : int or None, how many of a text's tokens the encoder reads (None: all)

    Example
    -------
    >>> block = text_feature_block(["# Title\\n- a\\n- b", "ok"], [6, 1], token_limit=4)
    >>> round(float(block[0, TEXT_FEATURE_NAMES.index("unseen_fraction")]), 3)
    0.333
    >>> float(block[1, TEXT_FEATURE_NAMES.index("truncated")])
    0.0
    """
    texts = list(texts)
    tokens = np.asarray(n_tokens, dtype=np.float64).reshape(-1)
    if len(tokens) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(tokens)} token counts.")
    out = np.zeros((len(texts), len(TEXT_FEATURE_NAMES)), dtype=np.float64)
    if not texts:
        return out.astype(np.float32)
    out[:, 0] = log_length(texts)
    out[:, 1] = np.log1p(tokens)
    counts = np.array([_structure_counts(t) for t in texts], dtype=np.float64)
    out[:, 2:6] = np.log1p(counts)
    if token_limit is not None:
        over = tokens > token_limit
        out[:, 6] = over
        out[over, 7] = 1.0 - token_limit / tokens[over]
    return out.astype(np.float32)


def truncation_summary(block) -> dict:
    """How many texts an encoder truncated and by how much, from their text-feature blocks.

    Returns ``texts``, ``truncated`` (count), ``truncated_share``, ``unseen_fraction_mean`` and
    ``unseen_fraction_max`` (over the truncated texts: the share of each one's tokens not seen;
    0 when none was truncated) and ``unseen_tokens_share`` (unseen tokens over all tokens).

    Example
    -------
    >>> block = text_feature_block(["a b c d", "a"], [4, 1], token_limit=2)
    >>> s = truncation_summary(block)
    >>> s["truncated"], s["unseen_fraction_max"], round(s["unseen_tokens_share"], 3)
    (1, 0.5, 0.4)
    """
    B = np.asarray(block, dtype=np.float64).reshape(-1, len(TEXT_FEATURE_NAMES))
    truncated = B[:, TEXT_FEATURE_NAMES.index("truncated")] > 0.5
    unseen = B[:, TEXT_FEATURE_NAMES.index("unseen_fraction")]
    tokens = np.expm1(B[:, TEXT_FEATURE_NAMES.index("log_tokens")])
    n = len(B)
    return {
        "texts": int(n),
        "truncated": int(truncated.sum()),
        "truncated_share": float(truncated.mean()) if n else 0.0,
        "unseen_fraction_mean": float(unseen[truncated].mean()) if truncated.any() else 0.0,
        "unseen_fraction_max": float(unseen[truncated].max()) if truncated.any() else 0.0,
        "unseen_tokens_share": float((tokens * unseen).sum() / tokens.sum())
        if tokens.sum() > 0
        else 0.0,
    }
