"""Fixtures for the synthesis tests: small real pairs from the shared alpaca_bon embeddings."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest


@pytest.fixture(scope="session")
def alpaca_pairs(alpaca_dir) -> np.ndarray:
    """300 real pairs (n, 2, 384): two responses to the same AlpacaEval prompt, the one with
    the higher gold score first (MiniLM embeddings shipped with the data)."""
    E = np.load(alpaca_dir / "response_emb_minilm.npy").astype(np.float32)
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    prompt = np.array([r["prompt_id"] for r in rows])
    gold = np.array([r["gold"] for r in rows])
    rng = np.random.default_rng(0)
    pairs = []
    for p in rng.permutation(np.unique(prompt))[:300]:
        i, j = rng.choice(np.flatnonzero(prompt == p), 2, replace=False)
        if gold[i] < gold[j]:
            i, j = j, i
        pairs.append((i, j))
    return E[np.array(pairs)]


@pytest.fixture(scope="session")
def separate_pairs(alpaca_pairs, alpaca_dir) -> np.ndarray:
    """The same pairs in the "separate" layout: [prompt embedding, response embedding] (768)."""
    return alpaca_pairs_with_prompt(alpaca_pairs, alpaca_dir)


def alpaca_pairs_with_prompt(X, alpaca_dir):
    P = np.load(alpaca_dir / "prompt_emb_minilm.npy").astype(np.float32)
    rng = np.random.default_rng(0)
    prompts = P[rng.integers(0, len(P), size=len(X))]
    return np.concatenate([np.repeat(prompts[:, None], 2, axis=1), X], axis=2)
