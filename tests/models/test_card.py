"""Every saved model has a model card (README.md) and a reproducibility record; load_model ignores the card."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from prefspace.data import load_demo
from prefspace.embed.encoder import hash_model_files
from prefspace.embed.sentence_transformer import bundled_minilm_path
from prefspace.models import (
    BradleyTerryLinear,
    RewardEnsemble,
    describe_model,
    load_model,
    save_model,
)
from prefspace.models.card import package_versions, reproducibility_record


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory, minilm):
    ds = load_demo()
    X = np.random.default_rng(0).normal(size=(len(ds), 2, minilm.feature_dim)).astype(np.float32)
    model = BradleyTerryLinear().fit(X)
    directory = tmp_path_factory.mktemp("card") / "bt-linear"
    metrics = {
        "test_accuracy": 0.71,
        "test_ci_low": 0.62,
        "test_ci_high": 0.79,
        "test_loss": 0.58,
        "test_n_pairs": 67,
    }
    record = reproducibility_record(
        minilm, command="prefspace train demo.jsonl --out bt-linear", config={"seed": 7}
    )
    save_model(model, directory, minilm, metrics=metrics, train_data=ds, record=record)
    return directory, model, X


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_card_metadata_follows_hugging_face_and_keeps_prefspace_details_under_one_key(
    demo_model, minilm
):
    directory, model, _ = demo_model
    meta = _front_matter((directory / "README.md").read_text(encoding="utf-8"))
    # Hugging Face's model-card keys
    assert meta["license"] == "cc0-1.0" and meta["library_name"] == "prefspace"
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["pipeline_tag"] == "text-classification" and "reward-model" in meta["tags"]
    assert "datasets" not in meta  # the demo data is a local file, not a Hub data set
    (result,) = meta["model-index"][0]["results"]
    assert meta["model-index"][0]["name"] == "bt-linear"
    assert (
        result["task"]["type"] == "text-classification" and "67 pairs" in result["dataset"]["name"]
    )
    metrics = {m["type"]: m for m in result["metrics"]}
    assert metrics["accuracy"]["value"] == 0.71 and "0.6200-0.7900" in metrics["accuracy"]["name"]
    assert metrics["loss"]["value"] == 0.58 and "n_pairs" not in metrics
    # prefspace's own details, under one key
    own = meta["prefspace"]
    assert own["encoder"]["weights_sha256"] == hash_model_files(bundled_minilm_path())
    assert own["encoder"]["fingerprint"] == minilm.fingerprint
    ds = load_demo()
    assert own["training_data"] == {
        "source": ds.source,
        "fingerprint": ds.fingerprint,
        "n_pairs": len(ds),
        "format": "standard, explicit prompt",
        "licence": "CC0-1.0",
    }
    assert own["head"] == {"class": "BradleyTerryLinear", "params": model.get_params()}
    assert own["test_metrics"]["accuracy"] == 0.71 and own["test_metrics"]["ci_low"] == 0.62
    assert own["seed"] == 7
    assert set(meta) <= {
        "license",
        "license_name",
        "library_name",
        "base_model",
        "datasets",
        "tags",
        "pipeline_tag",
        "model-index",
        "prefspace",
    }


def test_hub_licence_and_dataset_names():
    from prefspace.models.card import hub_dataset, hub_licence

    assert hub_licence("ODC-By-1.0") == ("odc-by", None) and hub_licence("MIT") == ("mit", None)
    assert hub_dataset("Anthropic/hh-rlhf") == "Anthropic/hh-rlhf"
    assert hub_dataset("data/pairs.jsonl") is None and hub_dataset(None) is None


def test_card_body_shows_the_interval_and_the_three_ways_to_use_it(demo_model):
    directory, _, _ = demo_model
    body = (directory / "README.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    assert "| accuracy | 0.7100 [0.6200, 0.7900]" in body
    for line in (
        "prefspace score bt-linear",
        "prefspace serve bt-linear",
        "reward_function('bt-linear')",
        "prefspace train demo.jsonl --out bt-linear",
        "Training data licence: CC0-1.0.",
    ):
        assert line in body


def test_record_in_model_json_has_versions_weights_hash_and_command(demo_model, minilm):
    directory, _, _ = demo_model
    record = json.loads((directory / "model.json").read_text())["record"]
    versions = record["versions"]
    for name in (
        "prefspace",
        "torch",
        "transformers",
        "sentence-transformers",
        "numpy",
        "scikit-learn",
    ):
        assert isinstance(versions[name], str) and versions[name][0].isdigit(), name
    assert record["encoder_weights_sha256"] == minilm.weights_sha256 is not None
    assert record["command"].startswith("prefspace train") and record["config"] == {"seed": 7}
    assert describe_model(directory).record == record


def test_load_model_ignores_the_card(demo_model):
    directory, model, X = demo_model
    (directory / "README.md").write_text("---\nnot: [valid yaml\n---\n", encoding="utf-8")
    np.testing.assert_array_equal(load_model(directory).predict(X[:, 0]), model.predict(X[:, 0]))
    (directory / "README.md").unlink()
    np.testing.assert_array_equal(load_model(directory).predict(X[:, 0]), model.predict(X[:, 0]))


def test_a_model_saved_without_extras_still_gets_a_card_and_a_default_record(toy_pairs, tmp_path):
    ens = RewardEnsemble(BradleyTerryLinear(), n_members=2, random_state=3).fit(toy_pairs)
    save_model(ens, tmp_path / "ens")
    meta = _front_matter((tmp_path / "ens" / "README.md").read_text(encoding="utf-8"))
    own = meta["prefspace"]
    assert own["head"]["n_members"] == 2 and own["seed"] == 3
    assert own["training_data"]["licence"] is None and "test_metrics" not in own
    assert meta["license"] == "unknown" and "model-index" not in meta
    assert "not stated by the data source" in (tmp_path / "ens" / "README.md").read_text()
    record = describe_model(tmp_path / "ens").record
    assert record["versions"] == package_versions() and record["encoder_weights_sha256"] is None
    assert not (tmp_path / "ens" / "members" / "00" / "README.md").exists()
