"""Active labeling on alpaca_bon: does a strategy reach random labelling's result with fewer labels?

Run (from the repository root; resumable: finished runs in --rounds are skipped)::

    python benchmarks/active.py                    # the published tables (3 settings, 3 seeds)
    python benchmarks/active.py --seeds 0 --settings within --variants random d-optimal
    python benchmarks/active.py --summary-only           # recompute the tables from --rounds

Data: ``../shared/data/alpaca_bon`` (805 prompts x 60 responses) with the precomputed
all-MiniLM-L6-v2 features (separate layout: ``[prompt vector, response vector]``, 768-d). Each
run (one setting, one variant, one seed) holds out 20% of the prompts, draws a fixed random
sample of ``--candidates`` candidate pairs from the other prompts' pool, labels a random first
batch, then alternates: fit ``BradleyTerryLinear`` (alpha 1000) on every label so far, evaluate on
the held-out prompts, choose the next batch. The split, the candidate sample, the first batch and
the label noise depend on the seed only, so variants are compared on the same draws (paired).

Settings:

- ``within``: pairs of two responses to one prompt (60 generators' responses), noiseless labels
  (the higher gold wins; exact ties a coin flip);
- ``cross``: pairs of responses to different prompts, noiseless labels;
- ``policy``: a single policy, the papers' setting: only ``--policy``'s responses (one per
  prompt, so pairs cross prompts), Bradley-Terry labels, P(a wins) = sigmoid(beta (logit gold_a -
  logit gold_b)). The policy is the generator whose median gold is closest to the reference's
  (gold 0.5): its wins and losses are balanced, so labels carry the most information. Its
  headline metric is ``spearman_pool``: Spearman with gold over that policy's responses to the
  held-out prompts.

Variants (``--variants``): ``random``; ``uncertainty`` (smallest predicted gap); ``d-optimal``
and ``past-aware`` with the library defaults (the head's standardised coordinates and penalty,
a random quarter of each batch, the outlier guard); and the ablations of D-optimal
``d-optimal-v0`` (the previous protocol: raw features, lambda 1, no random share, no guard),
``d-optimal-greedy`` (head coordinates only), ``d-optimal-guard`` (plus the guard) and
``d-optimal-explore`` (plus the random share, no guard).

Tables recorded in ``benchmarks/results/active.jsonl`` (``benchmarks/_results.py``):
``active_spearman`` and ``active_best_of_16`` (every variant at the full budget: mean over seeds
with a 95% interval that stays in the metric's range, the paired difference from random with
its interval (both ``prefspace.evaluate.seed_item_bootstrap`` over seeds: the records keep one
value per seed, so the intervals are conditional on each seed's test prompts), in how many seeds
it was ahead, and the labels its mean curve needs to reach
random's full-budget mean), ``active_curve`` (mean per-round curves of the headline metric) and
``active_first_batch`` (what the first batch after the random one picks, per variant: mean
pair distance, and the shares of pairs of two responses with gold below 0.01, with a
``gpt4_gamed`` response, with a response the outlier guard flags; intervals resample seeds and
the pairs within each). Per-round records go to ``--rounds`` (raw, for resuming and re-summarising).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, new_run_id, record_rows  # noqa: E402

from prefspace.evaluate import seed_item_bootstrap  # noqa: E402

SETTINGS = ("within", "cross", "policy")
VARIANTS = {
    # name: (strategy, selector params, previous protocol's raw coordinates)
    "random": ("random", {}, False),
    "uncertainty": ("uncertainty", {}, False),
    "d-optimal": ("d-optimal", {}, False),
    "past-aware": ("past-aware", {}, False),
    "d-optimal-v0": ("d-optimal", {"lam": 1.0, "exploration": 0.0, "outlier_z": None}, True),
    "d-optimal-greedy": ("d-optimal", {"exploration": 0.0, "outlier_z": None}, False),
    "d-optimal-guard": ("d-optimal", {"exploration": 0.0}, False),
    "d-optimal-explore": ("d-optimal", {"outlier_z": None}, False),
}
DEFAULT_VARIANTS = {  # sized to about half an hour on a shared 2-core machine for 3 seeds
    "within": ["random", "uncertainty", "d-optimal", "d-optimal-greedy", "d-optimal-guard"],
    "cross": ["random", "d-optimal"],
    "policy": ["random", "uncertainty", "d-optimal", "past-aware", "d-optimal-greedy"],
}
HEADLINE = {"within": "spearman", "cross": "spearman", "policy": "spearman_pool"}


# ---------------------------------------------------------------- intervals inside the range
def mean_interval(values, kind: str) -> tuple[float, float, float]:
    """Mean over seeds with the library's bootstrap interval (one value per seed, so it is
    conditional on each seed's test prompts): inside [-1, 1] for a correlation, [0, 1] else."""
    bounds = (-1.0, 1.0) if kind == "corr" else (0.0, 1.0)
    iv = seed_item_bootstrap(np.asarray(values, dtype=np.float64), bounds=bounds)
    return iv.estimate, iv.low, iv.high


