"""Speed of greedy D-optimal selection: 1,000 pairs from 1,000,000 candidates, 256-d features.

Run (from the repository root)::

    python benchmarks/select_speed.py
    python benchmarks/select_speed.py --candidates 1000000 --dim 256 --k 1000 --past 2000 --methods lazy update

The pool is a within-prompt pool over random unit-length response rows (1,000 prompts with 46
responses each give 1,035,000 pairs; the first ``--candidates`` of them are the candidates). The
model is a linear Bradley-Terry head fitted on 2,000 random pairs, so ``transform`` is the
identity and ``h = 256``. It prints the time of each part, the total, and the ratio of the total
to the floor: one pass of every candidate's feature difference through a matrix product with an
``h x h`` matrix (``sum((D @ A) * D)`` chunk by chunk), which any method that looks at every
candidate's ``d_k^T M^-1 d_k`` once must pay. Both exact greedy methods are timed (``lazy``, the
default, and ``update``, which refreshes every candidate's gain after every pick); they must
choose the same pairs. Wall and CPU seconds are both printed: on a machine shared with
other jobs, CPU seconds (both cores counted) are the steadier figure. With ``--past``, also times the past-aware variant (first method) with that
many labelled pairs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--responses-per-prompt", type=int, default=46)
    parser.add_argument(
        "--past", type=int, default=0, help="also time past-aware with this many labelled pairs"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods", nargs="+", default=["lazy", "update"], choices=["lazy", "update"]
    )
    args = parser.parse_args()

    from prefspace.models.linear import BradleyTerryLinear
    from prefspace.select import DOptimalSelector, WithinPromptPool
    from prefspace.select._common import pair_rows

    rng = np.random.default_rng(args.seed)
    m = args.responses_per_prompt
    per_prompt = m * (m - 1) // 2
    n_prompts = -(-args.candidates // per_prompt)
    E = rng.normal(size=(n_prompts * m, args.dim)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    full = WithinPromptPool(E, np.repeat(np.arange(n_prompts), m))
    pool = full.subset(np.arange(args.candidates)) if len(full) > args.candidates else full
    train = full.sample(2000, rng).pair_features(np.arange(2000))
    model = BradleyTerryLinear().fit(train)
    print(
        f"pool: {len(pool):,} candidates over {E.shape[0]:,} rows, dim {args.dim}; choosing {args.k:,}"
    )
    print(f"cores available: {os.cpu_count()}")

    # ---- the floor: one pass of all candidates' differences through an h x h matrix product
    a, b = pair_rows(pool)
    A = np.linalg.inv(np.eye(args.dim) + 0.01 * np.cov(E.T.astype(np.float64)))
    F = E.astype(np.float64)
    t0, c0 = time.perf_counter(), time.process_time()
    acc = 0.0
    for start in range(0, a.size, 65536):
        D = F[a[start : start + 65536]] - F[b[start : start + 65536]]
        acc += float(np.einsum("ij,ij->", D @ A, D))
    floor, floor_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"floor (one pass through a {args.dim}x{args.dim} matrix product): {floor:.2f} s wall, {floor_cpu:.2f} s CPU"
    )
    run, common = new_run_id(), {"candidates": len(pool), "dim": args.dim, "k": args.k}
    rows = [
        {
            "what": "floor: one pass through an h x h product",
            **common,
            "wall_s": floor,
            "cpu_s": floor_cpu,
            "ratio_wall": 1.0,
            "ratio_cpu": 1.0,
        }
    ]

    # ---- D-optimal, end to end (model outputs, pair rows, initial gains, 1,000 greedy steps),
    # with both exact greedy methods; they must choose the same pairs
    picks = {}
    for method in args.methods:
        t0, c0 = time.perf_counter(), time.process_time()
        picks[method] = DOptimalSelector(method=method, random_state=args.seed).select(
            pool, model, args.k
        )
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert np.unique(picks[method]).size == args.k
        print(
            f"D-optimal ({method}): {total:.2f} s wall, {cpu:.2f} s CPU for {args.k:,} picks "
            f"({1000 * total / args.k:.1f} ms per pick); ratio to floor {total / floor:.2f}x wall, "
            f"{cpu / floor_cpu:.2f}x CPU; target < 60 s wall: {'met' if total < 60 else 'MISSED'}",
            flush=True,
        )
        rows.append(
            {
                "what": f"D-optimal ({method})",
                **common,
                "wall_s": total,
                "cpu_s": cpu,
                "ratio_wall": total / floor,
                "ratio_cpu": cpu / floor_cpu,
            }
        )
    if len(picks) == 2:
        same = np.array_equal(*picks.values())
        print(f"lazy and update chose the same {args.k:,} pairs in the same order: {same}")

    if args.past:
        labelled = full.sample(args.past, np.random.default_rng(args.seed + 1)).pair_features(
            np.arange(args.past)
        )
        t0, c0 = time.perf_counter(), time.process_time()
        DOptimalSelector(past_aware=True, method=args.methods[0], random_state=args.seed).select(
            pool, model, args.k, labelled=labelled
        )
        total_p, cpu_p = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"past-aware D-optimal ({args.past:,} labelled): {total_p:.2f} s wall, {cpu_p:.2f} s CPU; "
            f"ratio to floor {total_p / floor:.2f}x wall, {cpu_p / floor_cpu:.2f}x CPU"
        )
        rows.append(
            {
                "what": f"past-aware D-optimal ({args.past:,} labelled)",
                **common,
                "wall_s": total_p,
                "cpu_s": cpu_p,
                "ratio_wall": total_p / floor,
                "ratio_cpu": cpu_p / floor_cpu,
            }
        )
    for row in rows:
        row["load"] = os.getloadavg()[0]
    record_rows("select_speed", "select_speed", rows, run=run)


if __name__ == "__main__":
    main()
