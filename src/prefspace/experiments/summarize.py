"""Turn experiment rows into results.csv, summary.md, PNG plots and report.html.

Across seeds, a cell's metric is summarised by its mean and a 95% interval of the mean (seeds
are the independent runs) that stays inside the metric's range: for a bounded metric (accuracy,
ECE, correlations, best-of-N gold) a Student-t interval on the logit scale
(:func:`~prefspace.evaluate.report.mean_interval` with ``bounds``). With one seed the run's own
interval is shown (Wilson for accuracy, a bootstrap over prompts for best-of-N). Paired
differences take, for each (dataset, budget, seed), the method's metric minus the baseline's on
the same training pairs, then the mean and interval of those differences over seeds (inside
``[-(hi - lo), hi - lo]``). Reliability diagrams pool
the bins of all seeds of a method at one budget (the largest, by default).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..evaluate.plots import plot_best_of_n, plot_budget_curves, plot_reliability
from ..evaluate.report import (
    Section,
    format_interval,
    markdown_table,
    mean_interval,
    write_html_report,
    write_text_atomic,
)

logger = logging.getLogger(__name__)

_NESTED = ("reliability", "best_of_n", "subsets", "augment_info", "rounds", "length_baseline")

#: the method name under which the learned length baseline appears in summaries
LENGTH_BASELINE = "length baseline"


def with_length_baseline(rows: list[dict]) -> list[dict]:
    """``rows`` plus one ``"length baseline"`` row per (dataset, budget, seed): the learned
    length baseline each cell fitted on the same training pairs (identical for every method at
    a budget and seed, as the training draws are shared) and measured on the same test data.

    Cells without texts (pair arrays) or selection cells have none; the rows come back as given
    when no cell has one.
    """
    out = [r for r in rows if r.get("method") != LENGTH_BASELINE]
    seen = set()
    for r in out[:]:
        lb = r.get("length_baseline")
        key = (r["dataset"], r["budget"], r["seed"])
        if not lb or key in seen:
            continue
        seen.add(key)
        out.append(
            {
                "key": f"{r['dataset']}|{r['budget']}|{LENGTH_BASELINE}|{r['seed']}",
                "dataset": r["dataset"],
                "kind": r.get("kind"),
                "budget": r["budget"],
                "method": LENGTH_BASELINE,
                "seed": r["seed"],
                "head": "LengthBaseline",
                "n_train": r.get("n_train"),
                "gold_range": r.get("gold_range"),
                **lb,
            }
        )
    return out


def subset_accuracies(row: dict) -> dict:
    """``{subset name: accuracy}`` of a row (``evaluate_pairs``'s ``subsets``), empty without subsets."""
    return {
        name: v["accuracy"]
        for name, v in ((row.get("subsets") or {}).get("per_subset") or {}).items()
    }


def flat_rows(rows: list[dict]) -> list[dict]:
    """Scalar columns of each row (nested fields dropped; subset accuracies as ``acc[<name>]`` and
    their example-weighted average as ``subset_weighted``)."""
    out = []
    for r in rows:
        flat = {k: v for k, v in r.items() if k not in _NESTED}
        for name, acc in subset_accuracies(r).items():
            flat[f"acc[{name}]"] = acc
        if r.get("subsets"):
            flat["subset_weighted"] = r["subsets"].get("weighted")
        out.append(flat)
    return out


def write_results_csv(rows: list[dict], path) -> Path:
    flat = flat_rows(rows)
    columns: list[str] = []
    for r in flat:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in flat:
        writer.writerow(r)
    return write_text_atomic(path, buf.getvalue())


_BOUNDS = {
    "accuracy": (0.0, 1.0),
    "ece": (0.0, 1.0),
    "subset_weighted": (0.0, 1.0),
    "spearman": (-1.0, 1.0),
    "kendall": (-1.0, 1.0),
}
# the interval a single run carries for a metric: (low field, high field)
_RUN_INTERVAL = {"accuracy": ("ci_low", "ci_high")}


def metric_bounds(metric: str, rows=()) -> tuple[float, float] | None:
    """The range of ``metric`` (None when unbounded): accuracies in [0, 1], correlations in
    [-1, 1], best-of-N gold within the gold scores' range recorded in the rows."""
    if metric in _BOUNDS:
        return _BOUNDS[metric]
    if metric.startswith("acc["):
        return (0.0, 1.0)
    if metric.startswith("bon@") and not metric.endswith(("_low", "_high")):
        ranges = [r["gold_range"] for r in rows if r.get("gold_range")]
        if ranges:
            return (min(a for a, _ in ranges), max(b for _, b in ranges))
    return None


def cell_interval(rows: list[dict], metric: str) -> tuple[float, float, float]:
    """(mean, low, high) of ``metric`` over the rows (seeds) of one cell, inside its range; with
    one seed, that run's own interval when it has one."""
    vals = [float(r[metric]) for r in rows if _finite(r.get(metric))]
    if len(vals) == 1:
        row = next(r for r in rows if _finite(r.get(metric)))
        lo_key, hi_key = _RUN_INTERVAL.get(metric, (f"{metric}_low", f"{metric}_high"))
        if _finite(row.get(lo_key)) and _finite(row.get(hi_key)):
            return float(vals[0]), float(row[lo_key]), float(row[hi_key])
    return mean_interval(vals, bounds=metric_bounds(metric, rows))


def difference_interval(diffs: list[float], metric: str, rows=()) -> tuple[float, float, float]:
    """Mean and interval of per-seed paired differences, inside ``[-(hi - lo), hi - lo]``."""
    b = metric_bounds(metric, rows)
    return mean_interval(diffs, bounds=None if b is None else (b[0] - b[1], b[1] - b[0]))


def format_cell(rows: list[dict], metric: str) -> str:
    """``"0.712 [0.690, 0.734]"`` for one cell's rows (see :func:`cell_interval`)."""
    return format_interval(*cell_interval(rows, metric))


def _group(rows, keys):
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    return groups


def summary_tables(
    rows: list[dict], baseline: str, metrics: list[str]
) -> tuple[list, list, list, list]:
    """(header, rows) of the per-cell table and of the paired-difference table."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    header = ["dataset", "budget", "method", "seeds"] + [f"{m} (95% CI)" for m in metrics]
    table = []
    for (ds, budget, method), grp in sorted(
        _group(rows, ("dataset", "budget", "method")).items(),
        key=lambda kv: (kv[0][0], kv[0][1], methods.index(kv[0][2])),
    ):
        cells = [format_cell(grp, m) for m in metrics]
        table.append([ds, budget, method, len(grp)] + cells)

    diff_header = ["dataset", "budget", "method", "pairs"] + [
        f"Δ{m} vs {baseline} (95% CI)" for m in metrics
    ]
    diffs = []
    by_cell = {(r["dataset"], r["budget"], r["method"], r["seed"]): r for r in rows}
    for (ds, budget, method), grp in sorted(
        _group(rows, ("dataset", "budget", "method")).items(),
        key=lambda kv: (kv[0][0], kv[0][1], methods.index(kv[0][2])),
    ):
        if method == baseline:
            continue
        cells = []
        n_pairs = 0
        for m in metrics:
            d = []
            for g in grp:
                base = by_cell.get((ds, budget, baseline, g["seed"]))
                if base is not None and _finite(g.get(m)) and _finite(base.get(m)):
                    d.append(g[m] - base[m])
            n_pairs = max(n_pairs, len(d))
            cells.append(format_interval(*difference_interval(d, m, grp)) if d else "n/a")
        diffs.append([ds, budget, method, n_pairs] + cells)
    return header, table, diff_header, diffs


def control_tables(rows: list[dict], metrics: list[str]) -> tuple[list, list]:
    """(header, rows): every synthesis method against ``repeat`` with the same head and factor.

    ``repeat`` (the real pairs copied, the same weights and training steps) is the control a
    synthesis must beat: it "helps" only where the paired difference's interval is clear of 0.
    """
    controls: dict[tuple, str] = {}
    for r in rows:
        if r.get("augment") == "repeat":
            controls.setdefault((r.get("head"), r.get("factor")), r["method"])
    header = (
        ["dataset", "budget", "method", "control", "seeds"]
        + [f"Δ{m} vs control (95% CI)" for m in metrics]
        + ["held-out variance kept", "helps"]
    )
    out = []
    by_cell = {(r["dataset"], r["budget"], r["method"], r["seed"]): r for r in rows}
    for (ds, budget, method), grp in sorted(
        _group(rows, ("dataset", "budget", "method")).items(),
        key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]),
    ):
        aug = grp[0].get("augment")
        control = controls.get((grp[0].get("head"), grp[0].get("factor")))
        if aug in (None, "none", "repeat") or control is None:
            continue
        cells, helps, n = [], "no", 0
        for m in metrics:
            d = [
                g[m] - by_cell[(ds, budget, control, g["seed"])][m]
                for g in grp
                if (ds, budget, control, g["seed"]) in by_cell
                and _finite(g.get(m))
                and _finite(by_cell[(ds, budget, control, g["seed"])].get(m))
            ]
            n = max(n, len(d))
            mean, lo, hi = difference_interval(d, m, grp) if d else (float("nan"),) * 3
            cells.append(format_interval(mean, lo, hi) if d else "n/a")
            if m == metrics[0] and d and np.isfinite(lo) and (lo > 0 if m != "ece" else hi < 0):
                helps = "yes"
        kept = [g["heldout_variance_kept"] for g in grp if _finite(g.get("heldout_variance_kept"))]
        out.append(
            [ds, budget, method, control, n]
            + cells
            + [f"{np.mean(kept):.2f}" if kept else "n/a", helps]
        )
    return header, out


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def budget_curves(rows: list[dict], metric: str = "accuracy") -> dict:
    """{dataset: {method: {"budget", "mean", "low", "high"}}} for :func:`plot_budget_curves`."""
    curves: dict = defaultdict(dict)
    for (ds, method), grp in _group(rows, ("dataset", "method")).items():
        by_budget = _group(grp, ("budget",))
        budgets = sorted(b for (b,) in by_budget)
        stats = [cell_interval(by_budget[(b,)], metric) for b in budgets]
        curves[ds][method] = {
            "budget": budgets,
            "mean": [s[0] for s in stats],
            "low": [s[1] for s in stats],
            "high": [s[2] for s in stats],
        }
    return dict(curves)


def pooled_reliability(rows: list[dict]) -> dict:
    """Pool the reliability bins of rows (``evaluate_pairs``'s ``count``, ``mean_prob``,
    ``frac_pos`` per bin; an empty bin's mean is NaN or null); returns ``mean_prob``,
    ``frac_pos``, ``count``, ``ece``."""
    counts = [np.asarray(r["reliability"]["count"], dtype=np.float64) for r in rows]

    def total(key):  # per-bin sum over rows of mean times count (0 for empty bins)
        return np.sum(
            [
                np.nan_to_num(np.asarray(r["reliability"][key], dtype=np.float64)) * c
                for r, c in zip(rows, counts)
            ],
            axis=0,
        )

    count = np.sum(counts, axis=0)
    psum, ysum = total("mean_prob"), total("frac_pos")
    with np.errstate(invalid="ignore", divide="ignore"):
        mp = np.where(count > 0, psum / count, np.nan)
        fp = np.where(count > 0, ysum / count, np.nan)
    ok = count > 0
    ece = float(np.sum(count[ok] / count.sum() * np.abs(mp[ok] - fp[ok])))
    return {"mean_prob": mp, "frac_pos": fp, "count": count, "ece": ece}


@dataclass(frozen=True)
class _Tables:
    """The summary's tables: the means, the paired differences against ``baseline``, against
    the learned length baseline (None without its rows) and against the repeat control."""

    baseline: str
    metrics: list[str]
    bon_n: int
    summary: tuple[list, list]
    diffs: tuple[list, list]
    length: tuple[list, list] | None
    control: tuple[list, list]


def _tables(rows: list[dict], config: dict) -> _Tables:
    baseline = config.get("baseline") or rows[0]["method"]
    scored = any(r.get("kind") == "scored" for r in rows)
    metrics = ["accuracy", "ece"] + (["spearman", "kendall"] if scored else [])
    bon_n = (config.get("eval") or {}).get("report_n", 16)
    if scored and any(f"bon@{bon_n}" in r for r in rows):
        metrics.append(f"bon@{bon_n}")
    header, table, dheader, diffs = summary_tables(rows, baseline, metrics)
    length = None
    if any(r["method"] == LENGTH_BASELINE for r in rows) and baseline != LENGTH_BASELINE:
        lmetrics = [m for m in metrics if m != "ece"]
        _, _, lheader, ldiffs = summary_tables(rows, LENGTH_BASELINE, lmetrics)
        length = (lheader, ldiffs)
    return _Tables(
        baseline,
        metrics,
        bon_n,
        (header, table),
        (dheader, diffs),
        length,
        control_tables(rows, metrics),
    )


def write_outputs(
    rows: list[dict],
    config: dict,
    out_dir,
    *,
    title: str | None = None,
    intro: list[str] | None = None,
    figure_format: str = "png",
) -> dict:
    """Write results.csv, summary.md, plots/*.png and report.html; return their paths.

    ``figure_format``: ``"svg"`` or ``"pdf"`` also writes each plot in that format beside its PNG.
    """
    ff = figure_format
    out = Path(out_dir)
    plots = out / "plots"
    rows = with_length_baseline(rows)
    paths: dict = {"results_csv": write_results_csv(rows, out / "results.csv")}
    t = _tables(rows, config)
    methods_order = list(dict.fromkeys(r["method"] for r in rows))
    sections = _table_sections(t)
    # Per-subset accuracy (datasets with a subset column), at every budget.
    sections += _subset_sections(rows, methods_order)
    sections += _budget_sections(rows, t.bon_n, plots, paths, ff)
    # Best-of-N curves (scored datasets) and reliability diagrams, at the largest budget.
    sections += _best_of_n_sections(rows, plots, paths, ff)
    sections += _reliability_sections(rows, plots, paths, ff)

    name = title or config.get("name", "experiment")
    paths["summary_md"] = write_text_atomic(out / "summary.md", _summary_markdown(t, name, intro))
    meta = (
        f"{len(rows)} cells; datasets: {', '.join(dict.fromkeys(r['dataset'] for r in rows))}; "
        f"methods: {', '.join(dict.fromkeys(r['method'] for r in rows))}; seeds: {sorted({r['seed'] for r in rows})}"
    )
    if intro:
        sections.insert(0, Section("About this run", paragraphs=list(intro)))
    paths["report_html"] = write_html_report(out / "report.html", name, sections, meta=meta)
    return paths


_LENGTH_TEXT = (
    "The learned length baseline: a Bradley-Terry model on one feature, the log-length difference "
    "(log(1 + characters)), no intercept, fitted on the same training pairs as each cell and measured "
    "on the same test data ('length baseline' rows of the summary). Per seed, each method's metric minus "
    "the baseline's; mean and 95% interval over seeds. A method beats the baseline only where the "
    "interval is clear of 0; an interval across 0 is 'not significantly different', not 'equal'."
)
_CONTROL_TEXT = (
    "Per seed, the synthesis method's metric minus that of the same head trained on the real pairs "
    "repeated k times (the same weights and training steps, no new information); mean and 95% interval "
    "over seeds. A synthesis helps only where this interval is clear of 0. Held-out variance kept: the "
    "share of the test responses' variance the latent model (lens, pca) reconstructs."
)


def _table_sections(t: _Tables) -> list[Section]:
    """The summary, the length-baseline comparison (first), the paired differences, the control."""
    sections = [
        Section(
            "Summary",
            paragraphs=[
                "Mean over seeds with a 95% interval of the mean that stays inside the metric's range "
                "(Student-t on the logit scale); with one seed, the run's own interval (Wilson for accuracy). "
                "Accuracy: held-out pairs, ties count wrong. ECE: expected calibration error of "
                "P(chosen wins), 10 equal-width bins, both orderings of every pair.",
            ],
            tables=[t.summary],
        )
    ]
    if t.length is not None:
        sections.insert(
            0,
            Section(
                "Against the learned length baseline",
                paragraphs=[_LENGTH_TEXT],
                tables=[t.length],
            ),
        )
    if t.diffs[1]:
        sections.append(
            Section(
                f"Paired differences against {t.baseline}",
                paragraphs=[
                    "Per seed, the method's metric minus the baseline's on the same training pairs; "
                    "mean and 95% interval over seeds (Student-t on the logit scale of the difference's range).",
                ],
                tables=[t.diffs],
            )
        )
    if t.control[1]:
        sections.append(
            Section(
                "Synthesis against its control (repeat)",
                paragraphs=[_CONTROL_TEXT],
                tables=[t.control],
            )
        )
    return sections


def _budget_sections(
    rows: list[dict], bon_n: int, plots: Path, paths: dict, ff: str
) -> list[Section]:
    """Accuracy against budget; on scored datasets, Spearman and best-of-N against budget too."""
    img = plot_budget_curves(
        budget_curves(rows, "accuracy"),
        plots / "accuracy_vs_budget.png",
        metric="held-out accuracy",
        figure_format=ff,
    )
    paths["accuracy_plot"] = img
    band = "Bands: 95% interval over seeds inside [0, 1] (one seed: the run's Wilson interval)."
    sections = [Section("Accuracy against label budget", paragraphs=[band], images=[img])]
    # Scored datasets: rank metrics against budget (selection cells report these too).
    scored_rows = [r for r in rows if r.get("kind") == "scored"]
    for metric in [
        m for m in ("spearman", f"bon@{bon_n}") if any(_finite(r.get(m)) for r in scored_rows)
    ]:
        img = plot_budget_curves(
            budget_curves(scored_rows, metric),
            plots / f"{_slug(metric)}_vs_budget.png",
            metric=metric,
            figure_format=ff,
        )
        paths[f"{metric}_plot"] = img
        what = (
            "Mean per-prompt Spearman correlation with gold on held-out prompts"
            if metric == "spearman"
            else f"Expected gold score of the best-of-{bon_n} pick on held-out prompts"
        )
        sections.append(
            Section(f"{metric} against label budget", paragraphs=[what, band], images=[img])
        )
    return sections


def _summary_markdown(t: _Tables, title: str, intro: list[str] | None) -> str:
    """summary.md: the title, the intro and the tables."""
    md = [f"# {title}", "", *(intro or []), "", markdown_table(*t.summary)]
    if t.length is not None:
        md += ["", "## Against the learned length baseline", "", markdown_table(*t.length)]
    if t.diffs[1]:
        md += ["", f"## Paired differences against {t.baseline}", "", markdown_table(*t.diffs)]
    if t.control[1]:
        md += ["", "## Synthesis against its control (repeat)", "", markdown_table(*t.control)]
    return "\n".join(md) + "\n"


def _subset_sections(rows: list[dict], methods_order: list[str]) -> list[Section]:
    """Held-out accuracy per subset, with the example-weighted average, at every budget."""
    sub_rows = [r for r in rows if subset_accuracies(r)]
    if not sub_rows:
        return []
    names = sorted({n for r in sub_rows for n in subset_accuracies(r)})
    sheader = ["dataset", "budget", "method", *names, "weighted"]
    stable = []
    for (ds, budget, method), grp in _group(sub_rows, ("dataset", "budget", "method")).items():
        cells = [
            format_interval(
                *mean_interval([subset_accuracies(g).get(n) for g in grp], bounds=(0.0, 1.0))
            )
            for n in names
        ]
        weighted = [g["subsets"].get("weighted") for g in grp]
        stable.append(
            [
                ds,
                budget,
                method,
                *cells,
                format_interval(*mean_interval(weighted, bounds=(0.0, 1.0))),
            ]
        )
    stable.sort(key=lambda row: (row[0], row[1], methods_order.index(row[2])))
    return [
        Section(
            "Accuracy per subset",
            paragraphs=[
                "Held-out accuracy within each subset; 'weighted' is the example-weighted average over "
                "subsets, as reward-bench reports a section."
            ],
            tables=[(sheader, stable)],
        )
    ]


def _best_of_n_sections(rows: list[dict], plots: Path, paths: dict, ff: str) -> list[Section]:
    """Best-of-N against N for each scored dataset at its largest budget (plots added to ``paths``)."""
    sections = []
    for ds in dict.fromkeys(r["dataset"] for r in rows if r.get("kind") == "scored"):
        ds_rows = [r for r in rows if r["dataset"] == ds and "best_of_n" in r]
        top = max(r["budget"] for r in ds_rows)
        at_top = [r for r in ds_rows if r["budget"] == top]
        bon: dict = {}
        ref = at_top[0]["best_of_n"]
        for method, grp in _group(at_top, ("method",)).items():
            ns = grp[0]["best_of_n"]["n"]
            stats = []
            for i in range(len(ns)):
                per_seed = [
                    {
                        "v": g["best_of_n"]["model"][i],
                        "gold_range": g.get("gold_range"),
                        "v_low": (g["best_of_n"].get("model_low") or [None] * len(ns))[i],
                        "v_high": (g["best_of_n"].get("model_high") or [None] * len(ns))[i],
                    }
                    for g in grp
                ]
                b = metric_bounds("bon@", grp)
                if (
                    len(per_seed) == 1
                    and _finite(per_seed[0]["v_low"])
                    and _finite(per_seed[0]["v_high"])
                ):
                    stats.append((per_seed[0]["v"], per_seed[0]["v_low"], per_seed[0]["v_high"]))
                else:
                    stats.append(mean_interval([p["v"] for p in per_seed], bounds=b))
            bon[method[0]] = {
                "n": ns,
                "mean": [s[0] for s in stats],
                "low": [s[1] for s in stats],
                "high": [s[2] for s in stats],
            }
        img = plot_best_of_n(
            bon,
            plots / f"best_of_n_{_slug(ds)}.png",
            oracle=ref["oracle"],
            random=ref["random"],
            ns=ref["n"],
            title=f"best-of-N on {ds} (budget {top})",
            figure_format=ff,
        )
        paths[f"best_of_n_{ds}"] = img
        bon_rows = [
            [
                m,
                *[
                    format_interval(v, lo, hi, 4)
                    for v, lo, hi in zip(c["mean"], c["low"], c["high"])
                ],
            ]
            for m, c in bon.items()
        ]
        bon_rows.append(["oracle", *[f"{v:.4f}" for v in ref["oracle"]]])
        bon_rows.append(["random", *[f"{v:.4f}" for v in ref["random"]]])
        sections.append(
            Section(
                f"Best-of-N on {ds}",
                paragraphs=[
                    f"Expected gold score of the response with the highest reward among N drawn at random "
                    f"from each held-out prompt (computed exactly), at budget {top}; mean over seeds with a 95% "
                    "interval inside the gold scores' range (one seed: a bootstrap over prompts). "
                    "Oracle picks by gold; random picks at random."
                ],
                tables=[(["method", *[f"N={n}" for n in ref["n"]]], bon_rows)],
                images=[img],
            )
        )
    return sections


def _reliability_sections(rows: list[dict], plots: Path, paths: dict, ff: str) -> list[Section]:
    """A reliability diagram per dataset at its largest budget (plots added to ``paths``)."""
    sections = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        ds_rows = [r for r in rows if r["dataset"] == ds and "reliability" in r]
        if not ds_rows:
            continue
        top = max(r["budget"] for r in ds_rows)
        diagrams = {}
        for (method,), grp in _group(
            [r for r in ds_rows if r["budget"] == top], ("method",)
        ).items():
            # the legend's ECE is the summary table's: the mean of the seeds' ECEs (the points pool their bins)
            ece = mean_interval([g.get("ece") for g in grp])[0]
            diagrams[method] = {
                **pooled_reliability(grp),
                "ece_label": format_interval(ece, float("nan"), float("nan")),
            }
        img = plot_reliability(
            diagrams,
            plots / f"reliability_{_slug(ds)}.png",
            title=f"reliability on {ds} (budget {top})",
            figure_format=ff,
        )
        paths[f"reliability_{ds}"] = img
        sections.append(
            Section(
                f"Calibration on {ds}",
                paragraphs=[
                    "Points: the bins of all seeds pooled (both orderings of every held-out pair); the lower panel counts "
                    "the predictions in each bin. ECE in the legend: the mean over seeds, as in the summary table. "
                    "A point below the diagonal means overconfidence."
                ],
                images=[img],
            )
        )
    return sections


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
