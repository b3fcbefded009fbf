"""The experiment runner: config checks, outputs, parallel workers, and resuming after a kill."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.special import expit

from prefspace.cli import main
from prefspace.evaluate import evaluate_pairs
from prefspace.exceptions import ConfigError
from prefspace.experiments.config import load_config, parse_overrides
from prefspace.experiments.experiment import RUN_LOCK, _run_lock, read_results, run_experiment
from prefspace.experiments.summarize import write_outputs
from prefspace.models import BradleyTerryLinear

# Fields that legitimately differ between two runs of the same cell.
TIMING = {"seconds", "augment_seconds"}


def _pairs(n: int, seed: int, w: np.ndarray) -> np.ndarray:
    g = np.random.default_rng(seed)
    E = g.normal(size=(n, 2, w.size)).astype(np.float32)
    swap = (E[:, 0] @ w) < (E[:, 1] @ w)
    E[swap] = E[swap][:, ::-1]
    return E


@pytest.fixture
def toy_config(tmp_path: Path) -> Path:
    w = np.random.default_rng(0).normal(size=8)
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "train.npy", _pairs(300, 1, w))
    np.save(data / "test.npy", _pairs(200, 2, w))
    cfg = {
        "name": "toy grid",
        "data_root": "data",
        "seeds": [0, 1, 2],
        "budgets": [20, 60],
        "baseline": "linear",
        "datasets": [
            {
                "name": "toy",
                "kind": "pair_arrays",
                "train": "{data_root}/train.npy",
                "test": "{data_root}/test.npy",
            }
        ],
        "methods": [
            {"name": "linear", "head": "BradleyTerryLinear"},
            {
                "name": "mlp",
                "head": "BradleyTerryMLP",
                "params": {"hidden_sizes": [16], "max_epochs": 20},
            },
        ],
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(argv: list[str]) -> int:
    """Run the prefspace CLI in-process; return its exit code."""
    try:
        main(argv)
    except SystemExit as exc:
        return 0 if exc.code is None else int(exc.code)
    return 0


def _strip(rows):
    return {r["key"]: {k: v for k, v in r.items() if k not in TIMING} for r in rows}


# ----------------------------------------------------------------------------- config


def test_config_paths_resolve_against_the_config_file_and_set_against_cwd(
    toy_config, tmp_path, monkeypatch
):
    cfg = load_config(toy_config, out_dir=tmp_path / "out")
    assert cfg["datasets"][0]["train"] == str((tmp_path / "data" / "train.npy").resolve())
    monkeypatch.chdir(tmp_path / "data")
    (tmp_path / "data" / "elsewhere").mkdir()
    for name in ("train.npy", "test.npy"):
        (tmp_path / "data" / "elsewhere" / name).write_bytes(
            (tmp_path / "data" / name).read_bytes()
        )
    cfg = load_config(toy_config, parse_overrides(["data_root=elsewhere", "seeds=[5]"]))
    assert cfg["datasets"][0]["train"] == str(
        (tmp_path / "data" / "elsewhere" / "train.npy").resolve()
    )
    assert cfg["seeds"] == [5]


def test_config_errors_name_the_place(toy_config, tmp_path):
    raw = yaml.safe_load(toy_config.read_text())
    bad = dict(raw, methods=[{"name": "x", "head": "BradleyTerryLinear", "lr": 1}])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(
        ConfigError,
        match=r"methods\[0\]\.lr: 'lr' is not a known key\. Allowed: augment, head, name, params, select",
    ):
        load_config(tmp_path / "bad.yaml")
    no_root = {k: v for k, v in raw.items() if k != "data_root"}
    (tmp_path / "noroot.yaml").write_text(yaml.safe_dump(no_root))
    with pytest.raises(
        ConfigError, match=r"\{data_root\} is used but not defined.*--set data_root"
    ):
        load_config(tmp_path / "noroot.yaml")
    with pytest.raises(ConfigError, match="baseline 'nope' is not one of the methods"):
        load_config(toy_config, {"baseline": "nope"})
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):
        parse_overrides(["data_root"])


def test_unknown_head_is_a_config_error_at_load(toy_config, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"methods\[0\]\.head: 'NoSuchHead' is not a known head\. Allowed: .*BradleyTerryMLP.*bt-mlp",
    ):
        load_config(toy_config, {"methods": [{"name": "x", "head": "NoSuchHead"}], "baseline": "x"})
    # a registry name is as good as the class name
    cfg = load_config(
        toy_config, {"methods": [{"name": "x", "head": "bt-linear"}], "baseline": "x"}
    )
    assert cfg["methods"][0]["head"] == "BradleyTerryLinear"


# ----------------------------------------------------------------------------- running and outputs


def test_grid_outputs_report_with_its_plots_and_parallel_equals_serial(toy_config, tmp_path):
    cfg = load_config(toy_config)
    serial = run_experiment(cfg, tmp_path / "serial", jobs=1)
    assert len(serial) == 12
    assert {(r["method"], r["budget"], r["seed"]) for r in serial} == {
        (m, b, s) for m in ("linear", "mlp") for b in (20, 60) for s in (0, 1, 2)
    }
    for r in serial:
        assert r["n_train"] == r["budget"] and 0.0 <= r["accuracy"] <= 1.0
        if r["method"] == "linear":  # a linear head fits the hidden direction well
            assert r["accuracy"] > 0.7
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
        assert r["n_pairs"] == 200 and not any(
            k.startswith("acc_ci") for k in r
        )  # evaluate_pairs' names
    # Two spawned workers give the same rows (linear cells only: spawning torch twice is slow on CI).
    linear_only = dict(cfg, methods=[m for m in cfg["methods"] if m["name"] == "linear"])
    parallel = run_experiment(linear_only, tmp_path / "parallel", jobs=2)
    assert len(parallel) == 6
    assert _strip(parallel) == {k: v for k, v in _strip(serial).items() if "|linear|" in k}

    paths = write_outputs(serial, cfg, tmp_path / "serial")
    csv_lines = paths["results_csv"].read_text().splitlines()
    assert len(csv_lines) == 13 and csv_lines[0].startswith("key,dataset,kind,budget,method,seed")
    summary = paths["summary_md"].read_text()
    assert "| toy | 20 | linear | 3 |" in summary and "Paired differences against linear" in summary
    html = paths["report_html"].read_text()
    pngs = sorted((tmp_path / "serial" / "plots").glob("*.png"))
    assert {p.name for p in pngs} == {"accuracy_vs_budget.png", "reliability_toy.png"}
    embedded = html.split('src="data:image/png;base64,')[1:]
    assert len(embedded) == len(pngs)
    for chunk in embedded:
        assert base64.b64decode(chunk.split('"', 1)[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened


def test_a_cell_reports_what_evaluate_pairs_reports(toy_config, tmp_path):
    """One evaluation path: a cell's metrics are evaluate_pairs' on the same model and test pairs."""
    cfg = load_config(
        toy_config,
        {
            "seeds": [1],
            "budgets": [60],
            "baseline": "linear",
            "methods": [{"name": "linear", "head": "BradleyTerryLinear"}],
        },
    )
    (row,) = run_experiment(cfg, tmp_path / "one", jobs=1)
    train, test = np.load(cfg["datasets"][0]["train"]), np.load(cfg["datasets"][0]["test"])
    order = np.random.default_rng(1).permutation(len(train))  # the cell's nested draw for seed 1
    model = BradleyTerryLinear().fit(train[order[:60]])
    expected = evaluate_pairs(model, test, random_state=1)
    for key in ("accuracy", "ci_low", "ci_high", "n_pairs", "loss", "margin", "mean_reward", "ece"):
        assert row[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
    assert row["reliability"]["count"] == expected["reliability"]["count"]


_HOLD_LOCK = (
    "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
    "print('held', flush=True); time.sleep(120)"
)


def _lock_holder(out: Path) -> subprocess.Popen:
    """Another process holding ``out``'s run lock, once it has printed 'held'."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out / RUN_LOCK)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_run_lock_refuses_a_live_run_and_is_free_once_that_run_is_killed(tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    holder = _lock_holder(out)
    try:
        with pytest.raises(ConfigError, match="being written by another experiment run"):
            with _run_lock(out):
                pass
    finally:
        holder.kill()  # killed, not shut down: the operating system releases its lock
        holder.wait()
    with _run_lock(out):
        with pytest.raises(ConfigError, match="being written by another experiment run"):
            with _run_lock(out):  # a second run in this very process
                pass
    with _run_lock(out):  # released on exit
        pass


