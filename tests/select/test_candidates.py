"""Candidate pools: read through the data stage's reader, scored by a RewardScorer, pairs chosen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefspace.data import load_preferences, read_responses
from prefspace.embed import embed_pairs, embed_responses, get_encoder
from prefspace.models import BradleyTerryLinear, RewardScorer, save_model
from prefspace.select.candidates import candidate_features, choose_pairs

PROMPTS = {
    "Name a prime number.": ["7", "9", "Eleven is prime.", "I like turtles."],
    "What is the capital of France?": [
        "Paris.",
        "Lyon",
        "The capital of France is Paris.",
        "Berlin.",
    ],
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("candidates")
    rows = [{"prompt": p, "responses": rs} for p, rs in PROMPTS.items()]
    (d / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    labelled = [
        {"prompt": "Name a prime number.", "chosen": "7", "rejected": "9"},
        {"prompt": "What is the capital of France?", "chosen": "Paris.", "rejected": "Berlin."},
    ]
    (d / "labelled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled))
    encoder = get_encoder()
    X = embed_pairs(load_preferences(d / "labelled.jsonl"), encoder, d / "cache").X
    save_model(BradleyTerryLinear().fit(X), d / "model", encoder)
    return d, encoder


def test_candidates_are_scored_by_the_reward_scorer(setup):
    d, encoder = setup
    cands = read_responses(d / "pool.jsonl")
    assert cands.n_prompts == 2 and len(cands) == 8 and np.isnan(cands.scores).all()
    scorer = RewardScorer(d / "model", encoder=encoder, cache=d / "cache")
    E = candidate_features(scorer, cands)
    expected = embed_responses(cands.row_prompts(), cands.responses, encoder, d / "cache")
    np.testing.assert_allclose(E, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        scorer.predict(E), scorer.score(cands.row_prompts(), cands.responses), rtol=1e-5, atol=1e-6
    )


def test_choose_pairs_leaves_out_labelled_pairs(setup):
    d, encoder = setup
    cands = read_responses(d / "pool.jsonl")
    scorer = RewardScorer(d / "model", encoder=encoder, cache=d / "cache")
    labelled = load_preferences(d / "labelled.jsonl")
    result = choose_pairs(scorer, cands, 10, "past-aware", labelled=labelled)
    records = result.records
    assert (
        result.pool,
        result.n_candidates,
        result.n_responses,
        result.n_prompts,
        result.n_excluded,
    ) == ("within", 12, 8, 2, 2)
    chosen = {frozenset((r["response_a"], r["response_b"])) for r in records}
    assert len(records) == 10 and len(chosen) == 10
    assert not chosen & {frozenset(("7", "9")), frozenset(("Paris.", "Berlin."))}
    gains = [r["gain"] for r in records]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    again = choose_pairs(scorer, cands, 10, "past-aware", labelled=labelled)
    assert again.records == records  # deterministic
    cross = choose_pairs(
        scorer, cands, 3, "random", cross_prompt=True, max_candidates=5, random_state=1
    )
    assert cross.pool == "cross" and cross.n_candidates == 5
    assert all(r["prompt_b"] != r["prompt"] for r in cross.records)
