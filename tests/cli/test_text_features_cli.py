"""``prefspace train`` with the text-feature block (the default) and ``--length-controlled`` in
``score`` and ``rerank``, on the first HH pairs with the real MiniLM encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app
from prefspace.models import describe_model, load_model

runner = CliRunner()


def invoke(args: list[str]):
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(hh_path, tmp_path_factory):
    _register_commands()
    root = tmp_path_factory.mktemp("tf")
    out = root / "model"
    result = invoke(
        ["train", str(hh_path), "--limit", "60", "--out", str(out), "--cache", str(root / "cache")]
    )
    return root, out, result.output


def test_train_uses_the_block_and_reports_truncation_and_length_dependence(trained):
    root, out, output = trained
    assert "truncated by the encoder" in output and "length dependence" in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["truncation"]["token_limit"] == 254 and metrics["truncation"]["texts"] == 120
    d = metrics["length_dependence"]
    assert -1 <= d["within_prompt_length_corr"] <= 1 and 0 <= d["text_feature_share"] <= 1
    assert describe_model(out).text_features["version"] == 1
    model = load_model(out)
    assert model.n_text_features_ == 8 and model.n_features_in_ == 776


def test_no_text_features_trains_on_the_embedding_alone(trained, hh_path):
    root, _, _ = trained
    out = root / "plain"
    invoke(
        [
            "train",
            str(hh_path),
            "--limit",
            "60",
            "--out",
            str(out),
            "--cache",
            str(root / "cache"),
            "--no-text-features",
        ]
    )
    assert load_model(out).n_features_in_ == 768 and describe_model(out).text_features is None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["truncation"]["texts"] == 120  # measured all the same (cached block)


def test_score_and_rerank_take_length_controlled(trained, hh_path):
    root, out, _ = trained
    plain, controlled = root / "plain.jsonl", root / "controlled.jsonl"
    args = ["score", str(out), str(hh_path), "--limit", "20", "--cache", str(root / "cache")]
    invoke([*args, "--out", str(plain)])
    invoke([*args, "--out", str(controlled), "--length-controlled"])
    a = [json.loads(line)["reward_chosen"] for line in plain.read_text().splitlines()]
    b = [json.loads(line)["reward_chosen"] for line in controlled.read_text().splitlines()]
    assert len(a) == len(b) == 20 and not np.allclose(a, b)
    assert np.std(np.array(a) - np.array(b)) > 0  # the removed part varies with the response

    from prefspace.data import load_preferences

    ds = load_preferences(hh_path, limit=10)
    cands = root / "cands.jsonl"
    cands.write_text(
        "".join(
            json.dumps({"prompt_id": i, "prompt": f"question {i}", "response": r}) + "\n"
            for i in range(10)
            for r in (ds.chosen[i], ds.rejected[i])
        )
    )
    best = {}
    for flag in ([], ["--length-controlled"]):
        target = root / f"best{len(flag)}.jsonl"
        invoke(
            [
                "rerank",
                str(out),
                str(cands),
                "--out",
                str(target),
                "--cache",
                str(root / "cache"),
                *flag,
            ]
        )
        best[bool(flag)] = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(best[True]) == len(best[False]) == 10
    assert [r["reward"] for r in best[True]] != [r["reward"] for r in best[False]]
