"""split_by_prompt: grouped, deterministic, sized as asked, for both dataset types."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import PreferenceDataset, ScoredResponses, split_by_prompt
from prefspace.exceptions import ConfigError


def grouped_pairs(n_prompts: int = 40, per_prompt=(1, 2, 3, 4)) -> PreferenceDataset:
    prompts, chosen, rejected, ids = [], [], [], []
    for p in range(n_prompts):
        for j in range(per_prompt[p % len(per_prompt)]):
            prompts.append(f"prompt {p}")
            chosen.append(f"good {p}.{j}")
            rejected.append(f"bad {p}.{j}")
            ids.append(f"{p}-{j}")
    return PreferenceDataset(prompts=prompts, chosen=chosen, rejected=rejected, ids=ids)


def test_no_prompt_on_both_sides_and_every_pair_used_once():
    ds = grouped_pairs()
    train, test = split_by_prompt(ds, test_fraction=0.25, random_state=3)
    assert not set(train.prompt_keys()) & set(test.prompt_keys())
    assert sorted(train.ids + test.ids) == sorted(ds.ids)
    # rows keep their original order on each side
    assert train.ids == [i for i in ds.ids if i in set(train.ids)]
    assert abs(len(test) - 0.25 * len(ds)) <= 4
    assert test.info.split.side == "test"


def test_same_seed_same_split_other_seed_other_split():
    ds = grouped_pairs()
    a = split_by_prompt(ds, test_size=20, random_state=0)[1].ids
    assert split_by_prompt(ds, test_size=20, random_state=0)[1].ids == a
    assert split_by_prompt(ds, test_size=20, random_state=1)[1].ids != a


def test_test_size_counts_pairs_by_whole_groups():
    ds = grouped_pairs()  # 100 pairs in groups of 1-4
    for size in (10, 33, 60):
        _, test = split_by_prompt(ds, test_size=size, random_state=5)
        assert abs(len(test) - size) <= 2  # at most half the largest group away


def test_conversational_prompts_group_too():
    msgs = [{"role": "user", "content": "hi"}]
    ds = PreferenceDataset(
        prompts=[msgs, list(msgs), "other", "third"],
        chosen=list("abcd"),
        rejected=list("wxyz"),
        ids=list("1234"),
    )
    train, test = split_by_prompt(ds, test_size=1, random_state=0)
    assert ("1" in train.ids) == ("2" in train.ids)


def test_scored_responses_split_by_prompt():
    sr = ScoredResponses(
        prompts=[f"p{i}" for i in range(10)],
        prompt_ids=[str(i) for i in range(10)],
        prompt_index=np.repeat(np.arange(10), 3),
        responses=[f"r{i}" for i in range(30)],
        scores=np.arange(30, dtype=float),
        ids=[str(i) for i in range(30)],
        extra={"gen": list(range(30))},
    )
    train, test = split_by_prompt(sr, test_fraction=0.3, random_state=0)
    assert (train.n_prompts, test.n_prompts) == (7, 3)
    assert not set(train.prompt_ids) & set(test.prompt_ids)
    for part in (train, test):
        for row, pid in enumerate(part.prompt_index):
            original = int(part.ids[row])
            assert part.prompt_ids[pid] == str(original // 3)
            assert part.extra["gen"][row] == original and part.scores[row] == original


def test_bad_split_arguments():
    ds = grouped_pairs(5)
    with pytest.raises(ConfigError, match="not both"):
        split_by_prompt(ds, test_fraction=0.2, test_size=3)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        split_by_prompt(ds, test_fraction=1.0)
    with pytest.raises(ConfigError, match="test_size must be an integer between 1 and"):
        split_by_prompt(ds, test_size=len(ds))
    one = PreferenceDataset(
        prompts=["p", "p"], chosen=["a", "b"], rejected=["c", "d"], ids=["1", "2"]
    )
    with pytest.raises(ConfigError, match="share one prompt"):
        split_by_prompt(one)
