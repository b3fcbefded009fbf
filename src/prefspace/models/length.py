"""The learned length baseline: a reward that is a response's log length times one weight.

"The longer answer wins" is the trivial rule every reward model must beat: on alpaca_bon pairs
it is right 72% of the time, while on HH harmless the *shorter* answer wins more often. So the
baseline learns its sign and its scale from the training pairs, as a Bradley-Terry model with
one feature and no intercept: ``P(chosen wins) = sigmoid(coef_ * (l_c - l_r))`` where ``l`` is
:func:`prefspace.data.text_features.log_length` (``log(1 + characters)``). Its reward is
``coef_ * l``. It sees nothing but length: what a model gains over it is what the model learned
beyond length.

What it does not do: read tokens (characters need no encoder, so the baseline is the same in
every command), or use the prompt.

``LengthBaseline`` follows the scikit-learn contract (``fit`` returns self, learned state ends
in ``_``, parameters are the configuration), but its rows are lengths, not embeddings:
``fit(L)`` takes ``L`` of shape ``(n_pairs, 2)`` (``L[:, 0]`` the chosen response's log length)
and ``predict(lengths)`` takes ``(n,)``. :func:`pair_log_lengths` makes ``L`` from texts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator

from .._validation import check_positive, check_sample_vector
from ..data.text_features import log_length
from ..evaluate.metrics import reward_metrics
from ..evaluate.ranking import gold_pairs
from ..exceptions import FormatError, ShapeError
from ._base import FittedCheck, orient_pairs

if TYPE_CHECKING:
    from ..evaluate.baseline import BaselineComparison
    from ..evaluate.metrics import AccuracyInterval

logger = logging.getLogger(__name__)

__all__ = [
    "LengthBaseline",
    "pair_log_lengths",
    "length_baseline_beside",
    "LengthBaselineReport",
    "cross_fit_length_rewards",
    "cross_fit_scored_length_rewards",
    "LENGTH_MEASURE",
]

#: What ``LengthBaseline`` reads of a text; recorded with every saved baseline.
LENGTH_MEASURE = "log1p(characters)"


def pair_log_lengths(chosen: Sequence[str], rejected: Sequence[str]) -> np.ndarray:
    """Log lengths of preference pairs, float64 of shape ``(n_pairs, 2)`` (column 0 chosen).

    Example
    -------
    >>> pair_log_lengths(["a long answer"], ["short"]).round(3).tolist()
    [[2.639, 1.792]]
    """
    if len(chosen) != len(rejected):
        raise ShapeError(
            f"chosen has {len(chosen)} texts but rejected has {len(rejected)}; give one of each per pair."
        )
    return np.stack([log_length(chosen), log_length(rejected)], axis=1)


def _check_lengths(L: Any, *, name: str = "L") -> np.ndarray:
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2 or L.shape[1] != 2 or L.shape[0] == 0:
        raise ShapeError(
            f"{name} must have shape (n_pairs, 2), the chosen and rejected responses' log lengths "
            f"(pair_log_lengths(chosen, rejected)); got {L.shape}. To score single responses use predict(), "
            "which takes (n,)."
        )
    if not np.isfinite(L).all():
        raise ShapeError(f"{name} holds NaN or infinite lengths.")
    return L


class LengthBaseline(FittedCheck, BaseEstimator):
    """Bradley-Terry on the log-length difference, no intercept: the learned length baseline.

    Minimises ``sum_i w_i * -log sigmoid(coef * (l_c - l_r)) + alpha / 2 * coef^2`` by Newton's
    method (convex in one variable; deterministic, no ``random_state``). The weights ``w`` are
    counts, as in the reward heads, so the small default penalty matters only when the pairs
    are separable by length (then it keeps ``coef_`` finite) or very few.

    Parameters
    ----------
    alpha : float, default 1.0
        L2 penalty on the one weight.
    max_iter : int, default 100
        Newton steps.
    tol : float, default 1e-10
        Stop when the step is below ``tol * (1 + |coef|)``.

    Attributes
    ----------
    coef_ : float
        Reward per unit of log length. Positive: the longer answer wins; negative: the
        shorter one does.
    n_pairs_ : int
        Pairs it was fitted on (with a positive weight).
    metrics_ : dict
        TRL-named metrics on the training pairs (``accuracy`` counts equal lengths wrong).
    n_iter_ : int

    Example
    -------
    >>> L = pair_log_lengths(["a long answer", "yes, it is"], ["short", "no"])
    >>> base = LengthBaseline().fit(L)
    >>> base.direction_
    'longer'
    >>> base.score(L)
    1.0
    """

    _fitted_attr = "coef_"
    _fit_arg = "L"

    def __init__(self, alpha: float = 1.0, max_iter: int = 100, tol: float = 1e-10):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    # ------------------------------------------------------------------ fitting
    def fit(self, L, y=None, sample_weight=None) -> LengthBaseline:
        """Fit the sign and scale of the length reward on pairs.

        Parameters
        ----------
        L : array of shape (n_pairs, 2)
            Log lengths (:func:`pair_log_lengths`), ``L[:, 0]`` the chosen response's.
        y : None or array of shape (n_pairs,)
            1 if ``L[:, 0]`` is preferred (the default), 0 if ``L[:, 1]`` is.
        sample_weight : None or array of shape (n_pairs,)
            Non-negative count weight of each pair.

        Returns
        -------
        self
        """
        alpha = check_positive(self.alpha, name="alpha", allow_zero=True)
        L = _check_lengths(L)
        if y is not None:
            L = orient_pairs(L[:, :, None], y)[:, :, 0]
        w = check_sample_vector(sample_weight, len(L), name="sample_weight")
        w = np.ones(len(L)) if w is None else w
        if not (w > 0).any():
            raise ShapeError("sample_weight is zero for every pair; nothing to fit.")
        d = L[:, 0] - L[:, 1]
        coef, n_iter = _newton(d, w, alpha, int(self.max_iter), float(self.tol))
        self.coef_ = coef
        self.n_iter_ = n_iter
        self.n_pairs_ = int((w > 0).sum())
        keep = w > 0
        self.metrics_ = reward_metrics(coef * L[keep, 0], coef * L[keep, 1])
        logger.info(
            "LengthBaseline fitted on %d pairs: coef %.4g (%s answer wins), train accuracy %.4f",
            self.n_pairs_,
            coef,
            self.direction_,
            self.metrics_["accuracy"],
        )
        return self

    # ------------------------------------------------------------------ using it
    def predict(self, lengths) -> np.ndarray:
        """Rewards ``coef_ * lengths`` of single responses: float64 of shape (n,).

        ``lengths`` are log lengths (:func:`prefspace.data.text_features.log_length`).
        """
        self._check_fitted()
        lengths = np.asarray(lengths, dtype=np.float64)
        if lengths.ndim != 1:
            raise ShapeError(
                f"lengths must have shape (n,), one log length per response; got {lengths.shape}. "
                "For pairs use predict_proba() or score(), which take (n_pairs, 2)."
            )
        return self.coef_ * lengths

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Rewards of response texts (their :func:`log_length` times ``coef_``), shape (n,)."""
        return self.predict(log_length(texts))

    def predict_proba(self, L) -> np.ndarray:
        """P(first response preferred) = sigmoid(coef_ * (L[:, 0] - L[:, 1])), shape (n_pairs,)."""
        self._check_fitted()
        L = _check_lengths(L)
        return expit(self.coef_ * (L[:, 0] - L[:, 1]))

    def score(self, L, y=None, sample_weight=None) -> float:
        """Pairwise accuracy; pairs of equal length (equal rewards) count wrong, as for every head."""
        self._check_fitted()
        L = _check_lengths(L)
        if y is not None:
            L = orient_pairs(L[:, :, None], y)[:, :, 0]
        correct = (self.coef_ * L[:, 0] > self.coef_ * L[:, 1]).astype(np.float64)
        w = check_sample_vector(sample_weight, len(L), name="sample_weight")
        return float(np.mean(correct) if w is None else np.average(correct, weights=w))

    @property
    def direction_(self) -> str:
        """``"longer"`` when the longer answer gets the higher reward, ``"shorter"`` otherwise
        (``"none"`` for a zero weight)."""
        self._check_fitted()
        return "longer" if self.coef_ > 0 else "shorter" if self.coef_ < 0 else "none"

    # ------------------------------------------------------------------ a JSON record
    def to_dict(self) -> dict:
        """The fitted baseline as JSON-able values (saved in ``model.json`` by ``prefspace train``)."""
        self._check_fitted()
        return {
            "measure": LENGTH_MEASURE,
            "coef": self.coef_,
            "direction": self.direction_,
            "n_pairs": self.n_pairs_,
            "train_accuracy": self.metrics_["accuracy"],
            "params": self.get_params(deep=False),
        }

    @classmethod
    def from_dict(cls, record: dict) -> LengthBaseline:
        """The baseline :meth:`to_dict` recorded; refuses another length measure."""
        if not isinstance(record, dict) or "coef" not in record:
            raise FormatError(f"a length baseline record needs 'coef'; got {record!r}.")
        if record.get("measure") != LENGTH_MEASURE:
            raise FormatError(
                f"the length baseline was fitted on {record.get('measure')!r}; this prefspace measures "
                f"{LENGTH_MEASURE!r}. Train the model again."
            )
        params = {k: v for k, v in (record.get("params") or {}).items() if k in cls().get_params()}
        base = cls(**params)
        base.coef_ = float(record["coef"])
        base.n_pairs_ = int(record.get("n_pairs", 0))
        base.n_iter_ = 0
        base.metrics_ = (
            {"accuracy": float(record["train_accuracy"])} if "train_accuracy" in record else {}
        )
        return base


