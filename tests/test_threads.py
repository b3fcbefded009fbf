"""The one thread limiter (prefspace._threads): n_jobs means the same for every library."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from prefspace._threads import ENV_THREADS, check_n_jobs, limit_threads, resolve_n_jobs
from prefspace.exceptions import ConfigError


@pytest.fixture
def two_torch_threads():
    """torch on 2 threads for the test (so that 1 is a visible change), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info()]


def test_k_threads_inside_the_block_and_the_previous_counts_after(two_torch_threads, monkeypatch):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    blas = _blas_threads()
    with limit_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        assert all(k == 1 for k in _blas_threads())
    assert torch.get_num_threads() == 2 and _blas_threads() == blas


def test_none_leaves_the_counts_unless_the_environment_sets_them(two_torch_threads, monkeypatch):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    with limit_threads(None) as n:
        assert n is None and torch.get_num_threads() == 2
    monkeypatch.setenv(ENV_THREADS, "1")
    with limit_threads(None) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_minus_one_is_all_cores_and_bad_values_are_refused(monkeypatch):
    assert resolve_n_jobs(-1) == (os.cpu_count() or 1)
    assert check_n_jobs(None) is None and check_n_jobs(3) == 3
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ConfigError, match="n_jobs must be None, -1 .* or a positive integer"):
            check_n_jobs(bad)
    monkeypatch.setenv(ENV_THREADS, "many")
    with pytest.raises(
        ConfigError, match=f"{ENV_THREADS} must be a positive integer or -1; got 'many'"
    ):
        resolve_n_jobs(None)


def test_counts_are_restored_when_the_block_raises(two_torch_threads, monkeypatch):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    with pytest.raises(RuntimeError):
        with limit_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_an_estimator_trains_on_the_threads_it_is_given(two_torch_threads, monkeypatch):
    from prefspace.models import BradleyTerryMLP, _mlp_train

    monkeypatch.delenv(ENV_THREADS, raising=False)
    seen = []
    real = _mlp_train._pair_loss

    def spy(*args):
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(_mlp_train, "_pair_loss", spy)
    X = np.random.default_rng(0).normal(size=(40, 2, 6)).astype(np.float32)
    BradleyTerryMLP(hidden_sizes=(4,), max_epochs=2, n_jobs=1, random_state=0).fit(X)
    assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    seen.clear()
    BradleyTerryMLP(hidden_sizes=(4,), max_epochs=2, n_jobs=None, random_state=0).fit(X)
    assert set(seen) == {2}


def test_a_torch_another_thread_is_still_importing_is_left_alone(monkeypatch):
    # folds run side by side: one thread may still be importing torch (its module half built)
    # while another enters limit_threads; that one must not call into the half-built module
    import importlib.machinery
    import sys
    import types

    half = types.ModuleType("torch")
    half.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    half.__spec__._initializing = True
    monkeypatch.setitem(sys.modules, "torch", half)
    with limit_threads(1) as n:
        assert n == 1 and set(_blas_threads()) == {1}


def test_a_block_asking_for_another_count_sets_and_restores_its_own(two_torch_threads, monkeypatch):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    blas = _blas_threads()
    with limit_threads(1):
        with limit_threads(2):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1 and set(_blas_threads()) == {1}
        with limit_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2 and _blas_threads() == blas
