"""Is the faster encoder backend as good as torch? Parity of ``onnx-int8`` on HH and alpaca_bon.

Command (from the repository root; results go to benchmarks/results/backend_parity.jsonl and
docs/benchmarks.md, "Default encoder backend: parity")::

    python benchmarks/backend_parity.py --data ../shared/data --hh-pairs 1000 \\
        --alpaca-prompts 40 --alpaca-responses 12 --seeds 10

The rule (issue 25): the default backend is the fastest one whose embeddings keep a mean
cosine of at least 0.999 to torch's and whose ``bt-linear`` test accuracy stays within the
paired interval of torch's on HH and on alpaca_bon, over ``--seeds`` grouped splits.

- **HH**: the first ``--hh-pairs`` pairs of harmless-base test, embedded by torch
  (sentence-transformers) and by ``onnx-int8`` (separate layout). Per seed: half the prompts
  train ``bt-linear``, the other half test it; the same split for both backends.
- **alpaca_bon**: ``--alpaca-prompts`` prompts drawn at random (seed 0) and ``--alpaca-responses``
  of each prompt's responses, every pair of them whose gold scores differ (the higher one
  chosen). The torch side is the shared precomputed float16 all-MiniLM-L6-v2 embeddings (each
  text embedded alone, 256 tokens); the benchmark checks on ``--check-texts`` of the texts that
  our torch backend gives the same vectors (cosine recorded). Per seed, half the prompts train.

Each row: mean and minimum cosine to torch (over every prompt and response vector), mean
accuracy of each backend, the paired difference (onnx-int8 - torch) with its t-interval over
seeds (clipped to [-1, 1]), the share of test pairs both models order alike, and the encoding
time of each backend in this run with the load average (a shared machine: compare ratios only).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, new_run_id, record_rows, seed_interval  # noqa: E402

NAME = "backend_parity"
COSINE_FLOOR = 0.999


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def _scores(X: np.ndarray, splits) -> tuple[np.ndarray, list[np.ndarray]]:
    from prefspace.models import BradleyTerryLinear

    accs, prefs = [], []
    for tr, te in splits:
        model = BradleyTerryLinear().fit(X[tr])
        r0, r1 = model.predict(X[te][:, 0]), model.predict(X[te][:, 1])
        accs.append(float(np.mean(r0 > r1)))
        prefs.append(r0 > r1)
    return np.array(accs), prefs


def _row(dataset, X_ref, X_new, vec_ref, vec_new, splits, seconds, extra) -> dict:
    cos = _cos(vec_new, vec_ref)
    acc_ref, pref_ref = _scores(X_ref, splits)
    acc_new, pref_new = _scores(X_new, splits)
    delta, lo, hi = seed_interval(acc_new - acc_ref, low=-1.0, high=1.0)
    agree = float(np.mean([np.mean(p == q) for p, q in zip(pref_new, pref_ref)]))
    holds = bool(cos.mean() >= COSINE_FLOOR and lo <= 0.0 <= hi)
    return {
        "dataset": dataset,
        "backend": "onnx-int8",
        "reference": "torch",
        "vectors": int(len(cos)),
        "cos_mean": float(cos.mean()),
        "cos_min": float(cos.min()),
        "seeds": len(splits),
        "train_pairs": int(np.mean([len(tr) for tr, _ in splits])),
        "test_pairs": int(np.mean([len(te) for _, te in splits])),
        "accuracy_torch": float(acc_ref.mean()),
        "accuracy_new": float(acc_new.mean()),
        "delta": delta,
        "delta_lo": lo,
        "delta_hi": hi,
        "same_preference": agree,
        "parity": holds,
        **seconds,
        **extra,
        "load": float(os.getloadavg()[0]),
    }


def _prompt_splits(groups: np.ndarray, seeds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    names = np.unique(groups)
    out = []
    for seed in range(seeds):
        test = np.random.default_rng([seed, 25]).permutation(names)[: len(names) // 2]
        is_test = np.isin(groups, test)
        out.append((np.flatnonzero(~is_test), np.flatnonzero(is_test)))
    return out


def hh(args) -> dict:
    from prefspace.data import load_preferences
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder
    from prefspace.models import prompt_groups

    ds = load_preferences(
        args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz", limit=args.hh_pairs
    )
    X, seconds = {}, {}
    for backend in ("sentence-transformers", "onnx-int8"):
        c0, t0 = _cpu(), time.perf_counter()
        pairs = embed_pairs(
            ds, get_encoder("all-MiniLM-L6-v2", backend=backend), EmbeddingCache(args.cache)
        )
        X[backend] = pairs.X
        key = "torch" if backend == "sentence-transformers" else "new"
        seconds[f"wall_s_{key}"], seconds[f"cpu_s_{key}"] = time.perf_counter() - t0, _cpu() - c0
        seconds[f"texts_embedded_{key}"] = (
            sum(pairs.stats.computed.values()) if pairs.stats else None
        )
        print(
            f"  HH: {len(ds)} pairs with {backend} in {seconds[f'wall_s_{key}']:.0f} s "
            f"(load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    ref, new = X["sentence-transformers"], X["onnx-int8"]
    dim = ref.shape[2] // 2

    def vectors(A):  # every prompt, chosen and rejected vector once
        return np.concatenate([A[:, 0, :dim], A[:, 0, dim:], A[:, 1, dim:]])

    splits = _prompt_splits(prompt_groups(ref), args.seeds)
    return _row(
        "hh_rlhf harmless-base test",
        ref,
        new,
        vectors(ref),
        vectors(new),
        splits,
        seconds,
        {"pairs": len(ds)},
    )


def alpaca(args) -> dict:
    from prefspace.embed import get_encoder

    root = args.data / "alpaca_bon"
    with gzip.open(root / "prompts.jsonl.gz", "rt", encoding="utf-8") as f:
        prompts = [json.loads(line) for line in f]
    with gzip.open(root / "responses.jsonl.gz", "rt", encoding="utf-8") as f:
        responses = [json.loads(line) for line in f]
    P = np.load(root / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(root / "response_emb_minilm.npy").astype(np.float32)
    rng = np.random.default_rng(0)
    chosen_prompts = np.sort(rng.choice(len(prompts), args.alpaca_prompts, replace=False))
    by_prompt: dict[int, list[int]] = {}
    for i, r in enumerate(responses):
        by_prompt.setdefault(int(r["prompt_id"]), []).append(i)
    rows = {
        int(p): np.sort(rng.choice(by_prompt[int(p)], args.alpaca_responses, replace=False))
        for p in chosen_prompts
    }
    resp_idx = np.concatenate(list(rows.values()))
    texts = [responses[i]["response"] for i in resp_idx]
    ptexts = [prompts[p]["prompt"] for p in chosen_prompts]

    seconds = {}
    enc = get_encoder("all-MiniLM-L6-v2", backend="onnx-int8", layout="separate")
    c0, t0 = _cpu(), time.perf_counter()
    R_new = enc.encode(texts)
    P_new = enc.encode(ptexts)
    seconds["wall_s_new"], seconds["cpu_s_new"] = time.perf_counter() - t0, _cpu() - c0
    print(
        f"  alpaca: {len(texts) + len(ptexts)} texts with onnx-int8 in {seconds['wall_s_new']:.0f} s "
        f"(load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    # Our torch backend against the precomputed vectors, on a few texts (they are the reference).
    check = get_encoder("all-MiniLM-L6-v2", backend="sentence-transformers").encode(
        texts[: args.check_texts]
    )
    check_cos = _cos(check, R[resp_idx[: args.check_texts]])

    new_of = {int(i): k for k, i in enumerate(resp_idx)}
    pnew_of = {int(p): k for k, p in enumerate(chosen_prompts)}
    X_ref, X_new, groups = [], [], []
    for p, idx in rows.items():
        gold = [responses[i]["gold"] for i in idx]
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                if gold[a] == gold[b]:
                    continue
                c, r = (idx[a], idx[b]) if gold[a] > gold[b] else (idx[b], idx[a])
                X_ref.append([np.concatenate([P[p], R[c]]), np.concatenate([P[p], R[r]])])
                pn = P_new[pnew_of[p]]
                X_new.append(
                    [
                        np.concatenate([pn, R_new[new_of[int(c)]]]),
                        np.concatenate([pn, R_new[new_of[int(r)]]]),
                    ]
                )
                groups.append(p)
    X_ref, X_new, groups = (
        np.array(X_ref, np.float32),
        np.array(X_new, np.float32),
        np.array(groups),
    )
    splits = _prompt_splits(groups, args.seeds)
    vec_ref = np.concatenate([P[chosen_prompts], R[resp_idx]])
    vec_new = np.concatenate([P_new, R_new])
    return _row(
        "alpaca_bon",
        X_ref,
        X_new,
        vec_ref,
        vec_new,
        splits,
        seconds,
        {
            "pairs": int(len(X_ref)),
            "prompts": int(len(chosen_prompts)),
            "responses_per_prompt": args.alpaca_responses,
            "torch_reference": "precomputed float16 (shared data)",
            "precomputed_vs_our_torch_cos_min": float(check_cos.min()),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--hh-pairs", type=int, default=1000)
    parser.add_argument("--alpaca-prompts", type=int, default=40)
    parser.add_argument("--alpaca-responses", type=int, default=12)
    parser.add_argument("--check-texts", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--cache", type=Path, default=None, help="embedding cache folder (default: a temporary one)"
    )
    args = parser.parse_args()
    run = new_run_id()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        args.cache = args.cache or Path(tmp)
        rows = [alpaca(args), hh(args)]
    for r in rows:
        print(
            f"  {r['dataset']:<28} cos {r['cos_mean']:.5f} (min {r['cos_min']:.4f})  acc torch "
            f"{r['accuracy_torch']:.4f} int8 {r['accuracy_new']:.4f}  delta {r['delta']:+.4f} "
            f"[{r['delta_lo']:+.4f}, {r['delta_hi']:+.4f}]  parity {r['parity']}",
            flush=True,
        )
    # a cache folder is this machine's: the command names it CACHE (the rows say what was cached)
    argv = [a if Path(a) != args.cache else "CACHE" for a in sys.argv]
    record_rows(NAME, "backend_parity", rows, run=run, command=command_line(argv))


if __name__ == "__main__":
    main()
