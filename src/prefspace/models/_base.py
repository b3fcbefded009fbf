"""What every reward head shares: input checks, the pair-level methods, training metrics.

A head only implements ``_fit`` (on validated pairs with zero-weight rows already removed),
``_predict`` (rewards for validated rows) and ``_transform`` (last-hidden-layer features).
Everything a user calls (``fit``, ``predict``, ``predict_proba``, ``score``, ``transform``)
lives here, so the contract is the same for every head. Saving and loading live in
``prefspace.models.persistence``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from sklearn.base import BaseEstimator

from .._validation import check_embeddings, check_pairs, check_positive, check_sample_vector
from ..evaluate.metrics import reward_metrics
from ..exceptions import ConfigError, NotFittedError, ShapeError
from .holdout import PairLayout, split_rng

logger = logging.getLogger(__name__)


def prepare_pairs(
    X: npt.ArrayLike,
    y: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    margin: npt.ArrayLike | None = None,
    *,
    groups: npt.ArrayLike | None = None,
    parent: npt.ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, PairLayout]:
    """Validate ``fit`` inputs; orient pairs by ``y``; drop rows whose weight is zero.

    ``y`` (optional, shape ``(n_pairs,)``) says which response of each pair is preferred:
    1 (or True) the first, as usual, 0 the second (that pair is swapped). Rows with weight 0
    are removed before anything random happens, so a zero weight is the same as leaving the
    row out; a real pair left out takes its synthetic pairs with it. ``groups`` and ``parent``
    describe the rows (see :class:`~prefspace.models.holdout.PairLayout`).

    Returns ``(X, sample_weight, margin, layout)``: float32 ``(m, 2, d)``, float64 ``(m,)`` or
    None, and the rows' :class:`~prefspace.models.holdout.PairLayout`.
    """
    X = check_pairs(X)
    n = len(X)
    sample_weight = check_sample_vector(sample_weight, n, name="sample_weight")
    margin = check_sample_vector(margin, n, name="margin")
    if y is not None:
        X = orient_pairs(X, y)
    layout = PairLayout.build(X, groups, parent)
    if sample_weight is not None:
        keep = layout.keep_with_parents(sample_weight > 0)
        if not keep.any():
            raise ShapeError("sample_weight is zero for every pair; nothing to fit.")
        if not keep.all():
            idx = np.flatnonzero(keep)
            X, sample_weight, layout = X[idx], sample_weight[idx], layout.select(idx)
            margin = None if margin is None else margin[idx]
    return X, sample_weight, margin, layout


def check_text_block(n_text_features: Any, n_columns: int) -> int:
    """``n_text_features`` as an int in ``[0, n_columns)``, or a ConfigError saying why not."""
    if (
        isinstance(n_text_features, bool)
        or not isinstance(n_text_features, (int, np.integer))
        or n_text_features < 0
    ):
        raise ConfigError(f"n_text_features must be a whole number >= 0; got {n_text_features!r}.")
    if n_text_features >= n_columns:
        raise ConfigError(
            f"n_text_features={n_text_features} leaves no embedding columns in rows of {n_columns} columns; "
            "it counts the text-feature columns at the end of each row (encoder.n_text_features)."
        )
    return int(n_text_features)


def orient_pairs(X: np.ndarray, y: Any) -> np.ndarray:
    """Return ``X`` with pairs whose label ``y`` is 0 swapped, so that ``X[:, 0]`` is preferred."""
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ShapeError(f"y must have shape ({len(X)},), one label per pair; got {y.shape}.")
    if y.dtype == bool:
        first = y
    else:
        if not np.issubdtype(y.dtype, np.number) or not np.isin(y, (0, 1)).all():
            found = np.unique(y)[:5].tolist()
            raise ShapeError(
                f"y must hold 1 (first response preferred) or 0 (second preferred); found {found}. "
                "Leave y=None when X[:, 0] is always the chosen response."
            )
        first = y.astype(bool)
    if first.all():
        return X
    X = X.copy()
    X[~first] = X[~first][:, ::-1]
    return X


class FittedCheck:
    """``_check_fitted`` and scikit-learn's ``__sklearn_is_fitted__`` for an estimator that is
    fitted once it has the attribute ``_fitted_attr``; the error names ``fit(<_fit_arg>)``."""

    _fitted_attr = "n_features_in_"
    _fit_arg = "X"

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit({self._fit_arg}) first."
            )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_attr)


class RewardHead(FittedCheck, BaseEstimator):
    """Base class of the reward heads: ``fit`` on pairs, ``predict`` rewards of single rows.

    Subclasses set learned state in ``_fit`` and implement ``_predict`` and ``_transform``.
    After ``fit`` every head has ``n_features_in_`` (the row dimension ``D``), ``metrics_``
    (TRL-named metrics on the real pairs it was given, plus ``eval_*`` on the validation pairs
    where the head holds some out), ``history_`` (one dict per epoch or boosting round; may be
    empty) and ``last_layer_weights_`` / ``last_layer_bias_`` such that
    ``predict(E) == transform(E) @ last_layer_weights_ + last_layer_bias_``.
    """

    # ------------------------------------------------------------------ public API
    def fit(self, X, y=None, sample_weight=None, margin=None, *, groups=None, parent=None):
        """Fit the reward head on preference pairs.

        Parameters
        ----------
        X : array of shape (n_pairs, 2, D)
            ``X[:, 0]`` the chosen (preferred) response's row, ``X[:, 1]`` the rejected one.
        y : None or array of shape (n_pairs,)
            Optional labels: 1 if ``X[:, 0]`` is preferred (the default), 0 if ``X[:, 1]`` is.
        sample_weight : None or array of shape (n_pairs,)
            Non-negative weight of each pair, as a count (as in scikit-learn): a weight of 2 is
            the same as the pair twice, and a penalty is stated against the total weight. So
            synthetic pairs that share their parent's weight (``augment_pairs`` does this) add
            no weight and do not weaken the penalty.
        margin : None or array of shape (n_pairs,)
            Required reward gap, as in TRL: the loss is ``-log sigmoid(r_c - r_r - margin)``.
        groups : None or array of shape (n_pairs,)
            Group of each pair (e.g. prompt id). A head that holds out pairs for early
            stopping holds out whole groups. Default: the prompt columns the rows share
            (``prompt_groups``), else one group per pair.
        parent : None or int array of shape (n_pairs,)
            -1 for a real pair; for a synthetic pair, the row of the real pair it was made
            from (``augment_pairs`` returns it in ``aug.fit_params``). Validation pairs are
            then drawn from the real pairs only, and the synthetic pairs of a held-out parent
            are left out of training.

        Returns
        -------
        self
        """
        X, sample_weight, margin, layout = prepare_pairs(
            X, y, sample_weight, margin, groups=groups, parent=parent
        )
        self.n_features_in_ = int(X.shape[2])
        extra = self._fit(X, sample_weight, margin, layout) or {}
        real = layout.real
        rc, rr = self._pair_rewards(X[real])
        metrics = reward_metrics(rc, rr)
        metrics.update(extra)
        self.metrics_ = metrics
        logger.info(
            "%s fitted on %d pairs (%d real): %s",
            type(self).__name__,
            len(X),
            int(real.sum()),
            _short(metrics),
        )
        return self

    def predict(self, E, *, length_controlled: bool = False) -> np.ndarray:
        """Rewards of single rows.

        Parameters
        ----------
        E : array of shape (n, D)
            One row per response, embedded as during training.
        length_controlled : bool, default False
            Return the reward without what the text-feature block accounts for (length,
            structure: :meth:`text_contribution`, the block's own term and the part of the
            embedding's term the block predicts within the training pairs), as ODIN (Chen et al.,
            ICML 2024) serves its content head: a policy optimised against it gains nothing from
            length alone. A head without a text-feature block returns its plain reward.

        Returns
        -------
        rewards : float64 array of shape (n,)
        """
        self._check_fitted()
        E = check_embeddings(E, dim=self.n_features_in_)
        r = np.asarray(self._predict(E), dtype=np.float64).reshape(len(E))
        if length_controlled:
            r = r - self._text_contribution(E)
        return r

    def text_contribution(self, E) -> np.ndarray:
        """The part of each row's reward the text-feature block accounts for, centred on the
        training rows (mean 0 there): the block's own term plus the block's least-squares
        prediction of the rest of the reward within the training pairs. float64 ``(n,)``; zeros
        for a head without the block.

        ``predict(E) - text_contribution(E) == predict(E, length_controlled=True)``.
        """
        self._check_fitted()
        E = check_embeddings(E, dim=self.n_features_in_)
        return np.asarray(self._text_contribution(E), dtype=np.float64).reshape(len(E))

    def _text_contribution(self, E: np.ndarray) -> np.ndarray:
        return np.zeros(len(E))

    def predict_proba(self, X) -> np.ndarray:
        """P(first response preferred) = sigmoid(r(X[:, 0]) - r(X[:, 1])), shape (n_pairs,)."""
        rc, rr = self._pair_rewards(X)
        return expit(rc - rr)

    def score(self, X, y=None, sample_weight=None) -> float:
        """Pairwise accuracy: fraction of pairs whose preferred response gets the strictly
        higher reward (ties count wrong). ``y`` as in :meth:`fit`; ``sample_weight`` weights
        pairs."""
        X = check_pairs(X)
        if y is not None:
            X = orient_pairs(X, y)
        rc, rr = self._pair_rewards(X)
        correct = (rc > rr).astype(np.float64)
        w = check_sample_vector(sample_weight, len(X), name="sample_weight")
        return float(np.mean(correct) if w is None else np.average(correct, weights=w))

    def transform(self, E) -> np.ndarray:
        """Last-hidden-layer features, the input of the final linear layer: float64 (n, h).

        ``predict(E) == transform(E) @ last_layer_weights_ + last_layer_bias_``.
        """
        self._check_fitted()
        E = check_embeddings(E, dim=self.n_features_in_)
        return np.asarray(self._transform(E), dtype=np.float64)

    @property
    def last_layer_weights_(self) -> np.ndarray:
        """The final linear layer's weights, (h,): ``predict = transform @ w + b``."""
        self._check_fitted()
        return self._last_layer()[0]

    @property
    def last_layer_bias_(self) -> float:
        """The final linear layer's bias ``b``."""
        self._check_fitted()
        return self._last_layer()[1]

    # ------------------------------------------------------------------ helpers
    def _pair_rewards(self, X) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        X = check_pairs(X, dim=self.n_features_in_)
        r = np.asarray(self._predict(X.reshape(-1, X.shape[2])), dtype=np.float64).reshape(
            len(X), 2
        )
        return r[:, 0], r[:, 1]

    # subclasses -----------------------------------------------------------------
    def _fit(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        margin: np.ndarray | None,
        layout: PairLayout,
    ) -> dict | None:
        """Learn from validated pairs (``layout``: which are real, their groups); may return
        extra metrics (``eval_*``) for ``metrics_``."""
        raise NotImplementedError

    def _predict(self, E: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _transform(self, E: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _last_layer(self) -> tuple[np.ndarray, float]:
        """``(weights, bias)`` of the final linear layer, for a fitted head."""
        raise NotImplementedError


class HoldsOutPairs:
    """Mixin of the heads that hold out pairs for early stopping (``early_stopping``,
    ``validation_fraction``, ``random_state``): the split rule of :mod:`prefspace.models.holdout`."""

    # parameters of the heads that use it (set by their ``__init__``)
    early_stopping: bool
    validation_fraction: float
    random_state: Any

    def _split(self, layout: PairLayout) -> tuple[np.ndarray, np.ndarray]:
        n = len(layout.parent)
        if not self.early_stopping:
            return np.arange(n), np.empty(0, dtype=np.int64)
        fraction = check_positive(
            self.validation_fraction, name="validation_fraction", allow_zero=True
        )
        if fraction >= 1:
            raise ConfigError(f"validation_fraction must be < 1; got {fraction!r}.")
        return layout.split(fraction, split_rng(self.random_state))

    def validation_split(self, X, groups=None) -> np.ndarray:
        """Bool (n_pairs,): which of the real pairs ``X`` ``fit`` would hold out for early stopping.

        ``fit(X_aug, parent=..., groups=...)`` on ``X`` plus synthetic pairs holds out the same
        real pairs, so a synthesizer fitted on the others never sees a validation pair (this
        is how ``augment_pairs(..., estimator=head)`` uses it).
        """
        X = check_pairs(X)
        _, val = self._split(PairLayout.build(X, groups))
        mask = np.zeros(len(X), dtype=bool)
        mask[val] = True
        return mask


def _short(metrics: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))
