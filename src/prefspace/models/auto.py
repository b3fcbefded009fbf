"""``--head auto``: choose the reward head and its penalty by grouped cross-validation.

``choose_head`` splits the real training pairs into folds by prompt (all pairs of a prompt in
one fold), fits every candidate (a head and its parameters) on the other folds and scores it on
the held-out fold's pairs, so every pair is scored once, out of fold, by every candidate. The
test set is never involved.

Decision rule, the one ``augment_pairs(method="auto")`` uses: the first candidate is the
reference (the default head at its default penalty); the candidate with the best out-of-fold
accuracy (ties: lower log-loss) replaces it only if its accuracy gain over the reference is
positive and at least ``min_z`` standard errors of the paired per-pair difference (default 1.0,
the one-standard-error rule). With few pairs a real gain of a point or two is rarely
detectable, so the reference is then kept: the rule trades small gains for never being worse
by much.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from .._validation import check_pairs
from ..exceptions import ConfigError
from .holdout import PairLayout
from .registry import get_head

logger = logging.getLogger(__name__)

__all__ = ["choose_head", "HeadSelection", "HeadScore", "DEFAULT_HEAD_GRID"]

# (head name in HEADS, params): the reference first. Small on purpose: each entry costs one fit
# per fold.
DEFAULT_HEAD_GRID: tuple = (
    ("bt-linear", {}),
    ("bt-linear", {"alpha": 300.0}),
    ("bt-linear", {"alpha": 3000.0}),
    ("bt-mlp", {}),
    ("clf-mlp", {}),
    ("bt-linear", {"blocks": "text"}),  # text features only (used when the rows carry the block)
)


@dataclass(frozen=True)
class HeadScore:
    """One cross-validated candidate of :func:`choose_head`: its out-of-fold ``accuracy`` and
    ``log_loss``, and its accuracy ``gain`` over the reference with the gain's ``z``."""

    head: str
    params: dict
    label: str
    accuracy: float
    log_loss: float
    gain: float
    z: float


@dataclass(frozen=True)
class HeadSelection:
    """What :func:`choose_head` chose, like a scikit-learn search object after ``fit``.

    Attributes
    ----------
    best_index : index of the chosen entry of the grid (0, the reference, unless another won)
    best_name, best_params : the chosen head's name in ``HEADS`` and its parameters
    best_estimator : the chosen head, unfitted, seeded with ``random_state``
    reason : one sentence saying why
    candidates : one :class:`HeadScore` per grid entry (empty when too few pairs to
        cross-validate); :attr:`cv_results` is the same as a table of columns
    """

    best_index: int
    best_name: str
    best_params: dict
    best_estimator: Any
    reason: str
    candidates: tuple[HeadScore, ...]

    @property
    def best_label(self) -> str:
        """``"bt-linear (alpha=300)"``: the chosen head and its parameters, as printed."""
        return _label(self.best_name, self.best_params)

    @property
    def cv_results(self) -> dict[str, list]:
        """The candidates as columns (``head``, ``params``, ``label``, ``accuracy``, ``log_loss``,
        ``gain``, ``z``), one row per grid entry, like scikit-learn's ``cv_results_``."""
        rows = [asdict(c) for c in self.candidates]
        return {f: [r[f] for r in rows] for f in HeadScore.__dataclass_fields__}

    def to_json(self) -> dict:
        """JSON-able form (``metrics.json``'s ``head_auto``)."""
        return {"chosen": self.best_label, "head": self.best_name, "params": dict(self.best_params),
                "reason": self.reason, "candidates": [asdict(c) for c in self.candidates]}