@dataclass(frozen=True)
class LengthBaselineReport:
    """The learned length baseline beside a model (:func:`length_baseline_beside`).

    ``baseline`` is the fitted :class:`LengthBaseline` (its ``direction``, ``train_accuracy``
    and ``n_pairs`` are read through); with test pairs, ``test`` is its accuracy there with a
    Wilson 95% interval, and with the model's rewards, ``vs_model`` the model minus the baseline
    on the same pairs (:func:`prefspace.evaluate.compare_pairs`: paired interval, verdict).
    """

    baseline: LengthBaseline
    test: AccuracyInterval | None = None
    vs_model: BaselineComparison | None = None

    @property
    def direction(self) -> str:
        return self.baseline.direction_

    @property
    def train_accuracy(self) -> float:
        return float(self.baseline.metrics_["accuracy"])

    @property
    def n_pairs(self) -> int:
        return int(self.baseline.n_pairs_)

    def to_json(self) -> dict:
        """The record ``metrics.json`` keeps under ``length_baseline``: the baseline's
        :meth:`~LengthBaseline.to_dict`, with ``test`` and ``vs_model`` when measured."""
        out = self.baseline.to_dict()
        if self.test is not None:
            out["test"] = self.test.to_dict()
        if self.vs_model is not None:
            out["vs_model"] = self.vs_model.to_dict()
        return out


