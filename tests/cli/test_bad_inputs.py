"""The bad-input corpora of issues 13 and 21: every case exits 2 with the file (and line) and the fix, never 1.

Each case writes a malformed input under a temp folder and runs the real CLI entry point
(``prefspace.cli.main``, the console script's own error mapping) in-process. The cases are
grouped by the item of issue 13 they cover; most fail before any encoder or model loads. Items
1 and 9 (the server) are covered by tests/serve/test_poisoned_requests.py, and the race of
item 3 with real processes by tests/embed/test_cache_creation_race.py; here item 3 has the
cases a user meets on the command line.

Issue 21's corpus (below the first) adds that no command destroys its own input: each case also
checks that every file under its temp folder is byte-identical afterwards and that nothing was
written. Its item 4 (the studio's HTTP answers) lives in tests/studio/test_app.py.

Run: ``pytest -q tests/cli/test_bad_inputs.py``
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from prefspace.cli import main
from prefspace.data.rules import MAX_TEXT_CHARS


# ------------------------------------------------------------------------------------ helpers
def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``prefspace ARGS`` in-process through ``main``; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
        sys.exit(0)  # main returns normally on success
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def jsonl(*rows) -> str:
    """JSON lines; ``json.dumps`` writes a lone surrogate as its ``\\ud800`` escape, as real files do."""
    return "".join(json.dumps(r) + "\n" for r in rows)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


GOOD = {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}
GOOD2 = {"prompt": "Capital of Peru?", "chosen": "Lima", "rejected": "Quito"}
CAND = [{"prompt": "Name a prime.", "response": "7"}, {"prompt": "Name a prime.", "response": "9"}]
LONE = "broken emoji \ud83d here"  # a high surrogate without its low half
DEEP = "[" * 100_000 + "]" * 100_000


@dataclass
class Ctx:
    """What a case builder gets: its temp folder and lazy access to the session's models."""

    tmp: Path
    request: pytest.FixtureRequest

    def linear_model(self) -> Path:
        """A copy of a small saved BradleyTerryLinear (8 features, no encoder)."""
        return _copy(self.request.getfixturevalue("linear_dir"), self.tmp / "linear")

    def lgbm_model(self) -> Path:
        return _copy(self.request.getfixturevalue("lgbm_dir"), self.tmp / "lgbm")

    def ensemble_model(self) -> Path:
        return _copy(self.request.getfixturevalue("linear_ensemble_dir"), self.tmp / "ens")

    def mlp_model(self) -> Path:
        """A copy of the session's BradleyTerryMLP saved with the MiniLM encoder (tests/_saved_models.py)."""
        return _copy(self.request.getfixturevalue("model_dirs")["bt"], self.tmp / "bt-mlp")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_header(model: Path, change: Callable[[dict], None]) -> Path:
    header = json.loads((model / "model.json").read_text())
    change(header)
    (model / "model.json").write_text(json.dumps(header))
    return model


def redigest(model: Path, name: str) -> Path:
    """Record ``name``'s new sha256 in model.json, as a consistent (if hostile) editor would: the
    checks behind the digest must still catch what it lets by."""
    import hashlib

    digest = hashlib.sha256((model / name).read_bytes()).hexdigest()
    return edit_header(model, lambda h: h["files_sha256"].update({name: digest}))


def edit_weights(model: Path, change: Callable[[dict], dict]) -> Path:
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(model / "weights.safetensors"))
    save_file(change(dict(arrays)), str(model / "weights.safetensors"))
    return redigest(model, "weights.safetensors")


def experiment_config(tmp: Path, **extra) -> Path:
    write(tmp / "pairs.jsonl", jsonl(GOOD, GOOD2))
    cfg = {
        "name": "bad",
        "budgets": [2],
        "seeds": [0],
        "datasets": [{"name": "d", "kind": "pairs", "path": "pairs.jsonl"}],
        "methods": [{"name": "bt", "head": "BradleyTerryLinear"}],
    }
    for key, value in extra.items():
        if key.startswith("dataset_"):
            cfg["datasets"][0][key[len("dataset_") :]] = value
        elif key.startswith("method_"):
            cfg["methods"][0][key[len("method_") :]] = value
        else:
            cfg[key] = value
    import yaml

    return write(tmp / "exp.yaml", yaml.safe_dump(cfg))


# ------------------------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def linear_dir(tmp_path_factory) -> Path:
    from prefspace.models import BradleyTerryLinear, save_model

    X = np.random.default_rng(0).normal(size=(60, 2, 8)).astype(np.float32)
    return save_model(BradleyTerryLinear().fit(X), tmp_path_factory.mktemp("models") / "linear")


@pytest.fixture(scope="module")
def linear_ensemble_dir(tmp_path_factory) -> Path:
    from prefspace.models import BradleyTerryLinear, RewardEnsemble, save_model

    X = np.random.default_rng(1).normal(size=(60, 2, 8)).astype(np.float32)
    ens = RewardEnsemble(BradleyTerryLinear(), n_members=2, random_state=0).fit(X)
    return save_model(ens, tmp_path_factory.mktemp("models") / "ens")


@pytest.fixture(scope="module")
def lgbm_dir(tmp_path_factory) -> Path:
    from prefspace.models import PreferenceClassifierLGBM, save_model

    X = np.random.default_rng(2).normal(size=(80, 2, 8)).astype(np.float32)
    X[:, 0, 0] += 2.0
    model = PreferenceClassifierLGBM(n_estimators=5, early_stopping=False, random_state=0).fit(X)
    return save_model(model, tmp_path_factory.mktemp("models") / "lgbm")


# ------------------------------------------------------------------------------------ the corpus
# Each case: (item of issue 13, id, builder(ctx) -> CLI args, fragments the message must hold)
CASES: list[tuple[int, str, Callable[[Ctx], list], list[str]]] = []


def case(item: int, name: str, *fragments: str):
    def register(builder):
        CASES.append((item, name, builder, list(fragments)))
        return builder

    return register


# ---- item 2: lone surrogates in data files are bad rows, in every command that reads them
@case(
    2, "validate-surrogate-jsonl", "pairs.jsonl:2:", "lone UTF-16 surrogate", "--on-bad-rows skip"
)
def _(c):
    return ["validate", write(c.tmp / "pairs.jsonl", jsonl(GOOD, {**GOOD2, "chosen": LONE}))]


@case(2, "validate-surrogate-json-file", "pairs.json: row 2:", "'prompt'", "lone UTF-16 surrogate")
def _(c):
    return ["validate", write(c.tmp / "pairs.json", json.dumps([GOOD, {**GOOD2, "prompt": LONE}]))]


@case(
    2,
    "validate-surrogate-in-message",
    "pairs.jsonl:1:",
    "'chosen'[0]['content']",
    "lone UTF-16 surrogate",
)
def _(c):
    row = {
        "prompt": "q",
        "chosen": [{"role": "assistant", "content": LONE}],
        "rejected": [{"role": "assistant", "content": "b"}],
    }
    return ["validate", write(c.tmp / "pairs.jsonl", jsonl(row))]