_KILLABLE = textwrap.dedent(
    """
    import pathlib, sys, threading
    from prefspace.experiments.config import load_config
    from prefspace.experiments.experiment import run_experiment

    cfg = load_config(sys.argv[1])
    finished = []

    def progress(done, total, row):
        # After the third finished cell: say so, then wait forever for the test's SIGKILL.
        if row is not None:
            finished.append(row)
            if len(finished) == 3:
                pathlib.Path(sys.argv[3]).write_text("3")
                threading.Event().wait()

    run_experiment(cfg, sys.argv[2], jobs=1, progress=progress)
    """
)


def test_resume_after_kill_skips_finished_cells_and_matches_an_uninterrupted_run(
    toy_config, tmp_path
):
    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(_KILLABLE)
    marker = tmp_path / "three-cells-done"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(toy_config), str(out), str(marker)], env=dict(os.environ)
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 300
    try:
        while not marker.exists():  # poll the condition: the child is parked after its third cell
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before it could be interrupted")
            if time.monotonic() > deadline:
                pytest.fail("the run never finished three cells")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = read_results(results)
    assert len(before) == 3, "the kill lands after exactly three finished cells"
    assert (
        out / RUN_LOCK
    ).exists()  # the killed run's lock file stays behind, unlocked: the rerun takes it
    # A write cut short by the kill leaves half a line; the rerun ignores it.
    with open(results, "a") as f:
        f.write('{"key": "toy|60|mlp|2|trunc')

    starts = []
    cfg = load_config(toy_config)
    rows = run_experiment(
        cfg,
        out,
        jobs=1,
        progress=lambda done, total, row: starts.append(done) if row is None else None,
    )
    assert starts == [len(before)]  # finished cells were counted as done, not rerun
    by_key = {r["key"]: r for r in rows}
    for r in before:  # the rows from before the kill are the very same rows (same timings)
        assert by_key[r["key"]] == r

    fresh = run_experiment(cfg, tmp_path / "fresh", jobs=1)
    assert _strip(rows) == _strip(fresh)
    # a second rerun runs nothing
    again = []
    run_experiment(cfg, out, jobs=1, progress=lambda done, total, row: again.append((done, row)))
    assert again == [(12, None)]


