"""Embedding on this process versus on Ray: texts per second, local backend vs Ray backend.

Command (from the repository root; figures go in docs/benchmarks.md and docs/scaling.md)::

    python benchmarks/embed_scaling.py --data ../shared/data --limit 150 --num-workers 2

What is measured, in one process, on the first ``--limit`` HH pairs (harmless-base test) with
the bundled all-MiniLM-L6-v2 (separate layout: every distinct prompt and response once):

* **local**: ``plan_pairs`` + ``compute_plan`` into a fresh cache, the model loaded in this
  process (torch uses every core). Reported twice: the embedding alone (model already loaded),
  and end to end (model load included).
* **ray**: a local Ray with ``--num-workers`` CPUs is started first (its start-up time is
  reported on its own); then ``compute_plan_ray`` into another fresh cache with ``--num-workers``
  actors of 1 CPU each (Ray gives each actor one torch thread). Its time is end to end: actor
  start, model load on every actor, embedding, and the driver writing the shards.

Both write the same texts in whole shards of ``--shard-size``; the script checks the two caches
hold the same texts and reports the largest difference between their vectors. Last, it times
the driver's own share of a Ray run, writing shards of ``--driver-dim``-d vectors (random, 4
shards of 4 x ``--shard-size`` texts): the most texts per second one driver can take in, however
many GPUs feed it. On one machine
Ray cannot be faster than the local backend (same cores, plus actor start-up and the transfer
of vectors to the driver); what it buys is more machines and GPUs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="the shared data folder")
    parser.add_argument("--limit", type=int, default=150, help="first N HH pairs")
    parser.add_argument(
        "--num-workers", type=int, default=2, help="Ray actors (and CPUs of the local Ray)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument(
        "--driver-dim", type=int, default=4096, help="vector size for the driver write test"
    )
    args = parser.parse_args()

    from prefspace.data import load_preferences
    from prefspace.embed import EmbeddingCache, get_encoder
    from prefspace.embed.ray_backend import compute_plan_ray, connect_ray
    from prefspace.embed.shards import compute_plan, plan_pairs

    ds = load_preferences(
        Path(args.data) / "hh_rlhf" / "harmless-base-test.jsonl.gz", limit=args.limit
    )
    tmp = Path(tempfile.mkdtemp(prefix="embed-scaling-"))
    print(
        f"{len(ds)} HH pairs; {os.cpu_count()} CPUs; batch {args.batch_size}; shard {args.shard_size}"
    )

    # -- local -------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    enc = get_encoder().load()
    load_s = time.perf_counter() - t0
    local = EmbeddingCache(tmp / "local")
    plans = plan_pairs(ds, enc, local)
    n = sum(len(p) for p in plans)
    stats = compute_plan(plans, enc, local, batch_size=args.batch_size, shard_size=args.shard_size)
    print(f"texts to embed: {n:,} ({', '.join(f'{k} {v}' for k, v in stats.computed.items())})")
    print(f"local   embedding only : {stats.seconds:7.1f} s  {n / stats.seconds:7.1f} texts/s")
    print(
        f"local   with model load: {stats.seconds + load_s:7.1f} s  {n / (stats.seconds + load_s):7.1f} texts/s"
    )

    # -- ray -----------------------------------------------------------------------------------------
    import ray

    t0 = time.perf_counter()
    connect_ray(None, num_cpus=args.num_workers)
    print(
        f"ray     start-up       : {time.perf_counter() - t0:7.1f} s (local Ray, {args.num_workers} CPUs)"
    )
    remote = EmbeddingCache(tmp / "ray")
    t0 = time.perf_counter()
    compute_plan_ray(
        plan_pairs(ds, enc, remote),
        enc,
        remote,
        num_workers=args.num_workers,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
    )
    ray_s = time.perf_counter() - t0
    print(
        f"ray     end to end     : {ray_s:7.1f} s  {n / ray_s:7.1f} texts/s ({args.num_workers} actors x 1 CPU)"
    )
    ray.shutdown()
    run = new_run_id()
    rows = [
        {
            "backend": "local (this process)",
            "texts": n,
            "seconds": stats.seconds,
            "texts_per_s": n / stats.seconds,
            "note": "embedding only",
        },
        {
            "backend": "local, with model load",
            "texts": n,
            "seconds": stats.seconds + load_s,
            "texts_per_s": n / (stats.seconds + load_s),
            "note": "",
        },
        {
            "backend": f"Ray, {args.num_workers} actors x 1 CPU",
            "texts": n,
            "seconds": ray_s,
            "texts_per_s": n / ray_s,
            "note": "end to end, local Ray start excluded",
        },
    ]

    # -- the two caches agree ---------------------------------------------------------------------------
    worst = 0.0
    for p in plans:
        a, b = local.get(p.namespace, p.keys), remote.get(p.namespace, p.keys)
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"same texts in both caches; largest vector difference {worst:.2e}")

    # -- how fast the driver alone can write shards (the ceiling of the Ray backend's throughput) -----
    dim, rows_per, shards = args.driver_dim, args.shard_size * 4, 4
    sink = EmbeddingCache(tmp / "driver")
    vectors = np.random.default_rng(0).standard_normal((rows_per, dim)).astype(np.float32)
    t0 = time.perf_counter()
    for s in range(shards):
        sink.write_shard(
            "bench.text", [f"text {s}-{i} " + "x" * 200 for i in range(rows_per)], vectors
        )
    write_s = time.perf_counter() - t0
    mb = shards * rows_per * dim * 4 / 2**20
    print(
        f"driver  shard writes   : {shards * rows_per / write_s:7.0f} texts/s of {dim}-d vectors "
        f"({mb / write_s:.0f} MiB/s, fsync included)"
    )
    rows.append(
        {
            "backend": "driver shard writes alone",
            "texts": shards * rows_per,
            "seconds": write_s,
            "texts_per_s": shards * rows_per / write_s,
            "note": f"{dim}-d vectors, {mb / write_s:.0f} MiB/s, fsync included",
        }
    )
    for row in rows:
        row.update(max_abs_difference=worst, load=os.getloadavg()[0])
    record_rows("embed_scaling", "embed_scaling", rows, run=run)


if __name__ == "__main__":
    main()
