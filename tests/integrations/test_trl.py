"""The TRL reward function, called the way TRL's GRPOTrainer calls it (trl is installed)."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from prefspace.exceptions import ConfigError, DataError, FingerprintMismatchError
from prefspace.integrations.trl import PrefspaceRewardFunction, reward_function
from prefspace.serve import RewardScorer

PROMPTS = [
    "Name a primary colour.",
    "Name a primary colour.",
    "What is the capital of France?",
    "What is the capital of France?",
]
COMPLETIONS = ["Red is a primary colour.", "Bananas are yellow.", "Paris.", "I like trains."]


@pytest.fixture(scope="module")
def reward(model_dirs, minilm):
    return reward_function(model_dirs["bt"], encoder=minilm)


@pytest.fixture(scope="module")
def expected(model_dirs, minilm):
    scorer = RewardScorer(model_dirs["bt"], encoder=minilm)
    return {
        "plain": scorer.score(PROMPTS, COMPLETIONS),
        "conversational": scorer.score(
            [[{"role": "user", "content": p}] for p in PROMPTS], COMPLETIONS
        ),
    }


def test_standard_format_returns_one_float_per_completion(reward, expected):
    out = reward(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=[[1, 2]] * 4)
    assert isinstance(out, list) and len(out) == 4
    assert all(isinstance(r, float) for r in out)
    np.testing.assert_allclose(out, expected["plain"], rtol=1e-6, atol=1e-6)


def test_conversational_format(reward, expected):
    prompts = [[{"role": "user", "content": p}] for p in PROMPTS]
    completions = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    out = reward(prompts=prompts, completions=completions)
    np.testing.assert_allclose(out, expected["conversational"], rtol=1e-6, atol=1e-6)


def test_grpo_trainer_reward_dispatch_calls_it(reward, expected):
    """Run TRL's own GRPOTrainer._calculate_rewards on a minimal trainer holding our function."""
    import torch
    from trl import GRPOTrainer
    from trl.trainer.utils import get_callable_name, is_async_callable

    assert get_callable_name(reward) == "prefspace_bt-mlp"
    assert not is_async_callable(reward)
    logged: list = []
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        state=SimpleNamespace(global_step=0),
        args=SimpleNamespace(report_to=[]),
        reward_funcs=[reward],
        reward_processing_classes=[None],
        reward_func_names=[get_callable_name(reward)],
        _log_completion_extra=lambda *a, **k: None,
        _log_metric=lambda name, value: logged.append((name, value)),
        environments=None,
    )
    inputs = [
        {"prompt": p, "category": "demo"} for p in PROMPTS
    ]  # a dataset column travels as a kwarg
    rewards = GRPOTrainer._calculate_rewards(trainer, inputs, PROMPTS, COMPLETIONS, [[0]] * 4)
    assert tuple(rewards.shape) == (4, 1)
    np.testing.assert_allclose(rewards[:, 0].numpy(), expected["plain"], rtol=1e-5, atol=1e-5)
    assert logged == []  # a single head has no spread to log


def test_ensemble_logs_its_spread_through_log_metric(model_dirs, minilm):
    reward = reward_function(model_dirs["ensemble"], encoder=minilm, name="prefspace_ens")
    logged: list = []
    out = reward(
        prompts=PROMPTS, completions=COMPLETIONS, log_metric=lambda n, v: logged.append((n, v))
    )
    assert len(out) == 4
    assert len(logged) == 1 and logged[0][0] == "prefspace_ens/reward_std" and logged[0][1] > 0


def test_a_loaded_scorer_serves_as_it_is(model_dirs, minilm, expected):
    scorer = RewardScorer(model_dirs["bt"], encoder=minilm)
    fn = PrefspaceRewardFunction(scorer, batch_size=3)
    np.testing.assert_allclose(
        fn(prompts=PROMPTS, completions=COMPLETIONS), expected["plain"], rtol=1e-5, atol=1e-5
    )
    assert fn.scorer is scorer and scorer.stats["rows_scored"] == len(COMPLETIONS)
    assert fn.__name__ == f"prefspace_{model_dirs['bt'].name}"
    with pytest.raises(ConfigError, match="batch_size must be a whole number >= 1"):
        PrefspaceRewardFunction(scorer, batch_size=0)


def test_pickles_and_reloads(reward, expected):
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == reward.__name__
    np.testing.assert_allclose(
        clone(prompts=PROMPTS, completions=COMPLETIONS), expected["plain"], rtol=1e-5, atol=1e-5
    )


def test_refuses_mismatched_encoder_and_bad_shapes(model_dirs, reward):
    from prefspace.embed import get_encoder

    with pytest.raises(FingerprintMismatchError, match="fingerprint"):
        reward_function(model_dirs["bt"], encoder=get_encoder("all-MiniLM-L6-v2", layout="joint"))
    with pytest.raises(DataError, match="got 2 prompts but 1 completions"):
        reward(prompts=PROMPTS[:2], completions=COMPLETIONS[:1])
    with pytest.raises(DataError, match=r"completions\[0\] must be a string"):
        reward(prompts=PROMPTS[:1], completions=[42])