def length_baseline_beside(
    train_lengths,
    test_lengths=None,
    model_rewards=None,
    *,
    sample_weight=None,
    groups=None,
    random_state=0,
) -> tuple[LengthBaseline, LengthBaselineReport]:
    """Fit the learned length baseline on the training pairs and measure it beside a model on
    the same test pairs: what ``prefspace train``, the experiments and the demo report.

    Parameters
    ----------
    train_lengths : (n_train, 2) log lengths of the training pairs (:func:`pair_log_lengths`)
    test_lengths : optional (n_test, 2) log lengths of the test pairs
    model_rewards : optional (n_test, 2) the model's rewards on the same test pairs
    sample_weight : optional (n_train,) pair weights (as the head got them)
    groups : optional (n_test,) prompt of each test pair, for the paired interval

    Returns
    -------
    baseline : the fitted :class:`LengthBaseline`
    report : :class:`LengthBaselineReport` (``test`` with test pairs, ``vs_model`` with the
        model's rewards too)

    Example
    -------
    >>> L = pair_log_lengths(["a long answer", "yes, it is"], ["short", "no"])
    >>> base, report = length_baseline_beside(L, L, [[1.0, 0.0], [0.0, 1.0]])
    >>> report.test.accuracy, report.vs_model.difference
    (1.0, -0.5)
    """
    from ..evaluate.baseline import compare_pairs
    from ..evaluate.metrics import accuracy_with_interval

    base = LengthBaseline().fit(train_lengths, sample_weight=sample_weight)
    test = vs_model = None
    if test_lengths is not None:
        L = _check_lengths(test_lengths, name="test_lengths")
        r = base.predict(L.ravel()).reshape(-1, 2)
        test = accuracy_with_interval(r[:, 0], r[:, 1])
        if model_rewards is not None:
            vs_model = compare_pairs(model_rewards, r, groups=groups, random_state=random_state)
    return base, LengthBaselineReport(base, test=test, vs_model=vs_model)


