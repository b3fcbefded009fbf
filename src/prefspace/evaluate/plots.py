"""Figures for reports: accuracy against budget, best-of-N curves, reliability diagrams.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state,
no display needed) and written atomically at :data:`DPI` dots per inch. Each function takes
plain dicts/lists, so a report can be redrawn from ``results.jsonl`` alone.

Every figure is written as PNG (the HTML reports embed it); ``figure_format="svg"`` or
``"pdf"`` also writes the same figure as a vector file beside it (``reliability.svg`` next to
``reliability.png``), for a paper. Legends sit outside the axes, so they never cover data.
:func:`save_figure` is the one writer, shared with the synthesis diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._validation import check_in

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
# each method's interval band gets its own hatch and edge style as well as its colour, so
# overlapping bands stay apart (also in grey print)
_HATCHES = ["////", "\\\\\\\\", "....", "xxxx", "----", "||||", "oo", "++"]
_EDGES = ["-", "--", ":", "-."]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DPI = 150
FIGURE_FORMATS = ("png", "svg", "pdf")

__all__ = [
    "DPI",
    "FIGURE_FORMATS",
    "new_figure",
    "save_figure",
    "legend_below",
    "log_ticks",
    "plot_budget_curves",
    "plot_best_of_n",
    "plot_reliability",
]


def new_figure(
    n_panels: int = 1, width: float = 5.2, height: float = 3.8, *, rows: int = 1, height_ratios=None
):
    """A constrained-layout figure on the Agg canvas and its axes (a flat list, row by row)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n_panels, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, n_panels, height_ratios=height_ratios)
    axes = [fig.add_subplot(grid[r, c]) for r in range(rows) for c in range(n_panels)]
    return fig, axes


def save_figure(fig, path, figure_format: str = "png") -> Path:
    """Write ``fig`` to ``path`` (PNG, :data:`DPI`) and, for ``"svg"``/``"pdf"``, also beside it
    in that format; returns the PNG's path. Each file is written atomically."""
    check_in(figure_format, FIGURE_FORMATS, name="figure_format")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for fmt in ("png",) if figure_format == "png" else ("png", figure_format):
        target = path.with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    return path.with_suffix(".png")


def _metadata(fmt: str) -> dict:
    # no creation date or tool version in vector files: the same figure gives the same bytes
    return {
        "svg": {"Date": None, "Creator": None},
        "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
    }.get(fmt, {})


def legend_below(fig, axes, ncols: int | None = None) -> None:
    """One legend for the figure, below the axes (outside them, so it covers no data)."""
    handles, labels = [], []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=ncols or min(len(labels), 3),
            fontsize=9,
            frameon=False,
        )


def log_ticks(ax, values, base: float = 10, min_gap: float = 0.08) -> None:
    """A log x axis with a tick at each of ``values`` and no minor ticks. A tick is labelled
    unless it sits within ``min_gap`` of the axis (in log distance) of the last labelled one, so
    labels never collide; the largest value is always labelled."""
    ticks = sorted({float(v) for v in values if v and np.isfinite(v) and v > 0})
    ax.set_xscale("log", base=base)
    ax.minorticks_off()
    if not ticks:
        return
    span = np.log(ticks[-1]) - np.log(ticks[0]) or 1.0
    pos = [(np.log(t) - np.log(ticks[0])) / span for t in ticks]
    shown = [0]
    for i in range(1, len(ticks)):
        if pos[i] - pos[shown[-1]] >= min_gap:
            shown.append(i)
    if shown[-1] != len(ticks) - 1:  # the largest value wins over its near neighbour
        shown[-1] = len(ticks) - 1
    ax.set_xticks(ticks, [f"{t:g}" if i in shown else "" for i, t in enumerate(ticks)])


def _band(ax, x, low, high, i: int) -> None:
    """Method ``i``'s interval as a band with its own colour, hatch and edge style."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    if not np.isfinite(low).any():
        return
    color = _COLORS[i % len(_COLORS)]
    ax.fill_between(x, low, high, facecolor=color, alpha=0.12, linewidth=0)
    ax.fill_between(
        x,
        low,
        high,
        facecolor="none",
        edgecolor=color,
        alpha=0.45,
        hatch=_HATCHES[i % len(_HATCHES)],
        linewidth=0,
    )
    style = _EDGES[i % len(_EDGES)]
    ax.plot(x, low, linestyle=style, color=color, linewidth=0.8, alpha=0.8)
    ax.plot(x, high, linestyle=style, color=color, linewidth=0.8, alpha=0.8)


def _point_ranges(ax, methods: dict) -> None:
    """One budget only: each method's value and interval side by side (a line needs two points)."""
    names = list(methods)
    for i, name in enumerate(names):
        c = methods[name]
        mean, low, high = float(c["mean"][0]), float(c["low"][0]), float(c["high"][0])
        err = (
            None if not (np.isfinite(low) and np.isfinite(high)) else [[mean - low], [high - mean]]
        )
        ax.errorbar(
            [i],
            [mean],
            yerr=err,
            fmt=_MARKERS[i % len(_MARKERS)],
            color=_COLORS[i % len(_COLORS)],
            capsize=4,
            label=name,
        )
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)


