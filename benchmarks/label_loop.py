"""The labeling studio's whole loop on alpaca_bon, through its HTTP API.

Run (from the repository root; a few minutes of CPU)::

    python benchmarks/label_loop.py                    # 5 seeds x {d-optimal, random}, a 4-annotator run, the CLI
    python benchmarks/label_loop.py --summary-only     # print the tables of the latest recorded run

Results: appended to ``benchmarks/results/label_loop.jsonl`` (``_results.record_rows``): the raw
records (table ``label_loop_raw``) and the tables ``label_loop_curve``, ``label_loop_latency``,
``label_loop_throughput`` and ``label_loop_cli`` that docs/benchmarks.md shows.

What one run does: hold out 20% of alpaca_bon's prompts (by seed), put the other prompts'
responses in a studio (precomputed all-MiniLM-L6-v2 rows, 768-d separate layout; a fixed random
sample of ``--candidates`` within-prompt candidate pairs; ``BradleyTerryLinear``; a fresh SQLite
database), serve it on loopback with uvicorn, and let the simulated annotator of
``prefspace label --simulate`` label ``--rounds`` batches of ``--batch`` pairs over HTTP
(Bradley-Terry noise, beta 1, on logit(gold)). The first batch is random; then the strategy
chooses each batch, ``--explore`` of it at random. After every refit the model is evaluated on
the held-out prompts (mean per-prompt Spearman with gold, expected best-of-16 gold); that
evaluation runs in the studio's refit thread but is not part of the refit or selection times.

Recorded per batch: labels so far, the refit's cross-validated accuracy on those labels (with
its interval), held-out Spearman and best-of-16, refit (fit + cross-validation) and selection
latency. Per run: labels per minute the server sustained (labels / time spent in the two requests
of each label; waiting for refits excluded), and the wall time. Random selection with the same
seeds, splits and candidate samples is the control; the comparison is paired by seed.

Last, the command line itself runs end to end on the whole of alpaca_bon (all 805 prompts, no
held-out part): ``prefspace label responses.jsonl.gz --prompts prompts.jsonl.gz --features ...
--simulate gold --rounds 8 --batch 50``; its per-batch report is stored as ``kind: "cli"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("d-optimal", "random")


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, new_run_id, record_rows  # noqa: E402

from prefspace.evaluate import seed_item_bootstrap  # noqa: E402

RAW = "label_loop_raw"  # every measured record (per batch, per run, the CLI's report); no table shows it


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _latest_raw(path: Path) -> tuple[str, list[dict]]:
    """The raw records of the latest run in ``path``."""
    rows = [r for r in _read_rows(path) if r.get("table") == RAW]
    if not rows:
        raise SystemExit(f"{path}: no {RAW} records; run the benchmark first")
    run = max(r["run"] for r in rows)
    return run, [r for r in rows if r["run"] == run]


def run_one(
    scored,
    F,
    *,
    strategy: str,
    seed: int,
    batch: int,
    rounds: int,
    candidates: int,
    explore: float,
    annotators: int,
    evaluate: bool,
) -> list[dict]:
    from prefspace.evaluate.ranking import best_of_n_curve, rank_correlations
    from prefspace.studio import (
        LabelStore,
        Studio,
        StudioConfig,
        StudioServer,
        create_studio_app,
        load_label_pool,
        loop_report,
        simulate_annotators,
    )

    rng = np.random.default_rng(seed)
    n_test = int(round(0.2 * scored.n_prompts))
    test = np.sort(rng.choice(scored.n_prompts, size=n_test, replace=False))
    train = np.setdiff1d(np.arange(scored.n_prompts), test)
    train_set = scored.select_prompts(train)
    rows_of = {rid: i for i, rid in enumerate(scored.ids)}
    train_rows = np.array([rows_of[r] for r in train_set.ids])
    test_mask = np.isin(scored.prompt_index, test)
    test_rows = np.flatnonzero(test_mask)
    _, group_id = np.unique(scored.prompt_index[test_rows], return_inverse=True)
    groups = [np.flatnonzero(group_id == g) for g in range(group_id.max() + 1)]
    held_out: dict[int, dict] = {}

    def on_refit(version, model, n_labels):
        if not evaluate:
            return
        r = model.predict(F[test_rows])
        g = scored.scores[test_rows]
        rc = rank_correlations(r, g, groups)
        held_out[version] = {
            "heldout_spearman": float(rc["spearman"]),
            # per held-out prompt (NaN: undefined), so intervals can resample prompts
            "heldout_spearman_per_prompt": [
                None if not np.isfinite(v) else round(float(v), 6)
                for v in rc["per_prompt_spearman"]
            ],
            "heldout_best_of_16": float(best_of_n_curve(r, g, groups, ns=[16])["model"][0]),
        }

    pool = load_label_pool(
        train_set, F[train_rows], kind="within", max_candidates=candidates, random_state=seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore(Path(tmp) / "labels.sqlite")
        studio = Studio(
            store,
            pool,
            config=StudioConfig(
                strategy=strategy,
                batch_size=batch,
                rounds=rounds,
                explore=explore if strategy != "random" else 0.0,
                seed=seed,
            ),
            on_refit=on_refit,
        )
        t0 = time.perf_counter()
        with StudioServer(create_studio_app(studio)) as server:
            sim = simulate_annotators(
                server.url,
                dict(zip(train_set.ids, train_set.scores.tolist())),
                annotators=annotators,
                beta=1.0,
                transform="logit",
                eps=1e-6,
                random_state=seed,
            )
        wall = time.perf_counter() - t0
        report = loop_report(store)
        store.close()
    config = {
        "run_strategy": strategy,
        "seed": seed,
        "batch_size": batch,
        "rounds": rounds,
        "candidates": len(pool.pairs),
        "explore": explore if strategy != "random" else 0.0,
        "annotators": annotators,
        "test_prompts": int(n_test),
        "train_prompts": int(len(train)),
    }
    out = [
        {"kind": "batch", **config, **r.to_json(), **held_out.get(r.model_version, {})}
        for r in report
    ]
    out.append(
        {
            "kind": "run",
            **config,
            "labels": sim.labels,
            "labels_per_minute": sim.labels_per_minute,
            "label_seconds": sim.label_seconds,
            "wait_seconds": sim.wait_seconds,
            "wall_seconds": wall,
        }
    )
    return out


def run_cli(data: Path, *, rounds: int, batch: int, candidates: int) -> list[dict]:
    """``prefspace label ... --simulate gold`` on the whole of alpaca_bon, as a user would run it."""
    d = data / "alpaca_bon"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        cmd = [
            sys.executable,
            "-m",
            "prefspace",
            "label",
            str(d / "responses.jsonl.gz"),
            "--prompts",
            str(d / "prompts.jsonl.gz"),
            "--features",
            str(d / "response_emb_minilm.npy"),
            "--prompt-features",
            str(d / "prompt_emb_minilm.npy"),
            "--db",
            str(Path(tmp) / "labels.sqlite"),
            "--simulate",
            "gold",
            "--simulate-transform",
            "logit",
            "--rounds",
            str(rounds),
            "--batch",
            str(batch),
            "--max-candidates",
            str(candidates),
            "--report",
            str(report),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        rows = [json.loads(line) for line in report.read_text().splitlines()]
    summary = next(line for line in done.stdout.splitlines() if "labels/min" in line)
    shown = [
        "prefspace",
        "label",
        "../shared/data/alpaca_bon/responses.jsonl.gz",
        *[a.replace(str(data), "../shared/data") if isinstance(a, str) else a for a in cmd[5:]],
    ]
    shown = [
        a if "labels.sqlite" not in a and "report.jsonl" not in a else Path(a).name for a in shown
    ]
    return [
        {
            "kind": "cli",
            "cli_command": " ".join(shown),
            "summary": summary,
            "wall_seconds": wall,
            **r,
        }
        for r in rows
    ]


def _per_prompt(cell: dict, seeds: list) -> tuple[list, list]:
    """Per seed, D-optimal's and random's Spearman on the held-out prompts where both are defined
    (the same prompts within a seed; each seed holds out its own)."""
    dopt, rand = [], []
    for k in seeds:
        a = np.array(
            [
                np.nan if v is None else v
                for v in cell["d-optimal"][k]["heldout_spearman_per_prompt"]
            ]
        )
        b = np.array(
            [np.nan if v is None else v for v in cell["random"][k]["heldout_spearman_per_prompt"]]
        )
        both = np.isfinite(a) & np.isfinite(b)
        dopt.append(a[both])
        rand.append(b[both])
    return dopt, rand


def tables(records: list[dict]) -> dict[str, list[dict]]:
    """The rows of the four tables in docs/benchmarks.md, from one run's raw records."""
    out: dict[str, list[dict]] = {}
    batches = [r for r in records if r.get("kind") == "batch" and r.get("annotators") == 1]
    rows = []
    for n in sorted({r["labels"] for r in batches}):
        cell = {
            s: {r["seed"]: r for r in batches if r["run_strategy"] == s and r["labels"] == n}
            for s in STRATEGIES
        }
        common = sorted(set(cell["random"]) & set(cell["d-optimal"]))
        if not common:
            continue
        rand = np.array([cell["random"][k]["heldout_spearman"] for k in common])
        dopt = np.array([cell["d-optimal"][k]["heldout_spearman"] for k in common])
        if all("heldout_spearman_per_prompt" in cell[s][k] for s in STRATEGIES for k in common):
            d_items, r_items = _per_prompt(cell, common)  # seeds and held-out prompts resampled
            iv = seed_item_bootstrap(d_items, r_items, bounds=(-1.0, 1.0), shared_items=False)
        else:  # records with one value per seed: conditional on each seed's held-out prompts
            iv = seed_item_bootstrap(dopt, rand, bounds=(-1.0, 1.0))
        diff, lo, hi = iv.estimate, iv.low, iv.high
        cv = {
            s: [cell[s][k]["cv_accuracy"] for k in common if cell[s][k]["cv_accuracy"] is not None]
            for s in STRATEGIES
        }
        rows.append(
            {
                "labels": n,
                "seeds": len(common),
                "random": float(rand.mean()),
                "d_optimal": float(dopt.mean()),
                "difference": diff,
                "lo": lo,
                "hi": hi,
                "ahead": f"{int((dopt > rand).sum())}/{len(common)}",
                "cv_d_optimal": float(np.mean(cv["d-optimal"])) if cv["d-optimal"] else None,
                "cv_random": float(np.mean(cv["random"])) if cv["random"] else None,
            }
        )
    out["label_loop_curve"] = rows
    steps = [
        (
            "selection, D-optimal (20% explored)",
            [
                r["select_seconds"]
                for r in batches
                if r["run_strategy"] == "d-optimal" and r["chosen_by"] is not None
            ],
        ),
        (
            "selection, random",
            [
                r["select_seconds"]
                for r in batches
                if r["run_strategy"] == "random" and r["chosen_by"] is not None
            ],
        ),
        (
            "refit (BradleyTerryLinear)",
            [r["fit_seconds"] for r in batches if r["fit_seconds"] is not None],
        ),
        (
            "5-fold cross-validation",
            [r["cv_seconds"] for r in batches if r["cv_seconds"] is not None],
        ),
    ]
    out["label_loop_latency"] = [
        {"step": name, "batches": len(v), "median": float(np.median(v)), "max": float(np.max(v))}
        for name, v in steps
        if v
    ]
    runs = [r for r in records if r.get("kind") == "run"]
    out["label_loop_throughput"] = [
        {
            "annotators": k,
            "runs": len(rs),
            "labels": rs[0]["labels"],
            "strategy": rs[0]["run_strategy"] if len(rs) == 1 else "both",
            "batch_size": rs[0]["batch_size"],
            "median": float(np.median([r["labels_per_minute"] for r in rs])),
            "min": float(np.min([r["labels_per_minute"] for r in rs])),
            "max": float(np.max([r["labels_per_minute"] for r in rs])),
        }
        for k in sorted({r["annotators"] for r in runs})
        for rs in [[r for r in runs if r["annotators"] == k]]
    ]
    cli = [r for r in records if r.get("kind") == "cli"]
    out["label_loop_cli"] = [
        {
            k: r[k]
            for k in (
                "batch",
                "strategy",
                "select_seconds",
                "labels",
                "fit_seconds",
                "cv_seconds",
                "cv_accuracy",
                "cv_low",
                "cv_high",
            )
        }
        for r in cli
    ]
    return out


