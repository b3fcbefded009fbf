"""Choosing the linear head's two penalties by leave-one-prompt-out cross-validation, in closed form.

A response row is ``[embedding | text-feature block]``. :class:`~prefspace.models.BradleyTerryLinear`
puts penalty ``alpha`` on the (standardised) embedding weights and ``text_alpha`` on the
text-feature weights; either may be infinite, which leaves that block out. This module picks
both on the training pairs, with every pair of one prompt held out together, at the cost of
about one eigendecomposition of the embedding block, whatever the size of the grid:

1. **A quadratic stand-in for the Bradley-Terry loss.** Around zero margin
   ``-log sigmoid(z - m) = log 2 - (z - m) / 2 + (z - m)^2 / 8 + ...``, so for the penalised
   logistic objective ``sum_i w_i softplus(m_i - z_i) + alpha / 2 ||beta||^2`` the ridge
   regression of target ``2 + m_i`` on the chosen-minus-rejected rows with penalty ``4 alpha``
   has the same minimiser to second order. Strong penalties keep margins small, so the
   stand-in ranks penalties as the logistic loss does; the final model is still fitted with the
   logistic loss (``BradleyTerryLinear``).
2. **Exact held-out residuals without refitting.** For ridge regression the residuals of a
   held-out group ``g`` are ``(I - H_gg)^-1 r_g``: ``r`` the residuals of the fit on all pairs,
   ``H`` its hat matrix. With the embedding block's singular value decomposition ``U s V^T``
   the embedding part of ``H`` is ``U diag(s^2 / (s^2 + lambda)) U^T`` for every penalty at
   once, and the text block (a few columns) enters as a rank-k correction through the
   residual-maker of the embedding fit (block elimination), so every ``(alpha, text_alpha)``
   costs a few products with ``U`` and one small solve per prompt.

The criterion is the held-out squared error of the stand-in, weighted by the pairs' weights;
the grid point with the smallest wins, except that a fit using the text-feature block replaces
the best fit on the embedding alone only when it ranks more held-out pairs right, by at least one
standard error of the paired per-pair difference (the one-standard-error rule ``choose_head``
also uses), the embedding-only fit's penalty being the strongest whose error is within one
standard error of the best embedding-only error (glmnet's ``lambda.1se``). Prompts with more than ``MAX_GROUP`` pairs are held out
``MAX_GROUP`` pairs at a time (keeps each solve small).
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

MAX_GROUP = 32


def _eigen_basis(E: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """``(U, s2)``: left singular vectors and squared singular values of ``E`` (n, d), from the
    eigendecomposition of the smaller Gram matrix; directions with ``s2`` below ``tol * max``
    are dropped."""
    n, d = E.shape
    if d == 0 or n == 0:
        return np.zeros((n, 0)), np.zeros(0)
    if n <= d:
        s2, U = np.linalg.eigh(E @ E.T)
    else:
        s2, V = np.linalg.eigh(E.T @ E)
        keep = s2 > tol * max(float(s2.max()), 1e-300)
        s2, V = s2[keep], V[:, keep]
        return (E @ V) / np.sqrt(s2), s2
    keep = s2 > tol * max(float(s2.max()), 1e-300)
    return U[:, keep], s2[keep]


def _group_buckets(groups: np.ndarray) -> list[np.ndarray]:
    """Index arrays of shape (G, m), one per group size m (prompts with more than MAX_GROUP
    pairs cut into chunks of at most MAX_GROUP)."""
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    bounds = np.flatnonzero(np.diff(inverse.ravel()[order])) + 1
    chunks: dict[int, list[np.ndarray]] = {}
    for members in np.split(order, bounds):
        for start in range(0, len(members), MAX_GROUP):
            part = members[start : start + MAX_GROUP]
            chunks.setdefault(len(part), []).append(part)
    return [np.stack(parts) for _, parts in sorted(chunks.items())]


def heldout_errors(
    D: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    groups: np.ndarray,
    n_text: int,
    alphas: list[float],
    text_alphas: list[float],
    *,
    per_pair: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Leave-one-prompt-out weighted squared error of the ridge stand-in on a grid.

    Parameters
    ----------
    D : float64 (n, d), standardised chosen-minus-rejected rows; the last ``n_text`` columns are
        the text-feature block
    y : float64 (n,), the stand-in's target (``2 + margin``)
    w : float64 (n,), pair weights (positive)
    groups : (n,) prompt of each pair
    alphas, text_alphas : logistic penalties (``inf`` leaves the block out); the ridge uses 4x
    per_pair : also return each pair's held-out residual (scaled by the square root of its weight)

    Returns
    -------
    (errors, pairs): float64 (len(alphas), len(text_alphas)), the summed held-out error (``inf``
    where both blocks are left out), and with ``per_pair`` each pair's residual, float64
    (len(alphas), len(text_alphas), n) (else None). Without a text block (``n_text == 0``) only
    the column of ``text_alphas[0]`` is computed, the others are ``inf``.
    """
    root = np.sqrt(w)
    Ds, ys = D * root[:, None], y * root
    E, T = Ds[:, : D.shape[1] - n_text], Ds[:, D.shape[1] - n_text :]
    E = E[:, np.any(E != 0, axis=0)]
    U, s2 = _eigen_basis(E)
    buckets = _group_buckets(groups)
    Uy, UT = U.T @ ys, U.T @ T
    # per bucket of m-pair groups: the products U_i,r U_j,r, so that a penalty's hat-matrix
    # blocks are one matrix-vector product with the shrinkage factors
    # (kept only while small; large buckets recompute them per penalty instead)
    outer = [
        np.einsum("bir,bjr->bijr", U[idx], U[idx])
        if idx.size * idx.shape[1] * U.shape[1] <= 2e7
        else idx
        for idx in buckets
    ]
    out = np.full((len(alphas), len(text_alphas)), np.inf)
    pairs = np.full((len(alphas), len(text_alphas), len(ys)), np.inf) if per_pair else None
    for a, alpha in enumerate(alphas):
        g = np.zeros_like(s2) if np.isinf(alpha) else s2 / (s2 + 4.0 * alpha)
        fit_e = U @ (g * Uy)
        blocks_e = [
            o @ g if o.ndim == 4 else np.einsum("bir,r,bjr->bij", U[o], g, U[o]) for o in outer
        ]
        if n_text:
            RT = T - U @ (g[:, None] * UT)  # the embedding fit's residual-maker applied to T
            sigma, b_t = T.T @ RT, RT.T @ ys
            Z = [RT[idx] for idx in buckets]
        for t, text_alpha in enumerate(text_alphas):
            if n_text == 0 and t > 0:
                break
            if np.isinf(alpha) and (n_text == 0 or np.isinf(text_alpha)):
                continue
            fitted, P = fit_e, None
            if n_text and not np.isinf(text_alpha):
                P = np.linalg.inv(sigma + 4.0 * text_alpha * np.eye(n_text))
                fitted = fit_e + RT @ (P @ b_t)
            resid = ys - fitted
            total = 0.0
            for j, (idx, Hb) in enumerate(zip(buckets, blocks_e)):
                H = Hb if P is None else Hb + (Z[j] @ P) @ np.swapaxes(Z[j], 1, 2)
                m = idx.shape[1]
                r = resid[idx]
                if m == 1:
                    e = r[:, 0] / np.maximum(1.0 - H[:, 0, 0], 1e-12)
                    total += float(e @ e)
                    if pairs is not None:
                        pairs[a, t, idx[:, 0]] = e
                else:
                    e = np.linalg.solve(np.eye(m)[None] - H, r[..., None])[..., 0]
                    total += float((e * e).sum())
                    if pairs is not None:
                        pairs[a, t, idx] = e
            out[a, t] = total
    return out, pairs


