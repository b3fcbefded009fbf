"""docs/benchmarks.md is rendered from committed results files and cannot drift from them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render_docs = _load("render_docs")
results = _load("_results")


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_only_the_latest_run_of_a_table_is_shown_with_its_command(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _write(res / "a.jsonl", [
        {"table": "t", "run": "2026-01-01T00:00:00Z", "command": "python old.py", "head": "old", "acc": 0.5},
        {"table": "t", "run": "2026-02-01T00:00:00Z", "command": "python new.py", "head": "x", "acc": 0.61234, "lo": 0.6, "hi": 0.62},
        {"table": "t", "run": "2026-02-01T00:00:00Z", "command": "python new.py", "head": "y", "acc": 1234.5, "lo": None, "hi": None},
    ])
    template = tmp_path / "t.md"
    template.write_text("# Title\n\n<!-- table: t | head=Head, acc, lo..hi=95% CI, acc:.1%=share -->\n\nafter\n")
    text = render_docs.render(template, res)
    assert "old" not in text and "python old.py" not in text
    assert "| Head | acc | 95% CI | share |" in text
    assert "| x | 0.612 | [0.600, 0.620] | 61.2% |" in text
    assert "| y | 1,234 | – |" in text  # large numbers grouped, a missing interval shown as a dash
    assert "Command: `python new.py`" in text and text.rstrip().endswith("after")


def test_a_placeholder_without_rows_or_with_an_unknown_field_is_an_error(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _write(res / "a.jsonl", [{"table": "t", "run": "r", "command": "c", "acc": 0.5}])
    template = tmp_path / "t.md"
    template.write_text("<!-- table: missing | acc -->\n")
    with pytest.raises(render_docs.RenderError, match="no rows"):
        render_docs.render(template, res)
    template.write_text("<!-- table: t | accuracy -->\n")
    with pytest.raises(render_docs.RenderError, match="accuracy"):
        render_docs.render(template, res)


def test_record_rows_appends_atomically_and_never_writes_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    results.record_rows("x", "t", [{"a": 1.0}], run="r1", command="c")
    results.record_rows("x", "t", [{"a": float("nan")}], run="r2", command="c")
    lines = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert [row["run"] for row in lines] == ["r1", "r2"] and lines[1]["a"] is None
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("values,low,high", [([0.99, 1.0, 1.0, 0.98], 0.0, 1.0), ([-0.9, -1.0, -0.95], -1.0, 1.0),
                                             ([0.61, 0.63, 0.60, 0.62, 0.64], 0.0, 1.0)])
def test_seed_intervals_stay_inside_the_metric_range(values, low, high):
    mean, lo, hi = results.seed_interval(values, low=low, high=high)
    assert low <= lo <= mean <= hi <= high


def test_docs_benchmarks_md_is_the_render_of_the_committed_results():
    assert render_docs.main(["--check"]) == 0, "run: python benchmarks/render_docs.py"
