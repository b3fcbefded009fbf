"""Fixtures for the serving tests: real saved models, a scorer, a running server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "_prefspace_serve_fixtures"  # one module shared by both conftests
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("_fixtures.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_fixtures = sys.modules[_NAME]


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2 encoder (separate layout), loaded once."""
    return _fixtures.minilm_encoder()


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, alpaca_dir, minilm) -> dict:
    """{"bt": BradleyTerryMLP dir, "ensemble": 3-member linear ensemble dir}, saved with save_model."""
    return _fixtures.saved_models(tmp_path_factory.getbasetemp() / "serve-models", alpaca_dir, minilm)


@pytest.fixture(scope="session")
def train_pairs(alpaca_dir):
    """The 60 AlpacaEval training pairs (texts and their precomputed MiniLM rows)."""
    return _fixtures.training_pairs(alpaca_dir)


@pytest.fixture(scope="session")
def short_pairs(train_pairs) -> list[int]:
    """Indices of 8 training pairs with short texts (cheap to embed, never truncated)."""
    return _fixtures.short_pair_indices(train_pairs, 8, max_chars=1200)
