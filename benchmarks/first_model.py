"""Where a user waits: the CLI's start and time to the first model (``prefspace synth``:
``benchmarks/synth_speed.py``).

Command (from the repository root; results go to benchmarks/results/first_model.jsonl and
docs/benchmarks.md, "Where users wait")::

    python benchmarks/first_model.py --data ../shared/data --pairs 1000 --repeats 5

Every figure is a real ``prefspace`` process, timed from outside (wall clock, and the child's
CPU seconds from ``getrusage``), with the load average before and after it: the machine may be
shared, so compare figures of one run with each other, and CPU seconds with the targets.

- **startup**: ``prefspace --help`` and ``prefspace train --help``, median of ``--repeats``.
- **train**: ``prefspace train`` on the first ``--pairs`` HH pairs (harmless-base test) with the
  defaults (``bt-linear``, a fifth of the prompts held out), first from an empty embedding cache,
  then again on the warm cache, then ``--head auto`` on the warm cache. Phases come from the
  command's ``--json`` report: reading (load and split), embedding, cross-validation
  (``--head auto``), fitting; start-up is the process's wall time before and after the command
  body (interpreter, imports, option parsing, exit), and "metrics and saving" the rest of the
  command body.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import new_run_id, record_rows  # noqa: E402

NAME = "first_model"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _load() -> float:
    return float(os.getloadavg()[0])


def run_prefspace(args: list[str], env: dict) -> dict:
    """Run ``prefspace ARGS`` (this interpreter), returning stdout, wall, CPU and load."""
    load_start, c0, t0 = _load(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "prefspace.cli", *args], capture_output=True, text=True, env=env
    )
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(
            f"prefspace {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return {
        "stdout": proc.stdout,
        "wall_s": wall,
        "cpu_s": cpu,
        "load_start": load_start,
        "load_end": _load(),
    }


def startup(args, env: dict) -> list[dict]:
    rows = []
    for argv in (["--help"], ["train", "--help"]):
        runs = [run_prefspace(argv, env) for _ in range(args.repeats)]
        rows.append(
            {
                "what": "prefspace " + " ".join(argv),
                "repeats": len(runs),
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "wall_min_s": min(r["wall_s"] for r in runs),
                "load": statistics.mean(r["load_start"] for r in runs),
            }
        )
        print(
            f"  {rows[-1]['what']:<24} median {rows[-1]['wall_s']:.2f} s wall, {rows[-1]['cpu_s']:.2f} s CPU "
            f"(load {rows[-1]['load']:.1f})",
            flush=True,
        )
    return rows


def train(args, env: dict, data: str, tmp: Path) -> list[dict]:
    rows = []
    cases = (("empty cache", "bt-linear"), ("warm cache", "bt-linear"), ("warm cache", "auto"))
    for i, (cache_state, head) in enumerate(cases):
        out = tmp / f"model-{i}"
        r = run_prefspace(
            [
                "train",
                data,
                "--limit",
                str(args.pairs),
                "--cache",
                str(tmp / "cache"),
                "--head",
                head,
                "--out",
                str(out),
                "--json",
            ],
            env,
        )
        report = json.loads(r["stdout"])
        total = report["total_seconds"]
        phases = {
            "startup_s": r["wall_s"] - total,
            "read_s": report["read_seconds"],
            "embed_s": report["embed_seconds"],
            "cv_s": report["cv_seconds"],
            "fit_s": report["fit_seconds"] + report["augment_seconds"],
        }
        phases["save_s"] = total - sum(v for k, v in phases.items() if k != "startup_s")
        rows.append(
            {
                "cache": cache_state,
                "head": head,
                "pairs": report["n_train"] + report["n_test"],
                "chose": (report.get("head_auto") or {}).get("chosen") if head == "auto" else head,
                **phases,
                "wall_s": r["wall_s"],
                "cpu_s": r["cpu_s"],
                "accuracy": (report.get("test") or {}).get("accuracy"),
                "load": r["load_start"],
                "load_end": r["load_end"],
            }
        )
        print(
            f"  train ({cache_state}, {head}): {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU; "
            + ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
            + f" (load {r['load_start']:.1f})",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--part", choices=("all", "startup", "train"), default="all")
    args = parser.parse_args()
    run = new_run_id()
    data = str(args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    print(f"load average at start: {_load():.1f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {
            **os.environ,
            "PREFSPACE_HOME": str(tmp / "home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        if args.part in ("all", "startup"):
            record_rows(NAME, "cli_startup", startup(args, env), run=run)
        if args.part in ("all", "train"):
            record_rows(NAME, "first_model", train(args, env, data, tmp), run=run)


if __name__ == "__main__":
    main()
