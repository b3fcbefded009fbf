"""docs/benchmarks.md is rendered from committed results files and cannot drift from them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
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
    _write(
        res / "a.jsonl",
        [
            {
                "table": "t",
                "run": "2026-01-01T00:00:00Z",
                "command": "python old.py",
                "head": "old",
                "acc": 0.5,
            },
            {
                "table": "t",
                "run": "2026-02-01T00:00:00Z",
                "command": "python new.py",
                "head": "x",
                "acc": 0.61234,
                "lo": 0.6,
                "hi": 0.62,
            },
            {
                "table": "t",
                "run": "2026-02-01T00:00:00Z",
                "command": "python new.py",
                "head": "y",
                "acc": 1234.5,
                "lo": None,
                "hi": None,
            },
        ],
    )
    template = tmp_path / "t.md"
    template.write_text(
        "# Title\n\n<!-- table: t | head=Head, acc, lo..hi=95% CI, acc:.1%=share -->\n\nafter\n"
    )
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


@pytest.mark.parametrize(
    "values,low,high",
    [
        ([0.99, 1.0, 1.0, 0.98], 0.0, 1.0),
        ([-0.9, -1.0, -0.95], -1.0, 1.0),
        ([0.61, 0.63, 0.60, 0.62, 0.64], 0.0, 1.0),
    ],
)
def test_seed_intervals_stay_inside_the_metric_range(values, low, high):
    mean, lo, hi = results.seed_interval(values, low=low, high=high)
    assert low <= lo <= mean <= hi <= high


def test_docs_benchmarks_md_is_the_render_of_the_committed_results():
    assert render_docs.main(["--check"]) == 0, "run: python benchmarks/render_docs.py"


# ----------------------------------------------------------------------------- prose variables


def test_prose_variables_come_from_the_rows_and_fail_loudly(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _write(
        res / "a.jsonl",
        [
            {
                "table": "t",
                "run": "r1",
                "command": "c",
                "head": "x",
                "n": 100,
                "acc": 0.5,
                "d": 0.01,
            },
            {
                "table": "t",
                "run": "r2",
                "command": "c",
                "head": "x",
                "n": 100,
                "acc": 0.61234,
                "d": -0.0123,
                "lo": -0.02,
                "hi": -0.004,
            },
            {
                "table": "t",
                "run": "r2",
                "command": "c",
                "head": "y",
                "n": 500,
                "acc": 0.7,
                "d": None,
            },
        ],
    )
    template = tmp_path / "t.md"
    template.write_text(
        "x is {{ t[head=x].acc:.3f }} ({{t[head=x, n=100].d:+.1pt}} points, {{ t[head=x].lo..hi:+.3f }}),"
        " {{ abs t[head=x].d:.1pt }} below; {{ count t[].d }} difference of {{count t[].acc}} rows;"
        " best {{ max t[].acc:.0% }}; before: {{ t[run=r1, head=x].acc:.2f }}\n"
    )
    text = " ".join(render_docs.render(template, res).split())  # the paragraph is re-wrapped
    assert (
        "x is 0.612 (-1.2 points, [-0.020, -0.004]), 1.2 below; 1 difference of 2 rows;"
        " best 70%; before: 0.50"
    ) in text
    for bad, match in [
        ("{{ t[head=z].acc }}", "matches 0 rows"),
        ("{{ t[].acc }}", "matches 2 rows"),
        ("{{ t[head=x].nope }}", "no field nope"),
        ("{{ u[head=x].acc }}", "no rows"),
        ("{{ t[head].acc }}", "FIELD=VALUE"),
        ("{{ t.acc }}", "expected"),
    ]:
        template.write_text(bad + "\n")
        with pytest.raises(render_docs.RenderError, match=match):
            render_docs.render(template, res)


def test_a_paragraph_with_variables_is_rewrapped_and_list_items_keep_their_marker(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    _write(
        res / "a.jsonl",
        [{"table": "t", "run": "r", "command": "c", "name": "a-very-long-value " * 8}],
    )
    template = tmp_path / "t.md"
    template.write_text(
        "<!-- template notes: {{ t[no=such].row }}\nstill notes -->\nBefore {{ t[].name }} after.\n\n"
        "- item {{ t[].name }}\n  more\n- second\n\nuntouched  line\n"
    )
    lines = render_docs.render(template, res).splitlines()
    assert "notes" not in " ".join(
        lines
    )  # the editors' notes are not rendered (nor their variables)
    assert all(len(line) <= 100 for line in lines[1:])  # after the generated-file header
    assert lines[-1] == "untouched  line"  # paragraphs without variables stay as written
    items = [line for line in lines if line.startswith("- ")]
    assert items[0].startswith("- item a-very-long-value") and items[1] == "- second"
    assert all(
        line.startswith("  ") for line in lines[lines.index(items[0]) + 1 : lines.index(items[1])]
    )


def _prose_numbers(text: str) -> list[str]:
    """Decimals, percentages and ratios typed by hand into prose (not variables, not code)."""
    import re

    found = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        if (
            in_code
            or render_docs.PLACEHOLDER.match(line.strip())
            or line.lstrip().startswith("<!--")
        ):
            continue
        line = render_docs.VARIABLE.sub(" ", line)
        line = re.sub(r"`[^`]*`", " ", line)  # settings and code are not measurements
        line = re.sub(r"\]\([^)]*\)", "]", line)  # link targets
        line = line.replace("95%", " ")  # the intervals' level: a setting
        found += re.findall(
            r"(?<![\w.])[-+]\d+\.\d+(?![\w.])|(?<![\w.-])\d+\.\d+(?![\w.])"
            r"|(?<![\w.])\d+(?:\.\d+)?\s?%|(?<![\w.])\d+(?:\.\d+)?x\b",
            line,
        )
    return found


def test_the_template_prose_types_no_measured_figure_by_hand():
    """Every decimal, percentage and ratio in the benchmarks page's prose is a variable from a
    results row (or a setting in backticks), so a rerun cannot leave a stale number behind."""
    text = render_docs.TEMPLATE.read_text(encoding="utf-8")
    assert _prose_numbers(text) == []
    assert _prose_numbers(
        "LENS was +0.4 points (-0.2 to 1.0), 21% of peak, 1.55x; `gamma 0.1`, "
        "Llama-3.1-8B, 95% interval"
    ) == ["+0.4", "-0.2", "1.0", "21%", "1.55x"]


def test_a_changed_results_value_changes_both_the_table_and_the_prose(tmp_path):
    import shutil

    res = tmp_path / "results"
    shutil.copytree(render_docs.RESULTS, res)
    before = render_docs.render(render_docs.TEMPLATE, res)
    rows = render_docs.load_rows(res)["label_loop_curve"]
    target = next(r for r in rows if r["labels"] == 400)
    path = res / target["_source"]
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        row = json.loads(line)
        if (
            row.get("table") == "label_loop_curve"
            and row["run"] == target["run"]
            and row["labels"] == 400
        ):
            row["difference"], row["lo"], row["hi"] = -0.1234, -0.1777, -0.0555
            lines[i] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")
    after = render_docs.render(render_docs.TEMPLATE, res)

    def prose(text):  # the sentences, lines joined, without the tables
        return " ".join(line.strip() for line in text.splitlines() if not line.startswith("|"))

    def table_row(text):
        return next(line for line in text.splitlines() if line.startswith("| 400 |"))

    old = f"{target['difference']:+.3f} [{target['lo']:+.3f}, {target['hi']:+.3f}]"
    assert old in prose(before) and old not in prose(after)
    assert "-0.123 [-0.178, -0.056]" in prose(after)  # the prose follows the results row
    assert f"{target['difference']:+.3f}" in table_row(before) and "-0.123" in table_row(after)


def test_the_claims_the_page_makes_in_words_hold_on_the_rows_it_renders():
    """The prose of docs/benchmarks.template.md says some things in words ("not significant",
    "clear of 0", "behind at every label count"); a rerun that changes them must change the text."""
    rows = render_docs.load_rows()

    def one(table, **where):
        found = [r for r in rows[table] if all(r.get(k) == v for k, v in where.items())]
        assert len(found) == 1, (table, where)
        return found[0]

    def contains_zero(lo, hi):
        return lo <= 0 <= hi

    # LENS: nothing clears the repeat control after Holm; unadjusted, the one hit the prose names
    for r in rows["lens_hh"] + rows["lens_alpaca"]:
        assert r["helps"] in (None, "control", "no"), r
        assert r.get("vs_repeat_holm") is None or r["vs_repeat_holm"] >= 0.05
    hits = [
        (r["head"], r["budget"], r["method"])
        for r in rows["lens_hh"]
        if (r["vs_repeat_lo"] or 0) > 0
    ]
    assert hits == [("bt-linear", 500, "auto")]
    for r in rows["lens_alpaca"]:
        if r["method"] in ("lens-k4", "lens-pool-k4", "pca-k4"):
            assert r["vs_repeat_hi"] < 0, r
    for b in (100, 500):
        r = one("lens_hh", head="bt-linear", budget=b, method="lens-k4")
        assert contains_zero(r["vs_repeat_lo"], r["vs_repeat_hi"])
    r = one("lens_hh", head="bt-mlp", budget=500, method="lens-pool-k4")
    assert r["vs_real_lo"] > 0 and contains_zero(r["vs_repeat_lo"], r["vs_repeat_hi"])
    for b in (250, 1000):  # on alpaca_bon synthesis hurts
        assert one("lens_alpaca", budget=b, method="lens-k4")["vs_repeat_hi"] < 0
    # the VAE against PCA: ahead on alpaca_bon where the prose says so, not significant on HH
    for r in rows["lens_vs_pca"]:
        if r["part"] == "hh":
            assert contains_zero(r["lo_accuracy"], r["hi_accuracy"]), r
    assert one("lens_vs_pca", part="alpaca", budget=1000, method="lens-k4")["lo_best_of_16"] > 0
    for b in (250, 1000):
        assert one("lens_vs_pca", part="alpaca", budget=b, method="lens-k4")["lo_spearman"] > 0
    # text features (issue 20): on alpaca_bon the default's mean is above the length baseline's at every
    # size, clear of it at 1,000 pairs only, and above bt-linear everywhere; bt-linear below the length
    # baseline; on HH the default is not significantly different from bt-linear; windows vs truncate
    # not significant
    for r in rows["features_alpaca"]:
        if r["row"] == "default":
            assert r["vs_length"] >= 0 and r["vs_bt_linear_lo"] > 0, r
            assert (r["vs_length_lo"] > 0) == (r["n_pairs"] == 1000), r
        if r["row"] == "bt-linear":
            assert r["vs_length"] < 0, r
    for r in rows["features_hh"]:
        if r["row"] == "default":
            assert (
                contains_zero(r["vs_bt_linear_lo"], r["vs_bt_linear_hi"]) and r["text_left_out"] > 5
            ), r
    for r in rows["long_texts"]:
        assert contains_zero(r["diff_lo"], r["diff_hi"]), r
    # heads: bt-mlp below bt-linear at 100 pairs, not significant at 500
    assert one("head_auto", budget=100, head="bt-mlp")["vs_linear_hi"] < 0
    r = one("head_auto", budget=500, head="bt-mlp")
    assert contains_zero(r["vs_linear_lo"], r["vs_linear_hi"])
    # defaults: the linear default's and the MLPs' intervals overlap the best's; the order named
    for ds, n in {(r["dataset"], r["n_pairs"]) for r in rows["defaults_cv"]}:
        block = [r for r in rows["defaults_cv"] if (r["dataset"], r["n_pairs"]) == (ds, n)]
        best = max(block, key=lambda r: r["cv_accuracy"])
        for r in block:
            if r["candidate"] in ("bt-linear alpha=1000", "bt-mlp", "clf-mlp"):
                assert r["hi"] >= best["lo"], (ds, n, r["candidate"])
    assert (
        one("defaults_cv", dataset="hh", n_pairs=1312, candidate="bt-mlp")["cv_accuracy"]
        > one("defaults_cv", dataset="hh", n_pairs=1312, candidate="bt-linear alpha=1000")[
            "cv_accuracy"
        ]
    )
    assert (
        one("defaults_cv", dataset="alpaca", n_pairs=1000, candidate="bt-linear alpha=1000")[
            "cv_accuracy"
        ]
        > one("defaults_cv", dataset="alpaca", n_pairs=1000, candidate="bt-mlp")["cv_accuracy"]
    )
    # active labeling: no strategy ahead of random with an interval clear of 0
    for r in rows["active_spearman"] + rows["active_best_of_16"]:
        assert r.get("vs_lo") is None or r["vs_lo"] <= 0, r
    policy = [
        r
        for r in rows["active_spearman"]
        if r["setting"] == "policy" and r["metric"] == "spearman_pool"
    ]
    assert max(r["mean"] for r in policy) <= policy[0]["at_first_batch"]
    # the label loop: D-optimal behind random at every count after the first batch, clear of 0 at 400
    curve = rows["label_loop_curve"]
    assert all(
        r["d_optimal"] < r["random"] for r in curve if r["labels"] > min(c["labels"] for c in curve)
    )
    assert one("label_loop_curve", labels=400)["hi"] < 0
    raw = [
        r for r in rows["label_loop_raw"] if r.get("kind") == "batch" and r.get("annotators") == 1
    ]
    assert raw and all(
        "heldout_spearman_per_prompt" in r for r in raw
    )  # "includes the prompts' noise"
    # encoder parity: the int8 backend's accuracy difference is not significant
    r = one("encoder_parity", backend="onnx-int8")
    assert contains_zero(r["delta_lo"], r["delta_hi"])
    # prompt formats: the accuracy change is not significant
    for r in rows["prompt-format"]:
        assert contains_zero(r["delta_lo"], r["delta_hi"])


def test_lens_summaries_resample_the_test_pairs_when_cells_kept_them():
    lens = _load("lens")
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.6  # one shared test set; seeds differ on a few pairs
    raw = []
    for seed in range(4):
        for method in ("real", "repeat-k4", "lens-k4", "pca-k4"):
            correct = np.where(rng.random(400) < 0.05, ~truth, truth)
            raw.append(
                {
                    "part": "hh",
                    "budget": 100,
                    "seed": seed,
                    "head": "bt-linear",
                    "method": method,
                    "accuracy": float(correct.mean()),
                    "n_test": 400,
                    "correct_hex": np.packbits(correct).tobytes().hex(),
                }
            )
    with_items = {r["method"]: r for r in lens.summarise(Path("/nonexistent"), raw)["lens_hh"]}
    seeds_only = [{k: v for k, v in r.items() if k != "correct_hex"} for r in raw]
    without = {r["method"]: r for r in lens.summarise(Path("/nonexistent"), seeds_only)["lens_hh"]}
    for method in ("real", "lens-k4"):
        a, b = with_items[method], without[method]
        assert a["accuracy"] == pytest.approx(b["accuracy"])
        # the test set's own noise (about +-0.048 for 400 pairs) is in one interval, not the other
        assert (a["hi"] - a["lo"]) > 2 * (b["hi"] - b["lo"])
        assert (a["hi"] - a["lo"]) == pytest.approx(2 * 1.96 * np.sqrt(0.6 * 0.4 / 400), rel=0.35)
    assert 0.0 <= with_items["lens-k4"]["lo"] <= with_items["lens-k4"]["hi"] <= 1.0
    assert (
        with_items["lens-k4"]["vs_repeat_lo"]
        <= with_items["lens-k4"]["vs_repeat"]
        <= with_items["lens-k4"]["vs_repeat_hi"]
    )


def test_label_loop_curve_resamples_held_out_prompts_when_batches_kept_them():
    label_loop = _load("label_loop")
    rng = np.random.default_rng(1)
    records = []
    for seed in range(5):
        prompt_effect = rng.normal(0.4, 0.3, 60).clip(
            -1, 1
        )  # each seed holds out its own 60 prompts
        for strategy, shift in (("random", 0.0), ("d-optimal", -0.03)):
            per_prompt = (prompt_effect + shift + rng.normal(0, 0.02, 60)).clip(-1, 1)
            per_prompt[0] = np.nan  # an undefined prompt is left out of the pairing
            records.append(
                {
                    "kind": "batch",
                    "annotators": 1,
                    "run_strategy": strategy,
                    "seed": seed,
                    "labels": 100,
                    "heldout_spearman": float(np.nanmean(per_prompt)),
                    "cv_accuracy": 0.6,
                    "chosen_by": 1,
                    "select_seconds": 0.1,
                    "fit_seconds": 0.1,
                    "cv_seconds": 0.1,
                    "heldout_spearman_per_prompt": [
                        None if np.isnan(v) else float(v) for v in per_prompt
                    ],
                }
            )
    with_items = label_loop.tables(records)["label_loop_curve"][0]
    older = [{k: v for k, v in r.items() if k != "heldout_spearman_per_prompt"} for r in records]
    seeds_only = label_loop.tables(older)["label_loop_curve"][0]
    assert with_items["difference"] == pytest.approx(seeds_only["difference"], abs=1e-3)
    assert -1.0 <= with_items["lo"] < with_items["difference"] < with_items["hi"] <= 1.0
    # the prompts' own noise widens the interval beyond the seed-to-seed spread
    assert with_items["hi"] - with_items["lo"] > seeds_only["hi"] - seeds_only["lo"]