def summarise(records: list[dict]) -> None:
    meta = next((r for r in records if r.get("kind") == "meta"), None)
    if meta:
        print(
            f"measured {meta['date']} on {meta['machine']}, load average before {meta['load_before']}, "
            f"after {meta['load_after']}"
        )
    t = tables(records)
    print(
        "\nheld-out mean per-prompt Spearman, mean over seeds; d-optimal minus random, paired by seed "
        "(mean, 95% bootstrap interval over seeds and, where recorded, held-out prompts; seeds ahead)"
    )
    print(
        f"{'labels':>6} {'random':>8} {'d-optimal':>10} {'difference':>30} {'cv acc d-opt':>13} {'cv acc random':>14}"
    )
    for r in t["label_loop_curve"]:
        print(
            f"{r['labels']:>6} {r['random']:>8.4f} {r['d_optimal']:>10.4f} {r['difference']:>+9.4f} "
            f"[{r['lo']:+.4f}, {r['hi']:+.4f}] {r['ahead']} {r['cv_d_optimal']:>13.3f} {r['cv_random']:>14.3f}"
        )
    print("\nlatency per batch (median [max]):")
    for r in t["label_loop_latency"]:
        print(f"  {r['step']}: {r['median']:.3f} s [{r['max']:.3f}] over {r['batches']} batches")
    print(
        "\nlabels per minute the server sustained (labels / time in the two requests of each label):"
    )
    for r in t["label_loop_throughput"]:
        print(
            f"  {r['annotators']} annotator(s): median {r['median']:,.0f} (min {r['min']:,.0f}, max {r['max']:,.0f}) "
            f"over {r['runs']} run(s) of {r['labels']} labels"
        )
    cli = [r for r in records if r.get("kind") == "cli"]
    if cli:
        print(
            f"\nthe command line, end to end ({cli[0]['wall_seconds']:.0f} s wall, start-up included):\n  {cli[0]['cli_command']}"
        )
        for r in cli:
            acc = (
                "-"
                if r["cv_accuracy"] is None
                else f"{r['cv_accuracy']:.3f} [{r['cv_low']:.3f}, {r['cv_high']:.3f}]"
            )
            print(
                f"  batch {r['batch']}: {r['strategy']:<9} select {r['select_seconds']:.2f} s, {r['labels']} labels, "
                f"fit {r['fit_seconds']:.2f} s, cv {r['cv_seconds']:.2f} s, cv accuracy {acc}"
            )
        print("  " + cli[0]["summary"])


