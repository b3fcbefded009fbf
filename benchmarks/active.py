"""Active labeling on alpaca_bon: learning curves per strategy, within- and cross-prompt pools.

Run (from the repository root; resumable: finished runs in --out are skipped)::

    python benchmarks/active.py                       # 5 seeds, every strategy, both pools
    python benchmarks/active.py --seeds 0 1 --strategies random d-optimal --pools within
    python benchmarks/active.py --summary-only        # print the tables from --out
    python benchmarks/active.py --seeds 3 4 &         # a second process on other seeds (same --out)

Data: ``../shared/data/alpaca_bon`` (805 prompts x 60 responses) with the precomputed
all-MiniLM-L6-v2 features (separate layout: ``[prompt vector, response vector]``, 768-d). Each
run (one strategy, one pool kind, one seed) holds out 20% of the prompts for evaluation, draws a
fixed random sample of ``--candidates`` candidate pairs from the other prompts' pool, labels a
random first batch from gold, then alternates: fit ``BradleyTerryLinear`` on every label so
far, evaluate (mean per-prompt Spearman with gold, expected best-of-16 gold on the held-out
prompts), choose the next batch with the strategy. Labels come from gold (``--noise none``: the
higher gold wins, exact ties a coin flip; ``--noise bt``: Bradley-Terry on logit(gold)).

It prints, per pool and metric, mean (std) over seeds at each label count, and how many labels
each strategy needs to reach random's mean at the full budget (linear interpolation between
rounds; "not reached" when it never does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ALL_STRATEGIES = ("random", "uncertainty", "ensemble", "d-optimal", "past-aware", "coreset")


def _key(r: dict) -> tuple:
    return (r["noise"], r["pool"], r["strategy"], r["seed"])


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                continue
    return out


def _finished(records: list[dict], budget: int, config: dict) -> set[tuple]:
    same = [r for r in records if all(r.get(k) == v for k, v in config.items())]
    return {_key(r) for r in same if r["labels"] == budget}


def labels_to_match(labels: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    """Smallest label count at which ``curve`` (linearly interpolated) reaches ``target``."""
    for i in range(len(labels)):
        if curve[i] >= target:
            if i == 0:
                return float(labels[0])
            x0, x1, y0, y1 = labels[i - 1], labels[i], curve[i - 1], curve[i]
            return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))
    return None


def summarise(records: list[dict], budget: int, config: dict) -> None:
    rows = [r for r in records if all(r.get(k) == v for k, v in config.items())]
    latest: dict[tuple, dict] = {}
    for r in rows:  # the last line for a (run, labels) wins: reruns replace partial runs
        latest[_key(r) + (r["labels"],)] = r
    done = {k for k in {_key(r) for r in latest.values()} if any(kk[:4] == k and kk[4] == budget for kk in latest)}
    # compare strategies on the same seeds only: those every strategy of that pool has finished
    common: dict[tuple, set] = {}
    for noise, pool in {k[:2] for k in done}:
        per = [{k[3] for k in done if k[:3] == (noise, pool, s)} for s in ALL_STRATEGIES
               if any(k[:3] == (noise, pool, s) for k in done)]
        common[(noise, pool)] = set.intersection(*per) if per else set()
    by = defaultdict(lambda: defaultdict(list))  # (noise, pool, strategy) -> labels -> records
    for k, r in latest.items():
        if k[:4] in done and k[3] in common[k[:2]]:
            by[k[:3]][r["labels"]].append(r)
    for metric in ("spearman", "best_of_16"):
        for noise, pool in sorted({k[:2] for k in by}):
            strategies = [s for s in ALL_STRATEGIES if (noise, pool, s) in by]
            labels = sorted({lab for s in strategies for lab in by[(noise, pool, s)]})
            print(f"\n{metric} on held-out prompts, {pool}-prompt pool, noise={noise}: mean (std) over "
                  f"{len(common[(noise, pool)])} seeds {sorted(common[(noise, pool)])}")
            print("labels  " + "".join(f"{s:>22}" for s in strategies))
            means = {}
            for lab in labels:
                cells = []
                for s in strategies:
                    vals = [r[metric] for r in by[(noise, pool, s)].get(lab, [])]
                    means.setdefault(s, []).append(np.mean(vals) if vals else np.nan)
                    cells.append(f"{np.mean(vals):.4f} ({np.std(vals):.4f})" if vals else "-")
                print(f"{lab:>6}  " + "".join(f"{c:>22}" for c in cells))
            if "random" in means and labels[-1] == budget:
                target = means["random"][-1]
                print(f"labels needed to reach random's {metric} at {budget} ({target:.4f}):")
                for s in strategies:
                    need = labels_to_match(np.array(labels), np.array(means[s]), target)
                    print(f"  {s:<12} " + ("not reached" if need is None else f"{need:,.0f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="folder holding alpaca_bon/")
    parser.add_argument("--out", default="benchmarks/results/active.jsonl", help="JSON lines, one per round (resumable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--strategies", nargs="+", default=list(ALL_STRATEGIES), choices=ALL_STRATEGIES)
    parser.add_argument("--pools", nargs="+", default=["within", "cross"], choices=["within", "cross"])
    parser.add_argument("--budget", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--noise", default="none", choices=["none", "bt"])
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    config = {"budget": args.budget, "batch_size": args.batch_size, "candidates": args.candidates, "noise": args.noise}
    if args.noise == "bt":
        config["beta"] = args.beta

    if not args.summary_only:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from prefspace.data import load_scored_responses
        from prefspace.embed import scored_response_features
        from prefspace.experiments import run_active_learning

        d = Path(args.data) / "alpaca_bon"
        scored = load_scored_responses(d / "responses.jsonl.gz", prompts=d / "prompts.jsonl.gz")
        F = scored_response_features(scored, d / "prompt_emb_minilm.npy", d / "response_emb_minilm.npy")
        done = _finished(_load(out), args.budget, config)
        out.parent.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:  # seed-major: every configuration gets seed 0 before any gets seed 1
            for pool in args.pools:
                for strategy in args.strategies:
                    done |= _finished(_load(out), args.budget, config)  # another process may have run it
                    if (args.noise, pool, strategy, seed) in done:
                        continue
                    t0 = time.perf_counter()

                    def append(rec: dict) -> None:
                        with open(out, "a", encoding="utf-8") as fh:
                            fh.write(json.dumps({**rec, **config}) + "\n")

                    recs = run_active_learning(
                        F, scored.prompt_index, scored.scores, strategy=strategy, batch_size=args.batch_size,
                        budget=args.budget, within_prompt=pool == "within", n_candidates=args.candidates,
                        noise=args.noise, beta=args.beta, transform="logit", eps=1e-6, seed=seed, on_round=append,
                    )
                    print(f"seed {seed} {pool:<6} {strategy:<12} spearman {recs[-1]['spearman']:.4f} "
                          f"best-of-16 {recs[-1]['best_of_16']:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    summarise(_load(out), args.budget, config)


if __name__ == "__main__":
    sys.exit(main())
