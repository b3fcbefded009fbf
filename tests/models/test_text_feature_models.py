"""A model trained on rows with the text-feature block, served: the scorer and the TRL reward
function rebuild the same rows (block included) and can drop the block's contribution."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefspace.data import load_preferences
from prefspace.embed import embed_pairs, get_encoder
from prefspace.exceptions import FingerprintMismatchError
from prefspace.integrations.trl import reward_function
from prefspace.models import BradleyTerryLinear, RewardScorer, load_model_encoder, save_model


@pytest.fixture(scope="module")
def saved(hh_path, tmp_path_factory):
    ds = load_preferences(hh_path, limit=40)
    enc = get_encoder(text_features=True)
    cache = tmp_path_factory.mktemp("cache")
    X = embed_pairs(ds, enc, cache).X
    model = BradleyTerryLinear(n_text_features=enc.n_text_features, text_alpha=1.0).fit(X)
    path = save_model(model, tmp_path_factory.mktemp("m") / "model", encoder=enc)
    return ds, X, model, path, cache


def test_the_scorer_rebuilds_the_block_and_serves_both_rewards(saved):
    ds, X, model, path, cache = saved
    assert load_model_encoder(path).text_features == 1
    header = json.loads((path / "model.json").read_text())
    assert (
        header["encoder"]["config"]["text_features"] == 1
        and header["text_features"]["n_columns"] == 8
    )
    prompts, responses = list(ds.prompts[:5]), list(ds.chosen[:5])
    plain = RewardScorer(path, cache=cache).score(prompts, responses)
    controlled = RewardScorer(path, cache=cache, length_controlled=True).score(prompts, responses)
    np.testing.assert_allclose(plain, model.predict(X[:5, 0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        controlled, model.predict(X[:5, 0], length_controlled=True), rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(plain, controlled)  # the block carried part of the reward
    info = RewardScorer(path, cache=cache, length_controlled=True).info()
    assert info.length_controlled is True and info.feature_dim == 776
    assert len(info.text_features) == 8


def test_the_trl_reward_function_takes_length_controlled(saved):
    ds, X, model, path, cache = saved
    fn = reward_function(path, cache=cache, length_controlled=True)
    got = fn(prompts=list(ds.prompts[:3]), completions=list(ds.chosen[:3]))
    np.testing.assert_allclose(
        got, model.predict(X[:3, 0], length_controlled=True), rtol=1e-5, atol=1e-6
    )


def test_an_encoder_without_the_block_is_refused(saved):
    _, _, _, path, _ = saved
    with pytest.raises(FingerprintMismatchError):
        RewardScorer(path, encoder=get_encoder())