@case(2, "embed-surrogate", "pairs.jsonl:1:", "lone UTF-16 surrogate")
def _(c):
    return [
        "embed",
        write(c.tmp / "pairs.jsonl", jsonl({**GOOD, "prompt": LONE})),
        "--cache",
        c.tmp / "cache",
    ]


@case(2, "select-surrogate", "pool.jsonl:2:", "'response'", "lone UTF-16 surrogate")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl(CAND[0], {**CAND[1], "response": LONE}))
    return ["select", c.linear_model(), pool, "--out", c.tmp / "out.jsonl", "--batch", "1"]


@case(2, "rerank-surrogate", "cands.jsonl:1:", "'prompt'", "lone UTF-16 surrogate")
def _(c):
    cands = write(c.tmp / "cands.jsonl", jsonl({**CAND[0], "prompt": LONE}, CAND[1]))
    return ["rerank", c.linear_model(), cands, "--out", c.tmp / "best.jsonl"]


@case(2, "score-rows-surrogate", "rows.jsonl:2:", "'response'", "lone UTF-16 surrogate")
def _(c):
    rows = write(c.tmp / "rows.jsonl", jsonl(CAND[0], {**CAND[1], "response": LONE}))
    return ["score", c.linear_model(), rows, "--out", c.tmp / "scores.jsonl"]


@case(2, "score-pairs-surrogate", "pairs.jsonl:1:", "lone UTF-16 surrogate")
def _(c):
    return [
        "score",
        c.linear_model(),
        write(c.tmp / "pairs.jsonl", jsonl({**GOOD, "rejected": LONE})),
        "--out",
        c.tmp / "s.jsonl",
    ]


@case(2, "evaluate-scored-surrogate", "responses.jsonl:1:", "lone UTF-16 surrogate")
def _(c):
    resp = write(c.tmp / "responses.jsonl", jsonl({"prompt_id": 0, "response": LONE, "score": 1.0}))
    prompts = write(c.tmp / "prompts.jsonl", jsonl({"prompt_id": 0, "prompt": "q"}))
    return ["evaluate", c.linear_model(), resp, "--prompts", prompts, "--out", c.tmp / "ev"]


# ---- item 3: cache folders
@case(
    3,
    "cache-marker-is-a-json-list",
    "prefspace-cache.json",
    "not a prefspace embedding cache marker",
    "a JSON list",
)
def _(c):
    write(c.tmp / "cache" / "prefspace-cache.json", "[1, 2]")
    return ["info", c.tmp / "cache"]


@case(3, "cache-marker-nested-too-deep", "prefspace-cache.json", "not a readable cache marker")
def _(c):
    write(c.tmp / "cache" / "prefspace-cache.json", DEEP)
    return ["cache", "merge", c.tmp / "cache", "--into", c.tmp / "into"]


@case(
    3,
    "cache-merge-into-a-foreign-folder",
    "is not empty and is not a prefspace embedding cache",
    "'notes.txt'",
)
def _(c):
    src = c.tmp / "src"
    from prefspace.embed import EmbeddingCache

    EmbeddingCache(src).write_shard("fp", ["a"], np.ones((1, 3), np.float32))
    write(c.tmp / "into" / "notes.txt", "mine")
    return ["cache", "merge", src, "--into", c.tmp / "into"]


# ---- item 4: model.json may reference only files inside the model folder
@case(4, "weights-absolute-path", "model.json", "'weights'", "outside the model folder")
def _(c):
    outside = write(c.tmp / "elsewhere.safetensors", b"x")
    return ["info", edit_header(c.linear_model(), lambda h: h.update(weights=str(outside)))]


@case(4, "weights-dotdot", "model.json", "'../elsewhere.safetensors'", "outside the model folder")
def _(c):
    m = c.linear_model()
    shutil.copy(m / "weights.safetensors", c.tmp / "elsewhere.safetensors")
    return ["info", edit_header(m, lambda h: h.update(weights="../elsewhere.safetensors"))]


@case(4, "files-dotdot", "model.json", "'files' entry", "outside the model folder")
def _(c):
    m = c.lgbm_model()
    shutil.copy(m / "model.lgbm.txt", c.tmp / "model.lgbm.txt")
    return ["info", edit_header(m, lambda h: h.update(files=["../model.lgbm.txt"]))]


@case(4, "members-dot-recursion", "model.json", "'members' entry '.'", "the model folder itself")
def _(c):
    return ["info", edit_header(c.ensemble_model(), lambda h: h.update(members=["."]))]


@case(
    4,
    "members-link-out",
    "model.json",
    "'members' entry 'members/02'",
    "leads outside the model folder",
)
def _(c):
    m = c.ensemble_model()
    other = _copy(m / "members" / "00", c.tmp / "other-model")
    (m / "members" / "02").symlink_to(other, target_is_directory=True)
    return ["info", edit_header(m, lambda h: h.update(members=["members/00", "members/02"]))]


@case(4, "members-absolute", "model.json", "outside the model folder")
def _(c):
    m = c.ensemble_model()
    return [
        "info",
        edit_header(m, lambda h: h.update(members=[str((m / "members" / "00").resolve())])),
    ]


# ---- item 5: weights are checked against model.json on load
@case(5, "coef-wrong-shape", "weights.safetensors", "'coef' has shape (3,)", "n_features_in=8")
def _(c):
    return ["info", edit_weights(c.linear_model(), lambda a: {"coef": a["coef"][:3]})]


@case(5, "coef-nan", "weights.safetensors", "'coef' holds NaN or infinite values")
def _(c):
    return [
        "info",
        edit_weights(c.linear_model(), lambda a: {"coef": np.full_like(a["coef"], np.nan)}),
    ]


@case(5, "coef-int8", "weights.safetensors", "'coef' has dtype int8")
def _(c):
    return ["info", edit_weights(c.linear_model(), lambda a: {"coef": a["coef"].astype(np.int8)})]


@case(5, "mlp-hidden-transposed", "weights.safetensors", "'hidden.0.weight'", "n_features_in=768")
def _(c):
    return [
        "info",
        edit_weights(
            c.mlp_model(),
            lambda a: {**a, "hidden.0.weight": np.ascontiguousarray(a["hidden.0.weight"].T)},
        ),
    ]


@case(5, "mlp-unknown-tensor", "weights.safetensors", "unknown extra.weight")
def _(c):
    return [
        "info",
        edit_weights(c.mlp_model(), lambda a: {**a, "extra.weight": np.zeros(3, np.float32)}),
    ]


@case(
    5, "serve-refuses-wrong-shape-at-start", "weights.safetensors", "'hidden.0.bias' has shape (5,)"
)
def _(c):
    c.request.getfixturevalue("no_server_start")
    model = edit_weights(c.mlp_model(), lambda a: {**a, "hidden.0.bias": a["hidden.0.bias"][:5]})
    return ["serve", model, "--port", "0"]


@case(5, "serve-refuses-nan-weights-at-start", "weights.safetensors", "NaN or infinite")
def _(c):
    c.request.getfixturevalue("no_server_start")
    model = edit_weights(
        c.mlp_model(), lambda a: {**a, "output.bias": np.array([np.inf], np.float32)}
    )
    return ["serve", model, "--port", "0"]


@case(
    5,
    "lightgbm-n-features-disagree",
    "model.lgbm.txt",
    "the trees use 8 features but model.json says n_features_in=9",
)
def _(c):
    return ["info", edit_header(c.lgbm_model(), lambda h: h.update(n_features_in=9))]


