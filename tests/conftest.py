"""Shared fixtures. Every test runs offline and writes only under pytest's tmp dirs."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

# Offline for every test, before any Hugging Face library is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PREFSPACE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (override with PREFSPACE_SHARED_DATA)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; set PREFSPACE_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hh_path(shared_data: Path) -> Path:
    return shared_data / "hh_rlhf" / "harmless-base-test.jsonl.gz"


@pytest.fixture(scope="session")
def alpaca_dir(shared_data: Path) -> Path:
    return shared_data / "alpaca_bon"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point every default cache location at a temp dir so tests never touch ~/.cache."""
    home = tmp_path_factory.getbasetemp() / "prefspace-home"
    monkeypatch.setenv("PREFSPACE_HOME", str(home))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def toy_pairs() -> np.ndarray:
    """200 separable pairs in 16-d: chosen responses lie further along a hidden direction."""
    g = np.random.default_rng(1)
    w = g.normal(size=16)
    w /= np.linalg.norm(w)
    E = g.normal(size=(400, 16)).astype(np.float32)
    E = E.reshape(200, 2, 16)
    swap = (E[:, 0] @ w) < (E[:, 1] @ w)
    E[swap] = E[swap][:, ::-1]
    return E.astype(np.float32)


@pytest.fixture(scope="session")
def copied_pairs() -> tuple[np.ndarray, np.ndarray]:
    """(X, prompt ids): 5 identical pairs for each of 60 prompts, whose order carries no signal
    from one prompt to the next. Held out by prompt, any head is at chance; if a copy of a
    held-out pair is among the training folds, a head recalls it. Rows are ``[prompt (16),
    response (48)]``, the prompt columns the same on both sides, as the separate layout writes
    them, so the prompt groups can also be read from the rows."""
    rng = np.random.default_rng(0)
    prompt = np.repeat(rng.normal(size=(60, 1, 16)), 2, axis=1)
    X = np.concatenate([prompt, rng.normal(size=(60, 2, 48))], axis=2).astype(np.float32)
    return np.repeat(X, 5, axis=0), np.repeat(np.arange(60), 5)


# ----------------------------------------------------------------------------- saved models
# Real reward models saved with save_model (tests/_saved_models.py), built on first use and
# shared by the models, serve and integrations tests. Loaded by path: test folders are not
# packages under --import-mode=importlib.
_spec = importlib.util.spec_from_file_location(
    "_prefspace_saved_models", Path(__file__).with_name("_saved_models.py")
)
_saved_models = sys.modules.setdefault(
    "_prefspace_saved_models", importlib.util.module_from_spec(_spec)
)
if not hasattr(_saved_models, "saved_models"):
    _spec.loader.exec_module(_saved_models)


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 encoder (separate layout), loaded once."""
    return _saved_models.minilm_encoder()


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, alpaca_dir, minilm) -> dict:
    """{"bt": BradleyTerryMLP dir, "ensemble": 3-member linear ensemble dir}, saved with save_model."""
    return _saved_models.saved_models(
        tmp_path_factory.getbasetemp() / "serve-models", alpaca_dir, minilm
    )


@pytest.fixture(scope="session")
def train_pairs(alpaca_dir):
    """The 60 AlpacaEval training pairs (texts and their precomputed MiniLM rows)."""
    return _saved_models.training_pairs(alpaca_dir)


@pytest.fixture(scope="session")
def short_pairs(train_pairs) -> list[int]:
    """Indices of 8 training pairs with short texts (cheap to embed, never truncated)."""
    return _saved_models.short_pair_indices(train_pairs, 8, max_chars=1200)
