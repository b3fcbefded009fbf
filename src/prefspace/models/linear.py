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
from .._validation import check_in, check_positive
from ..exceptions import ConfigError
from ._base import RewardHead, check_text_block
from .penalty_cv import choose_penalties

logger = logging.getLogger(__name__)


DEFAULT_ALPHAS = (100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
DEFAULT_TEXT_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)
# used when there are too few prompts to cross-validate (fewer than MIN_CV_GROUPS)
FALLBACK_ALPHA, FALLBACK_TEXT_ALPHA, MIN_CV_GROUPS = 1000.0, 1.0, 5
BLOCKS = ("all", "embedding", "text")
# the prior scale given to a block the fit left out (its weights are fixed at 0)
_LEFT_OUT_SCALE = 1e6


def _penalty_options(value, grid, name: str, *, drop: bool, used: bool) -> list[float]:
    """The penalties to try for one block: ``[inf]`` when unused, the fixed value, or the grid
    (plus ``inf``, leaving the block out, when ``drop``)."""
    if not used:
        return [np.inf]
    if isinstance(value, str):
        if value != "cv":
            raise ConfigError(f"{name} must be a non-negative number or 'cv'; got {value!r}.")
        options = sorted({check_positive(a, name=f"{name}s entries") for a in grid})
        if not options:
            raise ConfigError(f"{name}s is empty; give at least one penalty to cross-validate.")
        return options + ([np.inf] if drop else [])
    return [check_positive(value, name=name, allow_zero=True)]