def paired_interval(values, base, kind: str) -> tuple[float, float, float]:
    """Mean paired difference from random (same seed) with the library's bootstrap interval."""
    bounds = (-1.0, 1.0) if kind == "corr" else (0.0, 1.0)
    iv = seed_item_bootstrap(
        np.asarray(values, dtype=np.float64), np.asarray(base, dtype=np.float64), bounds=bounds
    )
    return iv.estimate, iv.low, iv.high


def labels_to_match(labels, curve, target: float) -> float | None:
    """Smallest label count at which ``curve`` (linearly interpolated) reaches ``target``."""
    for i in range(len(labels)):
        if curve[i] >= target:
            if i == 0:
                return float(labels[0])
            x0, x1, y0, y1 = labels[i - 1], labels[i], curve[i - 1], curve[i]
            return float(x0 + (target - y0) / (y1 - y0) * (x1 - x0))
    return None


# ---------------------------------------------------------------- data and runs
def load(data: Path):
    from prefspace.data import load_scored_responses
    from prefspace.embed import scored_response_features

    d = data / "alpaca_bon"
    scored = load_scored_responses(d / "responses.jsonl.gz", prompts=d / "prompts.jsonl.gz")
    F = scored_response_features(scored, d / "prompt_emb_minilm.npy", d / "response_emb_minilm.npy")
    return scored, F


def pick_policy(scored) -> str:
    """The generator (answering every prompt) whose median gold is closest to 0.5, the reference's."""
    gen = np.asarray(scored.extra["generator"])
    names, counts = np.unique(gen, return_counts=True)
    best, gap = None, np.inf
    for name in names[counts == scored.n_prompts]:
        g = scored.scores[gen == name]
        if np.ptp(g) == 0:  # the reference itself: every gold is 0.5
            continue
        if abs(np.median(g) - 0.5) < gap:
            best, gap = str(name), abs(np.median(g) - 0.5)
    return best


def raw_linear():
    """BradleyTerryLinear without its prior exposed: D-optimal falls back to raw transform()
    features and the given lambda (the previous protocol, for the v0 ablation)."""
    from prefspace.models import BradleyTerryLinear

    class RawCoordinatesLinear(BradleyTerryLinear):
        def last_layer_prior(self):
            return None

    return RawCoordinatesLinear()


def setting_kwargs(setting: str, scored, policy: str, args) -> dict:
    if setting == "policy":
        rows = np.flatnonzero(np.asarray(scored.extra["generator"]) == policy)
        return dict(within_prompt=False, pool_rows=rows, noise="bt", beta=args.beta)
    return dict(within_prompt=setting == "within", noise="none")


