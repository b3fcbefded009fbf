"""Diagnostics a user can look at before trusting synthetic pairs.

* :func:`reconstruction_curve` -- reconstruction error and variance kept by the latent model
  against the number of training pairs (on the training pairs and on held-out pairs).
* :func:`label_preservation` -- how often an independent reward model, cross-fitted on other
  real pairs, agrees with the inherited labels, against ``sigma2`` and the factor ``k``.
* :func:`plot_projection` -- real and synthetic responses on the first two principal
  components of the real ones.

The ``plot_*`` functions write PNG files (150 dpi; SVG or PDF beside them with
``figure_format``) with matplotlib's Agg canvas (no display needed) and return the PNG's path. Nothing here changes a synthesizer's results.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.base import clone

from .._threads import limit_threads
from .._validation import check_pairs
from ..evaluate.plots import legend_below, log_ticks, new_figure, save_figure

logger = logging.getLogger(__name__)

__all__ = [
    "reconstruction_curve",
    "own_heldout_row",
    "label_preservation",
    "plot_reconstruction",
    "plot_label_preservation",
    "plot_projection",
]


def reconstruction_curve(
    X, synthesizer, sizes=(50, 100, 250, 500, 1000), *, n_heldout: int = 300, random_state: int = 0
) -> list[dict]:
    """Fit ``clone(synthesizer)`` on the first ``n`` of a shuffled ``X`` for each ``n`` in ``sizes``.

    The last ``n_heldout`` pairs (at most a third of ``X``) are never fitted and measure how
    well the latent code generalises. Sizes above what is left are dropped. Returns one dict
    per size: ``n_pairs``, ``train_recon_mse``, ``train_variance_kept``, ``heldout_recon_mse``,
    ``heldout_variance_kept``.
    """
    X = check_pairs(X)
    order = np.random.default_rng(random_state).permutation(len(X))
    n_ho = min(n_heldout, len(X) // 3)
    heldout, pool = X[order[:n_ho]], X[order[n_ho:]]
    rows = []
    for n in sorted({int(s) for s in sizes if 2 <= int(s) <= len(pool)}):
        s = clone(synthesizer).fit(pool[:n])
        tr = s.reconstruction_report()
        ho = (
            s.reconstruction_report(heldout)
            if n_ho
            else {"recon_mse": float("nan"), "variance_kept": float("nan")}
        )
        rows.append(
            {
                "n_pairs": n,
                "train_recon_mse": tr["recon_mse"],
                "train_variance_kept": tr["variance_kept"],
                "heldout_recon_mse": ho["recon_mse"],
                "heldout_variance_kept": ho["variance_kept"],
            }
        )
        logger.info("reconstruction at %d pairs: %s", n, rows[-1])
    return rows


def own_heldout_row(X, synthesizer) -> dict | None:
    """The reconstruction of a fitted latent synthesizer on the pairs its fit held out.

    ``LatentSynthesizer`` holds out a tenth of its pairs to stop the VAE's training
    (``heldout_pairs_``): they were never trained on, but they chose which step's weights were
    kept, so their figure can flatter the model slightly. It costs no refit, which is why the
    ``fast`` diagnostics use it. Returns a :func:`reconstruction_curve` row (``n_pairs``: the
    pairs trained on; ``heldout`` says where the held-out figures come from), or None when the
    synthesizer held nothing out (``PCASynthesizer``, or early stopping off).
    """
    X = check_pairs(X)
    held = np.asarray(getattr(synthesizer, "heldout_pairs_", ()), dtype=np.int64)
    fitted_on = getattr(synthesizer, "X_", None)
    if not len(held) or fitted_on is None or fitted_on is not X:
        return None
    fitted = np.setdiff1d(np.arange(len(X)), held)
    tr = synthesizer.reconstruction_report(X[fitted])
    ho = synthesizer.reconstruction_report(X[held])
    return {
        "n_pairs": int(len(fitted)),
        "train_recon_mse": tr["recon_mse"],
        "train_variance_kept": tr["variance_kept"],
        "heldout_recon_mse": ho["recon_mse"],
        "heldout_variance_kept": ho["variance_kept"],
        "heldout": f"the fit's {len(held)} early-stopping pairs",
    }


def label_preservation(
    X,
    synthesizer,
    *,
    sigma2s=(0.0025, 0.01, 0.04, 0.16),
    factors=(2, 4, 8),
    estimator=None,
    groups=None,
    random_state: int = 0,
    sampled=None,
    reference=None,
) -> list[dict]:
    """Agreement of a cross-fitted reference model with the inherited labels.

    ``synthesizer`` is fitted once on ``X`` (unless already fitted on it); ``sigma2`` only acts
    at sampling time, so every (sigma2, factor) cell reuses the fit. For each cell: the share
    of synthetic pairs the reference model (fitted on the real pairs of other folds, default
    ``BradleyTerryLinear``) orders like their parent, and the same share for the real pairs
    themselves (the reference model's own out-of-fold accuracy: the ceiling).

    ``sampled``: the pairs ``synthesizer.sample(k)`` already gave at its own ``sigma2`` (a
    sample is the same for the same fit, ``sigma2`` and ``k``), used for that cell instead of
    drawing them again. ``reference``: a :class:`~prefspace.synth.augment.CrossFittedReference`
    already fitted on ``X`` (``estimator``, ``groups`` and ``random_state`` are then its own),
    e.g. built while the synthesizer was fitting.
    """
    X = check_pairs(X)
    s = synthesizer if getattr(synthesizer, "X_", None) is X else clone(synthesizer).fit(X)
    from .augment import CrossFittedReference
    from .pairs import SyntheticPairs

    ref = (
        reference
        if reference is not None
        else CrossFittedReference(X, estimator=estimator, groups=groups, random_state=random_state)
    )
    real = float(
        ref.agrees(
            SyntheticPairs(X, np.arange(len(X)), np.zeros((len(X), 2), bool), method="real")
        ).mean()
    )
    rows = []
    sigma0 = getattr(s, "sigma2", None)
    own = (sigma0, len(sampled) // len(X)) if sampled is not None and s is synthesizer else None
    for sigma2 in sigma2s if sigma0 is not None else (None,):
        if sigma2 is not None:
            s.set_params(sigma2=float(sigma2))
        for k in factors:
            syn = sampled if own == (sigma2, int(k)) else s.sample(int(k))
            agree = ref.agrees(syn)
            rows.append(
                {
                    "sigma2": sigma2,
                    "factor": int(k),
                    "agreement": float(agree.mean()),
                    "real_agreement": real,
                    "n_synthetic": len(syn),
                }
            )
    if sigma0 is not None:
        s.set_params(sigma2=sigma0)
    return rows


def _top_components(R: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` principal directions of the centred rows ``R`` (n, d), as columns (d, k).

    From the d x d scatter matrix and only its top ``k`` eigenvectors: the full SVD of a
    2,000 x 768 matrix took longer than the rest of the plot. Each column's sign is fixed
    (largest entry positive) so the picture does not flip between LAPACK builds.
    """
    from scipy.linalg import eigh

    d = R.shape[1]
    k = min(k, d)
    with limit_threads(1):  # a 768 x 768 problem: faster on one BLAS thread than on two
        _, V = eigh(R.T @ R, subset_by_index=[d - k, d - 1])
    V = V[:, ::-1]
    return V * np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])


