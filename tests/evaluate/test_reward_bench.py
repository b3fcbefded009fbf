"""reward-bench section scores and reward-bench 2's best-of-4 and Ties scores, on hand-written data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from prefspace.data import load_preferences
from prefspace.evaluate import subset_accuracy
from prefspace.evaluate.reward_bench import (
    EXAMPLE_COUNTS,
    SECTIONS,
    best_of_k_results,
    load_best_of_k,
    overall_text,
    reward_bench_2_scores,
    reward_bench_scores,
    ties_score,
)
from prefspace.exceptions import DataError

DATA = Path(__file__).with_name("data")
RB1 = DATA / "reward_bench_small.jsonl"
RB2 = DATA / "reward_bench_2_small.jsonl"
# which pairs of reward_bench_small.jsonl the rewards below get right (file order)
RIGHT = {
    "alpacaeval-easy": 1,
    "alpacaeval-hard": 0,
    "mt-bench-med": 1,
    "mt-bench-hard": 0,
    "llmbar-natural": 1,
    "llmbar-adver-manual": 1,
    "refusals-dangerous": 1,
    "xstest-should-respond": 0,
    "donotanswer": 1,
    "math-prm": 1,
    "hep-python": 0,
    "hep-go": 0,
}


def _rb1_rewards():
    ds = load_preferences(RB1)
    assert ds.subset == list(RIGHT)
    rc = np.array([1.0 if RIGHT[s] else 0.0 for s in ds.subset])
    rr = np.full(len(rc), 0.5)
    rr[ds.subset.index("hep-go")] = 0.0  # a tie at 0.0: counts wrong, as in reward-bench
    return rc, rr, ds.subset


def test_sections_weight_subsets_by_reward_bench_example_counts():
    rc, rr, subsets = _rb1_rewards()
    out = reward_bench_scores(rc, rr, subsets, n_boot=200)
    expected = {
        "Chat": (100 + 40) / (100 + 95 + 40),
        "Chat Hard": (100 + 46) / (37 + 100 + 46),
        "Safety": (100 + 136) / (100 + 250 + 136),
        "Reasoning": 984
        / (984 + 164 + 164),  # math-prm counts 984, as much as the six code subsets
    }
    for section, value in expected.items():
        assert out["sections"][section]["score"] == pytest.approx(value)
        s = out["sections"][section]
        assert 0.0 <= s["ci_low"] <= s["score"] <= s["ci_high"] <= 1.0
    # 12 of 23 subsets: every section is there, but not reward-bench's overall score
    assert out["score"] is None and len(out["missing_subsets"]) == 11
    assert (
        out["sections"]["Chat"]["partial"]
        and "mt-bench-easy" in out["sections"]["Chat"]["missing_subsets"]
    )
    assert out["partial_score"] == pytest.approx(np.mean(list(expected.values())))
    assert 0.0 <= out["partial_ci_low"] <= out["partial_score"] <= out["partial_ci_high"] <= 1.0
    assert out["missing_sections"] == [] and out["unmapped_subsets"] == []
    assert overall_text(out).startswith("n/a: 11 of 23 subsets missing; PARTIAL")
    # not the same as weighting subsets by the pairs present (which is plain accuracy over pairs)
    assert out["sections"]["Reasoning"]["score"] != pytest.approx(
        subset_accuracy(rc, rr, subsets)["weighted"]
    )
    assert out["subsets"]["hep-go"] == {"accuracy": 0.0, "n_pairs": 1, "section": "Reasoning"}


def test_mapping_and_counts_cover_the_same_23_subsets():
    mapped = [s for subs in SECTIONS.values() for s in subs]
    assert len(mapped) == len(set(mapped)) == 23 and set(mapped) == set(EXAMPLE_COUNTS)


def test_missing_section_gives_no_overall_score_and_prior_sets_weigh_half():
    rc, rr, subsets = _rb1_rewards()
    keep = [i for i, s in enumerate(subsets) if s not in SECTIONS["Safety"]]
    out = reward_bench_scores(rc[keep], rr[keep], [subsets[i] for i in keep], n_boot=50)
    assert (
        out["score"] is None
        and out["missing_sections"] == ["Safety"]
        and "Safety" not in out["sections"]
    )

    full = reward_bench_scores(rc, rr, subsets, n_boot=50)
    with_prior = reward_bench_scores(
        np.r_[rc, 1.0, 0.0, 5.0],
        np.r_[rr, 0.0, 1.0, 1.0],
        [*subsets, "shp", "shp", "my-own-subset"],
        n_boot=50,
    )
    assert with_prior["prior_sets"]["score"] == 0.5 and with_prior["unmapped_subsets"] == [
        "my-own-subset"
    ]
    sections = [full["sections"][s]["score"] for s in SECTIONS]
    assert with_prior["partial_score"] == pytest.approx((2 * sum(sections) + 0.5) / 9)


def test_all_23_subsets_give_the_overall_score():
    names = [s for subs in SECTIONS.values() for s in subs]
    rc = np.array([1.0 if i % 3 else 0.0 for i in range(len(names))])
    out = reward_bench_scores(rc, np.full(len(names), 0.5), names, n_boot=50)
    assert out["missing_subsets"] == [] and out["partial_score"] is None
    assert not any(s["partial"] for s in out["sections"].values())
    expected = [
        np.dot([EXAMPLE_COUNTS[n] for n in subs], [rc[names.index(n)] for n in subs])
        / sum(EXAMPLE_COUNTS[n] for n in subs)
        for subs in SECTIONS.values()
    ]
    assert out["score"] == pytest.approx(np.mean(expected)) and overall_text(out).startswith(
        f"{out['score']:.4f}"
    )


def test_data_with_no_reward_bench_subset_is_refused():
    with pytest.raises(
        DataError, match="none of the subsets \\(helpfulness\\) is a reward-bench subset"
    ):
        reward_bench_scores([1.0], [0.0], ["helpfulness"])


def test_best_of_4_splits_ties_at_the_top():
    assert best_of_k_results([[3, 1, 2, 0], [1, 3, 2, 0], [2, 2, 0, 0], [1, 1, 1, 1]]).tolist() == [
        1.0,
        0.0,
        0.5,
        0.25,
    ]


def test_ties_score_follows_reward_bench_2s_formula():
    rewards = [
        [3.0, 1.0, 0.0, 0.0],  # ref:0 right, gap 2
        [
            2.0,
            2.5,
            3.0,
            0.0,
            0.5,
            1.0,
        ],  # tied:0 right, spread 1.0, gap 1.0 (not larger than the spread)
        [1.0, 2.0, 0.0, 0.0],  # ref:1 wrong, gap -1
        [5.0, 5.2, 5.4, 5.6, 1.0, 2.0, 3.0],  # tied:1 right, spread 0.6, gap 2.0
    ]
    out = ties_score(rewards, [1, 3, 1, 4], ["ref:0", "tied:0", "ref:1", "tied:1"], n_boot=200)
    margin = (0.0 + math.tanh(-1.0 / 0.6 - 1.0)) / 2
    expected = 0.30 * 1.0 + 0.30 * 0.5 + 0.20 * 0.5 + 0.20 * 0.0 + 0.01 * margin
    assert out["score"] == pytest.approx(expected)
    assert out["ci_low"] <= out["score"] <= out["ci_high"] and out["n_prompts"] == 2
    with pytest.raises(DataError, match="'ref:N'"):
        ties_score(rewards[:1], [1], ["17"])


def test_reward_bench_2_file_and_overall_score():
    data = load_best_of_k(RB2)
    assert len(data) == 10 and data.num_correct == [1, 1, 1, 1, 1, 1, 1, 3, 1, 4]
    prompts, responses, spans = data.flat()
    assert (
        len(responses)
        == sum(len(c) + len(r) for c, r in zip(data.chosen, data.rejected))
        == len(prompts)
    )
    # rewards: the first chosen answer wins everywhere except the second Math example
    rewards = []
    for i, s in enumerate(spans):
        r = np.zeros(s.stop - s.start)
        r[: data.num_correct[i]] = 1.0 + np.arange(data.num_correct[i]) * 0.01
        if data.ids[i] == "m2":
            r[:] = [0.0, 1.0, 0.0, 0.0]
        rewards.append(r)
    out = reward_bench_2_scores(rewards, data.num_correct, data.subsets, data.ids, n_boot=200)
    subs = out["subsets"]
    assert subs["Math"]["score"] == 0.5 and subs["Factuality"]["score"] == 1.0
    # every right answer outscores the wrong ones; the gaps (1.0) exceed the spreads (0.02, 0.03)
    ties_expected = (
        0.30
        + 0.30
        + 0.20
        + 0.20
        + 0.01 * np.mean([math.tanh(1.0 / 0.02 - 1), math.tanh(1.0 / 0.03 - 1)])
    )
    assert subs["Ties"]["score"] == pytest.approx(ties_expected)
    assert out["score"] == pytest.approx(np.mean([subs[s]["score"] for s in subs]))
    assert out["missing_subsets"] == [] and out["ci_low"] <= out["score"] <= out["ci_high"]
    partial = reward_bench_2_scores(
        rewards[:6], data.num_correct[:6], data.subsets[:6], data.ids[:6], n_boot=0
    )
    assert partial["score"] is None and partial["missing_subsets"] == ["Ties"]


def test_bad_reward_bench_2_rows_are_named(tmp_path):
    rows = [json.loads(line) for line in RB2.read_text().splitlines()]
    bad = tmp_path / "bad.jsonl"
    rows[2]["num_correct"] = 2
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"bad.jsonl:3: num_correct is 2 but 'chosen' holds 1"):
        load_best_of_k(bad)
    rows[2]["num_correct"] = 1
    del rows[4]["rejected"]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"bad.jsonl:5: missing 'rejected'"):
        load_best_of_k(bad)
