"""Wall time of the cross-validated choices against plain training: ``prefspace train`` on 1,000
HH pairs from a warm embedding cache, with ``--head bt-linear`` (plain), ``--head auto`` and
``--augment auto`` (issue: each at most 1.5x plain training).

Run (from the repository root)::

    python benchmarks/selection_speed.py --repeats 3

The three commands run in turn, ``--repeats`` times (interleaved, so a change in the machine's
load hits all three alike), on the first 1,250 pairs of the HH harmless-base test file with
``--test-fraction 0.2`` (1,000 training pairs, split by prompt, seed 0); the cache is filled by
an untimed first run. Each row: the median wall seconds of the whole command (start-up, reading,
embedding from the cache, cross-validation, fitting, saving), its ratio to plain training in the
same run, and the load average at the start and end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VARIANTS = (
    ("plain (bt-linear)", ["--head", "bt-linear"]),
    ("--head auto", ["--head", "auto"]),
    ("--augment auto", ["--head", "bt-linear", "--augment", "auto"]),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=1250, help="pairs read (80%% train)")
    ap.add_argument(
        "--cache", type=Path, default=None, help="an embedding cache to reuse (default: a new one)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prefspace-selection-speed-"))
    cache = args.cache or work / "cache"
    base = [
        sys.executable,
        "-m",
        "prefspace",
        "train",
        str(args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz"),
        "--limit",
        str(args.pairs),
        "--test-fraction",
        "0.2",
        "--seed",
        "0",
        "--cache",
        str(cache),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }

    def run(extra, out) -> float:
        t0 = time.perf_counter()
        subprocess.run(
            base + ["--out", str(out)] + extra,
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0

    try:
        run(VARIANTS[0][1], work / "warm")  # fills the cache, untimed
        load_start = os.getloadavg()[0]
        times: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
        for r in range(args.repeats):
            for i, (name, extra) in enumerate(VARIANTS):
                times[name].append(run(extra, work / f"out-{r}-{i}"))
                print(f"{name}: {times[name][-1]:.2f} s", flush=True)
        load_end = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    plain = statistics.median(times[VARIANTS[0][0]])
    rows = [
        {
            "variant": name,
            "pairs": int(args.pairs * 0.8),
            "repeats": args.repeats,
            "seconds": statistics.median(t),
            "min_s": min(t),
            "ratio": statistics.median(t) / plain,
            "load_start": load_start,
            "load_end": load_end,
        }
        for name, t in times.items()
    ]
    record_rows(
        "selection_speed",
        "selection_speed",
        rows,
        run=new_run_id(),
        command=f"python benchmarks/selection_speed.py --repeats {args.repeats}",
    )


if __name__ == "__main__":
    main()