@case(
    5,
    "linear-n-features-disagree",
    "weights.safetensors",
    "'coef' has shape (8,)",
    "n_features_in=9",
)
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.update(n_features_in=9))]


# ---- item 6: exit 2 where 1 was given
@case(6, "deep-json-line", "pairs.jsonl:2:", "nested too deeply")
def _(c):
    return ["validate", write(c.tmp / "pairs.jsonl", jsonl(GOOD) + DEEP + "\n")]


@case(6, "deep-json-file", "pairs.json:2:", "nested too deeply")
def _(c):
    return ["validate", write(c.tmp / "pairs.json", "[\n" + DEEP + "\n]")]


@case(6, "rerank-deep-json", "cands.jsonl:2:", "nested too deeply")
def _(c):
    return [
        "rerank",
        c.linear_model(),
        write(c.tmp / "cands.jsonl", jsonl(CAND[0]) + DEEP + "\n"),
        "--out",
        c.tmp / "b.jsonl",
    ]


@case(6, "rerank-truncated-gzip", "cands.jsonl.gz", "not a valid gzip file")
def _(c):
    data = gzip.compress(jsonl(*CAND * 50).encode())
    return [
        "rerank",
        c.linear_model(),
        write(c.tmp / "cands.jsonl.gz", data[: len(data) // 2]),
        "--out",
        c.tmp / "b.jsonl",
    ]


@case(6, "rerank-not-gzip", "cands.jsonl.gz", "not a valid gzip file", "drop the .gz extension")
def _(c):
    return [
        "rerank",
        c.linear_model(),
        write(c.tmp / "cands.jsonl.gz", jsonl(*CAND)),
        "--out",
        c.tmp / "b.jsonl",
    ]


@case(6, "rerank-invalid-utf8", "cands.jsonl:2:", "not UTF-8", "Re-save the file as UTF-8")
def _(c):
    data = jsonl(CAND[0]).encode() + b'{"prompt": "caf\xe9", "response": "x"}\n'
    return [
        "rerank",
        c.linear_model(),
        write(c.tmp / "cands.jsonl", data),
        "--out",
        c.tmp / "b.jsonl",
    ]


@case(6, "model-json-missing-n-features", "model.json", "'n_features_in' must be an integer >= 1")
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.pop("n_features_in"))]


@case(
    6,
    "model-json-n-features-not-integer",
    "model.json",
    "'n_features_in' must be an integer >= 1",
    "'8'",
)
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.update(n_features_in="8"))]


@case(6, "model-json-params-list", "model.json", "'params' must be an object; found a list")
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.update(params=[1, 2]))]


@case(6, "model-json-state-string", "model.json", "'state' must be an object; found a string")
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.update(state="fitted"))]


@case(6, "model-json-encoder-string", "model.json", "'encoder' must be null or an object")
def _(c):
    return ["info", edit_header(c.linear_model(), lambda h: h.update(encoder="all-MiniLM-L6-v2"))]


@case(6, "model-json-extra-encoder-key", "model.json", "'encoder' has unknown key(s) 'weights'")
def _(c):
    return ["info", edit_header(c.mlp_model(), lambda h: h["encoder"].update(weights="x"))]


@case(
    6,
    "model-json-encoder-config-extra-key",
    "model.json",
    "the encoder config does not fit its backend",
)
def _(c):
    model = edit_header(c.mlp_model(), lambda h: h["encoder"]["config"].update(pooling_layer=3))
    return ["score", model, write(c.tmp / "pairs.jsonl", jsonl(GOOD)), "--out", c.tmp / "s.jsonl"]


@case(6, "model-json-deep", "model.json", "nested too deeply")
def _(c):
    m = c.linear_model()
    write(m / "model.json", DEEP)
    return ["info", m]


@case(6, "corrupt-lightgbm-text", "model.lgbm.txt", "sha256 mismatch")
def _(c):
    m = c.lgbm_model()
    text = (m / "model.lgbm.txt").read_text()
    write(m / "model.lgbm.txt", text.replace("leaf_value=", "leaf_value=9", 1))
    return ["info", m]