# -- plots -----------------------------------------------------------------------------------
# Written by prefspace.evaluate.plots.save_figure: PNG at 150 dpi, plus SVG or PDF on request.
def plot_reconstruction(rows: list[dict], path, *, figure_format: str = "png") -> Path:
    """Variance kept and reconstruction error against training pairs (from ``reconstruction_curve``)."""
    fig, axes = new_figure(2, width=4.4, height=3.6)
    n = [r["n_pairs"] for r in rows]
    panels = (
        ("variance_kept", axes[0], "variance kept", "share of response variance kept"),
        ("recon_mse", axes[1], "reconstruction error", "standardised MSE per dimension"),
    )
    for key, ax, title, ylabel in panels:
        ax.plot(
            n,
            [r[f"train_{key}"] for r in rows],
            "o-",
            color="#1f77b4",
            label="on its training pairs",
        )
        ax.plot(
            n,
            [r[f"heldout_{key}"] for r in rows],
            "s--",
            color="#d62728",
            label="on held-out pairs",
        )
        log_ticks(ax, n)
        ax.set_xlabel("training pairs")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(
        min(
            0.0,
            *[r["heldout_variance_kept"] for r in rows if np.isfinite(r["heldout_variance_kept"])]
            or [0.0],
        ),
        1.0,
    )
    fig.suptitle("Latent model reconstruction against training pairs", fontsize=11)
    legend_below(fig, axes)
    return save_figure(fig, path, figure_format)


