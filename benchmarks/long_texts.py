"""Long responses on alpaca_bon: truncation against the mean of windows (issue 20, item 3).

Run from the repository root (records ``benchmarks/results/long_texts.jsonl``)::

    python benchmarks/long_texts.py --cache .cache/alpaca-windows

all-MiniLM-L6-v2 reads 254 word pieces of a response (256 less [CLS] and [SEP]); alpaca_bon's
answers are often longer. This run embeds a subset of alpaca_bon (``--prompts`` prompts, the first
by id, ``--responses`` responses each, drawn with a fixed seed) both ways:

* ``truncate``: the model's own truncation (the response's first 254 tokens; the default);
* ``windows``: ``get_encoder(long_texts="windows")``, the mean of the embeddings of consecutive
  254-token windows (at most 8), re-normalised to unit length.

Both are computed in one pass: every window is embedded once (``prefspace.embed.embed_texts``,
cached) and a truncated response's embedding is its first window's (the same tokens).

It reports how many responses the encoder truncates and the share of their tokens it does not see,
then, per seed (10), splits the prompts 75/25, draws ``--train`` training pairs of two responses to
one training prompt (the higher gold wins) and scores every within-prompt pair of the held-out
prompts, for ``bt-linear`` (embedding only, alpha 1000) and the default head (embedding plus text
features, penalties by CV) on both embeddings. Paired differences windows minus truncate with 95%
t-intervals inside [-1, 1] (unadjusted).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import new_run_id, record_rows, seed_interval  # noqa: E402


def load_subset(data: Path, n_prompts: int, per_prompt: int):
    folder = data / "alpaca_bon"
    by_prompt: dict[int, list] = {}
    with gzip.open(folder / "responses.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["prompt_id"] < n_prompts:
                by_prompt.setdefault(r["prompt_id"], []).append((r["response"], r["gold"]))
    with gzip.open(folder / "prompts.jsonl.gz", "rt", encoding="utf-8") as f:
        prompts = {
            r["prompt_id"]: r["prompt"] for r in map(json.loads, f) if r["prompt_id"] < n_prompts
        }
    rng = np.random.default_rng(7)
    texts, gold, pid = [], [], []
    for p in sorted(by_prompt):
        rows = by_prompt[p]
        for k in np.sort(rng.choice(len(rows), min(per_prompt, len(rows)), replace=False)):
            texts.append(rows[k][0])
            gold.append(rows[k][1])
            pid.append(p)
    return texts, np.array(gold), np.array(pid), [prompts[p] for p in pid]


def embed_both(texts, prompts, cache):
    """Rows ``[prompt | response | text block]`` for truncate and windows, and the truncation stats."""
    from prefspace.embed import embed_text_features, embed_texts, get_encoder

    plain = get_encoder(text_features=True)
    windowed = get_encoder(long_texts="windows", text_features=True)
    pieces = windowed.windows(list(texts))
    flat = [p for ps in pieces for p in ps]
    t0 = time.perf_counter()
    V = embed_texts(flat, plain, cache)
    seconds = time.perf_counter() - t0
    first = np.cumsum([0] + [len(ps) for ps in pieces[:-1]])
    R_trunc = V[first]
    R_win = np.stack([V[s : s + len(ps)].mean(axis=0) for s, ps in zip(first, pieces)])
    R_win /= np.linalg.norm(R_win, axis=1, keepdims=True)
    P = embed_texts(list(prompts), plain, cache)  # prompts as plain texts (all fit the window here)
    T_trunc = embed_text_features(list(texts), plain, cache)
    T_win = embed_text_features(list(texts), windowed, cache)
    tokens = plain.count_tokens(list(texts))
    limit = plain.token_limit
    over = tokens > limit
    stats = {
        "responses": len(texts),
        "truncated": int(over.sum()),
        "unseen_fraction_mean": float((1 - limit / tokens[over]).mean()) if over.any() else 0.0,
        "unseen_tokens_share": float(np.maximum(tokens - limit, 0).sum() / tokens.sum()),
        "windows": len(flat),
        "windows_truncated": int((tokens > windowed.token_limit).sum()),
        "embed_seconds": seconds,
    }
    return (
        np.concatenate([P, R_trunc, T_trunc], axis=1),
        np.concatenate([P, R_win, T_win], axis=1),
        stats,
        plain.n_text_features,
    )


def pairs(gold, pid, prompts_in, n, rng):
    out = []
    while len(out) < n:
        p = prompts_in[rng.integers(len(prompts_in))]
        i, j = rng.choice(np.flatnonzero(pid == p), 2, replace=False)
        if gold[i] != gold[j]:
            out.append((i, j) if gold[i] > gold[j] else (j, i))
    return np.array(out)


def all_pairs(gold, pid, prompts_in):
    out = []
    for p in prompts_in:
        rows = np.flatnonzero(pid == p)
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                i, j = rows[a], rows[b]
                if gold[i] != gold[j]:
                    out.append((i, j) if gold[i] > gold[j] else (j, i))
    return np.array(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/alpaca-windows"))
    parser.add_argument("--prompts", type=int, default=120)
    parser.add_argument("--responses", type=int, default=16)
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from prefspace.models import BradleyTerryLinear

    texts, gold, pid, prompts = load_subset(args.data, args.prompts, args.responses)
    F_trunc, F_win, stats, k = embed_both(texts, prompts, args.cache)
    print(json.dumps(stats), flush=True)
    heads = {
        "bt-linear": lambda: BradleyTerryLinear(
            alpha=1000.0, blocks="embedding", n_text_features=k
        ),
        "default": lambda: BradleyTerryLinear(n_text_features=k),
    }
    acc: dict = {}
    uniq = np.unique(pid)
    with threadpool_limits(1):
        for seed in range(args.seeds):
            rng = np.random.default_rng([seed, 33])
            order = rng.permutation(uniq)
            cut = int(round(0.75 * len(order)))
            tr, te = (
                pairs(gold, pid, order[:cut], args.train, rng),
                all_pairs(gold, pid, order[cut:]),
            )
            for emb, F in (("truncate", F_trunc), ("windows", F_win)):
                for name, make in heads.items():
                    acc.setdefault((name, emb), []).append(make().fit(F[tr]).score(F[te]))
            print(
                f"seed {seed}: " + "  ".join(f"{h}/{e} {v[-1]:.4f}" for (h, e), v in acc.items()),
                flush=True,
            )
    rows = []
    load = round(os.getloadavg()[0], 2)
    for name in heads:
        for emb in ("truncate", "windows"):
            mean, lo, hi = seed_interval(acc[(name, emb)])
            d = seed_interval(
                np.array(acc[(name, "windows")]) - np.array(acc[(name, "truncate")]), -1.0, 1.0
            )
            rows.append(
                {
                    "head": name,
                    "embedding": emb,
                    "seeds": args.seeds,
                    "accuracy": mean,
                    "lo": lo,
                    "hi": hi,
                    "windows_minus_truncate": d[0],
                    "diff_lo": d[1],
                    "diff_hi": d[2],
                    "prompts": args.prompts,
                    "responses_per_prompt": args.responses,
                    "train_pairs": args.train,
                    "load_average": load,
                    **stats,
                }
            )
            print(
                f"{name:10s} {emb:9s} {mean:.4f} [{lo:.4f}, {hi:.4f}]  windows-truncate {d[0]:+.4f} [{d[1]:+.4f}, {d[2]:+.4f}]"
            )
    if not args.no_record:
        record_rows(
            "long_texts",
            "long_texts",
            rows,
            run=new_run_id(),
            command=f"python benchmarks/long_texts.py --prompts {args.prompts} --responses {args.responses}",
        )


if __name__ == "__main__":
    main()
