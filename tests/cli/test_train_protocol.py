"""``prefspace train`` under the issue-12 protocol, on 150 HH pairs with the real MiniLM encoder.

- ``--augment repeat --factor 4`` with ``bt-linear`` is the real-only model (the penalty is not
  diluted by copies);
- ``bt-mlp --augment lens --factor 4`` early-stops on real pairs held out by prompt, with nothing
  synthesized from them: its held-out-while-training accuracy is no longer near 1.0 (it was
  0.98 when a random 10% of all rows, synthetic siblings included, was held out);
- ``--head auto`` says what it chose; ``--vae-data`` feeds the VAE unlabelled responses.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app
from prefspace.models import load_model

N_PAIRS = 150
runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    _register_commands()
    return tmp_path_factory.mktemp("cache")


def train(hh_path, cache, out, *extra):
    result = runner.invoke(
        app,
        [
            "train",
            str(hh_path),
            "--limit",
            str(N_PAIRS),
            "--seed",
            "0",
            "--cache",
            str(cache),
            "--out",
            str(out),
            *extra,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text()), result.output


def test_repeat_with_the_linear_head_gives_the_real_only_model(hh_path, cache, tmp_path):
    none, _ = train(hh_path, cache, tmp_path / "none", "--head", "bt-linear")
    rep, output = train(
        hh_path,
        cache,
        tmp_path / "rep",
        "--head",
        "bt-linear",
        "--augment",
        "repeat",
        "--factor",
        "4",
    )
    assert rep["n_synthetic"] == 4 * rep["n_train"] and "synthetic (repeat)" in output
    assert rep["test"]["accuracy"] == none["test"]["accuracy"]
    a, b = load_model(tmp_path / "none"), load_model(tmp_path / "rep")
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-4, atol=1e-6 * np.abs(a.coef_).max())


def test_mlp_with_lens_early_stops_on_real_held_out_pairs(hh_path, cache, tmp_path):
    report, output = train(
        hh_path, cache, tmp_path / "mlp", "--head", "bt-mlp", "--augment", "lens", "--factor", "4"
    )
    assert report["augment"]["n_heldout"] == report["train"]["eval_n_pairs"] >= 10
    # nothing was synthesized from the held-out pairs
    assert report["n_synthetic"] == 4 * (report["n_train"] - report["augment"]["n_heldout"])
    assert report["train"]["eval_accuracy"] < 0.9
    assert "held out while training: eval_accuracy" in output
    # held-out variance kept is reported next to the synthesis (on the test pairs)
    assert (
        0
        < report["augment"]["heldout_variance_kept"]
        < report["augment"]["train_variance_kept"]
        <= 1
    )
    assert "of held-out responses' variance" in output
    # the old protocol on the same pairs: a random 10% of all rows, synthetic siblings included
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder
    from prefspace.models import BradleyTerryMLP
    from prefspace.synth import LatentSynthesizer

    train_ds, _ = split_by_prompt(
        load_preferences(hh_path, limit=N_PAIRS), test_fraction=0.2, random_state=0
    )
    X = embed_pairs(train_ds, get_encoder(), EmbeddingCache(cache)).X
    Xa = np.concatenate([X, LatentSynthesizer(random_state=0).fit(X).sample(4).X])
    leaky = BradleyTerryMLP(random_state=0).fit(Xa, groups=np.arange(len(Xa)))
    assert leaky.metrics_["eval_accuracy"] > report["train"]["eval_accuracy"] + 0.1


def test_head_auto_prints_what_it_chose(hh_path, cache, tmp_path):
    report, output = train(
        hh_path, cache, tmp_path / "auto", "--head", "auto", "--test-fraction", "0.2"
    )
    chosen = report["head_auto"]
    assert f"--head auto chose {chosen['chosen']}" in output and chosen["reason"] in output
    assert report["head"] == "auto"
    from prefspace.models import DEFAULT_HEAD_GRID, get_head

    tried = [(c["head"], c["params"]) for c in chosen["candidates"]]
    grid = [(h, dict(p)) for h, p in DEFAULT_HEAD_GRID]
    # the grid in order (the text-features-only candidate only when the rows carry the block)
    assert tried == [e for e in grid if e in tried] and tried[:3] == grid[:3]
    # 120 training pairs: no candidate can clear the guard (a gain of >= 1.96 standard errors,
    # about 9 points here, in every fold), so the default is kept
    assert chosen["head"] == "bt-linear" and chosen["params"] == {} and "kept" in chosen["reason"]
    # the saved model is the chosen head with the chosen parameters
    saved, expected = load_model(tmp_path / "auto"), get_head(chosen["head"], **chosen["params"])
    assert (
        type(saved) is type(expected)
        and saved.get_params()["alpha"] == expected.get_params()["alpha"]
    )


def test_vae_data_feeds_unlabelled_responses_to_the_latent_model(hh_path, cache, tmp_path):
    pool = tmp_path / "pool.jsonl"
    with gzip.open(hh_path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(next(fh)) for _ in range(N_PAIRS + 20)][
            N_PAIRS:
        ]  # responses of other pairs, no labels
    pool.write_text(
        "".join(
            json.dumps({"prompt": "Human: hi\n\nAssistant:", "response": r["chosen"][-200:]}) + "\n"
            for r in lines
        )
    )
    report, _ = train(
        hh_path,
        cache,
        tmp_path / "pool",
        "--head",
        "bt-linear",
        "--augment",
        "lens",
        "--factor",
        "2",
        "--vae-data",
        str(pool),
    )
    assert (
        report["vae_data"]["n_responses"] == 20 and report["n_synthetic"] == 2 * report["n_train"]
    )