def read_rounds(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                continue
    return out


def first_batch_diagnostic(scored, F, setting_kw: dict, seed: int, args, variants) -> list[dict]:
    """The first batch each variant chooses after the random first batch (same draws as a run)."""
    from prefspace.evaluate.simulate import can_label, transform_scores
    from prefspace.models import BradleyTerryLinear
    from prefspace.select import get_pool, get_selector
    from prefspace.select.doptimal import head_prior, outlier_rows

    rng = np.random.default_rng(seed)
    prompts = np.unique(scored.prompt_index)
    test = rng.choice(prompts, size=max(1, int(round(0.2 * prompts.size))), replace=False)
    train_rows = np.flatnonzero(~np.isin(scored.prompt_index, test))
    pool = get_pool(F[train_rows], scored.prompt_index[train_rows], "within").sample(
        args.candidates, rng
    )
    u = transform_scores(scored.scores[train_rows], "logit", eps=1e-6)
    # as run_active_learning does: pairs a noiseless annotator cannot label (equal gold) leave the pool
    pool = pool.subset(
        np.concatenate([idx[can_label(u[r[:, 0]], u[r[:, 1]], "none")] for idx, r in pool.chunks()])
    )
    first = get_selector("random", random_state=rng).select(pool, None, args.batch_size)
    rows = pool.rows(first)
    X = pool.features[np.where((u[rows[:, 0]] > u[rows[:, 1]])[:, None], rows, rows[:, ::-1])]
    head = BradleyTerryLinear().fit(X)
    gen = np.asarray(scored.extra["generator"])[train_rows]
    scale, _ = head_prior(head, F.shape[1])
    flagged = outlier_rows(F[train_rows] / scale, scored.prompt_index[train_rows])
    out = []
    for name in variants:
        strategy, params, raw = VARIANTS[name]
        model = head
        if raw:
            model = raw_linear().fit(X)
        sel = get_selector(strategy, random_state=np.random.default_rng(seed + 1000), **params)
        idx = sel.select(pool, model, args.batch_size, exclude=first)
        r = pool.rows(idx)
        dist = np.linalg.norm(
            pool.features[r[:, 0]].astype(np.float64) - pool.features[r[:, 1]], axis=1
        )
        out.append(
            {
                "variant": name,
                "seed": seed,
                "n": int(len(idx)),
                "distance": float(dist.mean()),
                "both_below_1pct": int(((scored.scores[train_rows][r] < 0.01).all(axis=1)).sum()),
                "gamed": int((gen[r] == "gpt4_gamed").any(axis=1).sum()),
                "outlier_pair": int(flagged[r].any(axis=1).sum()),
                "flagged_share": float(flagged.mean()),
            }
        )
    return out


def share_interval(counts: list[tuple[int, int]]) -> tuple[float, float]:
    """Interval of a share pooled over seeds (``(k, n)`` per seed), resampling seeds and, within
    each, the chosen pairs (the library's bootstrap), not the pooled pairs as if independent."""
    blocks = [np.r_[np.ones(k), np.zeros(n - k)] for k, n in counts if n]
    if not blocks:
        return float("nan"), float("nan")
    iv = seed_item_bootstrap(blocks, shared_items=False)
    return iv.low, iv.high


# ---------------------------------------------------------------- summary -> table rows
def summarise(
    rounds: list[dict], first: list[dict], args, variants_by_setting: dict
) -> dict[str, list[dict]]:
    latest: dict[tuple, dict] = {}
    for r in rounds:
        if r.get("config") != config_of(args):
            continue
        latest[(r["setting"], r["variant"], r["seed"], r["labels"])] = r
    done = defaultdict(set)  # (setting, variant) -> seeds finished
    for s, v, seed, lab in latest:
        if lab == args.budget:
            done[(s, v)].add(seed)
    headline_rows, bon_rows, curve_rows = [], [], []
    for setting in args.settings:
        variants = [v for v in variants_by_setting[setting] if done.get((setting, v))]
        if "random" not in variants:
            continue
        seeds = sorted(set.intersection(*[done[(setting, v)] for v in variants]) & set(args.seeds))
        if not seeds:
            continue
        labels = sorted(
            {
                lab
                for (s, v, seed, lab) in latest
                if s == setting and v == "random" and seed in seeds
            }
        )
        metrics = (
            [HEADLINE[setting]] + (["spearman"] if setting == "policy" else []) + ["best_of_16"]
        )
        curve = {
            (v, m): [np.mean([latest[(setting, v, s, lab)][m] for s in seeds]) for lab in labels]
            for v in variants
            for m in metrics
        }
        for lab_i, lab in enumerate(labels):
            curve_rows.append(
                {
                    "setting": setting,
                    "labels": lab,
                    "metric": HEADLINE[setting],
                    "seeds": len(seeds),
                    **{v.replace("-", "_"): curve[(v, HEADLINE[setting])][lab_i] for v in variants},
                }
            )
        for m in metrics:
            for v in variants:
                vals = [latest[(setting, v, s, args.budget)][m] for s in seeds]
                base = [latest[(setting, "random", s, args.budget)][m] for s in seeds]
                kind = "unit" if m == "best_of_16" else "corr"
                row = {"setting": setting, "metric": m, "variant": v, "seeds": len(seeds)}
                row["mean"], row["lo"], row["hi"] = mean_interval(vals, kind)
                if v != "random":
                    d = np.subtract(vals, base)
                    row["vs_random"], row["vs_lo"], row["vs_hi"] = paired_interval(vals, base, kind)
                    row["ahead"] = f"{int((d > 0).sum())}/{len(d)}"
                need = labels_to_match(labels, curve[(v, m)], curve[("random", m)][-1])
                row["to_match"] = "not reached" if need is None else int(round(need, -1))
                row["at_first_batch"] = curve[(v, m)][0]
                (bon_rows if m == "best_of_16" else headline_rows).append(row)
    first_rows = []
    by_variant = defaultdict(list)
    for r in first:
        by_variant[r["variant"]].append(r)
    rand = by_variant.get("random")
    for v, rs in by_variant.items():
        n = sum(r["n"] for r in rs)
        row = {
            "variant": v,
            "seeds": len(rs),
            "pairs": n,
            "distance": float(np.mean([r["distance"] for r in rs])),
        }
        if rand:
            row["distance_ratio"] = row["distance"] / float(np.mean([r["distance"] for r in rand]))
        for key in ("both_below_1pct", "gamed", "outlier_pair"):
            k = sum(r[key] for r in rs)
            row[key] = k / n
            row[key + "_lo"], row[key + "_hi"] = share_interval([(r[key], r["n"]) for r in rs])
        row["flagged_share"] = float(np.mean([r["flagged_share"] for r in rs]))
        first_rows.append(row)
    return {
        "active_spearman": headline_rows,
        "active_best_of_16": bon_rows,
        "active_curve": curve_rows,
        "active_first_batch": first_rows,
    }


def config_of(args) -> dict:
    return {
        "budget": args.budget,
        "batch_size": args.batch_size,
        "candidates": args.candidates,
        "beta": args.beta,
    }


def print_tables(tables: dict[str, list[dict]]) -> None:
    for name, rows in tables.items():
        print(f"\n{name}")
        for r in rows:
            print(
                "  "
                + ", ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
                )
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data", help="folder holding alpaca_bon/")
    parser.add_argument(
        "--rounds",
        default="benchmarks/results/active_rounds.jsonl",
        help="per-round records (JSON lines; resumable)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="default: per setting, those listed in DEFAULT_VARIANTS",
    )
    parser.add_argument("--budget", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument(
        "--beta", type=float, default=1.0, help="Bradley-Terry inverse temperature (policy setting)"
    )
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument(
        "--no-record", action="store_true", help="print the tables without recording them"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds_path = Path(args.rounds)
    variants_by_setting = {s: (args.variants or DEFAULT_VARIANTS[s]) for s in SETTINGS}
    for s in SETTINGS:
        if "random" not in variants_by_setting[s]:
            variants_by_setting[s] = ["random"] + variants_by_setting[s]

    from prefspace.experiments import run_active_learning
    from prefspace.models import BradleyTerryLinear

    scored, F = load(Path(args.data))
    policy = pick_policy(scored)
    print(f"policy for the single-policy setting: {policy}", flush=True)
    config = config_of(args)
    first_path = rounds_path.with_name(rounds_path.stem + "_first_batch.jsonl")
    if not args.summary_only:
        rounds_path.parent.mkdir(parents=True, exist_ok=True)
        finished = {
            (r["setting"], r["variant"], r["seed"])
            for r in read_rounds(rounds_path)
            if r.get("config") == config and r["labels"] == args.budget
        }
        for (
            seed
        ) in args.seeds:  # seed-major: every configuration gets seed 0 before any gets seed 1
            if "within" in args.settings and not any(
                r.get("config") == config and r["seed"] == seed for r in read_rounds(first_path)
            ):
                t0 = time.perf_counter()
                diag = first_batch_diagnostic(
                    scored,
                    F,
                    {},
                    seed,
                    args,
                    ["random", "d-optimal-v0", "d-optimal-greedy", "d-optimal-guard", "d-optimal"],
                )
                with open(first_path, "a", encoding="utf-8") as fh:
                    for r in diag:
                        fh.write(json.dumps({**r, "config": config}) + "\n")
                print(
                    f"seed {seed} first-batch diagnostic ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
            for setting in args.settings:
                kw = setting_kwargs(setting, scored, policy, args)
                for variant in variants_by_setting[setting]:
                    if (setting, variant, seed) in finished:
                        continue
                    strategy, params, raw = VARIANTS[variant]
                    params = dict(params)
                    lam = params.pop("lam", None)
                    t0 = time.perf_counter()

                    def append(rec: dict, setting=setting, variant=variant) -> None:
                        with open(rounds_path, "a", encoding="utf-8") as fh:
                            fh.write(
                                json.dumps(
                                    {
                                        **rec,
                                        "setting": setting,
                                        "variant": variant,
                                        "config": config,
                                    }
                                )
                                + "\n"
                            )

                    recs = run_active_learning(
                        F,
                        scored.prompt_index,
                        scored.scores,
                        strategy=strategy,
                        batch_size=args.batch_size,
                        budget=args.budget,
                        n_candidates=args.candidates,
                        transform="logit",
                        eps=1e-6,
                        estimator=raw_linear() if raw else BradleyTerryLinear(),
                        lam=lam,
                        selector_params=params,
                        random_state=seed,
                        on_round=append,
                        **kw,
                    )
                    last = recs[-1]
                    print(
                        f"seed {seed} {setting:<7} {variant:<18} {HEADLINE[setting]} {last[HEADLINE[setting]]:.4f} "
                        f"best-of-16 {last['best_of_16']:.4f}  ({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )
    first = [
        r for r in read_rounds(first_path) if r.get("config") == config and r["seed"] in args.seeds
    ]
    tables = summarise(read_rounds(rounds_path), first, args, variants_by_setting)
    print_tables(tables)
    if not args.no_record:
        # the command that makes these rows from scratch (--summary-only only re-reads --rounds)
        command = command_line([a for a in sys.argv if a != "--summary-only"])
        run = new_run_id()
        for table, rows in tables.items():
            if rows:
                record_rows(
                    "active",
                    table,
                    [{**r, "policy": policy} if "setting" in r else r for r in rows],
                    run=run,
                    command=command,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
