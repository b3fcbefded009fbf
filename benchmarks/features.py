"""Text features beside the embedding (issue 20): do they beat the learned length baseline?

Run from the repository root (records ``benchmarks/results/features.jsonl`` for docs/benchmarks.md,
tables ``features_alpaca`` and ``features_hh``)::

    python benchmarks/features.py --only alpaca
    python benchmarks/features.py --only hh --hh-cache .cache/hh-minilm

Data and splits, per seed (10 seeds):

* ``hh``: HH-RLHF harmless-base (2,312 pairs), all-MiniLM-L6-v2 in the separate layout with the
  text-feature block (776 columns); ``split_by_prompt(test_size=1012, random_state=seed)``; training pairs
  are the first n of a seeded permutation of the other 1,300.
* ``alpaca``: alpaca_bon (805 prompts x 60 responses, the precomputed MiniLM vectors) with the
  text-feature block measured by the MiniLM tokenizer; 20% of prompts held out per seed
  (``split_by_prompt(test_fraction=0.2)``); n training pairs of two responses to one training
  prompt (the higher gold wins, ``pairs_from_scores``) and 5,000 test pairs from held-out prompts.

Rows (all ``BradleyTerryLinear``, fitted on the same training pairs, scored on the same test pairs):

* ``length``: the learned length baseline, a Bradley-Terry fit on the log-length
  (``log1p`` characters) difference alone (sign and scale learned; penalty 1e-3);
* ``bt-linear``: today's default, the embedding alone at ``alpha=1000``;
* ``embedding-cv``: the embedding alone, penalty by leave-one-prompt-out CV (``blocks="embedding"``);
* ``text``: the text-feature block alone, penalty by CV (``blocks="text"``);
* ``default``: both blocks with their own penalties chosen by CV (the new default head).

Each cell reports the test accuracy (ties wrong) as the mean over seeds with a 95% t-interval
inside [0, 1], and paired differences (by seed) against ``length`` and ``bt-linear`` with 95%
t-intervals inside [-1, 1]. The intervals are unadjusted for the number of comparisons.
Also recorded: the seconds each fit took (one thread), with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import new_run_id, record_rows, seed_interval  # noqa: E402

ROWS = ("length", "bt-linear", "embedding-cv", "text", "default")


def _heads(k: int):
    from prefspace.models import BradleyTerryLinear

    return {
        "bt-linear": lambda: BradleyTerryLinear(
            alpha=1000.0, blocks="embedding", n_text_features=k
        ),
        "embedding-cv": lambda: BradleyTerryLinear(blocks="embedding", n_text_features=k),
        "text": lambda: BradleyTerryLinear(blocks="text", n_text_features=k),
        "default": lambda: BradleyTerryLinear(n_text_features=k),
    }


def hh_data(data: Path, cache: Path):
    from prefspace.data import load_preferences
    from prefspace.embed import embed_pairs, get_encoder

    dataset = load_preferences(data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    enc = get_encoder(text_features=True)
    return dataset, embed_pairs(dataset, enc, cache).X, enc.n_text_features


def hh_splits(data: Path, cache: Path, sizes, seeds):
    from prefspace.data import split_by_prompt

    dataset, X, k = hh_data(data, cache)
    index = {pid: i for i, pid in enumerate(dataset.ids)}
    for seed in seeds:
        train, test = split_by_prompt(dataset, test_size=1012, random_state=seed)
        tr = np.array([index[i] for i in train.ids])
        te = np.array([index[i] for i in test.ids])
        order = np.random.default_rng([seed, 20]).permutation(tr)
        cand = X[te].reshape(-1, X.shape[2])  # the test pairs' responses, two per prompt
        for n in sizes:
            yield n, seed, X[np.sort(order[:n])], X[te], k, cand, np.repeat(np.arange(len(te)), 2)


def alpaca_data(data: Path, cache: Path):
    from prefspace.data import load_scored_responses
    from prefspace.embed import embed_text_features, get_encoder
    from prefspace.models import with_prompt_features

    folder = data / "alpaca_bon"
    scored = load_scored_responses(
        folder / "responses.jsonl.gz", prompts=folder / "prompts.jsonl.gz", score_key="gold"
    )
    P = np.load(folder / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(folder / "response_emb_minilm.npy").astype(np.float32)
    enc = get_encoder(text_features=True)  # the tokenizer and limit the vectors were made with
    T = embed_text_features(list(scored.responses), enc, cache)
    # prompt_ids are the JSONL's prompt_id values, which are the rows of prompt_emb_minilm.npy
    F = with_prompt_features(
        np.concatenate([R, T], axis=1),
        P[np.array([int(scored.prompt_ids[i]) for i in scored.prompt_index])],
    )
    return scored, F, T.shape[1]


def alpaca_splits(data: Path, cache: Path, sizes, seeds, n_test: int):
    from prefspace.data import split_by_prompt
    from prefspace.evaluate import pairs_from_scores

    scored, F, k = alpaca_data(data, cache)
    for seed in seeds:
        train_ids = set(split_by_prompt(scored, test_fraction=0.2, random_state=seed)[0].prompt_ids)
        in_train = np.array([scored.prompt_ids[i] in train_ids for i in scored.prompt_index])
        te = pairs_from_scores(
            scored, n_test, rows=np.flatnonzero(~in_train), random_state=seed + 10_000
        ).pair_features(F)
        held_out = np.flatnonzero(~in_train)  # every candidate response of the held-out prompts
        for n in sizes:
            tr = pairs_from_scores(
                scored,
                n,
                rows=np.flatnonzero(in_train),
                random_state=np.random.default_rng([seed, n]),
            ).pair_features(F)
            yield n, seed, tr, te, k, F[held_out], np.asarray(scored.prompt_index)[held_out]


def length_baseline(X_train, X_test, k) -> float:
    """Accuracy of the learned length baseline: Bradley-Terry on the log-length column alone."""
    from prefspace.models import BradleyTerryLinear

    col = X_train.shape[2] - k  # log_chars, the block's first column
    model = BradleyTerryLinear(alpha=1e-3).fit(X_train[:, :, col : col + 1])
    return model.score(X_test[:, :, col : col + 1])


def run(name: str, splits, results: dict) -> None:
    from prefspace.evaluate import within_group_corr

    for n, seed, X_train, X_test, k, cand, groups in splits:
        line = [f"{name} n={n} seed {seed}:"]
        t0 = time.perf_counter()
        acc = {"length": length_baseline(X_train, X_test, k)}
        sec = {"length": time.perf_counter() - t0}
        for row, make in _heads(k).items():
            t0 = time.perf_counter()
            model = make().fit(X_train)
            sec[row] = time.perf_counter() - t0
            acc[row] = model.score(X_test)
            if row == "default":
                results.setdefault((name, n, "chosen"), []).append(
                    (model.alpha_, model.text_alpha_)
                )
                # the length-controlled reward (without the text-feature block): accuracy and the
                # within-prompt correlation of reward with log length on every test candidate
                rc = model.predict(X_test[:, 0], length_controlled=True)
                rr = model.predict(X_test[:, 1], length_controlled=True)
                length = cand[:, cand.shape[1] - k]
                results.setdefault((name, n, "controlled"), []).append(
                    (
                        float(np.mean(rc > rr)),
                        within_group_corr(model.predict(cand), length, groups),
                        within_group_corr(
                            model.predict(cand, length_controlled=True), length, groups
                        ),
                    )
                )
        for row in ROWS:
            results.setdefault((name, n, row), []).append(acc[row])
            results.setdefault((name, n, row, "seconds"), []).append(sec[row])
            line.append(f"{row} {acc[row]:.4f}")
        print("  ".join(line), flush=True)


def summarise(results: dict, datasets, sizes_of) -> list[dict]:
    rows = []
    for name in datasets:
        for n in sizes_of[name]:
            if (name, n, "default") not in results:
                continue
            base = {r: np.asarray(results[(name, n, r)]) for r in ROWS}
            chosen = results[(name, n, "chosen")]
            for r in ROWS:
                mean, lo, hi = seed_interval(base[r])
                d_len = seed_interval(base[r] - base["length"], -1.0, 1.0)
                d_bt = seed_interval(base[r] - base["bt-linear"], -1.0, 1.0)
                row = {
                    "dataset": name,
                    "n_pairs": n,
                    "row": r,
                    "seeds": len(base[r]),
                    "accuracy": mean,
                    "lo": lo,
                    "hi": hi,
                    "vs_length": d_len[0],
                    "vs_length_lo": d_len[1],
                    "vs_length_hi": d_len[2],
                    "vs_bt_linear": d_bt[0],
                    "vs_bt_linear_lo": d_bt[1],
                    "vs_bt_linear_hi": d_bt[2],
                    "seconds": float(np.mean(results[(name, n, r, "seconds")])),
                }
                if r == "default":
                    row["text_left_out"] = sum(1 for _, t in chosen if not np.isfinite(t))
                    row["embedding_left_out"] = sum(1 for a, _ in chosen if not np.isfinite(a))
                    ctrl = np.array(results[(name, n, "controlled")])
                    lc = seed_interval(ctrl[:, 0])
                    d_lc = seed_interval(ctrl[:, 0] - base["default"], -1.0, 1.0)
                    rows.append(
                        {
                            "dataset": name,
                            "n_pairs": n,
                            "row": "default",
                            "part": "control",
                            "seeds": len(ctrl),
                            "accuracy": mean,
                            "controlled_accuracy": lc[0],
                            "controlled_lo": lc[1],
                            "controlled_hi": lc[2],
                            "cost": d_lc[0],
                            "cost_lo": d_lc[1],
                            "cost_hi": d_lc[2],
                            "length_corr": float(ctrl[:, 1].mean()),
                            "controlled_length_corr": float(ctrl[:, 2].mean()),
                            "controlled_length_corr_max_abs": float(np.abs(ctrl[:, 2]).max()),
                        }
                    )
                    print(
                        f"{'':20s} length-controlled {lc[0]:.4f} [{lc[1]:.4f}, {lc[2]:.4f}]; within-prompt "
                        f"reward-length corr {ctrl[:, 1].mean():+.3f} -> {ctrl[:, 2].mean():+.3f}"
                    )
                rows.append(row)
                print(
                    f"{name:6s} n={n:5d} {r:13s} {mean:.4f} [{lo:.4f}, {hi:.4f}]  vs length {d_len[0]:+.4f} "
                    f"[{d_len[1]:+.4f}, {d_len[2]:+.4f}]  vs bt-linear {d_bt[0]:+.4f} [{d_bt[1]:+.4f}, {d_bt[2]:+.4f}]"
                )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--hh-cache",
        type=Path,
        default=Path(".cache/hh-minilm"),
        help="embedding cache for the HH texts (embeds what it lacks)",
    )
    parser.add_argument(
        "--alpaca-cache",
        type=Path,
        default=Path(".cache/alpaca-features"),
        help="cache for alpaca_bon's text-feature blocks",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--hh-sizes", default="100,250,500,1000,1300")
    parser.add_argument("--alpaca-sizes", default="100,250,1000")
    parser.add_argument("--alpaca-test", type=int, default=5000)
    parser.add_argument("--only", choices=["hh", "alpaca"], default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    seeds = range(args.seeds)
    sizes_of = {
        "hh": [int(s) for s in args.hh_sizes.split(",")],
        "alpaca": [int(s) for s in args.alpaca_sizes.split(",")],
    }
    results: dict = {}
    start = time.perf_counter()
    with threadpool_limits(1):
        if args.only in (None, "alpaca"):
            run(
                "alpaca",
                alpaca_splits(
                    args.data, args.alpaca_cache, sizes_of["alpaca"], seeds, args.alpaca_test
                ),
                results,
            )
        if args.only in (None, "hh"):
            run("hh", hh_splits(args.data, args.hh_cache, sizes_of["hh"], seeds), results)
    datasets = [d for d in ("alpaca", "hh") if any(key[0] == d for key in results)]
    rows = summarise(results, datasets, sizes_of)
    load = os.getloadavg()[0]
    for row in rows:
        row["load_average"] = round(load, 2)
    print(f"{time.perf_counter() - start:.0f} s; load average {load:.2f}")
    if not args.no_record:
        run_id = new_run_id()
        for name in datasets:  # one table per data set (each keeps its latest run)
            sizes = ",".join(map(str, sizes_of[name]))
            command = f"python benchmarks/features.py --only {name} --seeds {args.seeds} --{name}-sizes {sizes}"
            mine = [r for r in rows if r["dataset"] == name]
            record_rows(
                "features",
                f"features_{name}",
                [r for r in mine if "part" not in r],
                run=run_id,
                command=command,
            )
            record_rows(
                "features",
                f"features_{name}_control",
                [r for r in mine if "part" in r],
                run=run_id,
                command=command,
            )


if __name__ == "__main__":
    main()
