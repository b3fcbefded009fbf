"""save_model / load_model: the on-disk format, refusals, and the encoder check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefspace.embed import get_encoder
from prefspace.exceptions import ConfigError, FingerprintMismatchError, FormatError
from prefspace.models import (
    FORMAT_NAME,
    FORMAT_VERSION,
    BradleyTerryLinear,
    BradleyTerryMLP,
    PreferenceClassifierLGBM,
    RewardEnsemble,
    describe_model,
    load_model,
    load_model_encoder,
    save_model,
)


@pytest.fixture(scope="module")
def wide_pairs():
    """120 pairs of 768-d rows, the width of the default encoder's [prompt, response] rows."""
    g = np.random.default_rng(3)
    X = g.normal(size=(120, 2, 768)).astype(np.float32)
    w = g.normal(size=768)
    swap = X[:, 0] @ w < X[:, 1] @ w
    X[swap] = X[swap][:, ::-1]
    return X


@pytest.fixture(scope="module")
def linear_768(wide_pairs):
    return BradleyTerryLinear().fit(wide_pairs)


def test_model_json_records_format_class_params_encoder_and_fingerprints(linear_768, tmp_path):
    enc = get_encoder()
    save_model(
        linear_768, tmp_path / "m", enc, metrics={"test_accuracy": 0.6}, train_fingerprint="abc"
    )
    header = json.loads((tmp_path / "m" / "model.json").read_text())
    assert header["format"] == FORMAT_NAME and header["format_version"] == FORMAT_VERSION
    assert header["class"] == "BradleyTerryLinear"
    assert header["params"] == linear_768.get_params()
    assert header["encoder"] == {"config": enc.config(), "fingerprint": enc.fingerprint}
    assert header["train_fingerprint"] == "abc"
    assert header["metrics"] == {"test_accuracy": 0.6}
    assert header["training_metrics"]["accuracy"] == pytest.approx(linear_768.metrics_["accuracy"])
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md",
        "model.json",
        "weights.safetensors",
    ]


def test_load_with_the_training_encoder_works(linear_768, wide_pairs, tmp_path):
    save_model(linear_768, tmp_path / "m", get_encoder())
    loaded = load_model(tmp_path / "m", get_encoder())
    np.testing.assert_array_equal(
        loaded.predict(wide_pairs[:, 0]), linear_768.predict(wide_pairs[:, 0])
    )