@case(
    6,
    "truncated-lightgbm-text-with-its-digest",
    "model.lgbm.txt",
    "truncated",
    "save the model again",
)
def _(c):
    m = c.lgbm_model()
    text = (m / "model.lgbm.txt").read_text()
    write(m / "model.lgbm.txt", text[: len(text) // 3])  # LightGBM itself would abort the process
    return ["info", redigest(m, "model.lgbm.txt")]


@case(6, "garbled-lightgbm-text-with-its-digest", "model.lgbm.txt", "not a LightGBM model text")
def _(c):
    m = c.lgbm_model()
    write(m / "model.lgbm.txt", "tree\nversion=v4\nthis is not a model\n")
    return ["info", redigest(m, "model.lgbm.txt")]


@case(6, "encoder-needs-remote-code", "needs remote code", "never runs")
def _(c):
    folder = c.tmp / "custom-encoder"
    write(folder / "modules.json", "[]")
    write(
        folder / "config.json",
        json.dumps({"model_type": "my-own", "auto_map": {"AutoModel": "modeling.MyModel"}}),
    )
    model = edit_header(c.mlp_model(), lambda h: h["encoder"]["config"].update(model=str(folder)))
    return ["score", model, write(c.tmp / "pairs.jsonl", jsonl(GOOD)), "--out", c.tmp / "s.jsonl"]


@case(6, "score-rows-prompt-not-text", "rows.jsonl:2:", "'prompt' must be text or a list")
def _(c):
    rows = write(c.tmp / "rows.jsonl", jsonl(CAND[0], {**CAND[1], "prompt": 42}))
    return ["score", c.linear_model(), rows, "--out", c.tmp / "s.jsonl"]


@case(6, "train-seed-negative", "--seed", "greater than or equal to 0")
def _(c):
    return [
        "train",
        write(c.tmp / "pairs.jsonl", jsonl(GOOD, GOOD2)),
        "--out",
        c.tmp / "m",
        "--seed",
        "-1",
    ]


@case(6, "synth-seed-negative", "--seed", "greater than or equal to 0")
def _(c):
    return [
        "synth",
        write(c.tmp / "pairs.jsonl", jsonl(GOOD, GOOD2)),
        "--out",
        c.tmp / "s",
        "--seed",
        "-1",
    ]


@case(6, "select-seed-negative", "--seed", "greater than or equal to 0")
def _(c):
    return ["select", c.tmp / "model", write(c.tmp / "pool.jsonl", jsonl(*CAND)), "--seed", "-1"]


@case(6, "train-out-under-a-file", "blocker", "is a file", "Choose another path")
def _(c):
    write(c.tmp / "blocker", "a file")
    return [
        "train",
        write(c.tmp / "pairs.jsonl", jsonl(GOOD, GOOD2)),
        "--out",
        c.tmp / "blocker" / "model",
    ]


@case(6, "experiment-eval-not-a-mapping", "exp.yaml", "eval must be a mapping")
def _(c):
    return ["experiment", experiment_config(c.tmp, eval=3), "--out", c.tmp / "o"]


@case(6, "experiment-params-not-a-mapping", "exp.yaml", "methods[0].params must be a mapping")
def _(c):
    return ["experiment", experiment_config(c.tmp, method_params=[64]), "--out", c.tmp / "o"]


@case(6, "experiment-test-size-text", "exp.yaml", "test_size must be a whole number >= 1", "'half'")
def _(c):
    return ["experiment", experiment_config(c.tmp, dataset_test_size="half"), "--out", c.tmp / "o"]


@case(6, "experiment-config-is-a-folder", "is a folder", "YAML file")
def _(c):
    (c.tmp / "configs").mkdir()
    return ["experiment", c.tmp / "configs", "--out", c.tmp / "o"]


@case(6, "experiment-set-yaml-tag", "--set", "YAML tags", "not plain YAML")
def _(c):
    return [
        "experiment",
        experiment_config(c.tmp),
        "--out",
        c.tmp / "o",
        "--set",
        "seeds=!!python/object/apply:os.getcwd []",
    ]


# ---- item 7: a per-text size limit, checked when the data is read
@case(
    7,
    "validate-text-too-long",
    "pairs.jsonl:2:",
    f"has {MAX_TEXT_CHARS + 1:,} characters",
    "--max-text-chars",
)
def _(c):
    return [
        "validate",
        write(
            c.tmp / "pairs.jsonl", jsonl(GOOD, {**GOOD2, "rejected": "x" * (MAX_TEXT_CHARS + 1)})
        ),
    ]


@case(7, "embed-lowered-limit", "pairs.jsonl:1:", "'chosen' has 11 characters and the limit is 10")
def _(c):
    pairs = write(
        c.tmp / "pairs.jsonl", jsonl({"prompt": "2 + 2?", "chosen": "eleven char", "rejected": "5"})
    )
    return ["embed", pairs, "--max-text-chars", "10", "--cache", c.tmp / "cache"]


@case(7, "conversation-too-long-together", "pairs.jsonl:1:", "messages have", "together")
def _(c):
    prompt = [
        {"role": "user", "content": "x" * 6},
        {"role": "assistant", "content": "y" * 6},
        {"role": "user", "content": "z"},
    ]
    pairs = write(c.tmp / "pairs.jsonl", jsonl({"prompt": prompt, "chosen": "a", "rejected": "b"}))
    return ["validate", pairs, "--max-text-chars", "10"]


@case(7, "rerank-text-too-long", "cands.jsonl:2:", "'response' has", "--max-text-chars")
def _(c):
    cands = write(c.tmp / "cands.jsonl", jsonl(CAND[0], {**CAND[1], "response": "r" * 50}))
    return ["rerank", c.linear_model(), cands, "--out", c.tmp / "b.jsonl", "--max-text-chars", "40"]


@case(7, "select-text-too-long", "pool.jsonl:1:", "'prompt' has", "--max-text-chars")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl({**CAND[0], "prompt": "p" * 50}, CAND[1]))
    return ["select", c.linear_model(), pool, "--out", c.tmp / "o.jsonl", "--max-text-chars", "40"]


@case(7, "evaluate-scored-text-too-long", "responses.jsonl:1:", "'response' has")
def _(c):
    resp = write(
        c.tmp / "responses.jsonl", jsonl({"prompt_id": 0, "response": "r" * 50, "score": 1.0})
    )
    prompts = write(c.tmp / "prompts.jsonl", jsonl({"prompt_id": 0, "prompt": "q"}))
    return [
        "evaluate",
        c.linear_model(),
        resp,
        "--prompts",
        prompts,
        "--out",
        c.tmp / "ev",
        "--max-text-chars",
        "40",
    ]


# ---- item 8: one rule per input, at load time
@case(
    8,
    "role-not-allowed",
    "pairs.jsonl:1:",
    "'prompt'[0] has role 'tool'",
    "'system', 'user' or 'assistant'",
)
def _(c):
    row = {"prompt": [{"role": "tool", "content": "42"}], "chosen": "a", "rejected": "b"}
    return ["validate", write(c.tmp / "pairs.jsonl", jsonl(row))]


@case(
    8,
    "conversation-ends-with-user",
    "pairs.jsonl:1:",
    "'chosen'[1]",
    "its role is 'user'",
    "assistant's",
)
def _(c):
    conv = lambda last: [{"role": "user", "content": "Hi"}, {"role": "user", "content": last}]  # noqa: E731
    return [
        "validate",
        write(c.tmp / "pairs.jsonl", jsonl({"chosen": conv("a"), "rejected": conv("b")})),
    ]


@case(8, "completion-role-user", "pairs.jsonl:1:", "'rejected'[0]", "its role is 'user'")
def _(c):
    row = {
        "prompt": "q",
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "user", "content": "b"}],
    }
    return ["validate", write(c.tmp / "pairs.jsonl", jsonl(row))]


@case(8, "select-nan-score", "pool.jsonl:2:", "'score' is nan", "finite number")
def _(c):
    pool = write(
        c.tmp / "pool.jsonl",
        jsonl({**CAND[0], "score": 1.0})
        + '{"prompt": "Name a prime.", "response": "9", "score": NaN}\n',
    )
    return ["select", c.linear_model(), pool, "--out", c.tmp / "o.jsonl"]


@case(8, "select-string-score", "pool.jsonl:1:", "'gold' must be a number; found str 'high'")
def _(c):
    return [
        "select",
        c.linear_model(),
        write(c.tmp / "pool.jsonl", jsonl({**CAND[0], "gold": "high"}, CAND[1])),
        "--out",
        c.tmp / "o.jsonl",
    ]


@case(8, "rerank-infinite-score", "cands.jsonl:2:", "'reward' is inf")
def _(c):
    cands = write(
        c.tmp / "cands.jsonl",
        jsonl(CAND[0]) + '{"prompt": "Name a prime.", "response": "9", "reward": Infinity}\n',
    )
    return ["rerank", c.linear_model(), cands, "--out", c.tmp / "b.jsonl"]


@case(8, "score-rows-string-score", "rows.jsonl:1:", "'score' must be a number")
def _(c):
    rows = write(c.tmp / "rows.jsonl", jsonl({**CAND[0], "score": "n/a"}, CAND[1]))
    return ["score", c.linear_model(), rows, "--out", c.tmp / "s.jsonl"]


@case(8, "evaluate-scored-nan-score", "responses.jsonl:1:", "'score' is nan")
def _(c):
    resp = write(c.tmp / "responses.jsonl", '{"prompt_id": 0, "response": "r", "score": NaN}\n')
    prompts = write(c.tmp / "prompts.jsonl", jsonl({"prompt_id": 0, "prompt": "q"}))
    return ["evaluate", c.linear_model(), resp, "--prompts", prompts, "--out", c.tmp / "ev"]


@case(8, "rerank-role-not-allowed", "cands.jsonl:1:", "has role 'function'")
def _(c):
    cands = write(
        c.tmp / "cands.jsonl",
        jsonl({"prompt": [{"role": "function", "content": "x"}], "response": "r"}),
    )
    return ["rerank", c.linear_model(), cands, "--out", c.tmp / "b.jsonl"]