def _label(name: str, params: dict) -> str:
    return name + (" (" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def _fold_ids(groups: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    rng = np.random.default_rng([int(random_state), 0xA0D])
    uniq, g = np.unique(groups, return_inverse=True)
    if len(uniq) < n_folds:
        raise ConfigError(f"need at least {n_folds} distinct prompts for {n_folds}-fold cross-validation; got {len(uniq)}.")
    return rng.permutation(np.arange(len(uniq)) % n_folds)[g.ravel()]


def choose_head(X, *, grid=DEFAULT_HEAD_GRID, groups=None, sample_weight=None, n_folds: int = 3, min_z: float = 1.0,
                random_state: int = 0, n_text_features: int = 0) -> HeadSelection:
    """Cross-validate the heads of ``grid`` on real pairs ``X`` (n, 2, D) and pick one.

    Parameters
    ----------
    grid : sequence of ``(head name in HEADS, params)``; the first is the reference.
    groups : (n,) prompt ids for the folds (default: the prompt columns the rows share, else
        one group per pair).
    sample_weight : optional (n,) pair weights (counts), passed to every fit.
    n_folds, min_z, random_state : folds, the decision threshold, the seed of folds and heads.
    n_text_features : the text-feature columns at the end of each row (``encoder.
        n_text_features``), given to every candidate that takes it; with 0 the
        text-features-only candidates (``blocks="text"``) are left out of the grid.

    Returns
    -------
    HeadSelection : ``best_estimator`` (unfitted, seeded with ``random_state``), ``best_index``
    into ``grid``, ``best_name``, ``best_params``, ``reason`` (one sentence) and ``candidates``
    (per entry: its label, out-of-fold ``accuracy``, ``log_loss``, ``gain`` over the reference
    and its ``z``; ``cv_results`` as columns).
    """
    X = check_pairs(X)
    n = len(X)
    grid = [(name, params) for name, params in grid if n_text_features or params.get("blocks") != "text"]
    if not grid:
        raise ConfigError("the head grid is empty.")
    if isinstance(n_folds, bool) or int(n_folds) != n_folds or n_folds < 2:
        raise ConfigError(f"n_folds must be a whole number >= 2; got {n_folds!r}.")
    estimators = []
    for name, params in grid:
        est = get_head(name, **params)
        if "random_state" in est.get_params(deep=False):
            est.set_params(random_state=random_state)
        if "n_text_features" in est.get_params(deep=False):
            est.set_params(n_text_features=int(n_text_features))
        estimators.append(est)
    if n < 2 * n_folds or len(grid) == 1:
        return _result(grid, estimators, 0, f"only {n} pairs: too few to cross-validate; kept {_label(*grid[0])}.", [])
    g = PairLayout.build(X, groups).groups
    folds = _fold_ids(g, int(n_folds), random_state)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    P = np.zeros((len(grid), n))
    for f in range(int(n_folds)):
        tr, te = folds != f, folds == f
        for j, est in enumerate(estimators):
            fitted = clone(est).fit(X[tr], sample_weight=None if w is None else w[tr], groups=g[tr])
            P[j, te] = fitted.predict_proba(X[te])
    correct = (P > 0.5).astype(float)
    eps = 1e-12
    log_loss = -np.log(np.clip(P, eps, 1.0)).mean(axis=1)
    candidates = []
    for j, (name, params) in enumerate(grid):
        d = correct[j] - correct[0]
        se = d.std(ddof=1) / np.sqrt(n)
        gain = float(d.mean())
        z = gain / se if se > 0 else (0.0 if gain == 0 else float(np.sign(gain) * np.inf))
        candidates.append(HeadScore(head=name, params=dict(params), label=_label(name, params),
                                    accuracy=float(correct[j].mean()), log_loss=float(log_loss[j]), gain=gain,
                                    z=float(z)))
    best = max(range(len(grid)), key=lambda j: (candidates[j].accuracy, -candidates[j].log_loss))
    b, ref = candidates[best], candidates[0]
    if best != 0 and b.gain > 0 and b.z >= min_z:
        chosen = best
        reason = (f"{b.label} raised {n_folds}-fold out-of-fold accuracy from {ref.accuracy:.3f} ({ref.label}) to "
                  f"{b.accuracy:.3f} (+{100 * b.gain:.1f} points, {b.z:.1f} standard errors >= {min_z:g}).")
    elif best == 0:
        chosen = 0
        reason = f"{ref.label} had the best {n_folds}-fold out-of-fold accuracy ({ref.accuracy:.3f}); kept it."
    else:
        chosen = 0
        reason = (f"the best, {b.label}, changed {n_folds}-fold out-of-fold accuracy by {100 * b.gain:+.1f} points over "
                  f"{ref.label} ({b.z:.1f} standard errors, needed > 0 and >= {min_z:g}); kept {ref.label}.")
    logger.info("auto head: %s", reason)
    return _result(grid, estimators, chosen, reason, candidates)


def _result(grid, estimators, chosen: int, reason: str, candidates: list) -> HeadSelection:
    name, params = grid[chosen]
    return HeadSelection(best_index=int(chosen), best_name=name, best_params=dict(params),
                         best_estimator=clone(estimators[chosen]), reason=reason, candidates=tuple(candidates))
