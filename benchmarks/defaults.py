"""How the heads' defaults were chosen: grouped cross-validation on training pairs only.

    python benchmarks/defaults.py            # records benchmarks/results/defaults.jsonl

For each training set below, 5-fold cross-validation with folds grouped by prompt (every pair of
a prompt in one fold), repeated over a few random draws of the training pairs; the out-of-fold
accuracy of every candidate is the mean over draws, with ``prefspace.evaluate.seed_item_bootstrap``
resampling draws and, within each, its pairs (draws of 100 or 250 out of 1,312 pairs overlap, so
pooling them as independent pairs would overstate the evidence; with one draw only the pairs are
resampled). No test set reported anywhere in docs/benchmarks.md is touched:

* ``hh``: the 1,312 HH-RLHF harmless-base pairs *outside* the 1,000-pair test set of
  ``benchmarks/lens.py`` (``split_by_prompt(test_size=1000, random_state=0)``), all-MiniLM-L6-v2 in the
  separate layout; subsamples of 100 and 250 pairs (5 draws) and all 1,312.
* ``alpaca``: alpaca_bon pairs (two responses to one prompt, the higher gold first) from the 500
  training prompts of ``benchmarks/lens.py``; 250 and 1,000 pairs (3 draws).

Candidates: ``BradleyTerryLinear`` at alpha 30 ... 10,000, and the MLP heads at their defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

ALPHAS = (30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


def _candidates(with_mlp: bool):
    from prefspace.models import BradleyTerryLinear, BradleyTerryMLP, PreferenceClassifierMLP

    out = [(f"bt-linear alpha={a:g}", lambda a=a: BradleyTerryLinear(alpha=a)) for a in ALPHAS]
    if with_mlp:
        out += [("bt-mlp", lambda: BradleyTerryMLP(random_state=0)), ("clf-mlp", lambda: PreferenceClassifierMLP(random_state=0))]
    return out


def _cv_correct(X, groups, make, n_folds=5, seed=0) -> np.ndarray:
    rng = np.random.default_rng([seed, 0xCF])
    uniq, g = np.unique(groups, return_inverse=True)
    fold = rng.permutation(np.arange(len(uniq)) % n_folds)[g.ravel()]
    correct = np.zeros(len(X))
    for f in range(n_folds):
        tr, te = fold != f, fold == f
        model = make().fit(X[tr], groups=groups[tr])
        correct[te] = model.predict_proba(X[te]) > 0.5
    return correct


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lens-out", type=Path, default=REPO / "runs" / "lens", help="where benchmarks/lens.py keeps its arrays")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from prefspace.evaluate import seed_item_bootstrap
    from prefspace.models import prompt_groups

    sets = []
    hh = np.load(args.lens_out / "hh_arrays.npz")["train"]
    g_hh = prompt_groups(hh)
    for n, draws in ((100, 5), (250, 5), (len(hh), 1)):
        sets.append(("hh", n, [(hh[idx], g_hh[idx]) for idx in
                               (np.sort(np.random.default_rng([d, n]).choice(len(hh), n, replace=False)) for d in range(draws))]))
    al = np.load(args.lens_out / "alpaca_arrays.npz")
    F, gold, pidx = al["features"], al["gold"], al["prompt_index"]
    order = np.random.default_rng(0).permutation(int(pidx.max()) + 1)
    train_prompts = order[305:]
    rows_of = {p: np.flatnonzero(pidx == p) for p in train_prompts}
    for n, draws in ((250, 3), (1000, 3)):
        draws_out = []
        for d in range(draws):
            rng = np.random.default_rng([d, n, 13])
            pairs, groups = [], []
            while len(pairs) < n:
                p = train_prompts[rng.integers(len(train_prompts))]
                i, j = rng.choice(rows_of[p], 2, replace=False)
                if gold[i] != gold[j]:
                    pairs.append((i, j) if gold[i] > gold[j] else (j, i))
                    groups.append(p)
            draws_out.append((F[np.array(pairs)], np.array(groups)))
        sets.append(("alpaca", n, draws_out))

    rows = []
    with threadpool_limits(1):
        for name, n, draws in sets:
            with_mlp = n >= 250
            results = {}
            for label, make in _candidates(with_mlp):
                per_draw = [_cv_correct(X, g, make, seed=d) for d, (X, g) in enumerate(draws)]
                iv = seed_item_bootstrap(per_draw, shared_items=False)  # each draw is its own sample
                results[label] = (iv.estimate, iv.low, iv.high, sum(c.size for c in per_draw))
            best = max(results, key=lambda k: results[k][0])
            for label, (acc, lo, hi, m) in results.items():
                rows.append({"dataset": name, "n_pairs": n, "draws": len(draws), "candidate": label, "cv_accuracy": acc,
                             "lo": lo, "hi": hi, "scored": m, "best": "best" if label == best else ""})
                print(f"{name:7s} n={n:5d} {label:24s} {acc:.4f} [{lo:.4f}, {hi:.4f}]{'  <- best' if label == best else ''}", flush=True)
    if not args.no_record:
        from _results import new_run_id, record_rows

        record_rows("defaults", "defaults_cv", rows, run=new_run_id(), command="python benchmarks/defaults.py")


if __name__ == "__main__":
    main()