@pytest.fixture
def no_server_start(monkeypatch):
    """``prefspace serve`` must stop before it serves: fail the test if it would bind a port."""
    import prefspace.serve

    def refuse(*args, **kwargs):
        raise AssertionError("serve started a server for a model it should have refused")

    monkeypatch.setattr(prefspace.serve, "run_server", refuse)


@pytest.mark.parametrize(
    "item, builder, fragments", [pytest.param(i, b, f, id=f"item{i}-{n}") for i, n, b, f in CASES]
)
def test_bad_input_exits_2_naming_the_file_and_the_fix(
    item, builder, fragments, tmp_path, request, capsys
):
    args = builder(Ctx(tmp_path, request))
    code, _, err = run_cli(args, capsys)
    assert "unexpected error" not in err and "Traceback" not in err, err
    assert code == 2, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in: {err}"


def test_the_corpus_covers_every_item():
    counts = {item: sum(1 for i, *_ in CASES if i == item) for item in range(2, 9)}
    assert all(n >= 1 for n in counts.values()), counts


# ------------------------------------------------------------------------------------ the fixes work
def test_bad_rows_of_every_new_kind_are_skipped(tmp_path, capsys):
    rows = [
        GOOD,
        {**GOOD2, "chosen": LONE},  # surrogate
        {**GOOD2, "prompt": "x" * 30},  # too long for the limit below
        {"prompt": [{"role": "tool", "content": "t"}], "chosen": "a", "rejected": "b"},  # role
        {
            "prompt": "q",
            "chosen": [{"role": "user", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}],
        },
    ]
    data = write(tmp_path / "pairs.jsonl", jsonl(*rows) + DEEP + "\n")
    code, out, err = run_cli(
        ["validate", data, "--on-bad-rows", "skip", "--max-text-chars", "20", "--json"], capsys
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["pairs"] == 1
    assert info["skipped"] == {
        "invalid_text": 1,
        "text_too_long": 1,
        "bad_role": 2,
        "invalid_json": 1,
    }


def test_the_limit_is_overridable(tmp_path, capsys):
    data = write(tmp_path / "pairs.jsonl", jsonl({**GOOD, "chosen": "x" * (MAX_TEXT_CHARS + 1)}))
    assert run_cli(["validate", data], capsys)[0] == 2
    code, _, err = run_cli(["validate", data, "--max-text-chars", str(MAX_TEXT_CHARS + 1)], capsys)
    assert code == 0, err


def test_a_valid_surrogate_pair_is_a_character_not_a_problem(tmp_path, capsys):
    data = write(tmp_path / "pairs.jsonl", jsonl({**GOOD, "chosen": "a smile \U0001f600"}))
    assert "\\ud83d\\ude00" in data.read_text()  # written as an escaped pair
    code, _, err = run_cli(["validate", data], capsys)
    assert code == 0, err


def test_cache_merge_recovers_a_creation_that_was_killed(tmp_path, capsys):
    from prefspace.embed import EmbeddingCache

    src = tmp_path / "src"
    EmbeddingCache(src).write_shard("fp", ["a", "b"], np.ones((2, 3), np.float32))
    into = tmp_path / "into"
    # all a creation killed before its rename leaves: a temporary marker of a process now gone
    write(
        into / ".prefspace-cache.json.tmp-somehost-999999-1",
        '{"format": "prefspace-embedding-cache", "ver',
    )
    code, out, err = run_cli(["cache", "merge", src, "--into", into], capsys)
    assert code == 0, err
    assert "2 texts added" in out
    assert EmbeddingCache(into, create=False).count("fp") == 2


def test_score_rows_skip_leaves_out_bad_rows_and_scores_the_rest(model_dirs, tmp_path, capsys):
    rows = write(
        tmp_path / "rows.jsonl",
        jsonl(
            CAND[0],
            {**CAND[1], "prompt": 42},
            {"prompt": "Say hi.", "response": "Hello!", "id": "h"},
        ),
    )
    out = tmp_path / "scores.jsonl"
    code, _, err = run_cli(
        [
            "score",
            model_dirs["bt"],
            rows,
            "--out",
            out,
            "--on-bad-rows",
            "skip",
            "--cache",
            tmp_path / "cache",
        ],
        capsys,
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["0", "h"]
    assert all(math.isfinite(line["reward"]) for line in lines)


def test_rerank_reads_a_bom_and_writes_no_bare_nan(model_dirs, tmp_path, capsys):
    rows = [{**CAND[0], "note": float("nan")}, {**CAND[1], "note": 1.5}]
    cands = write(
        tmp_path / "cands.jsonl", b"\xef\xbb\xbf" + jsonl(*rows).encode()
    )  # a BOM, as the docs allow
    assert "NaN" in cands.read_text(encoding="utf-8-sig")
    out = tmp_path / "best.jsonl"
    code, _, err = run_cli(
        ["rerank", model_dirs["bt"], cands, "--out", out, "--cache", tmp_path / "cache"], capsys
    )
    assert code == 0, err

    def refuse(constant):
        raise AssertionError(f"bare {constant} in the JSON output")

    best = [json.loads(line, parse_constant=refuse) for line in out.read_text().splitlines()]
    assert len(best) == 1 and best[0]["response"] in ("7", "9")
    assert best[0]["note"] in (None, 1.5)


def test_rerank_group_key_naming_no_column_exits_2_naming_the_flag(model_dirs, tmp_path, capsys):
    cands = write(tmp_path / "cands.jsonl", jsonl(*CAND))
    out = tmp_path / "best.jsonl"
    args = ["rerank", model_dirs["bt"], cands, "--out", out, "--cache", tmp_path / "cache"]
    code, _, err = run_cli([*args, "--group-key", "nope"], capsys)
    assert code == 2 and "no column 'nope' for --group-key" in err, err
    assert not out.exists()


# ============================================================================================
# Issue 21: no command destroys its own input; the rest of a fresh bad-input corpus exits 2.
#
# Every case also checks that the command left every file under its temp folder byte for byte
# as it was, and wrote nothing (no partial output, no stray file).
# ============================================================================================
CASES_21: list[tuple[int, str, Callable[[Ctx], list], list[str]]] = []
BIG = "7" * 5000  # an integer longer than Python's 4,300-digit limit for int(str)


def case21(item: int, name: str, *fragments: str):
    def register(builder):
        CASES_21.append((item, name, builder, list(fragments)))
        return builder

    return register


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (folders as None), with the bytes of every file.

    SQLite's own -wal and -shm files are left out: a reader of a WAL database makes them, by
    design, and they hold no data of the database (whose own bytes are compared)."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if (not p.is_symlink() or p.exists()) and not p.name.endswith(("-wal", "-shm"))
    }


LS_PAIRS = [
    {
        "pair_id": f"r{i}|r{i + 1}",
        "id_a": f"r{i}",
        "id_b": f"r{i + 1}",
        "prompt": f"Question {i}?",
        "response_a": f"answer {i}",
        "response_b": f"answer {i + 1}",
        "strategy": "random",
    }
    for i in range(0, 4, 2)
]


def label_db(c: Ctx, name: str = "labels.sqlite") -> Path:
    from prefspace.studio import LabelStore

    path = c.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with LabelStore(path) as store:
        store.add_batch(LS_PAIRS, strategy="random", model_version=None)
        store.add_judgment("r0|r1", "ann", "a", reason="more precise")
    return path


def ls_tasks(c: Ctx, annotation: dict | str, name: str = "ls.json") -> Path:
    """A Label Studio export of one task for pair r0|r1 holding ``annotation`` (a dict, or raw JSON)."""
    raw = annotation if isinstance(annotation, str) else json.dumps(annotation)
    return write(c.tmp / name, '[{"data": {"pair_id": "r0|r1"}, "annotations": [' + raw + "]}]")


def ls_result(kind: str, value) -> dict:
    return {
        "completed_by": 7,
        "result": [{"type": kind, "from_name": "x", "to_name": "y", "value": value}],
    }


# ---- item 1: the output is an input, contains an input or the cache, or is a model folder with other files
@case21(1, "label-export-trl-onto-its-db", "is the input", "labels.sqlite")
def _(c):
    db = label_db(c)
    return ["label", "export", db, "--out", db]


@case21(1, "label-export-label-studio-onto-its-db", "is the input", "labels.sqlite")
def _(c):
    db = label_db(c)
    return ["label", "export", db, "--format", "label-studio", "--out", db]


@case21(1, "label-export-config-onto-its-db", "is the input", "labels.sqlite")
def _(c):
    db = label_db(c)
    return [
        "label",
        "export",
        db,
        "--format",
        "label-studio",
        "--out",
        c.tmp / "t.json",
        "--config-out",
        db,
    ]


@case21(1, "label-import-from-its-db", "is the input")
def _(c):
    db = label_db(c)
    return ["label", "import", db, db]


@case21(1, "score-onto-its-rows", "--out", "is the input", "rows.jsonl")
def _(c):
    rows = write(c.tmp / "rows.jsonl", jsonl(*CAND))
    return ["score", c.linear_model(), rows, "--out", rows]


@case21(1, "score-out-is-a-folder", "--out", "is a folder")
def _(c):
    (c.tmp / "scores").mkdir()
    return [
        "score",
        c.linear_model(),
        write(c.tmp / "rows.jsonl", jsonl(*CAND)),
        "--out",
        c.tmp / "scores",
    ]


@case21(1, "rerank-onto-its-candidates", "--out", "is the input", "c.jsonl")
def _(c):
    cands = write(c.tmp / "c.jsonl", jsonl(*CAND))
    return ["rerank", c.linear_model(), cands, "--out", cands]


@case21(1, "select-onto-its-pool", "--out", "is the input", "pool.jsonl")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl(*CAND))
    return ["select", c.linear_model(), pool, "--out", pool]