def record(records: list[dict], run: str, command: str) -> None:
    """Append the raw records and the four tables of one run to benchmarks/results/label_loop.jsonl."""
    record_rows("label_loop", RAW, records, run=run, command=command)
    cli_command = next((r["cli_command"] for r in records if r.get("kind") == "cli"), None)
    for table, rows in tables(records).items():
        if rows:
            record_rows(
                "label_loop",
                table,
                rows,
                run=run,
                command=cli_command if table == "label_loop_cli" else command,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="folder holding alpaca_bon/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--explore", type=float, default=0.2)
    parser.add_argument(
        "--throughput-annotators",
        type=int,
        default=4,
        help="a last run (random, 2 batches of 200) with this many annotators at once; 0 skips it",
    )
    parser.add_argument(
        "--cli-rounds", type=int, default=8, help="rounds of the end-to-end CLI run; 0 skips it"
    )
    parser.add_argument(
        "--summary-only", action="store_true", help="print the tables of the latest recorded run"
    )
    parser.add_argument(
        "--record-summary",
        action="store_true",
        help="re-record the four tables from the latest run's raw records (a new run id)",
    )
    args = parser.parse_args()
    results = Path(__file__).resolve().parent / "results" / "label_loop.jsonl"
    if args.summary_only or args.record_summary:
        raw_run, records = _latest_raw(results)
        if args.record_summary:
            command = next(
                r["command"]
                for r in _read_rows(results)
                if r.get("table") == RAW and r["run"] == raw_run
            )
            cli_command = next((r["cli_command"] for r in records if r.get("kind") == "cli"), None)
            run = new_run_id()
            for table, rows in tables(records).items():
                if rows:
                    record_rows(
                        "label_loop",
                        table,
                        rows,
                        run=run,
                        command=(
                            cli_command
                            if table == "label_loop_cli"
                            else f"{command}; {command_line()}"
                        ),
                    )
        summarise(records)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from prefspace.data import load_scored_responses
    from prefspace.embed import scored_response_features

    run, command = new_run_id(), command_line()
    load_before = os.getloadavg()[0]
    d = Path(args.data) / "alpaca_bon"
    scored = load_scored_responses(d / "responses.jsonl.gz", prompts=d / "prompts.jsonl.gz")
    F = scored_response_features(scored, d / "prompt_emb_minilm.npy", d / "response_emb_minilm.npy")
    records: list[dict] = []
    for seed in args.seeds:
        for strategy in STRATEGIES:  # alternating, so machine load affects both alike
            t0 = time.perf_counter()
            recs = run_one(
                scored,
                F,
                strategy=strategy,
                seed=seed,
                batch=args.batch,
                rounds=args.rounds,
                candidates=args.candidates,
                explore=args.explore,
                annotators=1,
                evaluate=True,
            )
            records += recs
            last = [r for r in recs if r["kind"] == "batch"][-1]
            print(
                f"seed {seed} {strategy:<10} {last['labels']} labels: held-out Spearman "
                f"{last['heldout_spearman']:.4f}, cv accuracy {last['cv_accuracy']:.3f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    if args.throughput_annotators:
        records += run_one(
            scored,
            F,
            strategy="random",
            seed=0,
            batch=200,
            rounds=2,
            candidates=args.candidates,
            explore=0.0,
            annotators=args.throughput_annotators,
            evaluate=False,
        )
    if args.cli_rounds:
        records += run_cli(
            Path(args.data), rounds=args.cli_rounds, batch=args.batch, candidates=args.candidates
        )
    records.insert(
        0,
        {
            "kind": "meta",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
            "load_before": round(load_before, 1),
            "load_after": round(os.getloadavg()[0], 1),
        },
    )
    record(records, run, command)
    summarise(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
