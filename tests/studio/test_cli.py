"""`prefspace label` end to end: headless simulation over HTTP, export, import, errors."""

from __future__ import annotations

import json

import pytest

from prefspace.cli import main
from prefspace.studio import LabelStore, agreement, loop_report

# the fields of a `--report` line before labels_per_minute (BatchRecord's, in order)
BATCH_FIELDS = [
    "batch",
    "size",
    "strategy",
    "n_explore",
    "select_seconds",
    "chosen_by",
    "labels",
    "model_version",
    "fit_seconds",
    "cv_seconds",
    "cv_accuracy",
    "cv_low",
    "cv_high",
]


def _run(args):
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture
def base(small_pool, tmp_path):
    return [
        "label",
        small_pool["pool"],
        "--id-key",
        "id",
        "--features",
        small_pool["features"],
        "--prompt-features",
        small_pool["prompt_features"],
        "--db",
        tmp_path / "labels.sqlite",
    ]


def test_simulate_runs_the_loop_through_http(base, tmp_path, capsys):
    report = tmp_path / "report.jsonl"
    code = _run(
        base
        + [
            "--simulate",
            "gold",
            "--simulate-transform",
            "logit",
            "--rounds",
            "3",
            "--batch",
            "8",
            "--annotators",
            "2",
            "--report",
            report,
            "--strategy",
            "d-optimal",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "24 labels in" in out and "labels/min (2 annotator(s))" in out
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["batch"] for r in rows] == [1, 2, 3] and [r["labels"] for r in rows] == [8, 16, 24]
    assert [r["strategy"] for r in rows] == ["random", "d-optimal", "d-optimal"]
    assert [r["model_version"] for r in rows] == [1, 2, 3] and [r["chosen_by"] for r in rows] == [
        None,
        1,
        2,
    ]
    assert all(r["select_seconds"] >= 0 and r["fit_seconds"] >= 0 for r in rows)
    assert rows[-1]["cv_accuracy"] is not None and rows[0]["labels_per_minute"] > 0
    # each line is its batch's BatchRecord.to_json(), field for field and in order, then the
    # run's labels per minute; each batch's printed line starts with its batch, size, strategy
    with LabelStore(tmp_path / "labels.sqlite", readonly=True) as store:
        records = loop_report(store)
    lpm = rows[0]["labels_per_minute"]
    assert rows == [{**r.to_json(), "labels_per_minute": lpm} for r in records]
    assert [list(r) for r in rows] == [[*BATCH_FIELDS, "labels_per_minute"]] * 3
    printed = out.splitlines()
    for r in records:
        assert any(
            line.startswith(f"{r.batch:>5}  {r.size:>5}  {r.strategy:<12} ") for line in printed
        )
    with LabelStore(tmp_path / "labels.sqlite", readonly=True) as store:
        js = store.judgments()
    assert len(js) == 24 and {j["annotator"] for j in js} <= {"sim-1", "sim-2"}
    assert len({j["pair_id"] for j in js}) == 24  # overlap 1: no pair judged twice

    # export and import on the database just made
    assert (
        _run(["label", "export", tmp_path / "labels.sqlite", "--out", tmp_path / "pairs.jsonl"])
        == 0
    )
    assert "wrote 24 preference pairs" in capsys.readouterr().out
    assert len((tmp_path / "pairs.jsonl").read_text().splitlines()) == 24
    assert (
        _run(
            [
                "label",
                "export",
                tmp_path / "labels.sqlite",
                "--format",
                "label-studio",
                "--out",
                tmp_path / "tasks.json",
                "--config-out",
                tmp_path / "ls.xml",
            ]
        )
        == 0
    )
    assert "wrote 24 Label Studio tasks (24 annotations)" in capsys.readouterr().out
    assert _run(["label", "import", tmp_path / "labels.sqlite", tmp_path / "tasks.json"]) == 0
    # the same judgments come back under the same annotator names: nothing new
    assert "0 judgments added, 24 already in" in capsys.readouterr().out
    # rerunning with more rounds continues the same database
    code = _run(base + ["--simulate", "gold", "--rounds", "4", "--batch", "8"])
    assert code == 0
    with LabelStore(tmp_path / "labels.sqlite", readonly=True) as store:
        assert len(store.batches()) == 4


def test_simulated_overlap_prints_the_agreement_on_the_summary_line(base, tmp_path, capsys):
    code = _run(
        base
        + ["--simulate", "gold", "--rounds", "1", "--batch", "4", "--overlap", "2"]
        + ["--annotators", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    with LabelStore(tmp_path / "labels.sqlite", readonly=True) as store:
        agreed = agreement(store.judgments())
    assert agreed.pairs == 4 and agreed.judgments == 8
    # the summary line ends with the agreement's fields, written as a Python dict reads
    summary = next(line for line in out.splitlines() if "labels/min" in line)
    assert summary.endswith(
        f"; agreement {{'pairs': 4, 'judgments': 8, 'percent': {agreed.percent!r}, "
        f"'alpha': {agreed.alpha!r}}}"
    )


def test_no_serve_prepares_a_batch_for_label_studio(base, tmp_path, capsys):
    assert _run(base + ["--no-serve", "--batch", "5"]) == 0
    assert "batch 1 has 5 of 5 pairs left to label" in capsys.readouterr().out
    assert (
        _run(
            [
                "label",
                "export",
                tmp_path / "labels.sqlite",
                "--format",
                "label-studio",
                "--pending",
                "--out",
                tmp_path / "todo.json",
            ]
        )
        == 0
    )
    assert len(json.loads((tmp_path / "todo.json").read_text())) == 5


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--simulate", "gold"], "--simulate needs --rounds"),
        (["--host", "0.0.0.0"], "needs an access token"),
        (["--strategy", "entropy"], "'entropy' is not one of"),
        (["--head", "svm"], "'svm' is not one of"),
        (["--simulate", "stars", "--rounds", "1"], "stars"),
    ],
)
def test_bad_input_exits_2(base, extra, message, capsys):
    assert _run(base + extra) == 2
    assert message in capsys.readouterr().err


def test_bad_files_exit_2(small_pool, tmp_path, capsys):
    assert _run(["label", "export", tmp_path / "missing.sqlite"]) == 2
    assert "no such label database" in capsys.readouterr().err
    assert (
        _run(
            [
                "label",
                small_pool["pool"],
                "--id-key",
                "id",
                "--features",
                small_pool["prompt_features"],
                "--db",
                tmp_path / "x.sqlite",
            ]
        )
        == 2
    )
    assert "one row per response" in capsys.readouterr().err


def test_help_names_the_registries():
    from typer.testing import CliRunner

    from prefspace.cli import _register_commands, app
    from prefspace.models import HEADS
    from prefspace.select import STRATEGIES

    _register_commands()
    result = CliRunner().invoke(
        app, ["label", "serve", "--help"], env={"COLUMNS": "300"}, catch_exceptions=False
    )
    assert result.exit_code == 0
    assert not [n for n in [*STRATEGIES, *HEADS] if n not in result.output]


def test_without_a_strategy_every_batch_is_random(base, tmp_path, capsys):
    """The default follows the label-loop benchmark (docs/benchmarks.md): D-optimal learned more
    slowly than random there, so `prefspace label` labels random pairs unless told otherwise."""
    report = tmp_path / "default.jsonl"
    code = _run(base + ["--simulate", "gold", "--rounds", "2", "--batch", "8", "--report", report])
    assert code == 0, capsys.readouterr().out
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["strategy"] for r in rows] == ["random", "random"] and rows[1]["chosen_by"] == 1


