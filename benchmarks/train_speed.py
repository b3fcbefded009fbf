"""Fit time of every reward head on 10,000 pairs of 384-d embeddings, and of 10-member ensembles.

Run (from the repository root)::

    python benchmarks/train_speed.py
    python benchmarks/train_speed.py --data ../shared/data --pairs 10000 --repeats 3 --members 10

The pairs are real: AlpacaEval responses (all-MiniLM-L6-v2, 384-d, from
``DATA/alpaca_bon/response_emb_minilm.npy``), two responses to the same prompt, the higher gold
score wins (``prefspace.evaluate.pairs_from_scores``). Training pairs come from 80% of the
prompts, 2,000 test pairs from the other 20%, so the accuracy column is a sanity check that
the fast fit also learned something. Every head runs with its defaults (MLP heads: one torch
thread; LightGBM: one thread). It prints, per head, the median fit time over ``--repeats`` fits
(seeds 0, 1, ...), the epochs or trees kept, and the test accuracy; then the same for
``RewardEnsemble(head, n_members=--members)`` of the linear and MLP Bradley-Terry heads
(one fit). The target is a BradleyTerryMLP under 10 s on 2 cores. CPU seconds (``time.process_time``, all
threads of this process) are recorded beside wall seconds: on a machine shared with other jobs
they are the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402


def load_pairs(data: Path, n_train: int, n_test: int, seed: int):
    """(X_train, X_test) float32 pairs of 384-d response embeddings, grouped by prompt."""
    from prefspace.data import load_scored_responses, split_by_prompt
    from prefspace.evaluate import pairs_from_scores

    scored = load_scored_responses(
        data / "alpaca_bon" / "responses.jsonl.gz",
        prompts=data / "alpaca_bon" / "prompts.jsonl.gz",
        score_key="gold",
    )
    E = np.load(data / "alpaca_bon" / "response_emb_minilm.npy").astype(np.float32)
    train_prompts = set(split_by_prompt(scored, test_fraction=0.2, random_state=seed)[0].prompt_ids)
    in_train = np.array([scored.prompt_ids[i] in train_prompts for i in scored.prompt_index])
    train = pairs_from_scores(scored, n_train, rows=np.flatnonzero(in_train), random_state=seed)
    test = pairs_from_scores(scored, n_test, rows=np.flatnonzero(~in_train), random_state=seed + 1)
    return train.pair_features(E), test.pair_features(E)


def fit_timed(make, X, X_test, repeats: int) -> dict:
    times, cpus, accs, size = [], [], [], None
    for seed in range(repeats):
        model = make(seed)
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(X)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        accs.append(model.score(X_test))
        size = getattr(model, "best_epoch_", None) or getattr(model, "n_trees_", None)
    return {
        "seconds": statistics.median(times),
        "min_s": min(times),
        "cpu_s": statistics.median(cpus),
        "accuracy": float(np.mean(accs)),
        "kept": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--test-pairs", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from prefspace.models import (
        BradleyTerryLinear,
        BradleyTerryMLP,
        PreferenceClassifierLGBM,
        PreferenceClassifierMLP,
        RewardEnsemble,
    )

    X, X_test = load_pairs(args.data, args.pairs, args.test_pairs, args.seed)
    print(
        f"train pairs {X.shape}, test pairs {X_test.shape}, cpus {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    BradleyTerryMLP(hidden_sizes=(4,), max_epochs=1).fit(X[:50])  # import torch outside the timings

    heads = {
        "BradleyTerryLinear": lambda s: BradleyTerryLinear(),
        "BradleyTerryMLP": lambda s: BradleyTerryMLP(random_state=s),
        "PreferenceClassifierMLP": lambda s: PreferenceClassifierMLP(random_state=s),
        "PreferenceClassifierLGBM": lambda s: PreferenceClassifierLGBM(random_state=s),
    }
    run, load = new_run_id(), os.getloadavg()[0]
    rows = []
    print(
        f"\n{'head':28s} {'fit s (median)':>14s} {'min s':>7s} {'epochs/trees':>12s} {'test acc':>9s}"
    )
    for name, make in heads.items():
        r = fit_timed(make, X, X_test, args.repeats)
        print(
            f"{name:28s} {r['seconds']:14.2f} {r['min_s']:7.2f} {str(r['kept'] or '-'):>12s} {r['accuracy']:9.4f}",
            flush=True,
        )
        rows.append({"head": name, "repeats": args.repeats, **r})

    print(f"\n{'ensemble (' + str(args.members) + ' members)':28s} {'fit s':>14s} {'test acc':>9s}")
    for name, head in (
        ("of BradleyTerryLinear", BradleyTerryLinear()),
        ("of BradleyTerryMLP", BradleyTerryMLP()),
    ):
        r = fit_timed(
            lambda s: RewardEnsemble(head, n_members=args.members, random_state=s), X, X_test, 1
        )
        print(f"{name:28s} {r['seconds']:14.2f} {r['accuracy']:9.4f}", flush=True)
        rows.append({"head": f"RewardEnsemble ({args.members} members) {name}", "repeats": 1, **r})
    for row in rows:
        row.update(pairs=len(X), load_start=load, load_end=os.getloadavg()[0])
    record_rows("train_speed", "train_speed", rows, run=run)


if __name__ == "__main__":
    main()