def test_experiment_cli_writes_everything(toy_config, tmp_path, capsys):
    out = tmp_path / "cli-out"
    assert (
        _cli(
            [
                "experiment",
                str(toy_config),
                "--out",
                str(out),
                "--jobs",
                "1",
                "--set",
                "seeds=[0]",
                "--set",
                "budgets=[20]",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "2 cells" in printed and "report.html" in printed
    for name in (
        "results.jsonl",
        "results.csv",
        "summary.md",
        "report.html",
        "plots/accuracy_vs_budget.png",
    ):
        assert (out / name).exists(), name


def test_experiment_cli_bad_config_exits_2(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("name: x\nbudgets: [10]\ndatasets: []\nmethods: []\n")
    assert _cli(["experiment", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "datasets must be a non-empty list" in err and "methods must be a non-empty list" in err


@pytest.fixture
def scored_config(tmp_path: Path) -> Path:
    """30 prompts x 8 responses; gold is a hidden linear function of the response embedding."""
    rng = np.random.default_rng(0)
    n_prompts, per, dim = 30, 8, 6
    P = rng.normal(size=(n_prompts, dim)).astype(np.float16)
    R = rng.normal(size=(n_prompts * per, dim)).astype(np.float16)
    w = rng.normal(size=dim)
    gold = expit(R.astype(np.float64) @ w)
    data = tmp_path / "bon"
    data.mkdir()
    np.save(data / "p.npy", P)
    np.save(data / "r.npy", R)
    with open(data / "prompts.jsonl", "w") as f:
        for k in range(n_prompts):
            f.write(json.dumps({"prompt_id": k, "prompt": f"question {k}"}) + "\n")
    with open(data / "responses.jsonl", "w") as f:
        for i in range(n_prompts * per):
            f.write(
                json.dumps(
                    {"prompt_id": i // per, "response": f"answer {i}", "gold": float(gold[i])}
                )
                + "\n"
            )
    cfg = {
        "name": "toy best-of-N",
        "seeds": [0, 1],
        "budgets": [40, 80],
        "baseline": "linear",
        "datasets": [
            {
                "name": "bon",
                "kind": "scored",
                "responses": "bon/responses.jsonl",
                "prompts": "bon/prompts.jsonl",
                "prompt_embeddings": "bon/p.npy",
                "response_embeddings": "bon/r.npy",
                "test_size": 10,
                "test_pairs": 100,
                "simulate": {"noise": "bt", "beta": 2.0, "transform": "logit"},
            }
        ],
        "methods": [
            {"name": "linear", "head": "BradleyTerryLinear"},
            {
                "name": "linear+d-optimal",
                "head": "BradleyTerryLinear",
                "select": {"strategy": "d-optimal", "batch_size": 20},
            },
        ],
    }
    path = tmp_path / "bon.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_scored_grid_best_of_n_selection_and_report(scored_config, tmp_path):
    # Through the CLI: its progress bar and summary must cope with selection rows (no accuracy).
    assert (
        _cli(["experiment", str(scored_config), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    )
    rows = read_results(tmp_path / "out" / "results.jsonl")
    assert len(rows) == 8
    for r in rows:
        assert r["spearman"] > 0.3  # a linear head finds the hidden direction
        if r["method"] == "linear":
            curve = r["best_of_n"]
            assert curve["n"] == [1, 2, 4, 8] and curve["n_prompts"] == [10] * 4
            assert curve["random"][0] <= curve["model"][-1] <= curve["oracle"][-1]
            assert r["bon@8"] == curve["model"][-1] and 0 <= r["label_flip_rate"] < 0.5
        else:  # selection cells: the select stage's rounds, no pairwise accuracy
            assert [x["labels"] for x in r["rounds"]] == list(range(20, r["budget"] + 1, 20))
            assert "accuracy" not in r
    names = {p.name for p in (tmp_path / "out" / "plots").glob("*.png")}
    assert {
        "best_of_n_bon.png",
        "spearman_vs_budget.png",
        "reliability_bon.png",
        "accuracy_vs_budget.png",
    } <= names
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(names)
    assert "Best-of-N on bon" in html and "oracle" in html
    # the learned length baseline stands beside every passive cell, fitted on its training pairs
    for r in rows:
        if r["method"] == "linear":
            lb = r["length_baseline"]
            # the test prompts' responses ("answer 160".."answer 239") all have one length: every
            # test pair is a tie (counted wrong) and no prompt has a rank correlation
            assert lb["accuracy"] == 0.0 and lb["spearman"] is None and "bon@8" in lb
            assert lb["direction"] in ("longer", "shorter", "none")
        else:
            assert "length_baseline" not in r  # selection cells train their own pairs
    assert html.index("Against the learned length baseline") < html.index("Best-of-N on bon")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert (
        "## Against the learned length baseline" in summary
        and "| bon | 40 | length baseline | 2 |" in summary
    )


def test_a_second_concurrent_run_on_one_directory_is_refused(toy_config, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    holder = _lock_holder(out)
    try:
        with pytest.raises(ConfigError, match="being written by another experiment run"):
            run_experiment(load_config(toy_config), out, jobs=1)
    finally:
        holder.kill()
        holder.wait()
