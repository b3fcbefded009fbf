"""``prefspace evaluate MODEL DATA --out DIR`` on a real saved model and the bundled encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prefspace.cli import main
from prefspace.data import load_demo
from prefspace.embed import embed_pairs, embed_responses, get_encoder
from prefspace.evaluate import accuracy_with_interval, best_of_n_curve
from prefspace.models import BradleyTerryLinear, save_model


def _cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return 0 if exc.code is None else int(exc.code)
    return 0


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A linear head trained on 40 demo pairs, saved with its encoder; 24 other pairs held out."""
    root = tmp_path_factory.mktemp("evaluate-cli")
    data = load_demo()
    encoder = get_encoder()
    train, held = data.select(np.arange(40)), data.select(np.arange(40, 64))
    model = BradleyTerryLinear().fit(embed_pairs(train, encoder).X)
    model_dir = save_model(model, root / "model", encoder=encoder)
    held_path = _write_jsonl(
        root / "held.jsonl",
        [
            {"prompt": p, "chosen": c, "rejected": r, "subset": s}
            for p, c, r, s in zip(held.prompts, held.chosen, held.rejected, held.subset)
        ],
    )
    X_held = embed_pairs(held, encoder).X
    return {
        "root": root,
        "model": model,
        "model_dir": Path(model_dir),
        "held": held,
        "held_path": held_path,
        "X_held": X_held,
        "encoder": encoder,
    }


def test_evaluate_pairs_writes_metrics_subsets_and_report(saved, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        _cli(["evaluate", str(saved["model_dir"]), str(saved["held_path"]), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "per subset" in printed and "report.html" in printed

    metrics = json.loads((out / "metrics.json").read_text())
    X = saved["X_held"]
    r = saved["model"].predict(X.reshape(-1, X.shape[2])).reshape(len(X), 2)
    expected = accuracy_with_interval(r[:, 0], r[:, 1])
    assert metrics["accuracy"] == pytest.approx(expected.accuracy)
    assert metrics["ci_low"] == pytest.approx(expected.ci_low) and metrics["n_pairs"] == 24
    per = metrics["subsets"]["per_subset"]
    assert set(per) == set(saved["held"].subset)
    assert sum(v["n_pairs"] for v in per.values()) == 24
    assert metrics["subsets"]["weighted"] == pytest.approx(metrics["accuracy"])
    assert 0.0 <= metrics["ece"] <= 1.0

    html = (out / "report.html").read_text()
    assert (out / "plots" / "reliability.png").exists()
    assert html.count("data:image/png;base64,") == 1
    assert "Pairwise accuracy and calibration" in html
    # the model was saved without a length baseline: it is cross-fitted on the evaluation pairs
    c = metrics["length_baseline"]
    assert (
        c["model"] == pytest.approx(metrics["accuracy"]) and c["n"] == 24 and c["unit"] == "pairs"
    )
    assert "cross-fitted" in metrics["length_baseline_fit"]["source"]
    assert "length baseline" in printed and c["verdict"] in printed and "cross-fitted" in printed
    assert html.index("Against the learned length baseline") < html.index(
        "Pairwise accuracy and calibration"
    )


def test_evaluate_uses_the_baseline_saved_with_the_model(saved, tmp_path, capsys):
    from prefspace.models import LengthBaseline, pair_log_lengths

    train = load_demo().select(np.arange(40))
    base = LengthBaseline().fit(pair_log_lengths(train.chosen, train.rejected))
    model_dir = save_model(
        saved["model"], tmp_path / "model", encoder=saved["encoder"], length_baseline=base
    )
    out = tmp_path / "eval"
    assert _cli(["evaluate", str(model_dir), str(saved["held_path"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    held = saved["held"]
    assert metrics["length_baseline"]["baseline"] == pytest.approx(
        base.score(pair_log_lengths(held.chosen, held.rejected))
    )
    assert metrics["length_baseline_fit"]["source"] == "the model's training pairs"
    assert metrics["length_baseline_fit"]["coef"] == pytest.approx(base.coef_)
    assert "(length baseline fitted on the model's training pairs)" in printed


def test_evaluate_scored_gives_best_of_n_and_rank_correlations(saved, tmp_path):
    held = saved["held"]
    prompts = [{"prompt_id": k, "prompt": held.prompts[k]} for k in range(3)]
    responses, gold = [], []
    for k in range(3):  # 4 responses per prompt, gold made up, one prompt with tied gold
        texts = [held.chosen[k], held.rejected[k], held.chosen[k + 3], held.rejected[k + 3]]
        g = [0.9, 0.1, 0.5, 0.3] if k < 2 else [0.5, 0.5, 0.5, 0.5]
        responses += [{"prompt_id": k, "response": t, "gold": v} for t, v in zip(texts, g)]
        gold += g
    resp_path = _write_jsonl(tmp_path / "responses.jsonl", responses)
    prompt_path = _write_jsonl(tmp_path / "prompts.jsonl", prompts)
    out = tmp_path / "eval-scored"
    assert (
        _cli(
            [
                "evaluate",
                str(saved["model_dir"]),
                str(resp_path),
                "--prompts",
                str(prompt_path),
                "--out",
                str(out),
            ]
        )
        == 0
    )

    metrics = json.loads((out / "metrics.json").read_text())
    F = embed_responses(
        [held.prompts[r["prompt_id"]] for r in responses],
        [r["response"] for r in responses],
        saved["encoder"],
    )
    rewards = saved["model"].predict(F)
    groups = [np.arange(4 * k, 4 * k + 4) for k in range(3)]
    expected = best_of_n_curve(rewards, np.array(gold), groups)
    assert metrics["best_of_n"]["n"] == [1, 2, 4]
    assert metrics["best_of_n"]["model"] == pytest.approx(expected["model"])
    assert metrics["best_of_n"]["oracle"][-1] == pytest.approx((0.9 + 0.9 + 0.5) / 3)
    # the prompt with constant gold has no correlation; the other two do
    assert metrics["n_prompts_with_correlation"] == 2
    assert (out / "plots" / "best_of_n.png").exists()
    spearman, best = metrics["length_baseline"][0], metrics["length_baseline"][-1]
    assert spearman["metric"] == "spearman" and spearman["n"] == 2 and best["metric"] == "best_of_4"
    assert best["model"] == pytest.approx(metrics["best_of_n"]["model"][-1])


def test_evaluate_missing_model_exits_2(saved, tmp_path, capsys):
    assert (
        _cli(
            [
                "evaluate",
                str(tmp_path / "nope"),
                str(saved["held_path"]),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "error:" in capsys.readouterr().err
