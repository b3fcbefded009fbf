"""RewardScorer: a saved model plus its encoder, with an in-memory cache of feature rows."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.exceptions import ConfigError, DataError, FormatError
from prefspace.serve import RewardScorer


@pytest.fixture(scope="module")
def scorer(model_dirs, minilm):
    return RewardScorer(model_dirs["bt"], encoder=minilm, lru_size=4)


def test_rewards_match_the_model_on_embed_responses_rows(scorer, minilm):
    from prefspace.embed import embed_responses

    prompts = ["Say hi.", "Say hi.", "Count to three."]
    responses = ["Hi!", "Go away.", "One, two, three."]
    rewards = scorer.score(prompts, responses)
    assert rewards.dtype == np.float64 and rewards.shape == (3,)
    np.testing.assert_allclose(
        rewards, scorer.model.predict(embed_responses(prompts, responses, minilm)), rtol=1e-6
    )


def test_the_recorded_encoder_is_rebuilt_when_none_is_given(model_dirs, minilm):
    scorer = RewardScorer(model_dirs["bt"])
    assert scorer.encoder.fingerprint == minilm.fingerprint
    info = scorer.info()
    assert info.feature_dim == 768 and info.to_json()["feature_dim"] == 768
    assert info.model.to_json()["class"] == info.model.class_name == type(scorer.model).__name__


def test_lru_reuses_rows_dedupes_and_evicts(scorer):
    before = dict(scorer.stats)
    scorer.score(["lru?"] * 3, ["same", "same", "other"])  # 2 distinct rows, one encoder call
    mid = dict(scorer.stats)
    assert mid["encoder_calls"] - before["encoder_calls"] == 1
    assert mid["rows_embedded"] - before["rows_embedded"] == 2
    scorer.score(["lru?"], ["same"])
    assert (
        scorer.stats["encoder_calls"] == mid["encoder_calls"]
        and scorer.stats["lru_hits"] == mid["lru_hits"] + 1
    )
    scorer.score(["lru?"] * 4, ["a", "b", "c", "d"])  # lru_size=4 pushes the old rows out
    assert len(scorer._lru) == 4
    calls = scorer.stats["encoder_calls"]
    scorer.score(["lru?"], ["same"])
    assert scorer.stats["encoder_calls"] == calls + 1


def test_bad_inputs_are_refused(scorer, tmp_path):
    with pytest.raises(DataError, match="got 2 prompts but 1 responses"):
        scorer.score(["a", "b"], ["x"])
    with pytest.raises(DataError, match=r"responses\[0\] must be a string"):
        scorer.score(["a"], [None])
    with pytest.raises(ConfigError, match="not a directory"):
        RewardScorer(tmp_path / "missing")
    with pytest.raises(FormatError, match="model.json not found"):
        RewardScorer(tmp_path)
