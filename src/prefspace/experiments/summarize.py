"""Turn experiment rows into results.csv, summary.md, PNG plots and report.html.

Across seeds, a cell's metric is summarised by its mean and a Student-t 95% interval of the mean
(seeds are the independent runs; with one seed there is no interval). Paired differences take,
for each (dataset, budget, seed), the method's metric minus the baseline's on the same training
pairs, then the mean and t-interval of those differences over seeds. Reliability diagrams pool
the bins of all seeds of a method at one budget (the largest, by default).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..evaluate.plots import plot_best_of_n, plot_budget_curves, plot_reliability
from ..evaluate.report import Section, format_interval, markdown_table, mean_interval, write_html_report, write_text_atomic

logger = logging.getLogger(__name__)

_NESTED = ("reliability", "best_of_n", "subsets", "augment_info", "rounds")


def subset_accuracies(row: dict) -> dict:
    """``{subset name: accuracy}`` of a row (``evaluate_pairs``'s ``subsets``), empty without subsets."""
    return {name: v["accuracy"] for name, v in ((row.get("subsets") or {}).get("per_subset") or {}).items()}


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


def _group(rows, keys):
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    return groups


def summary_tables(rows: list[dict], baseline: str, metrics: list[str]) -> tuple[list, list, list, list]:
    """(header, rows) of the per-cell table and of the paired-difference table."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    header = ["dataset", "budget", "method", "seeds"] + [f"{m} (95% CI)" for m in metrics]
    table = []
    for (ds, budget, method), grp in sorted(_group(rows, ("dataset", "budget", "method")).items(),
                                           key=lambda kv: (kv[0][0], kv[0][1], methods.index(kv[0][2]))):
        cells = [format_interval(*mean_interval([g.get(m) for g in grp])) for m in metrics]
        table.append([ds, budget, method, len(grp)] + cells)

    diff_header = ["dataset", "budget", "method", "pairs"] + [f"Δ{m} vs {baseline} (95% CI)" for m in metrics]
    diffs = []
    by_cell = {(r["dataset"], r["budget"], r["method"], r["seed"]): r for r in rows}
    for (ds, budget, method), grp in sorted(_group(rows, ("dataset", "budget", "method")).items(),
                                           key=lambda kv: (kv[0][0], kv[0][1], methods.index(kv[0][2]))):
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
            cells.append(format_interval(*mean_interval(d)) if d else "n/a")
        diffs.append([ds, budget, method, n_pairs] + cells)
    return header, table, diff_header, diffs


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def budget_curves(rows: list[dict], metric: str = "accuracy") -> dict:
    """{dataset: {method: {"budget", "mean", "low", "high"}}} for :func:`plot_budget_curves`."""
    curves: dict = defaultdict(dict)
    for (ds, method), grp in _group(rows, ("dataset", "method")).items():
        by_budget = _group(grp, ("budget",))
        budgets = sorted(b for (b,) in by_budget)
        stats = [mean_interval([g.get(metric) for g in by_budget[(b,)]]) for b in budgets]
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
        return np.sum([np.nan_to_num(np.asarray(r["reliability"][key], dtype=np.float64)) * c
                       for r, c in zip(rows, counts)], axis=0)

    count = np.sum(counts, axis=0)
    psum, ysum = total("mean_prob"), total("frac_pos")
    with np.errstate(invalid="ignore", divide="ignore"):
        mp = np.where(count > 0, psum / count, np.nan)
        fp = np.where(count > 0, ysum / count, np.nan)
    ok = count > 0
    ece = float(np.sum(count[ok] / count.sum() * np.abs(mp[ok] - fp[ok])))
    return {"mean_prob": mp, "frac_pos": fp, "count": count, "ece": ece}


def write_outputs(rows: list[dict], config: dict, out_dir, *, title: str | None = None, intro: list[str] | None = None) -> dict:
    """Write results.csv, summary.md, plots/*.png and report.html; return their paths."""
    out = Path(out_dir)
    plots = out / "plots"
    paths: dict = {"results_csv": write_results_csv(rows, out / "results.csv")}
    baseline = config.get("baseline") or rows[0]["method"]
    scored = any(r.get("kind") == "scored" for r in rows)
    metrics = ["accuracy", "ece"] + (["spearman", "kendall"] if scored else [])
    bon_n = (config.get("eval") or {}).get("report_n", 16)
    if scored and any(f"bon@{bon_n}" in r for r in rows):
        metrics.append(f"bon@{bon_n}")
    header, table, dheader, diffs = summary_tables(rows, baseline, metrics)
    methods_order = list(dict.fromkeys(r["method"] for r in rows))

    sections = [Section("Summary", paragraphs=[
        "Mean over seeds with a Student-t 95% interval of the mean (no interval with one seed). "
        "Accuracy: held-out pairs, ties count wrong. ECE: expected calibration error of "
        "P(chosen wins), 10 equal-width bins, both orderings of every pair.",
    ], tables=[(header, table)])]
    if diffs:
        sections.append(Section(f"Paired differences against {baseline}", paragraphs=[
            "Per seed, the method's metric minus the baseline's on the same training pairs; "
            "mean and t-interval over seeds.",
        ], tables=[(dheader, diffs)]))

    # Per-subset accuracy (datasets with a subset column), at every budget.
    sub_rows = [r for r in rows if subset_accuracies(r)]
    if sub_rows:
        names = sorted({n for r in sub_rows for n in subset_accuracies(r)})
        sheader = ["dataset", "budget", "method", *names, "weighted"]
        stable = []
        for (ds, budget, method), grp in _group(sub_rows, ("dataset", "budget", "method")).items():
            cells = [format_interval(*mean_interval([subset_accuracies(g).get(n) for g in grp])) for n in names]
            weighted = [g["subsets"].get("weighted") for g in grp]
            stable.append([ds, budget, method, *cells, format_interval(*mean_interval(weighted))])
        stable.sort(key=lambda row: (row[0], row[1], methods_order.index(row[2])))
        sections.append(Section("Accuracy per subset", paragraphs=[
            "Held-out accuracy within each subset; 'weighted' is the example-weighted average over "
            "subsets, as reward-bench reports a section."], tables=[(sheader, stable)]))

    # Accuracy against budget.
    curves = budget_curves(rows, "accuracy")
    img = plot_budget_curves(curves, plots / "accuracy_vs_budget.png", metric="held-out accuracy")
    paths["accuracy_plot"] = img
    sections.append(Section("Accuracy against label budget", paragraphs=[
        "Bands: 95% t-interval over seeds."], images=[img]))

    # Scored datasets: rank metrics against budget (selection cells report these too).
    scored_rows = [r for r in rows if r.get("kind") == "scored"]
    for metric in [m for m in ("spearman", f"bon@{bon_n}") if any(_finite(r.get(m)) for r in scored_rows)]:
        img = plot_budget_curves(budget_curves(scored_rows, metric), plots / f"{_slug(metric)}_vs_budget.png", metric=metric)
        paths[f"{metric}_plot"] = img
        sections.append(Section(f"{metric} against label budget", paragraphs=[
            "Mean per-prompt Spearman correlation with gold on held-out prompts" if metric == "spearman"
            else f"Expected gold score of the best-of-{bon_n} pick on held-out prompts",
            "Bands: 95% t-interval over seeds."], images=[img]))

    # Best-of-N curves (scored datasets), at the largest budget.
    for ds in dict.fromkeys(r["dataset"] for r in rows if r.get("kind") == "scored"):
        ds_rows = [r for r in rows if r["dataset"] == ds and "best_of_n" in r]
        top = max(r["budget"] for r in ds_rows)
        at_top = [r for r in ds_rows if r["budget"] == top]
        bon: dict = {}
        ref = at_top[0]["best_of_n"]
        for method, grp in _group(at_top, ("method",)).items():
            ns = grp[0]["best_of_n"]["n"]
            stats = [mean_interval([g["best_of_n"]["model"][i] for g in grp]) for i in range(len(ns))]
            bon[method[0]] = {"n": ns, "mean": [s[0] for s in stats], "low": [s[1] for s in stats], "high": [s[2] for s in stats]}
        img = plot_best_of_n(bon, plots / f"best_of_n_{_slug(ds)}.png", oracle=ref["oracle"], random=ref["random"],
                             ns=ref["n"], title=f"best-of-N on {ds} (budget {top})")
        paths[f"best_of_n_{ds}"] = img
        bon_rows = [[m, *[f"{v:.4f}" for v in c["mean"]]] for m, c in bon.items()]
        bon_rows.append(["oracle", *[f"{v:.4f}" for v in ref["oracle"]]])
        bon_rows.append(["random", *[f"{v:.4f}" for v in ref["random"]]])
        sections.append(Section(f"Best-of-N on {ds}", paragraphs=[
            f"Expected gold score of the response with the highest reward among N drawn at random "
            f"from each held-out prompt (computed exactly), at budget {top}; mean over seeds. "
            "Oracle picks by gold; random picks at random."],
            tables=[(["method", *[f"N={n}" for n in ref["n"]]], bon_rows)], images=[img]))

    # Reliability diagrams at the largest budget.
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        ds_rows = [r for r in rows if r["dataset"] == ds and "reliability" in r]
        if not ds_rows:
            continue
        top = max(r["budget"] for r in ds_rows)
        diagrams = {m[0]: pooled_reliability(g) for m, g in _group([r for r in ds_rows if r["budget"] == top], ("method",)).items()}
        img = plot_reliability(diagrams, plots / f"reliability_{_slug(ds)}.png", title=f"reliability on {ds} (budget {top})")
        paths[f"reliability_{ds}"] = img
        sections.append(Section(f"Calibration on {ds}", paragraphs=[
            "Bins pooled over seeds. A point below the diagonal means overconfidence."], images=[img]))

    md = [f"# {title or config.get('name', 'experiment')}", "", *(intro or []), "", markdown_table(header, table)]
    if diffs:
        md += ["", f"## Paired differences against {baseline}", "", markdown_table(dheader, diffs)]
    paths["summary_md"] = write_text_atomic(out / "summary.md", "\n".join(md) + "\n")
    meta = f"{len(rows)} cells; datasets: {', '.join(dict.fromkeys(r['dataset'] for r in rows))}; " \
           f"methods: {', '.join(dict.fromkeys(r['method'] for r in rows))}; seeds: {sorted({r['seed'] for r in rows})}"
    if intro:
        sections.insert(0, Section("About this run", paragraphs=list(intro)))
    paths["report_html"] = write_html_report(out / "report.html", title or config.get("name", "experiment"), sections, meta=meta)
    return paths


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
