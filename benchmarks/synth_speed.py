"""Where ``prefspace synth`` spends its time: phases and totals, with and without diagnostics.

Command (from the repository root; results go to benchmarks/results/synth_speed.jsonl and
docs/benchmarks.md, "Where users wait")::

    python benchmarks/synth_speed.py --data ../shared/data --repeats 3

``prefspace synth`` on the first ``--pairs`` HH pairs (harmless-base test), ``--factor 8``, LENS
with its defaults, on a warm embedding cache (filled by an untimed first run), once with the
default (``fast``) diagnostics and once with ``--diagnostics none``, interleaved ``--repeats``
times so that a change in the machine's load hits both alike. Every run is a real process timed
from outside (wall clock, and the child's CPU seconds from ``getrusage``), with the load average
before and after it; the phases are the command's own ``seconds`` (summary.json): reading and
the embedding cache, the VAE's fit (numpy; torch is not imported), sampling, saving, and the
diagnostics' parts (the reconstruction curve's refit, the label check's cross-fitted reference
heads, the three plots). Start-up is the process's wall time outside the command's body
(interpreter, imports of the CLI, option parsing, exit). Medians over the repeats.

A last run of the default command under ``python -X importtime`` gives the wall seconds spent
importing each top-level package (each module's own import time, summed by package, wherever
the import happened: at start-up or lazily inside a phase; a separate table).

``--part vae`` (run by default after the timings) asks whether a shorter VAE training would
keep the quality: in-process, for HH (the same pairs) and alpaca_bon (``--pairs`` pairs of two
responses to one prompt, the higher gold wins, from the precomputed MiniLM vectors), per seed,
the default LENS and a candidate with ``--vae-candidate`` (a JSON dict of parameters, default a
3x learning rate for 200 steps): the held-out variance kept (a fit on 70% of the pairs, measured
on the other 30%), the label check's agreement at ``sigma2=0.01``, factor 8 (a fit on all pairs,
five cross-fitted ``bt-linear`` references), the steps run and the fit's CPU seconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, new_run_id, record_rows  # noqa: E402
from first_model import _children_cpu, _load, run_prefspace  # noqa: E402

NAME = "synth_speed"
VARIANTS = (("fast", []), ("none", ["--diagnostics", "none"]))
PACKAGES = ("torch", "sklearn", "scipy", "matplotlib", "numpy", "pandas", "prefspace")


def _synth_args(args, data: str, cache: Path, out: Path) -> list[str]:
    return [
        "synth",
        data,
        "--limit",
        str(args.pairs),
        "--factor",
        str(args.factor),
        "--cache",
        str(cache),
        "--out",
        str(out),
        "--json",
    ]


def _row(level: str, runs: list[dict]) -> dict:
    """One table row: medians over the runs of one variant."""

    def med(get):
        values = [get(r) for r in runs]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    sec = lambda r: r["summary"]["seconds"]  # noqa: E731
    part = lambda r, k: sec(r).get("diagnostic_parts", {}).get(k)  # noqa: E731
    first = runs[0]["summary"]
    return {
        "pairs": first["pairs"],
        "factor": first["factor"],
        "method": first["method"],
        "diagnostics": level,
        "repeats": len(runs),
        "startup_s": med(lambda r: r["wall_s"] - sec(r)["total"]),
        "embed_s": med(lambda r: sec(r)["embed"]),
        "fit_s": med(lambda r: sec(r)["fit"]),
        "sample_s": med(lambda r: sec(r)["sample"]),
        "fit_plus_sample_s": med(lambda r: sec(r)["fit"] + sec(r)["sample"]),
        "save_s": med(lambda r: sec(r).get("save")),
        "curve_s": med(lambda r: part(r, "reconstruction_curve")),
        "label_s": med(lambda r: part(r, "label_preservation")),
        "plots_s": med(lambda r: part(r, "plots")),
        "diagnostics_s": med(lambda r: sec(r).get("diagnostics")),
        "command_s": med(lambda r: sec(r)["total"]),
        "wall_s": med(lambda r: r["wall_s"]),
        "wall_min_s": min(r["wall_s"] for r in runs),
        "cpu_s": med(lambda r: r["cpu_s"]),
        "load": statistics.mean(r["load_start"] for r in runs),
        "load_end": statistics.mean(r["load_end"] for r in runs),
    }


def import_times(args, env: dict, data: str, cache: Path, out: Path) -> list[dict]:
    """Wall seconds importing each package during one default run (``-X importtime``)."""
    load, c0, t0 = _load(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "prefspace.cli"]
        + _synth_args(args, data, cache, out),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    own: dict[str, float] = defaultdict(float)
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|", 2)
        package = name.strip().split(".")[0]
        own[package if package in PACKAGES else "other"] += int(self_us) / 1e6
    rows = [{"package": p, "seconds": own.get(p, 0.0)} for p in (*PACKAGES, "other")]
    total = sum(r["seconds"] for r in rows)
    for r in rows:
        r.update(share=r["seconds"] / total, wall_s=wall, cpu_s=cpu, load=load)
    rows.append({"package": "all imports", "seconds": total, "share": 1.0, "wall_s": wall,
                 "cpu_s": cpu, "load": load})  # fmt: skip
    print(
        "  imports: " + ", ".join(f"{r['package']} {r['seconds']:.2f} s" for r in rows), flush=True
    )
    return rows


def _vae_data(args, cache: Path, tmp: Path) -> dict[str, np.ndarray]:
    from lens import _alpaca_arrays

    from prefspace.data import load_preferences
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder

    hh = load_preferences(
        str(args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz"), limit=args.pairs
    )  # the pairs ``prefspace synth --limit`` reads, from the cache the timings filled
    X_hh = embed_pairs(hh, get_encoder("all-MiniLM-L6-v2"), EmbeddingCache(cache)).X
    arr = np.load(_alpaca_arrays(args.data, tmp))
    F, gold, pidx = arr["features"], arr["gold"], arr["prompt_index"]
    rows_of = [np.flatnonzero(pidx == p) for p in range(int(pidx.max()) + 1)]
    rng, pairs = np.random.default_rng(0), []
    while len(pairs) < args.pairs:
        i, j = rng.choice(rows_of[rng.integers(len(rows_of))], 2, replace=False)
        if gold[i] != gold[j]:
            pairs.append((i, j) if gold[i] > gold[j] else (j, i))
    return {"hh": X_hh, "alpaca_bon": F[np.array(pairs)]}


def vae_trials(args, cache: Path, tmp: Path) -> tuple[list[dict], list[dict]]:
    """Default LENS against ``--vae-candidate``: quality and cost per data set and seed, and the
    paired differences (candidate - default) per data set."""
    from prefspace.synth import get_synthesizer
    from prefspace.synth.diagnostics import label_preservation

    candidate = json.loads(args.vae_candidate)
    rows = []
    for name, X in _vae_data(args, cache, tmp).items():
        for seed in range(args.vae_seeds):
            order = np.random.default_rng([seed, 7]).permutation(len(X))
            cut = int(0.7 * len(X))
            for label, params in (("default", {}), ("candidate", candidate)):
                part = get_synthesizer("lens", random_state=seed, **params).fit(X[order[:cut]])
                kept = part.reconstruction_report(X[order[cut:]])["variance_kept"]
                c0 = time.process_time()
                full = get_synthesizer("lens", random_state=seed, **params).fit(X)
                fit_cpu = time.process_time() - c0
                check = label_preservation(
                    X, full, sigma2s=(0.01,), factors=(8,), random_state=seed
                )
                rows.append({"data": name, "seed": seed, "vae": label, "params": json.dumps(params),
                             "steps": full.train_terms_["steps"], "fit_cpu_s": fit_cpu,
                             "heldout_variance_kept": kept, "agreement": check[0]["agreement"],
                             "real_agreement": check[0]["real_agreement"], "load": _load()})  # fmt: skip
                print(f"  vae {name} seed {seed} {label}: {rows[-1]}", flush=True)
    # paired differences (candidate - default) per data set: mean and range over the seeds
    diffs = []
    for name in dict.fromkeys(r["data"] for r in rows):
        pair = [
            (c, d)
            for c in rows
            for d in rows
            if c["data"] == d["data"] == name and c["seed"] == d["seed"]
            and c["vae"] == "candidate" and d["vae"] == "default"
        ]  # fmt: skip
        for key in ("heldout_variance_kept", "agreement", "fit_cpu_s"):
            diff = [c[key] - d[key] for c, d in pair]
            diffs.append({"data": name, "metric": key, "candidate": args.vae_candidate,
                         "mean": float(np.mean(diff)), "min": min(diff), "max": max(diff),
                         "seeds": len(diff)})  # fmt: skip
    return rows, diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--factor", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cache", type=Path, default=None, help="an embedding cache to reuse (default: a new one)"
    )
    parser.add_argument("--part", choices=("all", "timing", "vae"), default="all")
    parser.add_argument("--vae-seeds", type=int, default=3)
    parser.add_argument("--vae-candidate", default='{"learning_rate": 0.003, "max_steps": 200}')
    args = parser.parse_args()
    run = new_run_id()
    argv = list(sys.argv)
    if "--cache" in argv:  # which warm cache was reused changes no timed figure: not recorded
        del argv[argv.index("--cache") : argv.index("--cache") + 2]
    record = functools.partial(record_rows, NAME, run=run, command=command_line(argv))
    data = str(args.data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    print(f"load average at start: {_load():.1f} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = args.cache or tmp / "cache"
        env = {
            **os.environ,
            "PREFSPACE_HOME": str(tmp / "home"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        fill = _synth_args(args, data, cache, tmp / "fill") + ["--diagnostics", "none"]
        run_prefspace(fill, env)  # fills the embedding cache, untimed
        if args.part in ("all", "timing"):
            timing(args, env, data, cache, tmp, record)
        if args.part in ("all", "vae"):
            rows, diffs = vae_trials(args, cache, tmp)
            record("vae_steps", rows)
            record("vae_steps_diff", diffs)


def timing(args, env: dict, data: str, cache: Path, tmp: Path, record) -> None:
    runs: dict[str, list[dict]] = {level: [] for level, _ in VARIANTS}
    for i in range(args.repeats):
        for level, extra in VARIANTS:
            r = run_prefspace(_synth_args(args, data, cache, tmp / f"{level}-{i}") + extra, env)
            r["summary"] = json.loads(r["stdout"])
            runs[level].append(r)
            s = r["summary"]["seconds"]
            print(
                f"  diagnostics {level}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU; fit "
                f"{s['fit']:.2f}, sample {s['sample']:.2f}, diagnostics {s.get('diagnostics')} "
                f"{s.get('diagnostic_parts', '')} (load {r['load_start']:.1f})",
                flush=True,
            )
    record("synth_speed", [_row(level, runs[level]) for level, _ in VARIANTS])
    record("synth_imports", import_times(args, env, data, cache, tmp / "imports"))


if __name__ == "__main__":
    main()
