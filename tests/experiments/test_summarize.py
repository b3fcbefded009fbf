"""Summaries over seeds, paired differences and the report, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as student_t

from prefspace.evaluate.report import (
    Section,
    format_interval,
    markdown_table,
    mean_interval,
    write_html_report,
)
from prefspace.experiments.summarize import (
    budget_curves,
    flat_rows,
    pooled_reliability,
    summary_tables,
)


def _row(method, seed, acc, budget=10, **extra):
    return {
        "dataset": "d",
        "budget": budget,
        "method": method,
        "seed": seed,
        "accuracy": acc,
        **extra,
    }


def test_mean_interval_is_the_student_t_interval():
    m, lo, hi = mean_interval([0.6, 0.7, 0.8])
    half = student_t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (
        m == pytest.approx(0.7)
        and lo == pytest.approx(0.7 - half)
        and hi == pytest.approx(0.7 + half)
    )
    m, lo, hi = mean_interval([0.5])
    assert m == 0.5 and np.isnan(lo) and np.isnan(hi)
    assert format_interval(0.5, float("nan"), float("nan")) == "0.500"
    assert format_interval(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    assert np.isnan(mean_interval([None, float("nan")])[0])


def test_paired_differences_pair_by_seed():
    rows = [
        _row("base", 0, 0.60),
        _row("base", 1, 0.70),
        _row("base", 2, 0.80),
        _row("new", 0, 0.65),
        _row("new", 1, 0.72),
        _row("new", 2, 0.90),
    ]
    header, table, dheader, diffs = summary_tables(rows, "base", ["accuracy"])
    assert [r[2] for r in table] == ["base", "new"]
    assert table[0][4] == format_interval(*mean_interval([0.6, 0.7, 0.8], bounds=(0, 1)))
    assert len(diffs) == 1 and diffs[0][:4] == ["d", 10, "new", 3]
    assert diffs[0][4] == format_interval(*mean_interval([0.05, 0.02, 0.10], bounds=(-1, 1)))
    assert dheader[-1] == "Δaccuracy vs base (95% CI)"


def test_bounded_intervals_stay_inside_the_range():
    # The demo once reported "harmlessness 0.763 [0.506, 1.021]": a t-interval over three seeds.
    values = [0.98, 0.92, 0.39]
    m, lo, hi = mean_interval(values)
    assert hi > 1  # the unbounded t-interval leaves [0, 1] here
    m, lo, hi = mean_interval(values, bounds=(0, 1))
    assert 0 < lo < m < hi < 1 and m == pytest.approx(np.mean(values))
    # the logit-scale interval, worked by hand: mean 0.76333, sd 0.32471, se 0.18747,
    # t(0.975, 2) = 4.30265; half-width on the logit scale 4.30265 * 0.18747 / (0.76333 * 0.23667)
    # = 4.4649 around logit(0.76333) = 1.1710, so [expit(-3.2939), expit(5.6359)]
    assert lo == pytest.approx(0.035782, abs=2e-5) and hi == pytest.approx(0.996445, abs=2e-5)
    assert hi - m < m - lo  # squeezed towards the bound it is near
    # near 0.5 with a small spread the logit scale is nearly linear: the plain t-interval
    near = [0.49, 0.50, 0.52]
    assert mean_interval(near, bounds=(0, 1)) == pytest.approx(mean_interval(near), abs=2e-4)
    assert mean_interval([1.0, 1.0], bounds=(0, 1)) == (1.0, 1.0, 1.0)  # on the bound: degenerate
    rows = [_row("m", s, v) for s, v in enumerate(values)]
    _, table, _, _ = summary_tables(rows, "m", ["accuracy"])
    lo_s, hi_s = table[0][4].split("[")[1].rstrip("]").split(", ")
    assert 0 <= float(lo_s) and float(hi_s) <= 1


def test_one_seed_shows_the_runs_own_interval():
    rows = [_row("m", 0, 0.7, ci_low=0.62, ci_high=0.77)]
    _, table, _, _ = summary_tables(rows, "m", ["accuracy", "ece"])
    assert table[0][4] == "0.700 [0.620, 0.770]"
    assert budget_curves(rows)["d"]["m"]["low"] == [0.62]


def test_paired_difference_skips_seeds_without_a_baseline():
    rows = [_row("base", 0, 0.6), _row("new", 0, 0.7), _row("new", 1, 0.9)]
    _, _, _, diffs = summary_tables(rows, "base", ["accuracy"])
    assert diffs[0][3] == 1 and diffs[0][4] == "0.100"


def test_budget_curves_sort_budgets():
    rows = [
        _row("m", 0, 0.7, budget=100),
        _row("m", 0, 0.6, budget=10),
        _row("m", 1, 0.8, budget=100),
    ]
    c = budget_curves(rows)["d"]["m"]
    assert c["budget"] == [10, 100] and c["mean"] == pytest.approx([0.6, 0.75])


def test_pooled_reliability_sums_bins_over_seeds():
    # evaluate_pairs' bins: an empty bin's means are NaN in memory and null once read from JSON
    a = {
        "reliability": {
            "count": [2, 0],
            "mean_prob": [0.2, float("nan")],
            "frac_pos": [0.0, float("nan")],
        }
    }
    b = {"reliability": {"count": [0, 2], "mean_prob": [None, 0.8], "frac_pos": [None, 1.0]}}
    out = pooled_reliability([a, b])
    assert out["count"].tolist() == [2, 2]
    assert out["mean_prob"].tolist() == pytest.approx([0.2, 0.8])
    # ECE = 0.5 * |0.2 - 0| + 0.5 * |0.8 - 1|
    assert out["ece"] == pytest.approx(0.2)


def test_markdown_and_html_escape_their_cells(tmp_path):
    assert markdown_table(["a", "b"], [[1, "x|y"]]) == "| a | b |\n|---|---|\n| 1 | x\\|y |"
    path = write_html_report(
        tmp_path / "r.html",
        "T <1>",
        [Section("S", paragraphs=["<b>"], tables=[(["h"], [["<i>"]])])],
    )
    html = path.read_text()
    assert "T &lt;1&gt;" in html and "&lt;b&gt;" in html and "<td>&lt;i&gt;</td>" in html
    assert not list(tmp_path.glob("*.tmp-*"))  # written atomically, nothing left behind


def test_synthesis_is_compared_with_repeat_at_the_same_head_and_factor():
    from prefspace.experiments.summarize import control_tables

    def r(method, seed, acc, augment):
        return _row(method, seed, acc, head="BradleyTerryMLP", augment=augment, factor=4)

    rows = [r("mlp+repeat", s, a, "repeat") for s, a in enumerate([0.60, 0.62, 0.61])]
    rows += [
        r("mlp+lens", s, a, "lens") for s, a in enumerate([0.64, 0.66, 0.655])
    ]  # +4 to +4.5 points
    rows += [r("mlp+pca", s, a, "pca") for s, a in enumerate([0.61, 0.60, 0.62])]  # +1, -2, +1
    header, table = control_tables(rows, ["accuracy"])
    by = {row[2]: row for row in table}
    assert set(by) == {"mlp+lens", "mlp+pca"} and header[-1] == "helps"
    assert (
        by["mlp+lens"][3] == "mlp+repeat" and by["mlp+lens"][4] == 3 and by["mlp+lens"][-1] == "yes"
    )
    assert by["mlp+pca"][-1] == "no"
    assert by["mlp+lens"][5] == format_interval(*mean_interval([0.04, 0.04, 0.045], bounds=(-1, 1)))


def test_flat_rows_spread_subsets_into_columns():
    row = _row(
        "m",
        0,
        0.75,
        subsets={
            "per_subset": {
                "x": {"n_pairs": 3, "accuracy": 1.0},
                "y": {"n_pairs": 1, "accuracy": 0.0},
            },
            "weighted": 0.75,
            "macro": 0.5,
        },
        reliability={"count": [1]},
    )
    (flat,) = flat_rows([row])
    assert flat["acc[x]"] == 1.0 and flat["acc[y]"] == 0.0 and flat["subset_weighted"] == 0.75
    assert "subsets" not in flat and "reliability" not in flat


def test_the_length_baseline_becomes_one_row_per_dataset_budget_and_seed():
    from prefspace.experiments.summarize import LENGTH_BASELINE, with_length_baseline

    lb = {"accuracy": 0.7, "ece": 0.1}
    rows = [
        {
            "dataset": "d",
            "budget": b,
            "method": m,
            "seed": s,
            "accuracy": 0.6,
            "length_baseline": lb,
        }
        for b in (10, 20)
        for m in ("a", "b")
        for s in (0, 1)
    ]
    rows.append(
        {"dataset": "d", "budget": 10, "method": "active", "seed": 0, "spearman": 0.2}
    )  # no baseline
    out = with_length_baseline(rows)
    added = [r for r in out if r["method"] == LENGTH_BASELINE]
    assert sorted((r["budget"], r["seed"]) for r in added) == [(10, 0), (10, 1), (20, 0), (20, 1)]
    assert all(r["accuracy"] == 0.7 for r in added) and len(out) == len(rows) + 4
    assert with_length_baseline(out) == out  # idempotent
    header, table, dheader, diffs = summary_tables(out, LENGTH_BASELINE, ["accuracy"])
    at_10 = {d[2]: d for d in diffs if d[1] == 10}
    assert (
        list(at_10) == ["a", "b", "active"] and at_10["active"][-1] == "n/a"
    )  # no accuracy to compare
    assert at_10["a"][3] == 2 and at_10["a"][-1].startswith("-0.100")
