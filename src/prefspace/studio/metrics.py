"""What the studio reports about its labels: the model's cross-validated accuracy on them, and
how much annotators agree.

- :func:`cross_validated_accuracy`: k-fold pairwise accuracy of a head trained the way the
  loop trains it, folds grouped by prompt when there are enough prompts (so a prompt's pairs
  are never on both sides), with a percentile-bootstrap interval over the held-out pairs;
- :func:`agreement`: over pairs judged by two or more annotators (skips left out), the share
  of agreeing annotator pairs and Krippendorff's alpha for nominal labels (``a``/``b``/``tie``),
  as an :class:`Agreement`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .._estimators import seeded
from ..evaluate.baseline import paired_difference_interval
from ..evaluate.metrics import bootstrap_interval
from ..models.length import LengthBaseline
from ..models.selection import prompt_folds

__all__ = ["Agreement", "agreement", "cross_validated_accuracy"]


@dataclass(frozen=True)
class Agreement:
    """Inter-annotator agreement (:func:`agreement`); the ``agreement`` of ``GET /api/state``.

    pairs : pairs judged by two or more annotators (skips left out)
    judgments : the judgments on them
    percent : the share of agreeing annotator pairs, in [0, 1] (None without such pairs)
    alpha : Krippendorff's alpha, nominal (None when undefined: no such pairs, or one label
        used throughout)
    """

    pairs: int
    judgments: int
    percent: float | None
    alpha: float | None


def cross_validated_accuracy(
    estimator,
    X: np.ndarray,
    groups: np.ndarray,
    *,
    folds: int = 5,
    min_pairs: int = 8,
    random_state: int = 0,
    lengths: np.ndarray | None = None,
) -> dict | None:
    """Held-out pairwise accuracy of ``estimator`` (cloned per fold) on pairs ``X`` (winner first).

    Parameters
    ----------
    estimator : an unfitted reward head
    X : float32 ``(n, 2, D)``, ``X[:, 0]`` the preferred response
    groups : ``(n,)`` prompt of each pair; folds keep a prompt's pairs together when there
        are at least ``folds`` prompts, otherwise pairs are split at random
    folds : number of folds (fewer when there are fewer pairs)
    min_pairs : below this many pairs, return None (too few to say anything)
    lengths : optional ``(n, 2)`` log lengths of the same pairs (winner first): the learned
        length baseline is then fitted and scored on the same folds

    Returns
    -------
    ``{"accuracy", "ci_low", "ci_high", "n_pairs", "folds", "grouped"}`` or None. Ties of the
    two rewards count as wrong. With ``lengths`` also ``length_accuracy`` (the baseline's
    held-out accuracy) and ``vs_length``, ``vs_length_low``, ``vs_length_high``: the model's
    accuracy minus the baseline's, paired by pair, with a percentile-bootstrap 95% interval
    (over prompts when the folds are grouped).

    Example
    -------
    >>> from prefspace.models import BradleyTerryLinear
    >>> rng = np.random.default_rng(0); w = rng.normal(size=4)
    >>> E = rng.normal(size=(60, 2, 4)); X = np.where((E @ w)[:, :1, None] > (E @ w)[:, 1:, None], E, E[:, ::-1])
    >>> cross_validated_accuracy(BradleyTerryLinear(), X.astype("float32"), np.arange(60) % 6)["accuracy"] > 0.8
    True
    """
    n = len(X)
    if n < max(int(min_pairs), 2):
        return None
    groups = np.asarray(groups)
    n_groups = np.unique(groups).size
    k = min(int(folds), n)
    # the project's one splitter (prefspace.models.selection.prompt_folds); with fewer prompts
    # than folds, one group per pair (pairs split at random)
    grouped = n_groups >= k >= 2
    splits = prompt_folds(k, random_state=random_state).split(
        X, groups=groups if grouped else np.arange(n)
    )
    correct = np.zeros(n, dtype=np.float64)
    length_correct = np.zeros(n, dtype=np.float64)
    for fold, (train, test) in enumerate(splits):
        model = seeded(estimator, random_state + fold).fit(X[train])
        r0 = np.asarray(model.predict(X[test, 0]), dtype=np.float64)
        r1 = np.asarray(model.predict(X[test, 1]), dtype=np.float64)
        correct[test] = (r0 > r1).astype(np.float64)
        if lengths is not None:
            base = LengthBaseline().fit(lengths[train])
            length_correct[test] = (
                base.coef_ * lengths[test, 0] > base.coef_ * lengths[test, 1]
            ).astype(np.float64)
    low, high = bootstrap_interval(correct, n_boot=1000, level=0.95, random_state=random_state)
    out = {
        "accuracy": float(correct.mean()),
        "ci_low": low,
        "ci_high": high,
        "n_pairs": int(n),
        "folds": int(k),
        "grouped": grouped,
    }
    if lengths is not None:
        d, d_low, d_high = paired_difference_interval(
            correct,
            length_correct,
            groups=groups if grouped else None,
            n_boot=1000,
            random_state=random_state,
        )
        out.update(
            length_accuracy=float(length_correct.mean()),
            vs_length=d,
            vs_length_low=d_low,
            vs_length_high=d_high,
        )
    return out


def agreement(judgments: Iterable[dict]) -> Agreement:
    """Inter-annotator agreement over pairs with at least two non-skip judgments.

    Parameters
    ----------
    judgments : dicts with ``pair_id``, ``annotator`` and ``label``

    Returns
    -------
    :class:`Agreement`: the pairs judged by two or more annotators, the judgments on them, the
    share of agreeing annotator pairs and Krippendorff's alpha.

    Example
    -------
    >>> agreement([{"pair_id": "p", "annotator": "x", "label": "a"}, {"pair_id": "p", "annotator": "y", "label": "a"},
    ...            {"pair_id": "q", "annotator": "x", "label": "a"}, {"pair_id": "q", "annotator": "y", "label": "b"}])
    Agreement(pairs=2, judgments=4, percent=0.5, alpha=0.0)
    """
    units: dict[str, list[str]] = defaultdict(list)
    for j in judgments:
        if j["label"] != "skip":
            units[j["pair_id"]].append(j["label"])
    units = {k: v for k, v in units.items() if len(v) >= 2}
    if not units:
        return Agreement(pairs=0, judgments=0, percent=None, alpha=None)
    agree_share = []
    coincidence: defaultdict[tuple[str, str], float] = defaultdict(float)
    for values in units.values():
        m = len(values)
        counts = Counter(values)
        same = sum(c * (c - 1) for c in counts.values())
        agree_share.append(same / (m * (m - 1)))
        for c in counts:
            for d in counts:
                pairs = counts[c] * (counts[d] - (1 if c == d else 0))
                if pairs:
                    coincidence[(c, d)] += pairs / (m - 1)
    totals: defaultdict[str, float] = defaultdict(float)
    for (c, _), v in coincidence.items():
        totals[c] += v
    n = sum(totals.values())
    observed = sum(v for (c, d), v in coincidence.items() if c != d)
    expected = sum(totals[c] * totals[d] for c in totals for d in totals if c != d)
    alpha = None if expected == 0 else float(1.0 - (n - 1) * observed / expected)
    return Agreement(
        pairs=len(units),
        judgments=int(sum(len(v) for v in units.values())),
        percent=float(np.mean(agree_share)),
        alpha=alpha,
    )
