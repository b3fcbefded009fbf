"""Fixtures for the integration tests: the serving tests' real saved models (built once per session)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "_prefspace_serve_fixtures"  # one module shared by both conftests
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "serve" / "_fixtures.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
_fixtures = sys.modules[_NAME]


@pytest.fixture(scope="session")
def minilm():
    return _fixtures.minilm_encoder()


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, alpaca_dir, minilm) -> dict:
    return _fixtures.saved_models(tmp_path_factory.getbasetemp() / "serve-models", alpaca_dir, minilm)