@case21(1, "train-out-holds-the-data-and-cache", "--out", "contains the input", "p.jsonl")
def _(c):
    model = (
        c.linear_model()
    )  # runs/bt of the issue: a model folder with the data and the cache put inside
    data = write(model / "p.jsonl", jsonl(GOOD, GOOD2))
    from prefspace.embed import EmbeddingCache

    EmbeddingCache(model / "cache").write_shard("fp", ["a"], np.ones((1, 3), np.float32))
    return ["train", data, "--out", model, "--cache", model / "cache"]


@case21(1, "train-cache-inside-out", "--out", "contains the embedding cache")
def _(c):
    from prefspace.embed import EmbeddingCache

    EmbeddingCache(c.tmp / "runs" / "bt" / "cache").write_shard(
        "fp", ["a"], np.ones((1, 3), np.float32)
    )
    data = write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2))
    return [
        "train",
        data,
        "--out",
        c.tmp / "runs" / "bt",
        "--cache",
        c.tmp / "runs" / "bt" / "cache",
    ]


@case21(
    1,
    "train-over-a-model-folder-with-other-files",
    "--out",
    "holds a model and other files",
    "'notes.txt'",
)
def _(c):
    model = c.linear_model()
    write(model / "notes.txt", "my notes")
    return ["train", write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2)), "--out", model]


@case21(1, "train-test-file-is-out", "--out", "is the input", "test.jsonl")
def _(c):
    test = write(c.tmp / "test.jsonl", jsonl(GOOD2))
    return ["train", write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2)), "--test", test, "--out", test]


@case21(1, "evaluate-out-is-the-model", "--out", "is the input", "linear")
def _(c):
    model = c.linear_model()
    return ["evaluate", model, write(c.tmp / "test.jsonl", jsonl(GOOD, GOOD2)), "--out", model]


@case21(1, "evaluate-out-is-the-data", "--out", "is the input", "test.jsonl")
def _(c):
    test = write(c.tmp / "test.jsonl", jsonl(GOOD, GOOD2))
    return ["evaluate", c.linear_model(), test, "--out", test]


@case21(1, "synth-out-is-the-data", "--out", "is the input", "p.jsonl")
def _(c):
    data = write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2))
    return ["synth", data, "--out", data]


@case21(1, "experiment-out-is-the-config", "--out", "is the input", "exp.yaml")
def _(c):
    cfg = experiment_config(c.tmp)
    return ["experiment", cfg, "--out", cfg]


@case21(1, "experiment-out-holds-its-data", "--out", "contains the input", "exp.yaml")
def _(c):
    return ["experiment", experiment_config(c.tmp), "--out", c.tmp]


@case21(1, "export-out-is-the-model", "--out", "is the input")
def _(c):
    model = c.linear_model()
    return ["export", model, "--out", model]


@case21(1, "cache-merge-into-itself", "--into", "is the input")
def _(c):
    from prefspace.embed import EmbeddingCache

    EmbeddingCache(c.tmp / "cache").write_shard("fp", ["a"], np.ones((1, 3), np.float32))
    return ["cache", "merge", c.tmp / "cache", "--into", c.tmp / "cache"]


@case21(1, "label-db-is-the-pool", "--db", "is the input", "pool.jsonl")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl(*CAND))
    return ["label", pool, "--db", pool, "--no-serve"]


@case21(1, "label-save-model-holds-the-db", "--save-model", "contains the input", "labels.sqlite")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl(*CAND))
    db = label_db(c, "m/labels.sqlite")
    return ["label", pool, "--db", db, "--save-model", c.tmp / "m", "--no-serve"]


@case21(1, "label-report-is-the-pool", "--report", "is the input", "pool.jsonl")
def _(c):
    pool = write(c.tmp / "pool.jsonl", jsonl({**CAND[0], "gold": 1.0}, {**CAND[1], "gold": 0.0}))
    return [
        "label",
        pool,
        "--db",
        c.tmp / "labels.sqlite",
        "--simulate",
        "gold",
        "--rounds",
        "1",
        "--report",
        pool,
    ]


# ---- item 2: names that become path components stay inside --out
@case21(
    2, "experiment-dataset-name-climbs-out", "datasets[0].name", "'../../evil-ds'", "OUT/prepared/"
)
def _(c):
    return [
        "experiment",
        experiment_config(c.tmp / "cfg", dataset_name="../../evil-ds"),
        "--out",
        c.tmp / "o",
    ]


@case21(2, "experiment-dataset-name-absolute", "datasets[0].name", "cannot be used as a name")
def _(c):
    return [
        "experiment",
        experiment_config(c.tmp / "cfg", dataset_name="/tmp/evil"),
        "--out",
        c.tmp / "o",
    ]