def plot_label_preservation(rows: list[dict], path, *, figure_format: str = "png") -> Path:
    """Agreement with inherited labels against sigma2, one line per factor (``label_preservation``)."""
    fig, (ax,) = new_figure(1, width=5.2, height=4.0)
    for k in sorted({r["factor"] for r in rows}):
        sub = [r for r in rows if r["factor"] == k]
        xs = [r["sigma2"] if r["sigma2"] is not None else 0.0 for r in sub]
        ax.plot(xs, [r["agreement"] for r in sub], "o-", label=f"synthetic pairs, k = {k}")
    if rows:
        ax.axhline(
            rows[0]["real_agreement"],
            color="k",
            ls=":",
            label="real pairs (the reference model's ceiling)",
        )
    sigmas = [r["sigma2"] for r in rows if r["sigma2"]]
    if sigmas:
        log_ticks(ax, sigmas)
        ax.set_xlabel("sigma² (latent perturbation variance)")
    else:
        ax.set_xticks([])
        ax.set_xlabel("(this synthesizer has no sigma²)")
    ax.set_ylabel("reference model agrees with the label")
    ax.set_ylim(
        max(
            0.0,
            min([r["agreement"] for r in rows] + [r["real_agreement"] for r in rows] or [0.5])
            - 0.05,
        ),
        1.0,
    )
    ax.set_title("Label preservation of synthetic pairs", fontsize=10)
    ax.grid(alpha=0.3)
    legend_below(fig, [ax], ncols=2)
    return save_figure(fig, path, figure_format)


def plot_projection(
    X_real,
    synthetic,
    path,
    *,
    max_points: int = 2000,
    random_state: int = 0,
    figure_format: str = "png",
) -> Path:
    """Real and synthetic chosen/rejected responses on the real responses' first two PCs
    (of the columns that differ within pairs: the prompt half of a separate layout is left out)."""
    from ..models.holdout import shared_column_mask

    X_real = check_pairs(X_real)
    free = ~shared_column_mask(X_real) if len(X_real) >= 2 else np.ones(X_real.shape[2], bool)
    if not free.any():
        free[:] = True
    X_real = X_real[:, :, free]  # the prompt columns (same on both sides) would dominate the PCs
    R = X_real.reshape(-1, X_real.shape[2]).astype(np.float64)
    mean = R.mean(0)
    P = _top_components(R - mean, 2)
    rng = np.random.default_rng(random_state)

    def proj(A, side):
        A = A[:, side]
        if len(A) > max_points:
            A = A[rng.choice(len(A), max_points, replace=False)]
        return (A - mean) @ P

    fig, (ax,) = new_figure(1, width=5.2, height=4.6)
    Sc = synthetic.X[synthetic.synthetic_side[:, 0]][:, :, free]
    Sr_ = synthetic.X[synthetic.synthetic_side[:, 1]][:, :, free]
    for A, side, style in (
        (Sc, 0, dict(c="tab:green", alpha=0.25, s=6, label="synthetic chosen")),
        (Sr_, 1, dict(c="tab:red", alpha=0.25, s=6, label="synthetic rejected")),
        (X_real, 0, dict(c="darkgreen", s=12, marker="^", label="real chosen")),
        (X_real, 1, dict(c="darkred", s=12, marker="v", label="real rejected")),
    ):
        if len(A):
            q = proj(A, side)
            ax.scatter(q[:, 0], q[:, 1], **style)
    ax.set_xlabel("PC 1 of real responses")
    ax.set_ylabel("PC 2 of real responses")
    ax.set_title(f"Real and synthetic responses ({synthetic.method})", fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=2,
        fontsize=8,
        markerscale=2,
        frameon=False,
    )
    return save_figure(fig, path, figure_format)
