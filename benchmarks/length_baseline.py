"""The learned length baseline beside the LENS benchmark's figures, from what that run stored.

Run (from the repository root)::

    python benchmarks/length_baseline.py --data ../shared/data

``benchmarks/lens.py`` stored, per seed and cell, each method's test accuracy on HH and its
best-of-16 gold on alpaca_bon (``benchmarks/results/lens_runs.jsonl``), not the models. The
learned length baseline (:class:`prefspace.models.LengthBaseline`, a Bradley-Terry model on the
log-length difference, no intercept) needs only the texts, so this script refits it on exactly
the training pairs each of those cells drew (the same split, the same random draws, replayed
from the seeds) and scores it on the same test data:

- HH: ``split_by_prompt(test_size=1000, random_state=0)``; a cell's pairs are
  ``rng.choice(len(train), budget)`` with ``rng = default_rng([seed, budget, 7])``.
- alpaca_bon: 305 test prompts by ``default_rng(0).permutation``; a cell's pairs drawn one at
  a time from the 500 training prompts with ``default_rng([seed, budget, 11])``, the higher gold
  winning; best-of-16 gold over every test prompt (exact expectation).

Recorded (``benchmarks/results/length_baseline.jsonl``, table ``length_vs_lens``): per part,
budget, head and method, the method's mean over seeds, the baseline's, and their paired
difference per seed with ``seed_item_bootstrap``. The stored model figures are one value per
seed, so the interval covers the seeds and is conditional on the one test set (the baseline's
own interval resamples its test items as well).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, new_run_id, record_rows  # noqa: E402


def hh_baseline(data: Path, cells) -> dict:
    """{(budget, seed): per-test-pair correctness of the baseline} for the stored HH cells."""
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.models import LengthBaseline, pair_log_lengths

    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"))
    train, test = split_by_prompt(ds, test_size=1000, random_state=0)
    L_pool, L_test = (
        pair_log_lengths(train.chosen, train.rejected),
        pair_log_lengths(test.chosen, test.rejected),
    )
    out = {}
    for budget, seed in cells:
        rng = np.random.default_rng([seed, budget, 7])
        base = LengthBaseline().fit(L_pool[rng.choice(len(L_pool), budget, replace=False)])
        out[budget, seed] = (base.coef_ * (L_test[:, 0] - L_test[:, 1]) > 0).astype(np.float64)
    return out


def alpaca_baseline(data: Path, cells) -> dict:
    """{(budget, seed): per-test-prompt best-of-16 gold of the baseline} for the stored cells."""
    from prefspace.data import load_scored_responses
    from prefspace.data.text_features import log_length
    from prefspace.evaluate.ranking import expected_best_of_n
    from prefspace.models import LengthBaseline

    d = data / "alpaca_bon"
    scored = load_scored_responses(
        str(d / "responses.jsonl.gz"), prompts=str(d / "prompts.jsonl.gz")
    )
    gold, pidx = np.asarray(scored.scores, dtype=np.float64), np.asarray(scored.prompt_index)
    lengths = log_length(scored.responses)
    n_prompts = int(pidx.max()) + 1
    order = np.random.default_rng(0).permutation(n_prompts)
    test_prompts, train_prompts = order[:305], order[305:]
    rows_of = [np.flatnonzero(pidx == p) for p in range(n_prompts)]
    out = {}
    for budget, seed in cells:
        rng = np.random.default_rng([seed, budget, 11])
        pairs = []
        while len(pairs) < budget:  # the draw benchmarks/lens.py made
            p = train_prompts[rng.integers(len(train_prompts))]
            i, j = rng.choice(rows_of[p], 2, replace=False)
            if gold[i] == gold[j]:
                continue
            pairs.append((i, j) if gold[i] > gold[j] else (j, i))
        base = LengthBaseline().fit(lengths[np.array(pairs)])
        r = base.predict(lengths)
        out[budget, seed] = np.array(
            [expected_best_of_n(r[rows_of[p]], gold[rows_of[p]], 16) for p in test_prompts]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    from prefspace.evaluate import seed_item_bootstrap

    raw = [
        json.loads(line)
        for line in (RESULTS / "lens_runs.jsonl").read_text().splitlines()
        if line.strip()
    ]
    latest = max(r["run"] for r in raw)
    raw = [r for r in raw if r["run"] == latest]
    print(
        f"load average {os.getloadavg()[0]:.1f}; {len(raw)} stored cells of run {latest}",
        flush=True,
    )
    rows = []
    for part, metric, fn, bounds in (
        ("hh", "accuracy", hh_baseline, (0.0, 1.0)),
        ("alpaca", "best_of_16", alpaca_baseline, (0.0, 1.0)),
    ):
        cells = sorted({(r["budget"], r["seed"]) for r in raw if r["part"] == part})
        base = fn(args.data, cells)
        by_method = defaultdict(dict)
        for r in raw:
            if r["part"] == part and r.get(metric) is not None:
                by_method[r["budget"], r["head"], r["method"]][r["seed"]] = r[metric]
        for budget in sorted({b for b, _ in cells}):
            seeds = sorted(s for b, s in cells if b == budget)
            own = seed_item_bootstrap([base[budget, s] for s in seeds], bounds=bounds)
            rows.append(
                {
                    "part": part,
                    "budget": budget,
                    "head": "LengthBaseline",
                    "method": "length baseline",
                    "seeds": len(seeds),
                    "metric": metric,
                    "value": own.estimate,
                    "lo": own.low,
                    "hi": own.high,
                }
            )
            for (b, head, method), per_seed in sorted(by_method.items()):
                if b != budget:
                    continue
                s_common = [s for s in seeds if s in per_seed]
                model = np.array([per_seed[s] for s in s_common])
                baseline = np.array([base[budget, s].mean() for s in s_common])
                d = seed_item_bootstrap(model, baseline, bounds=bounds)
                rows.append(
                    {
                        "part": part,
                        "budget": budget,
                        "head": head,
                        "method": method,
                        "seeds": len(s_common),
                        "metric": metric,
                        "value": float(model.mean()),
                        "length_baseline": float(baseline.mean()),
                        "vs_length": d.estimate,
                        "vs_length_lo": d.low,
                        "vs_length_hi": d.high,
                        "verdict": "above"
                        if d.low > 0
                        else "below"
                        if d.high < 0
                        else "not significantly different",
                    }
                )
    record_rows("length_baseline", "length_vs_lens", rows, run=new_run_id())
    for r in rows:
        tail = (
            ""
            if "vs_length" not in r
            else (
                f"  vs length {r['vs_length']:+.4f} [{r['vs_length_lo']:+.4f}, {r['vs_length_hi']:+.4f}] {r['verdict']}"
            )
        )
        print(
            f"{r['part']:<7}{r['budget']:>6} {r['head']:<15}{r['method']:<16}{r['metric']:<11}{r['value']:.4f}{tail}"
        )


if __name__ == "__main__":
    main()
