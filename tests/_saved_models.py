"""Real saved reward models for the serving and integration tests.

A small Bradley-Terry MLP and a 3-member linear ensemble, fitted on real all-MiniLM-L6-v2
embeddings of 60 AlpacaEval preference pairs (for each of the first 60 prompts, the
response with the highest gold score against the one with the lowest), taken from the
precomputed embeddings shipped in ``../shared/data/alpaca_bon`` so no encoding is needed to
train. They are saved with ``save_model`` and the live MiniLM encoder, whose vectors these
are, so the server embeds new texts the same way. Built once per test session (the
directory under pytest's base temp is reused by every conftest that asks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_PROMPTS = 60


@dataclass
class TrainingPairs:
    prompts: list
    chosen: list
    rejected: list
    X: np.ndarray  # (n, 2, 768) [prompt, response] rows from the precomputed MiniLM vectors


_PAIRS: dict = {}


def training_pairs(alpaca_dir: Path) -> TrainingPairs:
    key = str(alpaca_dir)
    if key not in _PAIRS:
        from prefspace.data import load_scored_responses

        scored = load_scored_responses(
            alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz"
        )
        P = np.load(alpaca_dir / "prompt_emb_minilm.npy", mmap_mode="r")
        R = np.load(alpaca_dir / "response_emb_minilm.npy", mmap_mode="r")
        prompts, chosen, rejected, rows = [], [], [], []
        for k, idx in enumerate(scored.groups()[:N_PROMPTS]):
            idx = idx[[len(scored.responses[i].strip()) > 0 for i in idx]]
            best, worst = idx[np.argmax(scored.scores[idx])], idx[np.argmin(scored.scores[idx])]
            prompts.append(scored.prompts[k])
            chosen.append(scored.responses[best])
            rejected.append(scored.responses[worst])
            p = np.asarray(P[k], dtype=np.float32)
            rows.append([np.concatenate([p, R[best]]), np.concatenate([p, R[worst]])])
        _PAIRS[key] = TrainingPairs(prompts, chosen, rejected, np.asarray(rows, dtype=np.float32))
    return _PAIRS[key]


def saved_models(base: Path, alpaca_dir: Path, encoder) -> dict[str, Path]:
    """``{"bt": dir, "ensemble": dir}``; fitted and saved on the first call, reused after."""
    from prefspace.models import BradleyTerryLinear, BradleyTerryMLP, RewardEnsemble, save_model

    dirs = {"bt": base / "bt-mlp", "ensemble": base / "bt-ensemble"}
    if all((d / "model.json").is_file() for d in dirs.values()):
        return dirs
    X = training_pairs(alpaca_dir).X
    bt = BradleyTerryMLP(
        hidden_sizes=(32,), max_epochs=50, early_stopping=False, random_state=0
    ).fit(X)
    save_model(bt, dirs["bt"], encoder)
    ens = RewardEnsemble(BradleyTerryLinear(), n_members=3, random_state=0).fit(X)
    save_model(ens, dirs["ensemble"], encoder)
    return dirs


def short_pair_indices(pairs: TrainingPairs, k: int, max_chars: int = 700) -> list[int]:
    """The ``k`` training pairs with the shortest texts (cheap to embed; no truncation)."""
    lengths = [
        len(p) + len(c) + len(r) for p, c, r in zip(pairs.prompts, pairs.chosen, pairs.rejected)
    ]
    order = [i for i in np.argsort(lengths, kind="stable") if lengths[i] <= max_chars]
    return [int(i) for i in order[:k]]


def minilm_encoder():
    from prefspace.embed import get_encoder

    return get_encoder("all-MiniLM-L6-v2")
