"""Fixtures for the labeling studio: a small real pool (AlpacaEval prompts and responses with
their precomputed all-MiniLM-L6-v2 rows from ../shared/data/alpaca_bon), written as the files
`prefspace label` reads, and helpers to build studios on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

N_PROMPTS = 12
PER_PROMPT = 5
MAX_CHARS = 700
# markup a model might emit; the page must show it as text and never run it
HOSTILE = "\n<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script> **bold**"


def _write_pool(alpaca_dir: Path, out: Path, *, hostile: bool = False) -> dict:
    from prefspace.data import load_scored_responses

    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz"
    )
    P = np.load(alpaca_dir / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(alpaca_dir / "response_emb_minilm.npy").astype(np.float32)
    rows, feats, prompt_rows = [], [], []
    for g, idx in enumerate(scored.groups()):
        short = [int(i) for i in idx if 0 < len(scored.responses[i]) <= MAX_CHARS][:PER_PROMPT]
        if len(short) < PER_PROMPT:
            continue
        prompt_rows.append(P[g])
        for i in short:
            text = scored.responses[i] + (HOSTILE if hostile else "")
            rows.append(
                {
                    "prompt": scored.prompts[g],
                    "response": text,
                    "id": f"r{i}",
                    "gold": float(scored.scores[i]),
                }
            )
            feats.append(R[i])
        if len(prompt_rows) == N_PROMPTS:
            break
    out.mkdir(parents=True, exist_ok=True)
    (out / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    np.save(out / "responses.npy", np.stack(feats))
    np.save(out / "prompts.npy", np.stack(prompt_rows))
    return {
        "dir": out,
        "pool": out / "pool.jsonl",
        "features": out / "responses.npy",
        "prompt_features": out / "prompts.npy",
        "rows": rows,
    }


@pytest.fixture(scope="session")
def small_pool(alpaca_dir, tmp_path_factory) -> dict:
    """12 AlpacaEval prompts x 5 short responses (ids "r<row>", gold scores) and their MiniLM rows:
    pool.jsonl, responses.npy (one row per response), prompts.npy (one row per prompt)."""
    return _write_pool(alpaca_dir, tmp_path_factory.mktemp("studio-pool"))


@pytest.fixture(scope="session")
def hostile_pool(alpaca_dir, tmp_path_factory) -> dict:
    """The same pool with HTML, a script and markdown appended to every response."""
    return _write_pool(alpaca_dir, tmp_path_factory.mktemp("studio-hostile"), hostile=True)


@pytest.fixture
def make_studio(small_pool, tmp_path):
    """``make_studio(**config)`` -> a started Studio on the small pool and a fresh database
    (stopped and closed after the test)."""
    from prefspace.studio import StudioConfig, build_studio

    made = []

    def make(db=None, *, model=None, head=None, cross_prompt=False, score_key=None, **config):
        studio = build_studio(
            small_pool["pool"],
            db or tmp_path / "labels.sqlite",
            id_key="id",
            features=small_pool["features"],
            prompt_features=small_pool["prompt_features"],
            model=model,
            head=head,
            cross_prompt=cross_prompt,
            score_key=score_key,
            config=StudioConfig(**config),
        )
        made.append(studio)
        return studio.start()

    yield make
    for s in made:
        s.stop()
        s.store.close()