def choose_penalties(
    D: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    groups: np.ndarray,
    n_text: int,
    alphas,
    text_alphas,
) -> tuple[float, float, dict]:
    """``(alpha, text_alpha, table)``: the penalties the held-out errors choose.

    The embedding-only fit takes the strongest penalty within one standard error of its best
    held-out error; a fit using the text block (the best of those) replaces it only when it
    ranks more held-out pairs right by at least one standard error (see the module docstring).

    ``table`` records the grid and each point's mean held-out error per unit of weight (for
    ``metrics_`` and the model card). Ties go to the stronger penalties (listed later in the
    grids when the grids ascend).
    """
    alphas = [float(a) for a in alphas]
    text_alphas = [float(a) for a in text_alphas] if n_text else [float("inf")]
    total, per_pair = heldout_errors(D, y, w, groups, n_text, alphas, text_alphas, per_pair=True)
    assert per_pair is not None  # asked for
    err = total / float(w.sum())
    flat = np.flatnonzero(err.ravel() == err.min())
    a, t = np.unravel_index(flat[-1], err.shape)
    # the embedding-only reference: its penalty by the one-standard-error rule (glmnet's
    # lambda.1se): the strongest whose held-out error is within one standard error of the best
    # embedding-only error, since small training sets favour strong penalties more than their
    # noisy errors show
    embedding_only = [j for j, ta in enumerate(text_alphas) if np.isinf(ta)]
    ref = None
    if embedding_only:
        col = embedding_only[0]
        finite = [i for i, al in enumerate(alphas) if np.isfinite(al) and np.isfinite(err[i, col])]
        if finite:
            best = min(finite, key=lambda i: err[i, col])
            sq = per_pair[best, col] ** 2 / w.mean()
            se = float(sq.std(ddof=1) / np.sqrt(len(sq))) if len(sq) > 1 else 0.0
            ref = (
                max(
                    (i for i in finite if err[i, col] <= err[best, col] + se),
                    key=lambda i: alphas[i],
                ),
                col,
            )
    # the text-feature block has to earn its place, on held-out pairwise accuracy: the best fit
    # that uses it replaces the reference only when it ranks more held-out pairs right, by at
    # least one standard error of the paired per-pair difference (the rule choose_head uses)
    uses_text = n_text and (not np.isinf(text_alphas[t]) or np.isinf(alphas[a]))
    if ref is not None and not uses_text:
        a, t = ref
    elif ref is not None:
        ys = y * np.sqrt(w)
        right = lambda i, j: ((ys - per_pair[i, j]) > 0).astype(np.float64)  # noqa: E731 - held-out fit > 0
        diff = (right(a, t) - right(*ref)) * w / w.mean()
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.inf
        if not (float(diff.mean()) > 0 and float(diff.mean()) >= se):
            a, t = ref
    table = {"alphas": alphas, "text_alphas": text_alphas, "heldout_error": err.tolist()}
    logger.info(
        "penalties by leave-one-prompt-out CV: alpha=%g, text_alpha=%g (error %.4f)",
        alphas[a],
        text_alphas[t],
        float(err[a, t]),
    )
    return alphas[a], text_alphas[t], table
