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

``--part mlp`` tunes the MLP heads' defaults on the same data (all 1,312 HH pairs and 1,000
alpaca_bon pairs, one draw each): 3-fold cross-validation by prompt through the library's
splitter (``prefspace.models.selection.fold_ids``) over hidden sizes, weight decay, dropout and
learning rate, one change from the defaults at a time, for ``bt-mlp`` and ``clf-mlp``.
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
        out += [
            ("bt-mlp", lambda: BradleyTerryMLP(random_state=0)),
            ("clf-mlp", lambda: PreferenceClassifierMLP(random_state=0)),
        ]
    return out


MLP_GRID = (
    ("defaults", {}),
    ("hidden (64,)", {"hidden_sizes": (64,)}),
    ("hidden (256, 64)", {"hidden_sizes": (256, 64)}),
    ("weight decay 0.1", {"weight_decay": 0.1}),
    ("dropout 0.3", {"dropout": 0.3}),
    ("learning rate 3e-4", {"learning_rate": 3e-4}),
)


def _mlp_part(sets) -> list[dict]:
    """Out-of-fold accuracy of each MLP variant (3 folds by prompt, the library's splitter)."""
    from prefspace.evaluate import wilson_interval
    from prefspace.models import BradleyTerryMLP, PreferenceClassifierMLP
    from prefspace.models.selection import fold_ids

    rows = []
    for name, _n, draws in sets:
        X, g = draws[0]
        folds = fold_ids(len(X), 3, g, random_state=0)
        for head, cls in (("bt-mlp", BradleyTerryMLP), ("clf-mlp", PreferenceClassifierMLP)):
            results = {}
            for label, params in MLP_GRID:
                correct = np.zeros(len(X))
                for f in range(3):
                    tr, te = folds != f, folds == f
                    model = cls(random_state=0, **params).fit(X[tr], groups=g[tr])
                    correct[te] = model.predict_proba(X[te]) > 0.5
                lo, hi = wilson_interval(int(correct.sum()), correct.size)
                results[label] = (float(correct.mean()), lo, hi)
                print(
                    f"{name:7s} n={len(X):5d} {head} {label:20s} {correct.mean():.4f} [{lo:.4f}, {hi:.4f}]",
                    flush=True,
                )
            best = max(results, key=lambda k: results[k][0])
            for label, (acc, lo, hi) in results.items():
                rows.append(
                    {
                        "dataset": name,
                        "n_pairs": len(X),
                        "head": head,
                        "variant": label,
                        "cv_accuracy": acc,
                        "lo": lo,
                        "hi": hi,
                        "vs_defaults": acc - results["defaults"][0],
                        "best": "best" if label == best else "",
                    }
                )
    return rows


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
    ap.add_argument(
        "--lens-out",
        type=Path,
        default=REPO / "runs" / "lens",
        help="where benchmarks/lens.py keeps its arrays",
    )
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument(
        "--part", choices=("all", "mlp"), default="all", help="mlp: only the MLP heads' defaults"
    )
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from prefspace.evaluate import seed_item_bootstrap
    from prefspace.models import prompt_groups

    sets = []
    hh = np.load(args.lens_out / "hh_arrays.npz")["train"]
    g_hh = prompt_groups(hh)
    for n, draws in ((100, 5), (250, 5), (len(hh), 1)):
        sets.append(
            (
                "hh",
                n,
                [
                    (hh[idx], g_hh[idx])
                    for idx in (
                        np.sort(np.random.default_rng([d, n]).choice(len(hh), n, replace=False))
                        for d in range(draws)
                    )
                ],
            )
        )
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

    if args.part == "mlp":
        import os

        load = os.getloadavg()[0]
        with threadpool_limits(1):
            rows = _mlp_part(
                [s for s in sets if (s[0], s[1]) in (("hh", len(hh)), ("alpaca", 1000))]
            )
        if not args.no_record:
            from _results import new_run_id, record_rows

            for r in rows:
                r["load"] = load
            record_rows(
                "defaults_mlp",
                "defaults_mlp",
                rows,
                run=new_run_id(),
                command="python benchmarks/defaults.py --part mlp",
            )
        return
    rows = []
    with threadpool_limits(1):
        for name, n, draws in sets:
            with_mlp = n >= 250
            results = {}
            for label, make in _candidates(with_mlp):
                per_draw = [_cv_correct(X, g, make, seed=d) for d, (X, g) in enumerate(draws)]
                iv = seed_item_bootstrap(
                    per_draw, shared_items=False
                )  # each draw is its own sample
                results[label] = (iv.estimate, iv.low, iv.high, sum(c.size for c in per_draw))
            best = max(results, key=lambda k: results[k][0])
            for label, (acc, lo, hi, m) in results.items():
                rows.append(
                    {
                        "dataset": name,
                        "n_pairs": n,
                        "draws": len(draws),
                        "candidate": label,
                        "cv_accuracy": acc,
                        "lo": lo,
                        "hi": hi,
                        "scored": m,
                        "best": "best" if label == best else "",
                    }
                )
                print(
                    f"{name:7s} n={n:5d} {label:24s} {acc:.4f} [{lo:.4f}, {hi:.4f}]{'  <- best' if label == best else ''}",
                    flush=True,
                )
    if not args.no_record:
        from _results import new_run_id, record_rows

        record_rows(
            "defaults",
            "defaults_cv",
            rows,
            run=new_run_id(),
            command="python benchmarks/defaults.py",
        )


if __name__ == "__main__":
    main()
