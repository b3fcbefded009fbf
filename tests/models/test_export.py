"""Export to sentence-transformers: plain SentenceTransformer reproduces prefspace's rewards, or the export is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from prefspace.data import load_demo
from prefspace.embed import embed_pairs, get_encoder
from prefspace.embed.encoder import render_joint_text
from prefspace.exceptions import ConfigError, FormatError
from prefspace.models import (
    BradleyTerryLinear,
    BradleyTerryMLP,
    PreferenceClassifierLGBM,
    PreferenceClassifierMLP,
    RewardEnsemble,
    RewardScorer,
    save_model,
)
from prefspace.models.export import export_model, export_sentence_transformers, head_as_dense_layers

# texts none of the probes or training pairs use; one conversational prompt
PROMPTS = [
    "What is the capital of France?",
    "What is the capital of France?",
    "Give me one tip for sleeping better.",
    [{"role": "user", "content": "Translate 'thank you' into Spanish."}],
]
RESPONSES = [
    "Paris is the capital of France.",
    "France does not have a capital.",
    "Keep a regular bedtime and avoid screens for an hour before sleep.",
    "Gracias.",
]


@pytest.fixture(scope="module")
def joint_setup(tmp_path_factory):
    """A joint-layout MiniLM encoder and 16 real demo pairs embedded with it."""
    enc = get_encoder("all-MiniLM-L6-v2", layout="joint")
    ds = load_demo().select(np.arange(16))
    return enc, ds, embed_pairs(ds, enc).X, tmp_path_factory.mktemp("export")


def _st_rewards(folder, texts) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return (
        SentenceTransformer(str(folder), device="cpu", trust_remote_code=False)
        .encode(texts)[:, 0]
        .astype(np.float64)
    )


# --------------------------------------------------------------------------- exact cases
def test_linear_joint_export_loads_without_prefspace_and_gives_the_rewards(joint_setup):
    enc, ds, X, base = joint_setup
    save_model(BradleyTerryLinear().fit(X), base / "lin", enc, train_data=ds)
    result = export_sentence_transformers(base / "lin", base / "lin-st")
    assert result.scope == "reward" and result.layers == [
        {"in": 384, "out": 1, "activation": "identity"}
    ]
    modules = (base / "lin-st" / "modules.json").read_text()
    assert "prefspace" not in modules and "sentence_transformers" in modules

    # load in a fresh interpreter where importing prefspace fails
    texts = [render_joint_text(p, r) for p, r in zip(PROMPTS, RESPONSES)]
    script = (
        "import sys, json; sys.modules['prefspace'] = None\n"
        "from sentence_transformers import SentenceTransformer\n"
        "m = SentenceTransformer(sys.argv[1], device='cpu', trust_remote_code=False)\n"
        "print(json.dumps(m.encode(json.loads(sys.argv[2])).tolist()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(base / "lin-st"), json.dumps(texts)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    exported = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))[:, 0]
    expected = RewardScorer(base / "lin").score(PROMPTS, RESPONSES)
    assert np.max(np.abs(exported - expected)) < 1e-5
    assert np.ptp(expected) > 1e-3  # the rewards differ, so the comparison means something


def test_mlp_and_mean_ensemble_joint_exports_reproduce_the_rewards(joint_setup):
    enc, ds, X, base = joint_setup
    texts = [render_joint_text(p, r) for p, r in zip(PROMPTS, RESPONSES)]
    models = {
        "mlp": BradleyTerryMLP(
            hidden_sizes=(16, 8), activation="gelu", max_epochs=15, random_state=0
        ),
        "ens": RewardEnsemble(
            PreferenceClassifierMLP(hidden_sizes=(8,), activation="tanh", max_epochs=10),
            n_members=3,
            random_state=0,
        ),
    }
    layers = {}
    for name, model in models.items():
        save_model(model.fit(X), base / name, enc)
        result = export_model(base / name, base / f"{name}-st")
        assert result.scope == "reward" and result.layers[-1]["out"] == 1
        layers[name] = [(layer["in"], layer["out"], layer["activation"]) for layer in result.layers]
        expected = RewardScorer(base / name).score(PROMPTS, RESPONSES)
        got = _st_rewards(base / f"{name}-st", texts)
        assert np.max(np.abs(got - expected)) < 1e-5, name
        assert np.ptp(expected) > 1e-4
    assert layers["mlp"] == [(384, 16, "gelu"), (16, 8, "gelu"), (8, 1, "identity")]
    assert layers["ens"] == [(384, 24, "tanh"), (24, 1, "identity")]  # 3 members side by side


def test_separate_layout_linear_export_is_prompt_aware(model_dirs, tmp_path):
    """The 3-member linear ensemble on [prompt, response] rows: query + document outputs are the rewards."""
    import yaml
    from sentence_transformers import SentenceTransformer

    result = export_sentence_transformers(model_dirs["ensemble"], tmp_path / "st")
    assert result.scope == "prompt_plus_response" and "encode_query" in result.input
    assert [layer["route"] for layer in result.layers] == ["query (prompt)", "document (response)"]
    card = (tmp_path / "st" / "README.md").read_text()
    assert "encode_query(prompts)[:, 0] + model.encode_document(responses)[:, 0]" in card
    assert "scores the response alone" in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "sentence-transformers" and meta["base_model"].endswith(
        "all-MiniLM-L6-v2"
    )
    assert {"license", "tags", "pipeline_tag"} <= set(meta) and "reward-model" in meta["tags"]
    st = SentenceTransformer(str(tmp_path / "st"), device="cpu", trust_remote_code=False)
    prompts = ["What is the capital of France?"] * 3 + ["Give me one tip for sleeping better."]
    responses = [
        "Paris is the capital of France.",
        "France does not have a capital.",
        "It is Lyon.",
        "Keep a regular bedtime.",
    ]
    expected = RewardScorer(model_dirs["ensemble"]).score(prompts, responses)
    got = st.encode_query(prompts)[:, 0].astype(np.float64) + st.encode_document(responses)[:, 0]
    assert np.max(np.abs(got - expected)) < 1e-5
    alone = st.encode(responses)[:, 0].astype(
        np.float64
    )  # the response's term: exact within one prompt
    np.testing.assert_allclose(alone[:3] - alone[0], expected[:3] - expected[0], atol=1e-5)
    assert np.ptp(expected) > 1e-3


# --------------------------------------------------------------------------- refusals
def test_inexact_models_are_refused_with_the_reason(model_dirs, toy_pairs, tmp_path):
    with pytest.raises(ConfigError, match="non-linearity") as refusal:
        export_sentence_transformers(model_dirs["bt"], tmp_path / "a")  # MLP on the separate layout
    assert "--layout joint" in str(refusal.value) and "--head bt-linear" in str(refusal.value)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ConfigError, match="--aggregate mean"):
        head_as_dense_layers(
            RewardEnsemble(BradleyTerryLinear(), n_members=2, aggregate="min", random_state=0).fit(
                toy_pairs
            )
        )
    with pytest.raises(ConfigError, match="boosted trees.*--head bt-linear"):
        head_as_dense_layers(
            PreferenceClassifierLGBM(n_estimators=5, random_state=0).fit(toy_pairs)
        )
    save_model(BradleyTerryLinear().fit(toy_pairs), tmp_path / "noenc")
    with pytest.raises(ConfigError, match="without an encoder"):
        export_sentence_transformers(tmp_path / "noenc", tmp_path / "b")
    with pytest.raises(ConfigError, match="unknown export format"):
        export_model(tmp_path / "noenc", tmp_path / "c", format="onnx")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(FormatError, match="not a prefspace export"):
        export_sentence_transformers(model_dirs["ensemble"], tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- the layers themselves
@pytest.mark.parametrize(
    "make",
    [
        lambda: BradleyTerryLinear(),
        lambda: BradleyTerryMLP(hidden_sizes=(), max_epochs=5, random_state=0),
        lambda: BradleyTerryMLP(
            hidden_sizes=(8, 4), activation="relu", max_epochs=5, random_state=0
        ),
        lambda: PreferenceClassifierMLP(
            hidden_sizes=(6,), activation="gelu", max_epochs=5, random_state=0
        ),
        lambda: RewardEnsemble(
            BradleyTerryMLP(hidden_sizes=(5, 3), activation="tanh", max_epochs=3),
            n_members=3,
            random_state=1,
        ),
        lambda: RewardEnsemble(BradleyTerryLinear(), n_members=2, random_state=1),
    ],
    ids=["linear", "mlp-0-hidden", "mlp-relu", "clf-gelu", "ensemble-mlp", "ensemble-linear"],
)
def test_dense_layers_compute_the_heads_rewards(make, toy_pairs):
    model = make().fit(toy_pairs)
    E = toy_pairs.reshape(-1, toy_pairs.shape[2])
    h = E.astype(np.float64)
    for layer in head_as_dense_layers(model):
        h = layer(h)
    np.testing.assert_allclose(h[:, 0], model.predict(E), rtol=1e-5, atol=1e-5)
