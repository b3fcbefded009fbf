"""length_dependence on alpaca_bon's responses and gold scores."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from prefspace.data.text_features import log_length, text_feature_block
from prefspace.evaluate import length_dependence, within_group_corr


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    texts, gold, prompt = [], [], []
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["prompt_id"] < 50:
                texts.append(r["response"])
                gold.append(r["gold"])
                prompt.append(r["prompt_id"])
    return texts, np.array(gold), np.array(prompt)


def test_a_reward_that_is_length_correlates_one_and_is_all_block(alpaca):
    texts, _, prompt = alpaca
    block = text_feature_block(texts, [len(t.split()) for t in texts], token_limit=256)
    d = length_dependence(log_length(texts) * 3.0 + 1.0, texts, groups=prompt, text_block=block)
    assert d.within_prompt_length_corr == pytest.approx(1.0, abs=1e-12)
    assert d.text_feature_share == pytest.approx(1.0, abs=1e-9)
    assert d.n_responses == len(texts)


def test_gold_leans_on_length_and_prompt_means_are_removed(alpaca):
    texts, gold, prompt = alpaca
    d = length_dependence(gold, texts, groups=prompt)
    assert 0.1 < d.within_prompt_length_corr < 0.9  # gold prefers longer answers, not perfectly
    assert d.text_feature_share is None and "text_feature_share" not in d.to_dict()  # no block
    # a per-prompt offset changes nothing within prompts
    shifted = gold + 10.0 * prompt
    assert within_group_corr(shifted, log_length(texts), prompt) == pytest.approx(
        d.within_prompt_length_corr, abs=1e-12
    )
    assert not np.isclose(
        within_group_corr(shifted, log_length(texts)), d.within_prompt_length_corr
    )