class BradleyTerryLinear(RewardHead):
    """Linear Bradley-Terry reward model, the reference baseline, with a text-feature block.

    Minimises ``sum_i w_i * -log sigmoid(beta . (x_c - x_r) - margin_i) + P(beta)`` with the
    two-block ridge penalty ``P(beta) = alpha / 2 * ||beta_emb||^2 + text_alpha / 2 * ||beta_text||^2``
    on the standardised weights: ``beta_text`` are the weights of the last ``n_text_features``
    columns of a row (the text-feature block that ``get_encoder(text_features=True)`` appends:
    length, structure, truncation), ``beta_emb`` those of the embedding. A sentence embedding
    is unit length and erases a response's length; under one shared penalty, strong enough for
    768 noisy embedding columns, the few text columns would be penalised away, so each block
    gets its own (docs/models.md). An infinite penalty leaves a block out.

    ``alpha="cv"`` and ``text_alpha="cv"`` (the defaults) choose the penalties at fit time by
    leave-one-prompt-out cross-validation on the real training pairs, over ``alphas`` x
    ``text_alphas`` plus "leave the block out" (so the fit can fall back to the embedding alone
    or the text features alone when the other block does not help), in closed form on a
    quadratic stand-in of the loss (:mod:`prefspace.models.penalty_cv`); with fewer than 5
    prompts it uses ``alpha=1000``, ``text_alpha=1``. The pair weights ``w`` are counts
    (default 1; a weight of 2 is the pair twice), so a penalty is stated against the total
    weight: it matters less as *real* pairs are added, and not at all less when synthetic pairs
    share their parent's weight (``augment_pairs`` gives each real pair and its synthetic pairs
    a total weight of 1, so ``--augment repeat`` fits exactly the real-only model). Each input
    dimension is first divided by its standard deviation over the real training rows when
    ``standardize`` is true (so a penalty means the same for any encoder). The scaling is
    folded into ``coef_``: ``predict`` takes raw rows.

    Parameters
    ----------
    alpha : float or "cv", default "cv"
        L2 penalty on the (standardised) embedding weights; "cv": chosen from ``alphas``.
    text_alpha : float or "cv", default "cv"
        L2 penalty on the (standardised) text-feature weights; "cv": chosen from ``text_alphas``.
    n_text_features : int, default 0
        How many columns at the end of each row are the text-feature block (``encoder.
        n_text_features``; 0: rows are embeddings only and ``text_alpha`` is unused).
    blocks : {"all", "embedding", "text"}, default "all"
        Which blocks the reward may use: ``"text"`` is the text-features-only head (a learned
        length-and-structure baseline), ``"embedding"`` ignores the text features.
    alphas, text_alphas : tuples of float or None
        The grids ``"cv"`` searches; None: ``DEFAULT_ALPHAS`` (100, 300, ..., 30,000) and
        ``DEFAULT_TEXT_ALPHAS`` (0.1, 1, ..., 1,000).
    standardize : bool, default True
        Scale each input dimension to unit variance before the penalty applies.
    max_iter : int, default 500
        L-BFGS iterations.
    tol : float, default 1e-6
        L-BFGS gradient tolerance.
    n_jobs : int or None, default 1
        BLAS threads while fitting (restored afterwards); -1 all cores; None keeps the
        library's setting (or ``PREFSPACE_NUM_THREADS``). One thread, like the other heads:
        the matrices are small (a 776 x 776 eigendecomposition, matrix-vector products), and on
        a shared 2-core machine the default fit on 1,000 HH pairs was measured 3 to 10 times
        slower with two BLAS threads than with one. The fit is deterministic: there is no
        ``random_state`` (the cross-validation holds out every prompt in turn).

    Attributes
    ----------
    coef_ : float64 array of shape (D,)
    intercept_ : float
    n_iter_ : int
    alpha_, text_alpha_ : float, the penalties used (``inf``: the block was left out)
    cv_ : dict or None, the cross-validation grid and its held-out errors
    text_coef_ : float64 array (n_text_features,), ``coef_``'s text-feature part
    text_residual_ : float64 (n_text_features,), the block's linear prediction of the embedding
        term within training pairs (removed by the length-controlled reward with ``text_coef_``)
    text_offset_ : float, the mean of what the length-controlled reward removes over the training rows
    last_layer_weights_ : ``coef_`` (``transform`` is the identity)
    last_layer_bias_ : ``intercept_``
    scale_ : float64 array of shape (D,), the per-dimension divisor of the standardisation
        (ones when ``standardize`` is false)
    ridge_ : float, the smaller of the finite penalties, per unit of pair weight; with the
        block-adjusted scale it is the head's prior, see :meth:`last_layer_prior`

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 2, 8)).astype("float32")
    >>> model = BradleyTerryLinear().fit(X)
    >>> model.predict(X[:, 0]).shape
    (50,)
    """

    cv_: dict | None  # fitted: the penalty search's table (None: fixed penalties)
    ridge_: float | None  # fitted: the prior's penalty per pair (None: a model saved before it)

    def __init__(
        self,
        alpha: float | str = "cv",
        text_alpha: float | str = "cv",
        n_text_features: int = 0,
        blocks: str = "all",
        alphas: tuple | None = None,
        text_alphas: tuple | None = None,
        standardize: bool = True,
        max_iter: int = 500,
        tol: float = 1e-6,
        n_jobs: int | None = 1,
    ):
        self.alpha = alpha
        self.text_alpha = text_alpha
        self.n_text_features = n_text_features
        self.blocks = blocks
        self.alphas = alphas
        self.text_alphas = text_alphas
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs

    def _fit(self, X, sample_weight, margin, layout) -> None:
        k = check_text_block(self.n_text_features, X.shape[2])
        check_in(self.blocks, BLOCKS, name="blocks")
        if self.blocks == "text" and k == 0:
            raise ConfigError(
                "blocks='text' needs the text-feature block: set n_text_features (the encoder's "
                "n_text_features; embed with text_features=True)."
            )
        emb = _penalty_options(
            self.alpha,
            DEFAULT_ALPHAS if self.alphas is None else self.alphas,
            "alpha",
            drop=self.blocks == "all" and k > 0,
            used=self.blocks != "text",
        )
        text = _penalty_options(
            self.text_alpha,
            DEFAULT_TEXT_ALPHAS if self.text_alphas is None else self.text_alphas,
            "text_alpha",
            drop=self.blocks == "all",
            used=self.blocks != "embedding" and k > 0,
        )
        with limit_threads(check_n_jobs(self.n_jobs)):
            diff, scale, rows, w, m = self._standardised(X, sample_weight, margin, layout.real)
            self.cv_ = None
            if len(emb) * len(text) > 1:
                alpha, text_alpha = self._cross_validate(diff, w, m, layout, k, emb, text)
            else:
                alpha, text_alpha = emb[0], text[0]
            self._minimise(diff, scale, rows, w, m, k, alpha, text_alpha)
            self._length_control(diff[layout.real], scale, rows, w[layout.real], k)

    def _standardised(self, X, sample_weight, margin, real):
        n, _, d = X.shape
        X64 = X.astype(np.float64)
        rows = X64[real].reshape(-1, d)  # the real rows set the scale and the intercept
        scale = rows.std(axis=0) if self.standardize else np.ones(d)
        scale = np.where(scale > 1e-12, scale, 1.0)
        diff = (X64[:, 0] - X64[:, 1]) / scale
        w = np.ones(n) if sample_weight is None else sample_weight  # counts: never rescaled
        m = np.zeros(n) if margin is None else margin
        return diff, scale, rows, w, m

    def _cross_validate(self, diff, w, m, layout, k, emb, text) -> tuple[float, float]:
        real = layout.real
        groups = layout.groups[real]
        if len(np.unique(groups)) < MIN_CV_GROUPS:
            alpha = min(
                emb, key=lambda a: abs(np.log(a / FALLBACK_ALPHA)) if 0 < a < np.inf else np.inf
            )
            text_alpha = min(
                text,
                key=lambda a: abs(np.log(a / FALLBACK_TEXT_ALPHA)) if 0 < a < np.inf else np.inf,
            )
            logger.info(
                "BradleyTerryLinear: fewer than %d prompts, no cross-validation; alpha=%g, text_alpha=%g",
                MIN_CV_GROUPS,
                alpha,
                text_alpha,
            )
            return alpha, text_alpha
        # the penalty is stated against the total weight, synthetic rows included (see ``fit``); the
        # real pairs alone carry it here, so --augment repeat chooses what real-only chooses
        w_real = w[real] * (float(w.sum()) / float(w[real].sum()))
        alpha, text_alpha, table = choose_penalties(
            diff[real], 2.0 + m[real], w_real, groups, k, emb, text
        )
        self.cv_ = table
        return alpha, text_alpha

    def _minimise(self, diff, scale, rows, w, m, k, alpha: float, text_alpha: float) -> None:
        d = diff.shape[1]
        penalty = np.full(d, float(alpha))
        if k:
            penalty[d - k :] = text_alpha
        used = np.flatnonzero(np.isfinite(penalty))
        Du, pen = diff[:, used], penalty[used]
        total = float(w.sum())

        def loss_grad(beta: np.ndarray) -> tuple[float, np.ndarray]:
            z = Du @ beta - m
            loss = float(w @ np.logaddexp(0.0, -z)) + 0.5 * float(pen @ (beta * beta))
            grad = -(Du.T @ (w * expit(-z))) + pen * beta
            return loss / total, grad / total  # scaled for L-BFGS's tolerances; same minimiser

        result = minimize(
            loss_grad,
            np.zeros(len(used)),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": float(self.tol)},
        )
        if not result.success:
            logger.warning("BradleyTerryLinear: L-BFGS stopped early (%s)", result.message)
        beta = np.zeros(d)
        beta[used] = result.x
        self.coef_ = beta / scale
        self.scale_ = scale
        self.alpha_, self.text_alpha_ = float(alpha), float(text_alpha)
        self.n_text_features_ = int(k)
        finite = [a for a in (alpha, text_alpha if k else np.inf) if np.isfinite(a)]
        # the penalty against pair weights of mean 1: what one labelled pair is worth against the
        # prior (active labeling's D-optimal design uses it as its ridge)
        self.ridge_ = float(min(finite)) if finite else float(alpha)
        self.intercept_ = float(-(rows @ self.coef_).mean())
        self.n_iter_ = int(result.nit)
        self.history_ = [{"iteration": self.n_iter_, "objective": float(result.fun)}]

    def _length_control(self, diff, scale, rows, w, k: int) -> None:
        """What the length-controlled reward removes: the block's own term, plus the part of the
        embedding term that the block predicts linearly within the training pairs (least squares
        of the embedding term's pair differences on the block's pair differences)."""
        d = diff.shape[1]
        self.text_residual_ = np.zeros(k)
        if k and np.isfinite(self.alpha_):
            root = np.sqrt(w)
            emb_term = diff[:, : d - k] @ (self.coef_[: d - k] * scale[: d - k])
            text_diff = diff[:, d - k :] * scale[d - k :]
            self.text_residual_ = np.linalg.lstsq(
                text_diff * root[:, None], emb_term * root, rcond=None
            )[0]
        self.text_offset_ = float((rows[:, d - k :] @ self._text_weights()).mean()) if k else 0.0

    def _text_weights(self) -> np.ndarray:
        k = self.n_text_features_
        return self.coef_[len(self.coef_) - k :] + getattr(self, "text_residual_", np.zeros(k))

    @property
    def text_coef_(self) -> np.ndarray:
        self._check_fitted()
        k = getattr(self, "n_text_features_", 0)
        return self.coef_[len(self.coef_) - k :] if k else np.zeros(0)

    def _text_contribution(self, E):
        k = getattr(self, "n_text_features_", 0)
        if not k:
            return np.zeros(len(E))
        return E[:, E.shape[1] - k :].astype(np.float64) @ self._text_weights() - self.text_offset_

    def _last_layer(self) -> tuple[np.ndarray, float]:
        return self.coef_, self.intercept_

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
        if getattr(self, "scale_", None) is None or self.ridge_ is None:
            return None
        k = getattr(self, "n_text_features_", 0)
        d = len(self.scale_)
        penalty = np.full(d, getattr(self, "alpha_", self.ridge_))
        if k:
            penalty[d - k :] = self.text_alpha_
        # a block with its own penalty is a prior scale of sqrt(penalty / ridge) in these coordinates
        ratio = np.where(np.isfinite(penalty), np.sqrt(penalty / self.ridge_), _LEFT_OUT_SCALE)
        return self.scale_ * ratio, self.ridge_

    def _predict(self, E):
        return E.astype(np.float64) @ self.coef_ + self.intercept_

    def _transform(self, E):
        return E.astype(np.float64)

    # persistence ------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict, dict]:
        arrays = {"coef": self.coef_, "scale": self.scale_}
        info = {
            "intercept": self.intercept_,
            "n_iter": self.n_iter_,
            "history": self.history_,
            "ridge": self.ridge_,
            "alpha": _finite_or_none(self.alpha_),
            "text_alpha": _finite_or_none(self.text_alpha_),
            "n_text_features": self.n_text_features_,
            "text_offset": self.text_offset_,
            "cv": _json_cv(self.cv_),
            "text_residual": [float(v) for v in self.text_residual_],
        }
        return arrays, info, {}

    def _set_state(self, arrays: dict, info: dict, texts: dict) -> None:
        self.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        self.intercept_ = float(info["intercept"])
        self.n_iter_ = int(info["n_iter"])
        self.history_ = list(info.get("history", []))
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64) if "scale" in arrays else None
        self.ridge_ = float(info["ridge"]) if "ridge" in info else None
        self.n_features_in_ = int(self.coef_.shape[0])
        if "n_text_features" in info:  # saved since the text-feature block (issue 20)
            self.alpha_ = np.inf if info["alpha"] is None else float(info["alpha"])
            self.text_alpha_ = np.inf if info["text_alpha"] is None else float(info["text_alpha"])
            self.n_text_features_ = int(info["n_text_features"])
            self.text_offset_ = float(info["text_offset"])
            self.text_residual_ = np.asarray(
                info.get("text_residual") or np.zeros(self.n_text_features_), dtype=np.float64
            )
            self.cv_ = info.get("cv")
        else:  # an older model: one penalty, no text block
            self.alpha_, self.text_alpha_, self.n_text_features_, self.text_offset_, self.cv_ = (
                np.inf if self.ridge_ is None else self.ridge_,
                np.inf,
                0,
                0.0,
                None,
            )


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _json_cv(cv: dict | None) -> dict | None:
    """The CV table with ``inf`` written as None (JSON has no infinity)."""
    if cv is None:
        return None
    fix = lambda v: [None if not np.isfinite(x) else float(x) for x in v]  # noqa: E731
    return {
        "alphas": fix(cv["alphas"]),
        "text_alphas": fix(cv["text_alphas"]),
        "heldout_error": [fix(row) for row in cv["heldout_error"]],
    }
