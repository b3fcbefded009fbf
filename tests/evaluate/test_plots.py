"""The report figures: bands that can be told apart, bin counts, no one-point curves."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.evaluate import plots

CURVE = {
    "budget": [50, 100, 200],
    "mean": [0.6, 0.65, 0.7],
    "low": [0.5, 0.58, 0.65],
    "high": [0.7, 0.72, 0.75],
}


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """The figures the plot functions build, kept instead of only written."""
    figures = []
    real = plots.save_figure

    def keep(fig, path, figure_format="png"):
        figures.append(fig)
        return real(fig, path, figure_format)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_budget_bands_differ_in_hatch_and_edge_style(drawn, tmp_path):
    other = {k: [v + 0.01 for v in vals] if k != "budget" else vals for k, vals in CURVE.items()}
    path = plots.plot_budget_curves({"hh": {"real": CURVE, "lens": other}}, tmp_path / "b.png")
    assert path.is_file() and path.stat().st_size > 5_000
    ax = drawn[-1].axes[0]
    hatches = [c.get_hatch() for c in ax.collections if c.get_hatch()]
    assert len(hatches) == 2 and hatches[0] != hatches[1]
    edge_styles = {line.get_linestyle() for line in ax.lines if line.get_label().startswith("_")}
    assert {"-", "--"} <= edge_styles


def test_one_budget_is_drawn_as_point_ranges_not_one_point_lines(drawn, tmp_path):
    one = {
        m: {"budget": [50], "mean": [mean], "low": [mean - 0.1], "high": [mean + 0.1]}
        for m, mean in (("real", 0.6), ("lens", 0.62))
    }
    plots.plot_budget_curves({"hh": one}, tmp_path / "one.png")
    ax = drawn[-1].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["real", "lens"]
    assert not any(c.get_hatch() for c in ax.collections)  # no bands
    assert "50 training pairs" in ax.get_xlabel()


def test_reliability_shows_the_count_of_every_bin(drawn, tmp_path):
    diag = {
        "mean_prob": [0.1, 0.5, 0.9],
        "frac_pos": [0.2, 0.5, 0.8],
        "count": [3, 40, 0],
        "ece": 0.05,
    }
    plots.plot_reliability({"model": diag}, tmp_path / "r.png")
    hist = drawn[-1].axes[1]
    labels = [t.get_text() for t in hist.texts]
    assert labels == ["3", "40", ""]
    np.testing.assert_array_equal([p.get_height() for p in hist.patches], [3, 40, 0])