# ---- item 3: exit 2 for every malformed input
@case21(3, "jsonl-huge-integer", "pairs.jsonl:2:", "an integer of 5,000 digits")
def _(c):
    return [
        "validate",
        write(
            c.tmp / "pairs.jsonl",
            jsonl(GOOD) + '{"prompt": "q", "chosen": "a", "rejected": "b", "n": ' + BIG + "}\n",
        ),
    ]


@case21(3, "json-huge-integer", "pairs.json:1:", "an integer of 5,000 digits")
def _(c):
    return [
        "validate",
        write(
            c.tmp / "pairs.json",
            '[{"prompt": "q", "chosen": "a", "rejected": "b", "n": ' + BIG + "}]",
        ),
    ]


@case21(3, "select-pool-huge-integer", "pool.jsonl:2:", "an integer of 5,000 digits")
def _(c):
    pool = write(
        c.tmp / "pool.jsonl",
        jsonl(CAND[0]) + '{"prompt": "Name a prime.", "response": "9", "score": ' + BIG + "}\n",
    )
    return ["select", c.linear_model(), pool, "--out", c.tmp / "o.jsonl"]


@case21(3, "param-huge-integer", "--param alpha", "an integer of 5,000 digits")
def _(c):
    return [
        "train",
        write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2)),
        "--out",
        c.tmp / "m",
        "--param",
        f"alpha={BIG}",
    ]


@case21(3, "param-nested-too-deep", "--param hidden_sizes", "nested too deeply")
def _(c):
    return [
        "train",
        write(c.tmp / "p.jsonl", jsonl(GOOD, GOOD2)),
        "--out",
        c.tmp / "m",
        "--param",
        "hidden_sizes=" + "[" * 50_000 + "]" * 50_000,
    ]


@case21(3, "model-json-huge-integer", "model.json", "an integer of 5,000 digits")
def _(c):
    m = c.linear_model()
    write(
        m / "model.json",
        (m / "model.json").read_text().replace('"n_features_in": 8', '"n_features_in": ' + BIG),
    )
    return ["info", m]


@case21(3, "label-studio-huge-integer", "ls.json", "an integer of 5,000 digits")
def _(c):
    db = label_db(c)
    return ["label", "import", db, ls_tasks(c, '{"completed_by": ' + BIG + ', "result": []}')]


@case21(3, "experiment-yaml-huge-integer", "exp.yaml", "more than 4,300 digits")
def _(c):
    cfg = experiment_config(c.tmp)
    write(cfg, cfg.read_text().replace("- 0", "- " + BIG))
    return ["experiment", cfg, "--out", c.tmp / "o"]


@case21(3, "experiment-set-huge-integer", "--set seeds", "more than 4,300 digits")
def _(c):
    return ["experiment", experiment_config(c.tmp), "--out", c.tmp / "o", "--set", f"seeds={BIG}"]


@case21(3, "experiment-set-nested-too-deep", "--set seeds", "nested too deeply")
def _(c):
    return [
        "experiment",
        experiment_config(c.tmp),
        "--out",
        c.tmp / "o",
        "--set",
        "seeds=" + "[" * 50_000 + "]" * 50_000,
    ]


@case21(3, "model-json-weights-nul", "model.json", "'weights'", "NUL character")
def _(c):
    return [
        "info",
        edit_header(c.linear_model(), lambda h: h.update(weights="weights.safetensors\x00.txt")),
    ]


@case21(3, "model-json-files-nul", "model.json", "'files' entry", "NUL character")
def _(c):
    return ["info", edit_header(c.lgbm_model(), lambda h: h.update(files=["model.lgbm.txt\x00"]))]


def _tamper(db: Path, sql: str) -> Path:
    import sqlite3

    con = sqlite3.connect(db)
    con.execute(sql)
    con.commit()
    con.close()
    return db


@case21(
    3,
    "label-db-schema-not-a-number",
    "labels.sqlite",
    "schema version must be a whole number",
    "'one'",
)
def _(c):
    db = _tamper(label_db(c), "UPDATE meta SET value = 'one' WHERE key = 'schema'")
    return ["label", "export", db, "--out", c.tmp / "pairs.jsonl"]


@case21(
    3, "label-db-corrupt-prompt", "labels.sqlite", "pair 'r0|r1' has a prompt", "edited or damaged"
)
def _(c):
    db = _tamper(label_db(c), "UPDATE pairs SET prompt = '{not json' WHERE pair_id = 'r0|r1'")
    return ["label", "export", db, "--out", c.tmp / "pairs.jsonl"]


@case21(3, "label-db-prompt-of-wrong-type", "labels.sqlite", "has a prompt that is not")
def _(c):
    db = _tamper(label_db(c), "UPDATE pairs SET prompt = '42' WHERE pair_id = 'r0|r1'")
    return ["label", "export", db, "--format", "label-studio", "--out", c.tmp / "t.json"]


@case21(3, "augment-repeat-factor-too-large", "factor 100000000", "GiB", "smaller factor")
def _(c):
    data = write(
        c.tmp / "p.jsonl",
        jsonl(GOOD, GOOD2, {**GOOD, "prompt": "3 + 3?"}, {**GOOD2, "prompt": "Capital of Chile?"}),
    )
    return [
        "train",
        data,
        "--out",
        c.tmp / "m",
        "--augment",
        "repeat",
        "--factor",
        "100000000",
        "--test-fraction",
        "0",
        "--cache",
        c.tmp / "cache",
    ]


@case21(
    3,
    "label-studio-value-a-list",
    "ls.json: task 0, annotation 0",
    "'value' must be an object",
    "a list of int",
)
def _(c):
    return ["label", "import", label_db(c), ls_tasks(c, ls_result("pairwise", [1]))]


@case21(
    3,
    "label-studio-choices-a-number",
    "ls.json: task 0, annotation 0",
    "'choices' must be a list of strings",
    "int",
)
def _(c):
    return ["label", "import", label_db(c), ls_tasks(c, ls_result("choices", {"choices": 5}))]


@case21(
    3,
    "label-studio-text-a-number",
    "ls.json: task 0, annotation 0",
    "'text' must be a list of strings",
    "int",
)
def _(c):
    return ["label", "import", label_db(c), ls_tasks(c, ls_result("textarea", {"text": 7}))]


@case21(
    3, "label-studio-surrogate-reason", "ls.json: task 0, annotation 0", "lone UTF-16 surrogate"
)
def _(c):
    return ["label", "import", label_db(c), ls_tasks(c, ls_result("textarea", {"text": [LONE]}))]


@case21(
    3,
    "label-studio-surrogate-email",
    "ls.json: task 0, annotation 0",
    "'completed_by'",
    "lone UTF-16 surrogate",
)
def _(c):
    ann = {
        "completed_by": {"email": "ann\ud800@example.org"},
        "result": [{"type": "pairwise", "value": {"selected": "left"}}],
    }
    return ["label", "import", label_db(c), ls_tasks(c, ann)]


@case21(3, "label-studio-deep-json", "ls.json", "nested too deeply")
def _(c):
    return ["label", "import", label_db(c), ls_tasks(c, DEEP)]


