"""Bradley-Terry with a linear reward: logistic regression on chosen-minus-rejected rows.

The reward is ``r(e) = e @ coef_ + intercept_``. Only differences of rewards enter the
Bradley-Terry likelihood, so the intercept is not learned: it is set so that the mean reward
of the training rows is 0, which keeps rewards readable and changes no preference. The loss is
convex; it is minimised to convergence with full-batch L-BFGS (scipy), so there is nothing to
stop early and no randomness.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from .._threads import check_n_jobs, limit_threads
from .._validation import check_positive
from ._base import RewardHead

logger = logging.getLogger(__name__)


class BradleyTerryLinear(RewardHead):
    """Linear Bradley-Terry reward model, the reference baseline.

    Minimises ``sum_i w_i * -log sigmoid(beta . (x_c - x_r) - margin_i) + alpha / 2 * ||beta||^2``
    as scikit-learn's ``LogisticRegression`` with ``C = 1 / alpha``. The weights ``w`` are
    counts (default 1; a weight of 2 is the pair twice), so the penalty is stated against the
    total weight: it matters less as *real* pairs are added, and not at all less when synthetic
    pairs share their parent's weight (``augment_pairs`` gives each real pair and its synthetic
    pairs a total weight of 1, so ``--augment repeat`` fits exactly the real-only model). Each
    input dimension is first divided by its standard deviation over the real training rows
    when ``standardize`` is true (so ``alpha`` means the same for any encoder). The scaling is
    folded into ``coef_``: ``predict`` takes raw rows.

    Parameters
    ----------
    alpha : float, default 1000
        L2 penalty on the (standardised) weights. Preference labels are noisy and embeddings
        wide (768 features for MiniLM's [prompt, response] rows), so the best penalty is
        strong: chosen by grouped cross-validation on training pairs (see docs/models.md).
    standardize : bool, default True
        Scale each input dimension to unit variance before the penalty applies.
    max_iter : int, default 500
        L-BFGS iterations.
    tol : float, default 1e-6
        L-BFGS gradient tolerance.
    n_jobs : int or None, default None
        BLAS threads while fitting (restored afterwards); -1 all cores; None keeps the
        library's setting (or ``PREFSPACE_NUM_THREADS``). The fit is deterministic: there is no
        ``random_state``.

    Attributes
    ----------
    coef_ : float64 array of shape (D,)
    intercept_ : float
    n_iter_ : int
    last_layer_weights_ : ``coef_`` (``transform`` is the identity)
    last_layer_bias_ : ``intercept_``
    scale_ : float64 array of shape (D,), the per-dimension divisor of the standardisation
        (ones when ``standardize`` is false)
    ridge_ : float, the penalty per unit of pair weight in the loss as minimised (``alpha``);
        with ``scale_`` it is the head's prior, see :meth:`last_layer_prior`

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 2, 8)).astype("float32")
    >>> model = BradleyTerryLinear().fit(X)
    >>> model.predict(X[:, 0]).shape
    (50,)
    """

    def __init__(
        self, alpha: float = 1000.0, standardize: bool = True, max_iter: int = 500, tol: float = 1e-6,
        n_jobs: int | None = None,
    ):
        self.alpha = alpha
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs

    def _fit(self, X, sample_weight, margin, layout) -> None:
        alpha = check_positive(self.alpha, name="alpha", allow_zero=True)
        with limit_threads(check_n_jobs(self.n_jobs)):
            self._minimise(X, sample_weight, margin, alpha, layout.real)

    def _minimise(self, X, sample_weight, margin, alpha: float, real) -> None:
        n, _, d = X.shape
        X64 = X.astype(np.float64)
        rows = X64[real].reshape(-1, d)  # the real rows set the scale and the intercept
        scale = rows.std(axis=0) if self.standardize else np.ones(d)
        scale = np.where(scale > 1e-12, scale, 1.0)
        diff = (X64[:, 0] - X64[:, 1]) / scale
        w = np.ones(n) if sample_weight is None else sample_weight  # counts: never rescaled
        m = np.zeros(n) if margin is None else margin
        total = float(w.sum())

        def loss_grad(beta: np.ndarray) -> tuple[float, np.ndarray]:
            z = diff @ beta - m
            loss = float(w @ np.logaddexp(0.0, -z)) + 0.5 * alpha * float(beta @ beta)
            grad = -(diff.T @ (w * expit(-z))) + alpha * beta
            return loss / total, grad / total  # scaled for L-BFGS's tolerances; same minimiser

        result = minimize(
            loss_grad, np.zeros(d), jac=True, method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
        )
        if not result.success:
            logger.warning("BradleyTerryLinear: L-BFGS stopped early (%s)", result.message)
        self.coef_ = result.x / scale
        self.scale_ = scale
        # the penalty against pair weights of mean 1: what one labelled pair is worth against the
        # prior (active labeling's D-optimal design uses it as its ridge)
        self.ridge_ = float(alpha)
        self.intercept_ = float(-(rows @ self.coef_).mean())
        self.n_iter_ = int(result.nit)
        self.history_ = [{"iteration": self.n_iter_, "objective": float(result.fun)}]

    @property
    def last_layer_weights_(self) -> np.ndarray:
        self._check_fitted()
        return self.coef_

    @property
    def last_layer_bias_(self) -> float:
        self._check_fitted()
        return self.intercept_

    def last_layer_prior(self) -> tuple[np.ndarray, float] | None:
        """The Gaussian prior this fit put on the final layer: ``(scale, ridge)``.

        The objective's penalty is ``ridge / 2 * ||last_layer_weights_ * scale||^2`` while each
        pair weighs 1 on average, so in the head's own coordinates ``transform(E) / scale`` the
        prior is isotropic with precision ``ridge`` and the Fisher information of the standardised
        weights is ``ridge I + sum_k p_k (1 - p_k) d_k d_k^T`` over the labelled pairs' scaled
        differences ``d_k``. D-optimal selection uses exactly this (``prefspace.select``).
        None for a model saved before these were recorded.
        """
        self._check_fitted()
        if getattr(self, "scale_", None) is None:
            return None
        return self.scale_, self.ridge_

    def _predict(self, E):
        return E.astype(np.float64) @ self.coef_ + self.intercept_

    def _transform(self, E):
        return E.astype(np.float64)

    # persistence ------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict, dict]:
        arrays = {"coef": self.coef_, "scale": self.scale_}
        info = {"intercept": self.intercept_, "n_iter": self.n_iter_, "history": self.history_, "ridge": self.ridge_}
        return arrays, info, {}

    def _set_state(self, arrays: dict, info: dict, texts: dict) -> None:
        self.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept_ = float(info["intercept"])
        self.n_iter_ = int(info["n_iter"])
        self.history_ = list(info.get("history", []))
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64) if "scale" in arrays else None
        self.ridge_ = float(info["ridge"]) if "ridge" in info else None
        self.n_features_in_ = int(self.coef_.shape[0])