def test_load_refuses_another_encoder_and_names_the_one_needed(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m", get_encoder())
    other = get_encoder(max_length=64)
    assert other.fingerprint != get_encoder().fingerprint
    with pytest.raises(
        FingerprintMismatchError,
        match=r"encoder 'all-MiniLM-L6-v2' \(layout 'separate'\).*load_model_encoder",
    ):
        load_model(tmp_path / "m", other)


def test_save_refuses_an_encoder_of_another_width(linear_768, tmp_path):
    with pytest.raises(
        FingerprintMismatchError, match="dimension 768 but this encoder makes rows of dimension 384"
    ):
        save_model(linear_768, tmp_path / "m", get_encoder(layout="joint"))
    assert not (tmp_path / "m").exists()


def test_load_model_encoder_rebuilds_the_training_encoder(linear_768, tmp_path):
    enc = get_encoder()
    save_model(linear_768, tmp_path / "m", enc)
    assert load_model_encoder(tmp_path / "m").fingerprint == enc.fingerprint


def test_load_model_encoder_needs_a_recorded_encoder(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m")
    with pytest.raises(FormatError, match="saved without an encoder"):
        load_model_encoder(tmp_path / "m")


def test_unknown_format_version_is_refused(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    header = json.loads(path.read_text())
    header["format_version"] = 99
    path.write_text(json.dumps(header))
    with pytest.raises(FormatError, match="format_version 99 is not supported.*upgrade prefspace"):
        load_model(tmp_path / "m")


def test_unknown_class_and_foreign_json_are_refused(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    header = json.loads(path.read_text())
    path.write_text(json.dumps({**header, "class": "os.system"}))
    with pytest.raises(FormatError, match="unknown model class 'os.system'"):
        load_model(tmp_path / "m")
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(FormatError, match="not a prefspace model"):
        load_model(tmp_path / "m")


def test_missing_directory_or_header_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="no such model directory"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="model.json not found"):
        load_model(tmp_path / "empty")


def _redigest(model_dir, name):
    """Record ``name``'s current sha256 in model.json, as a consistent (if hostile) editor would."""
    import hashlib

    path = model_dir / "model.json"
    header = json.loads(path.read_text())
    header["files_sha256"][name] = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
    path.write_text(json.dumps(header))


def test_corrupt_weights_are_a_format_error(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m")
    (tmp_path / "m" / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FormatError, match="sha256 mismatch"):
        load_model(tmp_path / "m")
    _redigest(
        tmp_path / "m", "weights.safetensors"
    )  # the parser still refuses what the digest let by
    with pytest.raises(FormatError, match="cannot read the weights"):
        load_model(tmp_path / "m")


def test_negated_weights_are_refused_by_their_digest(linear_768, tmp_path):
    from safetensors.numpy import load_file, save_file

    save_model(linear_768, tmp_path / "m")
    weights = tmp_path / "m" / "weights.safetensors"
    arrays = load_file(str(weights))
    save_file(
        {k: -v for k, v in arrays.items()}, str(weights)
    )  # valid, finite, right shapes: only the digest knows
    with pytest.raises(
        FormatError, match="weights.safetensors: its content differs.*sha256 mismatch"
    ):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("change", ["drop-all", "drop-weights"])
def test_a_model_without_digests_is_refused_with_a_clear_message(linear_768, tmp_path, change):
    save_model(linear_768, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    header = json.loads(path.read_text())
    if change == "drop-all":
        del header["files_sha256"]
    else:
        del header["files_sha256"]["weights.safetensors"]
    path.write_text(json.dumps(header))
    with pytest.raises(
        FormatError, match="before every file carried a digest.*train and save the model again"
    ):
        load_model(tmp_path / "m")


def test_every_file_a_model_reads_has_a_digest(toy_pairs, tmp_path):
    ens = RewardEnsemble(BradleyTerryLinear(), n_members=2, random_state=0).fit(toy_pairs)
    save_model(ens, tmp_path / "ens")
    top = json.loads((tmp_path / "ens" / "model.json").read_text())
    assert sorted(top["files_sha256"]) == ["members/00/model.json", "members/01/model.json"]
    member = json.loads((tmp_path / "ens" / "members" / "00" / "model.json").read_text())
    assert sorted(member["files_sha256"]) == ["weights.safetensors"]
    # an edited member header (its own digests rewritten to match) is caught by the parent's digest
    member["params"]["alpha"] = 123.0
    (tmp_path / "ens" / "members" / "00" / "model.json").write_text(json.dumps(member))
    with pytest.raises(FormatError, match="members/00/model.json: its content differs"):
        load_model(tmp_path / "ens")


def test_a_header_linked_from_outside_the_folder_is_refused(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m")
    outside = tmp_path / "elsewhere.json"
    (tmp_path / "m" / "model.json").rename(outside)
    (tmp_path / "m" / "model.json").symlink_to(outside)
    with pytest.raises(FormatError, match="is a link to .*outside the model folder"):
        load_model(tmp_path / "m")


def test_save_replaces_a_model_but_not_other_directories(linear_768, wide_pairs, tmp_path):
    save_model(linear_768, tmp_path / "m")
    other = BradleyTerryLinear(alpha=10.0).fit(wide_pairs)
    save_model(other, tmp_path / "m")
    assert load_model(tmp_path / "m").alpha == 10.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp or backup left behind
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("x")
    with pytest.raises(FormatError, match="refusing to replace"):
        save_model(other, tmp_path / "data")
    assert (tmp_path / "data" / "keep.txt").read_text() == "x"


def test_unfitted_or_foreign_models_cannot_be_saved(tmp_path):
    from prefspace.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(BradleyTerryMLP(), tmp_path / "m")
    with pytest.raises(ConfigError, match="expects a prefspace reward head"):
        save_model(object(), tmp_path / "m")


def test_lightgbm_uses_its_text_format_and_ensembles_store_members(toy_pairs, tmp_path):
    lgbm = PreferenceClassifierLGBM(n_estimators=10, min_child_samples=5, random_state=0).fit(
        toy_pairs
    )
    save_model(lgbm, tmp_path / "lgbm")
    assert (tmp_path / "lgbm" / "model.lgbm.txt").read_text().startswith("tree")
    ens = RewardEnsemble(
        BradleyTerryMLP(hidden_sizes=(4,), max_epochs=3),
        n_members=2,
        aggregate="min",
        random_state=0,
    ).fit(toy_pairs)
    save_model(ens, tmp_path / "ens")
    info = describe_model(tmp_path / "ens")
    assert info.class_name == "RewardEnsemble" and info.n_members == 2
    assert "members/00/weights.safetensors" in info.files
    assert info.params["estimator"]["__estimator__"]["class"] == "BradleyTerryMLP"
    loaded = load_model(tmp_path / "ens")
    assert loaded.aggregate == "min" and loaded.estimator.hidden_sizes == (4,)
    np.testing.assert_array_equal(
        loaded.predict_members(toy_pairs[:, 0]), ens.predict_members(toy_pairs[:, 0])
    )


def test_describe_model_reads_the_header_only(linear_768, tmp_path):
    save_model(linear_768, tmp_path / "m", get_encoder(), metrics={"accuracy": 0.61})
    info = describe_model(tmp_path / "m")
    assert info.class_name == "BradleyTerryLinear" and info.n_features_in == 768
    assert info.encoder["config"]["model"] == "all-MiniLM-L6-v2"
    assert info.metrics == {"accuracy": 0.61} and info.n_members is None
    assert info.size_bytes > 768 * 8
    assert info.prompt_format is None  # saved without a training-data summary
    as_json = info.to_json()
    assert as_json["class"] == "BradleyTerryLinear" and "class_name" not in as_json
    assert as_json["files"] == list(info.files) and json.loads(json.dumps(as_json)) == as_json


def test_a_model_saved_with_the_old_n_threads_parameter_loads_as_n_jobs(toy_pairs, tmp_path):
    model = BradleyTerryMLP(hidden_sizes=(4,), max_epochs=2, n_jobs=1, random_state=0).fit(
        toy_pairs[:40]
    )
    save_model(model, tmp_path / "m")
    header_path = tmp_path / "m" / "model.json"
    header = json.loads(header_path.read_text())
    header["params"]["n_threads"] = header["params"].pop("n_jobs")  # as prefspace 0.1 wrote it
    header_path.write_text(json.dumps(header))
    loaded = load_model(tmp_path / "m")
    assert loaded.get_params()["n_jobs"] == 1 and "n_threads" not in loaded.get_params()
    np.testing.assert_array_equal(loaded.predict(toy_pairs[:5, 0]), model.predict(toy_pairs[:5, 0]))
