"""Embedding throughput: prefspace's sentence-transformers path versus SentenceTransformer.encode.

Command (from the repository root; figures go in docs/benchmarks.md, "Embedding throughput")::

    python benchmarks/embed_throughput.py --data ../shared/data [--limit 2312] [--repeats 1]

What is compared, in one process, on the same HH pairs (harmless-base test):

* **direct**: what a user writes by hand to build the same reward-model rows (separate layout,
  ``[prompt vector, response vector]`` for the chosen and the rejected response of every pair):
  ``model.encode(prompts)``, ``model.encode(chosen)``, ``model.encode(rejected)`` on the
  prompts rendered as plain text (rendering is done before the clock starts), then the rows
  are assembled.
* **prefspace**: ``embed_pairs(dataset, encoder)`` with no cache (pure computation), and with a
  fresh on-disk cache (computation plus writing every shard).

Fairness: both sides use the *same loaded model object* (same weights, threads and device),
the same batch size (``--batch-size``, default 64, given to both), and produce the same array
of shape (n_pairs, 2, 768); a warm-up batch runs first; with ``--repeats`` > 1 the methods run
in alternating order and the median is reported. sentence-transformers already sorts each
call's texts by length, so prefspace's length sorting gives it no edge; what prefspace does
differently is (a) embedding each distinct text once (HH has a few repeated prompts and
responses), (b) keeping the *end* of prompts longer than 256 tokens (an extra tokenizer pass
over long prompts, a cost), (c) hashing texts and, with a cache, writing safetensors shards (a
cost). ``ratio = direct seconds / prefspace seconds``: >= 1.0 means prefspace is not slower;
it is given for wall-clock time and for the process's CPU time (steadier on a shared machine).
The script also reports the largest difference between the two feature arrays on response
halves (identical inputs) and how many prompt halves differ (prompts over 256 tokens, where
prefspace keeps the end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def direct_features(model, prompt_texts, chosen, rejected, batch_size):
    kw = dict(batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    P = model.encode(prompt_texts, **kw)
    C = model.encode(chosen, **kw)
    R = model.encode(rejected, **kw)
    return np.stack([np.concatenate([P, C], 1), np.concatenate([P, R], 1)], axis=1).astype(
        np.float32
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument(
        "--limit", type=int, default=None, help="first N pairs only (default: all 2,312)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import torch

    from prefspace.data import load_preferences
    from prefspace.embed import embed_pairs, get_encoder

    path = Path(args.data) / "hh_rlhf" / "harmless-base-test.jsonl.gz"
    dataset = load_preferences(path, limit=args.limit)
    prompt_texts = dataset.prompt_texts()
    n = len(dataset)
    n_direct = 3 * n
    n_distinct = len(set(dataset.prompt_keys())) + len(set(dataset.chosen) | set(dataset.rejected))

    encoder = get_encoder(batch_size=args.batch_size).load()
    model = encoder.st
    model.encode(
        prompt_texts[: args.batch_size], batch_size=args.batch_size, show_progress_bar=False
    )  # warm-up

    def run_direct():
        return direct_features(
            model, prompt_texts, dataset.chosen, dataset.rejected, args.batch_size
        )

    def run_prefspace():
        return embed_pairs(dataset, encoder, batch_size=args.batch_size).X

    def run_prefspace_cache():
        with tempfile.TemporaryDirectory() as tmp:
            return embed_pairs(
                dataset, encoder, cache=Path(tmp) / "cache", batch_size=args.batch_size
            ).X

    methods = {
        "direct": run_direct,
        "prefspace": run_prefspace,
        "prefspace+cache": run_prefspace_cache,
    }
    times = {k: [] for k in methods}
    cpu = {k: [] for k in methods}
    results = {}
    for rep in range(args.repeats):
        order = list(methods) if rep % 2 == 0 else list(methods)[::-1]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = methods[name]()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)

    print(
        f"HH harmless-base test: {n:,} pairs; direct embeds {n_direct:,} texts, prefspace {n_distinct:,} distinct"
    )
    print(
        f"model all-MiniLM-L6-v2, batch size {args.batch_size}, torch threads {torch.get_num_threads()}, "
        f"repeats {args.repeats} (median)"
    )
    # wall-clock time is what a user waits; CPU time (all threads of this process) is steadier on
    # a machine shared with other jobs, which stretch wall-clock time unevenly between runs
    base, base_cpu = statistics.median(times["direct"]), statistics.median(cpu["direct"])
    for name in methods:
        t, c = statistics.median(times[name]), statistics.median(cpu[name])
        runs = ", ".join(f"{x:.1f}" for x in times[name])
        print(
            f"  {name:<16} wall {t:8.2f} s (runs: {runs})  {n_direct / t:7.1f} pair-texts/s  ratio {base / t:5.2f}"
            f"  |  cpu {c:8.2f} s  ratio {base_cpu / c:5.2f}"
        )
    X_direct, X_pref = results["direct"], results["prefspace"]
    dim = X_direct.shape[2] // 2
    resp_diff = float(np.abs(X_direct[:, :, dim:] - X_pref[:, :, dim:]).max())
    prompt_diff = np.abs(X_direct[:, 0, :dim] - X_pref[:, 0, :dim]).max(axis=1)
    print(
        f"  same features: response halves max |diff| {resp_diff:.2e}; prompt halves differing (> 1e-4): "
        f"{int((prompt_diff > 1e-4).sum())} of {n} (prompts over 256 tokens keep their end in prefspace)"
    )
    np.testing.assert_array_equal(results["prefspace"], results["prefspace+cache"])


if __name__ == "__main__":
    main()