def test_a_saved_model_embeds_the_pool_with_its_own_encoder(
    model_dirs, small_pool, tmp_path, capsys
):
    """No precomputed features: the pool is embedded with the model's MiniLM through the cache,
    and the model chooses the first batch."""
    rows = [r for r in small_pool["rows"] if len(r["response"]) < 300][:12]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "m.sqlite"
    code = _run(
        [
            "label",
            pool,
            "--id-key",
            "id",
            "--db",
            db,
            "--model",
            model_dirs["bt"],
            "--cache",
            tmp_path / "cache",
            "--batch",
            "4",
            "--explore",
            "0.25",
            "--no-serve",
            "--strategy",
            "d-optimal",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "batch 1 has 4 of 4 pairs left to label" in capsys.readouterr().out
    with LabelStore(db, readonly=True) as store:
        batch = store.batches()[0]
        kinds = sorted(p["strategy"] for p in store.pairs(batch=1))
        assert (batch["strategy"], batch["model_version"], batch["n_explore"]) == (
            "d-optimal",
            0,
            1,
        )
        assert kinds == ["d-optimal"] * 3 + ["explore"]
        assert store.models()[0]["head"] == "BradleyTerryMLP"
    assert any((tmp_path / "cache").rglob("*.safetensors"))  # the embeddings went through the cache


def test_label_export_flags_renamed_apart_from_trains_with_the_old_names_deprecated(
    tmp_path, capsys
):
    """label export's --ties/--aggregate meant other things than train's: now --tie-rows/--combine."""
    from prefspace.cli import main
    from prefspace.studio import LabelStore

    db = tmp_path / "labels.sqlite"
    with LabelStore(db) as store:
        store.add_batch(
            [
                {
                    "pair_id": "a|b",
                    "id_a": "a",
                    "id_b": "b",
                    "prompt": "Q?",
                    "response_a": "A",
                    "response_b": "B",
                    "strategy": "random",
                }
            ],
            strategy="random",
            model_version=None,
        )
        store.add_judgment("a|b", "x", "tie")

    def run(*args):
        try:
            main(["label", "export", str(db), *args])
        except SystemExit as exc:
            assert exc.code == 0
        return capsys.readouterr()

    new = run("--out", str(tmp_path / "new.jsonl"), "--tie-rows", "both", "--combine", "all")
    old = run("--out", str(tmp_path / "old.jsonl"), "--ties", "both", "--aggregate", "all")
    assert (
        "deprecated" not in new.err
        and "--ties is deprecated" in old.err
        and "use --combine" in old.err
    )
    assert (tmp_path / "old.jsonl").read_text() == (tmp_path / "new.jsonl").read_text()
    assert len((tmp_path / "new.jsonl").read_text().splitlines()) == 2  # the tie, written both ways