def plot_budget_curves(
    curves: dict, path, *, metric: str = "accuracy", title: str = "", figure_format: str = "png"
) -> Path:
    """Metric against training budget, one line per method with its 95% interval as a band.

    Bands differ in colour, hatch and edge style. A panel with one budget only is drawn as
    each method's value with its interval, side by side, not as one-point lines.

    Parameters
    ----------
    curves : {panel name (dataset): {method: {"budget": [...], "mean": [...], "low": [...],
        "high": [...]}}}; NaN bounds draw no band.
    path : where to write the PNG
    """
    fig, axes = new_figure(max(1, len(curves)))
    for ax, (panel, methods) in zip(axes, curves.items()):
        budgets = sorted({float(b) for c in methods.values() for b in c["budget"]})
        if len(budgets) == 1:
            _point_ranges(ax, methods)
            ax.set_xlabel(f"method, at {budgets[0]:g} training pairs (budget)")
            ax.set_ylabel(metric)
            ax.set_title(f"{title} {panel}".strip(), fontsize=10)
            ax.grid(alpha=0.3, axis="y")
            continue
        for i, (method, c) in enumerate(methods.items()):
            color = _COLORS[i % len(_COLORS)]
            x = np.asarray(c["budget"], dtype=float)
            ax.plot(x, c["mean"], marker=_MARKERS[i % len(_MARKERS)], color=color, label=method)
            _band(ax, x, c["low"], c["high"], i)
        log_ticks(ax, [b for c in methods.values() for b in c["budget"]])
        ax.set_xlabel("training pairs (budget)")
        ax.set_ylabel(metric)
        ax.set_title(f"{title} {panel}".strip(), fontsize=10)
        ax.grid(alpha=0.3)
    legend_below(fig, axes, ncols=min(4, max(len(m) for m in curves.values()) if curves else 1))
    return save_figure(fig, path, figure_format)


def plot_best_of_n(
    curves: dict,
    path,
    *,
    oracle=None,
    random=None,
    ns=None,
    title: str = "best-of-N",
    figure_format: str = "png",
) -> Path:
    """Expected gold of the best-of-N pick against N (log2 axis), per method.

    Parameters
    ----------
    curves : {method: {"n": [...], "mean": [...], "low": [...], "high": [...]}}
    oracle, random : optional lists (same ``ns``) drawn as dashed reference lines
    """
    fig, (ax,) = new_figure(1)
    for i, (method, c) in enumerate(curves.items()):
        color = _COLORS[i % len(_COLORS)]
        x = np.asarray(c["n"], dtype=float)
        ax.plot(x, c["mean"], marker=_MARKERS[i % len(_MARKERS)], color=color, label=method)
        _band(ax, x, c.get("low", c["mean"]), c.get("high", c["mean"]), i)
    if oracle is not None:
        ax.plot(ns, oracle, linestyle="--", color="black", label="oracle (pick by gold)")
    if random is not None:
        ax.plot(ns, random, linestyle=":", color="gray", label="random pick")
    log_ticks(ax, [n for c in curves.values() for n in c["n"]] + list(ns or []), base=2)
    ax.set_xlabel("N (responses sampled per prompt)")
    ax.set_ylabel("gold score of the chosen response")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    legend_below(fig, [ax])
    return save_figure(fig, path, figure_format)


def plot_reliability(
    diagrams: dict, path, *, title: str = "reliability", figure_format: str = "png"
) -> Path:
    """Reliability diagrams: observed frequency against predicted probability, per method, with
    the number of predictions in each bin in a panel below.

    Parameters
    ----------
    diagrams : {method: {"mean_prob": [...], "frac_pos": [...], "count": [...], "ece": float,
        optional "ece_label": str}} (the output of
        :func:`~prefspace.evaluate.calibration.reliability_bins`, or bins summed over seeds);
        empty bins are skipped. The legend shows ``ece_label`` when given (pass the text the
        report's table shows, so the two agree), else the ECE to three decimals. Bins are
        ``edges`` when given, else equal-width over [0, 1].
    """
    fig, (ax, hist) = new_figure(1, width=4.8, height=5.2, rows=2, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    n_methods = max(1, len(diagrams))
    for i, (method, d) in enumerate(diagrams.items()):
        color = _COLORS[i % len(_COLORS)]
        mp = np.asarray(d["mean_prob"], dtype=float)
        fp = np.asarray(d["frac_pos"], dtype=float)
        count = np.asarray(d.get("count", np.zeros(len(mp))), dtype=float)
        ok = np.isfinite(mp) & np.isfinite(fp)
        label = d.get("ece_label") or f"{d['ece']:.3f}"
        ax.plot(mp[ok], fp[ok], marker="o", color=color, label=f"{method} (ECE {label})")
        edges = np.asarray(
            d.get("edges") if d.get("edges") is not None else np.linspace(0, 1, len(count) + 1),
            dtype=float,
        )
        width = np.diff(edges) / (n_methods + 0.5)
        bars = hist.bar(
            edges[:-1] + width * (i + 0.25),
            count,
            width=width,
            align="edge",
            color=color,
            alpha=0.8,
        )
        if (
            n_methods <= 2
        ):  # the count of each bin, written on its bar (more methods would crowd them)
            hist.bar_label(
                bars, labels=[f"{int(c)}" if c > 0 else "" for c in count], fontsize=6, padding=1
            )
    ax.set_xlim(-0.02, 1.02)  # a little room, so points on 0 or 1 are not cut in half
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("observed frequency")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.tick_params(labelbottom=False)
    hist.set_xlim(-0.02, 1.02)
    hist.set_xlabel("predicted P(chosen wins)")
    hist.set_ylabel("predictions")
    hist.margins(y=0.25)  # room for the counts above the bars
    hist.grid(alpha=0.3, axis="y")
    legend_below(fig, [ax], ncols=1)
    return save_figure(fig, path, figure_format)
