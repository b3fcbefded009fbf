"""Bradley-Terry versus classification reward heads on HH-RLHF and AlpacaEval pairs, 10 seeds.

Run (from the repository root)::

    python benchmarks/heads.py
    python benchmarks/heads.py --data ../shared/data --hh-cache .cache/hh-minilm --seeds 10 --alpaca-train 2000

Question (Sun, Shen & Ton, "Rethinking Bradley-Terry Models in Preference-Based Reward
Modeling", ICLR 2025): is an order-consistent classifier on single responses at least as good a
reward model on embeddings as the Bradley-Terry model on pairs?

Datasets (default encoder all-MiniLM-L6-v2, rows ``[prompt, response]``, 768-d):

- HH: the 2,312 harmless-base test pairs, embedded with ``get_encoder()`` through the embedding
  cache ``--hh-cache`` (embeds what it lacks). Each seed splits by prompt: 1,300 training pairs,
  1,012 test pairs (``split_by_prompt(test_size=1012, random_state=seed)``).
- AlpacaEval: ``--alpaca-train`` training pairs from 80% of the 805 prompts and 5,000 test pairs
  from the other 20% (prompts split per seed), two responses to the same prompt, the higher
  gold score wins; rows are the precomputed MiniLM prompt and response embeddings side by side.

Heads, all at their defaults with ``random_state=seed``: BradleyTerryLinear, BradleyTerryMLP,
PreferenceClassifierMLP, PreferenceClassifierLGBM. Printed: test pairwise accuracy (ties wrong),
mean over seeds with a 95% t-interval; the paired difference classifier minus Bradley-Terry MLP
(same network, only the loss differs) with its 95% t-interval; and the issue's acceptance check,
seed 0 on HH, every head above 0.58.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows, seed_interval  # noqa: E402

HEADS = ("bt-linear", "bt-mlp", "clf-mlp", "clf-lgbm")


def hh_splits(data: Path, cache: Path, seeds):
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.embed import embed_pairs, get_encoder

    dataset = load_preferences(data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    X = embed_pairs(dataset, get_encoder(), cache).X
    index = {pid: i for i, pid in enumerate(dataset.ids)}
    for seed in seeds:
        train, test = split_by_prompt(dataset, test_size=1012, random_state=seed)
        yield seed, X[[index[i] for i in train.ids]], X[[index[i] for i in test.ids]]


def alpaca_splits(data: Path, n_train: int, n_test: int, seeds):
    from prefspace.data import load_scored_responses, split_by_prompt
    from prefspace.evaluate import pairs_from_scores
    from prefspace.models import with_prompt_features

    folder = data / "alpaca_bon"
    scored = load_scored_responses(
        folder / "responses.jsonl.gz", prompts=folder / "prompts.jsonl.gz", score_key="gold"
    )
    P = np.load(folder / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(folder / "response_emb_minilm.npy").astype(np.float32)
    # prompt_ids are the JSONL's prompt_id values, which are the rows of prompt_emb_minilm.npy
    F = with_prompt_features(
        R, P[np.array([int(scored.prompt_ids[i]) for i in scored.prompt_index])]
    )
    for seed in seeds:
        train_ids = set(split_by_prompt(scored, test_fraction=0.2, random_state=seed)[0].prompt_ids)
        in_train = np.array([scored.prompt_ids[i] in train_ids for i in scored.prompt_index])
        tr = pairs_from_scores(scored, n_train, rows=np.flatnonzero(in_train), random_state=seed)
        te = pairs_from_scores(
            scored, n_test, rows=np.flatnonzero(~in_train), random_state=seed + 10_000
        )
        yield seed, tr.pair_features(F), te.pair_features(F)


def run(name: str, splits, results: dict) -> None:
    from prefspace.models import HEADS as CLASSES

    for seed, X_train, X_test in splits:
        line = [f"{name} seed {seed}: train {len(X_train)}, test {len(X_test)}"]
        for head in HEADS:
            model = CLASSES[head]()
            if "random_state" in model.get_params():
                model.set_params(random_state=seed)
            t0 = time.perf_counter()
            model.fit(X_train)
            acc = model.score(X_test)
            results.setdefault((name, head), []).append(acc)
            results.setdefault((name, head, "seconds"), []).append(time.perf_counter() - t0)
            line.append(f"{head} {acc:.4f}")
        print("  ".join(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--hh-cache",
        type=Path,
        default=Path(".cache/hh-minilm"),
        help="embedding cache for the HH texts (embeds what it lacks)",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--alpaca-train", type=int, default=2000)
    parser.add_argument("--alpaca-test", type=int, default=5000)
    parser.add_argument("--only", choices=["hh", "alpaca"], default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = range(args.seeds)
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

    results: dict = {}
    start = time.perf_counter()
    if args.only in (None, "hh"):
        run("hh", hh_splits(args.data, args.hh_cache, seeds), results)
    if args.only in (None, "alpaca"):
        run("alpaca", alpaca_splits(args.data, args.alpaca_train, args.alpaca_test, seeds), results)

    run_id = new_run_id()
    print(
        f"\ntest accuracy, mean over {args.seeds} seeds with 95% interval (logit-scale t; fit seconds, mean)"
    )
    datasets = [d for d in ("hh", "alpaca") if (d, "bt-linear") in results]
    rows = []
    for d in datasets:
        for head in HEADS:
            m, lo, hi = seed_interval(results[(d, head)])
            secs = float(np.mean(results[(d, head, "seconds")]))
            print(f"  {d:7s} {head:10s} {m:.4f} [{lo:.4f}, {hi:.4f}] ({secs:5.1f} s)")
            rows.append(
                {
                    "dataset": d,
                    "head": head,
                    "seeds": len(results[(d, head)]),
                    "accuracy": m,
                    "lo": lo,
                    "hi": hi,
                    "fit_seconds": secs,
                    "min_accuracy": float(np.min(results[(d, head)])),
                }
            )
    record_rows("heads", "heads_accuracy", rows, run=run_id)

    print("\npaired differences (same seeds and splits), mean with 95% interval")
    rows = []
    for d in datasets:
        for a, b in (
            ("bt-linear", "bt-mlp"),
            ("clf-mlp", "bt-mlp"),
            ("clf-lgbm", "bt-mlp"),
            ("clf-mlp", "bt-linear"),
        ):
            diff = np.array(results[(d, a)]) - np.array(results[(d, b)])
            m, lo, hi = seed_interval(diff, low=-1.0, high=1.0)
            verdict = (
                f"{a} better"
                if lo > 0
                else f"{b} better"
                if hi < 0
                else "no significant difference"
            )
            print(f"  {d:7s} {a} - {b}: {m:+.4f} [{lo:+.4f}, {hi:+.4f}]  ({verdict})")
            rows.append(
                {
                    "dataset": d,
                    "comparison": f"{a} - {b}",
                    "difference": m,
                    "lo": lo,
                    "hi": hi,
                    "verdict": verdict,
                }
            )
    record_rows("heads", "heads_differences", rows, run=run_id)

    if "hh" in datasets:
        accs = {head: results[("hh", head)][0] for head in HEADS}
        ok = all(a > 0.58 for a in accs.values())
        print(
            "\nacceptance (HH, 1,300 train / 1,012 test, grouped split seed 0): "
            + ", ".join(f"{h} {a:.4f}" for h, a in accs.items())
            + f" -> {'PASS' if ok else 'FAIL'} (> 0.58)"
        )
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