@case21(
    3,
    "label-studio-html-annotator",
    "ls.json: task 0, annotation 0",
    "not a usable annotator name",
    "1 to 64",
)
def _(c):
    html = "<script>alert(1)</script>" * 11_000  # 280 KB, as the issue found stored
    ann = {"completed_by": html, "result": [{"type": "pairwise", "value": {"selected": "left"}}]}
    return ["label", "import", label_db(c), ls_tasks(c, ann)]


@case21(
    3, "label-studio-bad-task-after-a-good-one", "ls.json: task 1", "'annotations' must be a list"
)
def _(c):
    good = {
        "data": {"pair_id": "r2|r3"},
        "annotations": [
            {"completed_by": 3, "result": [{"type": "pairwise", "value": {"selected": "right"}}]}
        ],
    }
    tasks = write(
        c.tmp / "ls.json", json.dumps([good, {"data": {"pair_id": "r0|r1"}, "annotations": 5}])
    )
    return ["label", "import", label_db(c), tasks]  # the good task is not written either


@case21(3, "label-import-into-a-missing-db", "no such label database")
def _(c):
    return [
        "label",
        "import",
        c.tmp / "nowhere.sqlite",
        ls_tasks(c, ls_result("pairwise", {"selected": "left"})),
    ]


# ---- item 5: paths and names
@case21(5, "csv-repeated-header", "pairs.csv:1:", "'chosen' more than once")
def _(c):
    return ["validate", write(c.tmp / "pairs.csv", "prompt,chosen,chosen\nq,a,b\n")]


# ---- item 6: integrity of everything a model or cache folder holds
@case21(6, "negated-weights", "weights.safetensors", "sha256 mismatch")
def _(c):
    from safetensors.numpy import load_file, save_file

    m = c.linear_model()
    arrays = load_file(str(m / "weights.safetensors"))
    save_file({k: -v for k, v in arrays.items()}, str(m / "weights.safetensors"))
    return ["info", m]


@case21(
    6, "files-digests-deleted", "model.json", "no 'files_sha256'", "train and save the model again"
)
def _(c):
    return ["info", edit_header(c.lgbm_model(), lambda h: h.pop("files_sha256"))]


@case21(6, "weights-digest-deleted", "model.json", "no sha256 for 'weights.safetensors'")
def _(c):
    return [
        "info",
        edit_header(c.linear_model(), lambda h: h["files_sha256"].pop("weights.safetensors")),
    ]


@case21(6, "model-json-is-a-link-out", "model.json is a link to", "outside the model folder")
def _(c):
    m = c.linear_model()
    (m / "model.json").rename(c.tmp / "header.json")
    (m / "model.json").symlink_to(c.tmp / "header.json")
    return ["info", m]


@case21(6, "cache-shard-linked-from-outside", "is a link to", "outside the cache folder")
def _(c):
    from prefspace.embed import EmbeddingCache

    EmbeddingCache(c.tmp / "other").write_shard("fp", ["a"], np.ones((1, 3), np.float32))
    shard = next((c.tmp / "other" / "fp").glob("shard-*.safetensors"))
    cache = EmbeddingCache(c.tmp / "cache")
    (c.tmp / "cache" / "fp").mkdir()
    (c.tmp / "cache" / "fp" / shard.name).symlink_to(shard)
    assert cache.directory.is_dir()
    return ["cache", "merge", c.tmp / "cache", "--into", c.tmp / "into"]


@pytest.mark.parametrize(
    "item, builder, fragments",
    [pytest.param(i, b, f, id=f"item{i}-{n}") for i, n, b, f in CASES_21],
)
def test_issue21_case_exits_2_and_leaves_every_input_as_it_was(
    item, builder, fragments, tmp_path, request, capsys
):
    args = builder(Ctx(tmp_path, request))
    before = snapshot(tmp_path)
    code, _, err = run_cli(args, capsys)
    assert "unexpected error" not in err and "Traceback" not in err, err
    assert code == 2, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in: {err}"
    after = snapshot(tmp_path)
    assert sorted(after) == sorted(before), "the command left files behind or removed some"
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"inputs changed: {changed}"


def test_the_issue21_corpus_covers_every_item_but_the_studios():
    counts = {item: sum(1 for i, *_ in CASES_21 if i == item) for item in (1, 2, 3, 5, 6)}
    assert all(n >= 1 for n in counts.values()), counts


# ------------------------------------------------------------------------------------ issue 21: what still works
def test_a_huge_integer_row_is_skipped_like_any_bad_row(tmp_path, capsys):
    data = write(
        tmp_path / "pairs.jsonl",
        jsonl(GOOD) + '{"prompt": "q", "chosen": "a", "rejected": "b", "n": ' + BIG + "}\n",
    )
    code, out, err = run_cli(["validate", data, "--on-bad-rows", "skip", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["pairs"] == 1 and info["skipped"] == {"invalid_json": 1}


@pytest.mark.parametrize("name", ["labels#1.sqlite", "what?.sqlite"])
def test_label_export_reads_a_database_whose_name_has_uri_characters(tmp_path, capsys, name):
    c = Ctx(tmp_path, None)
    db = label_db(c, name)
    code, _, err = run_cli(["label", "export", db, "--out", tmp_path / "pairs.jsonl"], capsys)
    assert code == 0, err
    assert [
        json.loads(line)["pair_id"] for line in (tmp_path / "pairs.jsonl").read_text().splitlines()
    ] == ["r0|r1"]
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert left == sorted([name, "pairs.jsonl"])  # no stray file named after half the path


def test_label_studio_round_trip_of_an_infinite_lead_time_writes_standard_json(tmp_path, capsys):
    c = Ctx(tmp_path, None)
    db = label_db(c)
    tasks = ls_tasks(
        c,
        '{"completed_by": 3, "lead_time": 1e999, "result": [{"type": "pairwise", '
        '"value": {"selected": "right"}}]}',
    )
    code, out, err = run_cli(["label", "import", db, tasks], capsys)
    assert code == 0 and "1 judgments added" in out, err
    code, _, err = run_cli(
        ["label", "export", db, "--format", "label-studio", "--out", tmp_path / "t.json"], capsys
    )
    assert code == 0, err

    def refuse(constant):
        raise AssertionError(f"bare {constant} in the JSON output")

    exported = json.loads((tmp_path / "t.json").read_text(), parse_constant=refuse)
    assert [
        a["lead_time"] for a in exported[0]["annotations"] if a["completed_by"] == "label-studio:3"
    ] == [None]


def test_train_may_replace_its_own_earlier_model(tmp_path, capsys):
    data = write(
        tmp_path / "p.jsonl",
        jsonl(GOOD, GOOD2, {**GOOD, "prompt": "3 + 3?"}, {**GOOD2, "prompt": "Capital of Chile?"}),
    )
    args = [
        "train",
        data,
        "--out",
        tmp_path / "runs" / "bt",
        "--test-fraction",
        "0",
        "--cache",
        tmp_path / "cache",
    ]
    for _ in range(
        2
    ):  # the second run replaces the model folder the first one wrote (model.json, card, metrics)
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "runs" / "bt").iterdir()) == [
        "README.md",
        "metrics.json",
        "model.json",
        "split.json",
        "weights.safetensors",
    ]
