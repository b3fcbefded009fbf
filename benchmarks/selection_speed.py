"""Wall time of the cross-validated choices against plain training: ``prefspace train`` on 1,000
HH pairs from a warm embedding cache, with fixed penalties (plain), the default ``bt-linear``
(its two penalties chosen by cross-validation), ``--head auto`` and ``--augment auto`` (issue:
each at most 1.5x plain training).

Run (from the repository root)::

    python benchmarks/selection_speed.py --repeats 3

The three commands run in turn, ``--repeats`` times (interleaved, so a change in the machine's
load hits all three alike), on the first 1,250 pairs of the HH harmless-base test file with
``--test-fraction 0.2`` (1,000 training pairs, split by prompt, seed 0); the cache is filled by
an untimed first run. "Plain" is one ``bt-linear`` fit with fixed penalties (``alpha=1000``,
``text_alpha=1``: the head's own values when there are too few prompts to cross-validate). Each
row: the median wall seconds of the whole command (start-up, reading, embedding from the cache,
cross-validation, fitting, saving) and its ratio to plain training in the same run; the median
CPU seconds of the process (``getrusage``, less inflated than wall time by other jobs on a
shared machine) and their ratio; the median seconds of the command's own model work (its
report's ``cv_seconds + augment_seconds + fit_seconds``) and their ratio; and the load average
at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
    ("plain (fixed penalties)", ["--head", "bt-linear", "--param", "alpha=1000", "--param",
                                 "text_alpha=1"]),
    ("bt-linear (penalties by CV)", ["--head", "bt-linear"]),
    ("--head auto", ["--head", "auto"]),
    ("--augment auto", ["--head", "bt-linear", "--augment", "auto"]),
)  # fmt: skip


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


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

    def run(extra, out) -> dict:
        c0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run(
            base + ["--out", str(out), "--json"] + extra,
            check=True,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        report = json.loads(proc.stdout)
        work = sum(report[k] for k in ("cv_seconds", "augment_seconds", "fit_seconds"))
        return {"seconds": wall, "cpu_s": cpu, "work_s": work}

    try:
        run(VARIANTS[0][1], work / "warm")  # fills the cache, untimed
        load_start = os.getloadavg()[0]
        times: dict[str, list[dict]] = {name: [] for name, _ in VARIANTS}
        for r in range(args.repeats):
            for i, (name, extra) in enumerate(VARIANTS):
                times[name].append(run(extra, work / f"out-{r}-{i}"))
                t = times[name][-1]
                print(
                    f"{name}: {t['seconds']:.2f} s wall, {t['cpu_s']:.2f} s CPU, "
                    f"model work {t['work_s']:.2f} s",
                    flush=True,
                )
        load_end = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(name, key):
        return statistics.median(t[key] for t in times[name])

    plain = VARIANTS[0][0]
    rows = [
        {
            "variant": name,
            "pairs": int(args.pairs * 0.8),
            "repeats": args.repeats,
            "seconds": med(name, "seconds"),
            "min_s": min(t["seconds"] for t in times[name]),
            "ratio": med(name, "seconds") / med(plain, "seconds"),
            "cpu_s": med(name, "cpu_s"),
            "cpu_ratio": med(name, "cpu_s") / med(plain, "cpu_s"),
            "work_s": med(name, "work_s"),
            "work_ratio": med(name, "work_s") / med(plain, "work_s"),
            "load_start": load_start,
            "load_end": load_end,
        }
        for name, _ in VARIANTS
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
