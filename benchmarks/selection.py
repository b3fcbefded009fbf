"""How often ``--head auto`` and ``--augment auto`` choose something other than the default
when nothing helps: the false-positive rate of the guard (issue: at most 1 run in 20).

Run (from the repository root)::

    python benchmarks/selection.py --runs 20 --pairs 500

On each shared set, ``--runs`` draws of ``--pairs`` training pairs (seed = run):

- HH (harmless-base test file, all-MiniLM-L6-v2, [prompt, response] rows, groups = prompts),
  pairs drawn from all 2,312 pairs;
- alpaca_bon (the shipped MiniLM response embeddings, two responses of a prompt, the higher
  gold score first; groups = prompts), pairs drawn from all 805 prompts.

On each draw it runs ``choose_head`` (the default grid) and ``choose_augmentation`` (the
default grid, head ``bt-linear``), and records whether each chose a non-default candidate under
the guard (Bonferroni over the candidates, prompt-clustered standard errors, a gain of at least
one point in every fold) and, as the control, under the rule it replaced (the best candidate
kept when it beats the reference, and for augmentation also the repeat control, by one
standard error), read off the same cross-validation. The LENS benchmark and the defaults
benchmark (docs/benchmarks.md) are the evidence that nothing on these grids beats the default
on these sets. Intervals: Wilson 95%. The load average is recorded beside the seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def hh_pairs(data: Path, cache: Path):
    from prefspace.data import load_preferences
    from prefspace.data.dataset import canonical_prompt
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder

    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"))
    X = embed_pairs(ds, get_encoder(), EmbeddingCache(cache)).X
    _, g = np.unique(
        np.array([canonical_prompt(p) for p in ds.prompts], dtype=object).astype(str),
        return_inverse=True,
    )
    return X, g.ravel()


def alpaca_pool(data: Path):
    E = np.load(data / "alpaca_bon" / "response_emb_minilm.npy").astype(np.float32)
    with gzip.open(data / "alpaca_bon" / "responses.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    prompt = np.array([r["prompt_id"] for r in rows])
    gold = np.array([r["gold"] for r in rows], dtype=np.float64)
    return E, prompt, gold


def alpaca_draw(E, prompt, gold, n: int, seed: int):
    """``n`` pairs: two responses of a prompt (prompts may repeat), the higher gold first."""
    rng = np.random.default_rng([seed, 0xA1])
    by_prompt = {p: np.flatnonzero(prompt == p) for p in np.unique(prompt)}
    keys = np.array(sorted(by_prompt))
    picks, groups = [], []
    for p in rng.choice(keys, size=n, replace=True):
        i, j = rng.choice(by_prompt[p], 2, replace=False)
        if gold[i] == gold[j]:
            continue
        picks.append((i, j) if gold[i] > gold[j] else (j, i))
        groups.append(p)
    _, g = np.unique(np.array(groups), return_inverse=True)
    return E[np.array(picks)], g.ravel()


def one_se_head(cands) -> bool:
    best = max(range(len(cands)), key=lambda j: (cands[j]["accuracy"], -cands[j]["log_loss"]))
    return best != 0 and cands[best]["gain"] > 0 and cands[best]["z"] >= 1.0


def one_se_augment(cands) -> bool:
    b = max(cands, key=lambda c: (c["gain"], c["logloss_gain"]))
    return b["gain"] > 0 and b["z"] >= 1.0 and b["gain_vs_repeat"] > 0 and b["z_vs_repeat"] >= 1.0


def run(args) -> None:
    from prefspace.models import BradleyTerryLinear, choose_head
    from prefspace.synth import choose_augmentation

    run_id = new_run_id()
    sets = {}
    if "hh" in args.datasets:
        sets["hh"] = hh_pairs(args.data, args.cache)
    if "alpaca_bon" in args.datasets:
        sets["alpaca_bon"] = alpaca_pool(args.data)
    raw = []
    for name, pool in sets.items():
        for r in range(args.runs):
            if name == "hh":
                X_all, g_all = pool
                idx = np.sort(
                    np.random.default_rng([r, 0x44]).choice(len(X_all), args.pairs, replace=False)
                )
                X, g = X_all[idx], g_all[idx]
            else:
                X, g = alpaca_draw(*pool, args.pairs, r)
            load = os.getloadavg()[0]
            row = {"dataset": name, "run": r, "n_pairs": len(X), "load": load}
            if "head" in args.choosers:
                t0 = time.perf_counter()
                head = choose_head(X, groups=g, random_state=r)
                cands = [asdict(c) for c in head.candidates]
                row.update(
                    head_pick=head.best_index != 0,
                    head_chose=head.best_label,
                    head_pick_one_se=one_se_head(cands),
                    head_candidates=len(cands),
                    head_best_gain=max(c["gain"] for c in cands[1:]),
                    head_seconds=time.perf_counter() - t0,
                )
            if "augment" in args.choosers:
                t0 = time.perf_counter()
                aug = choose_augmentation(
                    X, estimator=BradleyTerryLinear(), groups=g, random_state=r
                )
                cands = [asdict(c) for c in aug.candidates]
                row.update(
                    augment_pick=aug.chosen is not None,
                    augment_chose=None if aug.chosen is None else aug.chosen[0],
                    augment_pick_one_se=one_se_augment(cands),
                    augment_candidates=len(cands),
                    augment_best_gain=max(c["gain"] for c in cands),
                    augment_seconds=time.perf_counter() - t0,
                )
            raw.append(row)
            print(json.dumps(row), flush=True)
            raw_name = f"selection_runs_{name}" + (
                "" if set(args.choosers) == {"head", "augment"} else f"_{'_'.join(args.choosers)}"
            )
            record_rows(
                raw_name,
                "selection_runs",
                [{"draw": row.pop("run"), **row}],
                run=run_id,
                command=_command(args),
            )


def summarize(args) -> None:
    """The table from the draws of the latest run of each dataset and chooser
    (selection_runs_<set>*.jsonl)."""
    from prefspace.evaluate import wilson_interval

    rows, commands = [], []
    for name in ("hh", "alpaca_bon"):
        mine = [
            json.loads(line)
            for path in sorted(
                (Path(__file__).resolve().parent / "results").glob(f"selection_runs_{name}*.jsonl")
            )
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for chooser in ("head", "augment"):
            key = f"{chooser}_pick"
            have = [x for x in mine if key in x]
            if not have:
                continue
            latest = max(x["run"] for x in have)
            rs = [x for x in have if x["run"] == latest]
            if rs[0]["command"] not in commands:
                commands.append(rs[0]["command"])
            for rule, field in (
                ("guard", key),
                ("one standard error (before)", f"{chooser}_pick_one_se"),
            ):
                k = sum(bool(x[field]) for x in rs)
                lo, hi = wilson_interval(k, len(rs))
                rows.append(
                    {
                        "dataset": name,
                        "chooser": "--head auto" if chooser == "head" else "--augment auto",
                        "rule": rule,
                        "candidates": rs[0].get(f"{chooser}_candidates"),
                        "n_pairs": int(np.median([x["n_pairs"] for x in rs])),
                        "runs": len(rs),
                        "picked": k,
                        "rate": k / len(rs),
                        "lo": lo,
                        "hi": hi,
                        "seconds": float(np.median([x[f"{chooser}_seconds"] for x in rs])),
                        "load": float(np.mean([x["load"] for x in rs])),
                    }
                )
    record_rows(
        "selection",
        "selection_false_positives",
        rows,
        run=new_run_id(),
        command="; ".join(commands + ["python benchmarks/selection.py --summarize"]),
    )


def _command(args) -> str:
    return (
        f"python benchmarks/selection.py --runs {args.runs} --pairs {args.pairs} --datasets {','.join(args.datasets)} "
        f"--choosers {','.join(args.choosers)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument(
        "--cache", type=Path, default=REPO / ".cache" / "hh-minilm", help="embedding cache for HH"
    )
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--datasets", type=lambda s: s.split(","), default=["hh", "alpaca_bon"])
    ap.add_argument("--choosers", type=lambda s: s.split(","), default=["head", "augment"])
    ap.add_argument(
        "--summarize", action="store_true", help="only write the table from the recorded draws"
    )
    args = ap.parse_args()
    summarize(args) if args.summarize else run(args)


if __name__ == "__main__":
    main()