def _folds(groups: np.ndarray, folds: int) -> list[np.ndarray]:
    """Fold of each item: whole groups, assigned by sorted group label (deterministic)."""
    labels, inverse = np.unique(groups, return_inverse=True)
    k = max(2, min(int(folds), labels.size))
    if labels.size < 2:
        raise ShapeError("cross-fitting needs at least two prompts (groups).")
    fold_of_group = np.arange(labels.size) % k
    return [np.flatnonzero(fold_of_group[inverse.ravel()] == f) for f in range(k)]


def cross_fit_length_rewards(L, groups=None, *, folds: int = 5, alpha: float = 1.0) -> np.ndarray:
    """The learned length baseline's rewards on pairs it did not see: ``(n_pairs, 2)``.

    For a model saved without a baseline, the baseline can still be fitted on the evaluation
    pairs themselves, honestly: the pairs are split into ``folds`` folds of whole ``groups``
    (prompts; default one group per pair), and each fold is scored by a baseline fitted on the
    other folds.

    Example
    -------
    >>> L = pair_log_lengths(["a long answer", "yes, it is", "longer one", "ok fine"], ["short", "no", "x", "k"])
    >>> (cross_fit_length_rewards(L, folds=2)[:, 0] > cross_fit_length_rewards(L, folds=2)[:, 1]).all()
    np.True_
    """
    L = _check_lengths(L)
    groups = np.arange(len(L)) if groups is None else np.asarray(groups).ravel()
    if groups.shape != (len(L),):
        raise ShapeError(f"groups has {groups.size} labels but there are {len(L)} pairs.")
    out = np.empty_like(L)
    for test in _folds(groups, folds):
        train = np.setdiff1d(np.arange(len(L)), test)
        out[test] = LengthBaseline(alpha=alpha).fit(L[train]).coef_ * L[test]
    return out


def cross_fit_scored_length_rewards(
    lengths, gold, prompt_index, *, folds: int = 5, alpha: float = 1.0
) -> np.ndarray:
    """The learned length baseline's rewards on scored responses (many per prompt), cross-fitted.

    The prompts are split into ``folds`` folds; the responses of each fold get the rewards of a
    baseline fitted on every within-prompt pair of the other folds' responses whose gold
    differs (the higher gold wins). Returns float64 ``(n_responses,)``.
    """
    lengths = np.asarray(lengths, dtype=np.float64).ravel()
    gold = np.asarray(gold, dtype=np.float64).ravel()
    prompt_index = np.asarray(prompt_index).ravel()
    if not lengths.shape == gold.shape == prompt_index.shape:
        raise ShapeError(
            f"lengths {lengths.shape}, gold {gold.shape} and prompt_index {prompt_index.shape} "
            "must have one entry per response."
        )
    out = np.empty_like(lengths)
    for test in _folds(prompt_index, folds):
        train = np.setdiff1d(np.arange(len(lengths)), test)
        L = lengths[train][gold_pairs(gold[train], prompt_index[train])]
        coef = LengthBaseline(alpha=alpha).fit(L).coef_ if len(L) else 0.0
        out[test] = coef * lengths[test]
    return out


def _newton(
    d: np.ndarray, w: np.ndarray, alpha: float, max_iter: int, tol: float
) -> tuple[float, int]:
    """Minimise ``sum w log(1 + exp(-c d)) + alpha c^2 / 2`` over the scalar ``c``, from 0.

    Newton steps halved until the loss does not rise (the loss is convex, so this converges).
    With ``alpha == 0`` and pairs separable by length the minimum is at infinity: the steps
    stop at ``max_iter`` with a large finite weight.
    """

    def loss(c: float) -> float:
        return float(w @ np.logaddexp(0.0, -c * d)) + 0.5 * alpha * c * c

    c, current, it = 0.0, loss(0.0), 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count after the loop is reported)
        p = expit(-c * d)  # P(the pair is ranked wrong)
        grad = -float(w @ (d * p)) + alpha * c
        hess = float(w @ (d * d * p * (1 - p))) + alpha
        if hess <= 0:  # every pair of equal length and no penalty: nothing to learn
            break
        step = grad / hess
        new = loss(c - step)
        while new > current and abs(step) > 1e-300:
            step /= 2
            new = loss(c - step)
        c, current = c - step, new
        if abs(step) <= tol * (1 + abs(c)):
            break
    return float(c), it
