"""PNG plots for reports: accuracy against budget, best-of-N curves, reliability diagrams.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state,
no display needed) and written atomically. Each function takes plain dicts/lists, so a report
can be redrawn from ``results.jsonl`` alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from .._atomic import atomic_path

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _figure(n_panels: int = 1, width: float = 5.2, height: float = 3.8):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n_panels, i + 1) for i in range(n_panels)]
    return fig, axes


def _save(fig, path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def plot_budget_curves(curves: dict, path, *, metric: str = "accuracy", title: str = "") -> Path:
    """Metric against training budget, one line per method with its 95% interval as a band.

    Parameters
    ----------
    curves : {panel name (dataset): {method: {"budget": [...], "mean": [...], "low": [...],
        "high": [...]}}}; NaN bounds draw no band.
    path : where to write the PNG
    """
    fig, axes = _figure(max(1, len(curves)))
    for ax, (panel, methods) in zip(axes, curves.items()):
        for i, (method, c) in enumerate(methods.items()):
            color = _COLORS[i % len(_COLORS)]
            x = np.asarray(c["budget"], dtype=float)
            ax.plot(x, c["mean"], marker="o", color=color, label=method)
            low, high = np.asarray(c["low"], float), np.asarray(c["high"], float)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
        ax.set_xscale("log")
        budgets = sorted({b for c in methods.values() for b in c["budget"]})
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("training pairs (budget)")
        ax.set_ylabel(metric)
        ax.set_title(f"{title} {panel}".strip())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_best_of_n(curves: dict, path, *, oracle=None, random=None, ns=None, title: str = "best-of-N") -> Path:
    """Expected gold of the best-of-N pick against N (log2 axis), per method.

    Parameters
    ----------
    curves : {method: {"n": [...], "mean": [...], "low": [...], "high": [...]}}
    oracle, random : optional lists (same ``ns``) drawn as dashed reference lines
    """
    fig, (ax,) = _figure(1)
    for i, (method, c) in enumerate(curves.items()):
        color = _COLORS[i % len(_COLORS)]
        x = np.asarray(c["n"], dtype=float)
        ax.plot(x, c["mean"], marker="o", color=color, label=method)
        low, high = np.asarray(c.get("low", c["mean"]), float), np.asarray(c.get("high", c["mean"]), float)
        if np.isfinite(low).any():
            ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
    if oracle is not None:
        ax.plot(ns, oracle, linestyle="--", color="black", label="oracle (pick by gold)")
    if random is not None:
        ax.plot(ns, random, linestyle=":", color="gray", label="random pick")
    ax.set_xscale("log", base=2)
    all_n = sorted({int(n) for c in curves.values() for n in c["n"]} | set(int(n) for n in (ns or [])))
    ax.set_xticks(all_n, [str(n) for n in all_n])
    ax.minorticks_off()
    ax.set_xlabel("N (responses sampled per prompt)")
    ax.set_ylabel("gold score of the chosen response")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_reliability(diagrams: dict, path, *, title: str = "reliability") -> Path:
    """Reliability diagrams: observed frequency against predicted probability, per method.

    Parameters
    ----------
    diagrams : {method: {"mean_prob": [...], "frac_pos": [...], "count": [...], "ece": float}}
        (the output of :func:`~prefspace.evaluate.calibration.reliability_bins`, or bins summed
        over seeds); empty bins are skipped.
    """
    fig, (ax,) = _figure(1, width=4.6, height=4.2)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    for i, (method, d) in enumerate(diagrams.items()):
        color = _COLORS[i % len(_COLORS)]
        mp = np.asarray(d["mean_prob"], dtype=float)
        fp = np.asarray(d["frac_pos"], dtype=float)
        ok = np.isfinite(mp) & np.isfinite(fp)
        ax.plot(mp[ok], fp[ok], marker="o", color=color, label=f"{method} (ECE {d['ece']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(chosen wins)")
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)
