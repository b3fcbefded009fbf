"""The TRL reward function warns once when its prompts are not in the training prompts' format."""

from __future__ import annotations

import logging
import pickle

import pytest

from prefspace.integrations.trl import reward_function
from prefspace.models import load_model, save_model

PROMPTS = ["Name a primary colour.", "What is the capital of France?"]
COMPLETIONS = ["Red is a primary colour.", "Paris."]
TRAIN = {
    "source": "alpaca pairs",
    "fingerprint": "f" * 64,
    "n_pairs": 60,
    "format": "standard, explicit prompt",
    "subsets": None,
    "licence": None,
}


@pytest.fixture(scope="module")
def plain_model(model_dirs, minilm, tmp_path_factory):
    """The session's BT-MLP saved again with the format of its (plain-text) training prompts."""
    directory = tmp_path_factory.mktemp("trl-format") / "bt-plain"
    save_model(load_model(model_dirs["bt"]), directory, minilm, train_data=TRAIN)
    return directory


def _warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "trained on" in r.getMessage()
    ]


def test_conversational_prompts_to_a_plain_model_warn_once(plain_model, minilm, caplog):
    reward = reward_function(plain_model, encoder=minilm)
    assert reward.training_format == "standard"
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    completions = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    with caplog.at_level(logging.WARNING, logger="prefspace.integrations.trl"):
        first = reward(prompts=convs, completions=completions)
        second = reward(prompts=convs, completions=completions)
    assert first == second
    found = _warnings(caplog)
    assert len(found) == 1 and "plain-text prompts but receives conversational" in found[0]


def test_matching_format_does_not_warn_and_a_pickled_copy_still_checks(plain_model, minilm, caplog):
    reward = reward_function(plain_model, encoder=minilm)
    with caplog.at_level(logging.WARNING, logger="prefspace.integrations.trl"):
        reward(prompts=PROMPTS, completions=COMPLETIONS)
    assert _warnings(caplog) == []
    copy = pickle.loads(pickle.dumps(reward))
    with caplog.at_level(logging.WARNING, logger="prefspace.integrations.trl"):
        copy(prompts=[[{"role": "user", "content": PROMPTS[0]}]], completions=[COMPLETIONS[0]])
    assert len(_warnings(caplog)) == 1


def test_a_model_without_a_recorded_format_never_warns(model_dirs, minilm, caplog):
    reward = reward_function(model_dirs["bt"], encoder=minilm)
    assert reward.training_format is None
    with caplog.at_level(logging.WARNING, logger="prefspace.integrations.trl"):
        reward(prompts=[[{"role": "user", "content": PROMPTS[0]}]], completions=[COMPLETIONS[0]])
    assert _warnings(caplog) == []
