"""One experiment cell: (dataset, budget, method, seed) -> a JSON-able result row.

The parent process prepares every dataset once (:func:`prepare_dataset`: load, split, embed,
write arrays to ``DIR/prepared/``); each cell then only reads arrays, draws its training pairs,
fits a head (optionally on augmented pairs, or on actively selected pairs) and evaluates it on
the dataset's fixed test split. A cell's result depends only on the cell and the prepared data,
never on which other cells ran before it in the same process, so a resumed run gives the same
rows as an uninterrupted one.

Training draws are nested and shared: for seed ``s``, the training pairs of budget ``b`` are the
first ``b`` of one seed-``s`` draw, whatever the method. Paired differences between methods (and
curves over budgets) therefore compare like with like.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from .._jsonsafe import json_safe, write_json
from ..data import load_preferences, load_scored_responses, split_by_prompt
from ..data.text_features import log_length
from ..embed import (
    CacheUse,
    EmbeddingCache,
    default_cache_dir,
    embed_pairs,
    get_encoder,
    scored_response_features,
)
from ..evaluate.simulate import pairs_from_scores
from ..evaluate.single import evaluate_pairs, evaluate_scored
from ..exceptions import ConfigError, DataError, FormatError
from ..models import LengthBaseline, get_head, pair_log_lengths
from ..synth import augment_pairs
from .active_learning import run_active_learning
from .config import spec_hash

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- what a cell gets


@dataclass(frozen=True)
class DatasetHandle:
    """A prepared dataset as the cells see it: where its arrays are, and its validated config.

    ``kind`` is ``"pairs"``, ``"scored"`` or ``"pair_arrays"``; ``arrays``/``meta`` are the
    prepared files (None for ``pair_arrays``, read from ``spec["train"]``/``spec["test"]``);
    ``spec`` is the dataset's entry of the resolved config.
    """

    name: str
    kind: str
    arrays: str | None
    meta: str | None
    spec: dict


@dataclass(frozen=True)
class CellMethod:
    """One method of the grid (validated by :class:`prefspace.experiments.config.MethodSpec`):
    a head class name of :mod:`prefspace.models` and its ``params``, with optional ``augment``
    (``augment_pairs`` options) or ``select`` (``run_active_learning`` options)."""

    name: str
    head: str
    params: dict = field(default_factory=dict)
    augment: dict | None = None
    select: dict | None = None

    @classmethod
    def from_config(cls, method: dict) -> CellMethod:
        return cls(
            name=method["name"],
            head=method["head"],
            params=dict(method.get("params") or {}),
            augment=method.get("augment"),
            select=method.get("select"),
        )


@dataclass(frozen=True)
class CellTask:
    """One cell to run: the dataset (its handle once prepared), the method, budget, seed, the
    grid's largest budget (for nested draws) and the evaluation options; ``key`` names it in
    ``results.jsonl``."""

    key: str
    dataset_name: str
    method: CellMethod
    budget: int
    seed: int
    max_budget: int
    eval: dict
    dataset: DatasetHandle | None = None


@dataclass(frozen=True)
class CellData:
    """A prepared dataset's arrays in a worker. Pair sets fill ``X_train``/``X_test``; scored
    sets fill the response ``features``, gold ``scores``, ``prompt_index``, the train/test
    ``*_rows`` and the fixed test pairs (``test_chosen``, ``test_rejected``: row indices).
    The texts' log lengths, for the learned length baseline: ``L_train``/``L_test`` (pairs,
    ``(n, 2)``) or ``lengths`` (scored, ``(n_responses,)``); None where there are no texts
    (pair arrays) or the data was prepared before they were recorded."""

    meta: dict
    X_train: Any = None
    X_test: Any = None
    features: Any = None
    scores: Any = None
    prompt_index: Any = None
    train_rows: Any = None
    test_rows: Any = None
    test_chosen: Any = None
    test_rejected: Any = None
    L_train: Any = None
    L_test: Any = None
    lengths: Any = None


# ----------------------------------------------------------------------------- preparation


def prepare_dataset(
    ds: dict, out_dir, *, max_budget: int, cache_use: list[CacheUse] | None = None
) -> DatasetHandle:
    """Load, split and embed one dataset once; return the small handle the cells get.

    Arrays go to ``out_dir/prepared/<name>-<hash>.safetensors`` (reused when present). A pair
    dataset embedded now appends its cache counts to ``cache_use`` (see ``EmbedStats.cache_use``).
    """
    from safetensors.numpy import load_file, save_file

    kind = ds["kind"]
    key = spec_hash({k: v for k, v in ds.items() if k != "cache"})
    prepared = Path(out_dir) / "prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    arrays_path = prepared / f"{ds['name']}-{key}.safetensors"
    if (
        arrays_path.resolve().parent != prepared.resolve()
    ):  # config.py checks names; this is the backstop
        raise ConfigError(
            f"dataset name {str(ds['name'])[:60]!r} would write outside {prepared}; rename it."
        )
    meta_path = arrays_path.with_suffix(".json")
    if kind == "pair_arrays":
        for side in ("train", "test"):
            _load_pair_array(ds[side], side)  # fail early, in the parent
        return DatasetHandle(name=ds["name"], kind=kind, arrays=None, meta=None, spec=ds)
    handle = DatasetHandle(
        name=ds["name"], kind=kind, arrays=str(arrays_path), meta=str(meta_path), spec=ds
    )
    if arrays_path.exists() and meta_path.exists():
        logger.info("reusing prepared %s", arrays_path)
        return handle

    if kind == "pairs":
        arrays, meta = _prepare_pairs(ds, out_dir, cache_use)
    else:
        arrays, meta = _prepare_scored(ds, max_budget)
    with atomic_path(arrays_path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    write_json(meta_path, meta, indent=None)
    load_file(str(arrays_path))  # a corrupt write fails here, not in a worker
    return handle


def _prepare_pairs(ds: dict, out_dir, cache_use: list[CacheUse] | None = None) -> tuple[dict, dict]:
    data = load_preferences(ds["path"], **(ds.get("load") or {}))
    if ds.get("limit"):
        data = data.select(np.arange(min(int(ds["limit"]), len(data))))
    split: dict[str, Any] = {"random_state": int(ds.get("split_seed", 0))}
    if ds.get("test_size") is not None:
        split["test_size"] = int(ds["test_size"])
    else:
        split["test_fraction"] = float(ds.get("test_fraction", 0.2))
    train, test = split_by_prompt(data, **split)
    enc_spec = ds.get("encoder") or "all-MiniLM-L6-v2"
    encoder = get_encoder(**enc_spec) if isinstance(enc_spec, dict) else get_encoder(enc_spec)
    cache = EmbeddingCache(ds.get("cache") or default_cache_dir())  # the cache every command shares
    train_pairs, test_pairs = (embed_pairs(d, encoder, cache=cache) for d in (train, test))
    X_train, X_test = train_pairs.X, test_pairs.X
    if cache_use is not None:
        cache_use.append(train_pairs.stats.merge(test_pairs.stats).cache_use(cache))
    meta = {
        "n_train": len(train),
        "n_test": len(test),
        "test_subset": test.subset,
        "encoder": encoder.fingerprint,
    }
    return {
        "X_train": X_train.astype(np.float32),
        "X_test": X_test.astype(np.float32),
        "L_train": pair_log_lengths(train.chosen, train.rejected),
        "L_test": pair_log_lengths(test.chosen, test.rejected),
    }, meta


def _prepare_scored(ds: dict, max_budget: int) -> tuple[dict, dict]:
    scored = load_scored_responses(ds["responses"], prompts=ds["prompts"], **(ds.get("load") or {}))
    n_prompts = scored.n_prompts
    rng = np.random.default_rng(int(ds.get("split_seed", 0)))
    order = rng.permutation(n_prompts)
    if ds.get("test_size") is not None:
        n_test = int(ds["test_size"])
    else:
        n_test = int(round(float(ds.get("test_fraction", 0.2)) * n_prompts))
    if not 1 <= n_test < n_prompts:
        raise ConfigError(
            f"dataset {ds['name']!r}: test_size must leave prompts on both sides; got {n_test} of {n_prompts}."
        )
    test_prompts = np.sort(order[:n_test])
    is_test = np.isin(scored.prompt_index, test_prompts)
    test_rows = np.flatnonzero(is_test)
    train_rows = np.flatnonzero(~is_test)
    # Held-out pairs for accuracy and calibration: noiseless, within test prompts, fixed.
    sim = dict(ds.get("simulate") or {})
    test_pairs = pairs_from_scores(
        scored,
        int(ds.get("test_pairs", 2000)),
        within_prompt=True,
        strategy="random",
        noise="none",
        transform=sim.get("transform"),
        rows=test_rows,
        random_state=int(ds.get("split_seed", 0)) + 1,
    )
    arrays = {
        "scores": scored.scores.astype(np.float64),
        "prompt_index": scored.prompt_index.astype(np.int64),
        "train_rows": train_rows.astype(np.int64),
        "test_rows": test_rows.astype(np.int64),
        "test_chosen": test_pairs.chosen,
        "test_rejected": test_pairs.rejected,
        "lengths": log_length(scored.responses),
    }
    meta = {"n_responses": len(scored), "n_prompts": n_prompts, "n_test_prompts": int(n_test)}
    return arrays, meta


def _load_pair_array(path, side: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise DataError(f"pair_arrays {side}: {p} not found.")
    if p.suffix == ".safetensors":
        from safetensors.numpy import load_file

        arrays = load_file(str(p))
        if "X" not in arrays:
            raise FormatError(
                f"{p}: expected a tensor named 'X' of shape (n_pairs, 2, D); found {sorted(arrays)}."
            )
        X = arrays["X"]
    else:
        X = np.load(p, allow_pickle=False)
    if X.ndim != 3 or X.shape[1] != 2:
        raise DataError(
            f"{p}: pair arrays must have shape (n_pairs, 2, D) with [:, 0] chosen; got {X.shape}."
        )
    return X.astype(np.float32)


# ----------------------------------------------------------------------------- loading in a worker

_LOADED: dict[str, CellData] = {}


def _load(handle: DatasetHandle) -> CellData:
    """The arrays a cell needs, loaded once per process."""
    cache_key = json.dumps(asdict(handle), sort_keys=True, default=str)
    if cache_key in _LOADED:
        return _LOADED[cache_key]
    ds = handle.spec
    if handle.kind == "pair_arrays":
        data = CellData(
            meta={},
            X_train=_load_pair_array(ds["train"], "train"),
            X_test=_load_pair_array(ds["test"], "test"),
        )
    else:
        from safetensors.numpy import load_file

        assert handle.arrays is not None and handle.meta is not None  # prepared kinds have both
        arrays = dict(load_file(handle.arrays))
        meta = json.loads(Path(handle.meta).read_text(encoding="utf-8"))
        if handle.kind == "scored":
            arrays["features"] = scored_features(
                ds["prompt_embeddings"], ds["response_embeddings"], arrays["prompt_index"]
            )
        data = CellData(meta=meta, **arrays)
    _LOADED.clear()  # keep one dataset in memory per worker
    _LOADED[cache_key] = data
    return data


def scored_features(prompt_embeddings, response_embeddings, prompt_index) -> np.ndarray:
    """Response rows for a scored set from precomputed embeddings (the "separate" layout).

    Returns float32 ``(n_responses, 2 * dim)``: ``[prompt embedding, response embedding]``, built
    by :func:`prefspace.embed.scored_response_features` (the same rows serving would see).
    """
    P = np.load(prompt_embeddings, allow_pickle=False)
    view = _ScoredView(None, prompt_index, n_prompts=len(P))
    return scored_response_features(view, P, response_embeddings)


# ----------------------------------------------------------------------------- one cell


def cell_key(dataset: str, budget: int, method: str, seed: int, spec: str) -> str:
    return f"{dataset}|{budget}|{method}|{seed}|{spec}"


def run_cell(task: CellTask) -> dict:
    """Train and evaluate one cell (its dataset handle set by the runner); return the result row."""
    start = time.perf_counter()
    handle, method = task.dataset, task.method
    if handle is None:
        raise ConfigError(f"cell {task.key}: its dataset {task.dataset_name!r} was not prepared.")
    budget, seed = int(task.budget), int(task.seed)
    ev = task.eval or {}
    data = _load(handle)
    row = {
        "key": task.key,
        "dataset": handle.name,
        "kind": handle.kind,
        "budget": budget,
        "method": method.name,
        "seed": seed,
        "head": method.head,
    }
    if method.augment:  # what the synthesis is compared with: repeat at the same head and factor
        row["augment"] = method.augment.get("method", "lens")
        row["factor"] = int(method.augment.get("factor", 4))
    if method.select:
        row["n_train"] = budget
        row.update(_run_selection(method, handle, data, budget, seed))
    else:
        X_train, y_info, L_train = _training_pairs(handle, data, budget, seed, int(task.max_budget))
        model, fit_info = _fit_method(method, X_train, seed, report_pairs=_test_pairs(handle, data))
        row.update({"n_train": int(len(X_train)), **y_info, **fit_info})
        row.update(_evaluate(model, handle, data, ev, seed))
        if L_train is not None:
            row["length_baseline"] = _evaluate_length_baseline(L_train, handle, data, ev, seed)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _training_pairs(
    handle: DatasetHandle, data: CellData, budget: int, seed: int, max_budget: int
) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """The cell's training pairs, extra row fields, and the pairs' log lengths (None without texts)."""
    if handle.kind in ("pairs", "pair_arrays"):
        X = data.X_train
        if budget > len(X):
            raise ConfigError(
                f"dataset {handle.name!r}: budget {budget} exceeds the {len(X)} training pairs. "
                "Lower the budget or use a larger split."
            )
        order = np.random.default_rng(seed).permutation(len(X))
        L = None if data.L_train is None else data.L_train[order[:budget]]
        return X[order[:budget]], {}, L
    sim = dict(handle.spec.get("simulate") or {})
    scored = _ScoredView(data.scores, data.prompt_index)
    pairs = pairs_from_scores(scored, max_budget, rows=data.train_rows, random_state=seed, **sim)
    first = np.arange(budget)
    X = np.stack([data.features[pairs.chosen[first]], data.features[pairs.rejected[first]]], axis=1)
    flipped = float(np.mean(pairs.gold_gap[first] < 0))
    L = (
        None
        if data.lengths is None
        else np.stack(
            [data.lengths[pairs.chosen[first]], data.lengths[pairs.rejected[first]]], axis=1
        )
    )
    return X, {"label_flip_rate": flipped}, L


class _ScoredView:
    """The columns :func:`pairs_from_scores` and ``scored_response_features`` read."""

    def __init__(self, scores, prompt_index, n_prompts: int | None = None):
        self.scores = scores
        self.prompt_index = np.asarray(prompt_index, dtype=np.int64)
        n = int(self.prompt_index.max()) + 1 if n_prompts is None else n_prompts
        self.prompts = range(n)
        self.responses = range(self.prompt_index.size)


def _make_head(method: CellMethod, seed: int):
    """The method's head, seeded with the cell's seed unless its params give a random_state."""
    params = dict(method.params)
    return get_head(method.head, random_state=params.pop("random_state", seed), **params)


def _fit_method(method: CellMethod, X_train: np.ndarray, seed: int, report_pairs=None):
    info: dict = {}
    aug = method.augment
    head = _make_head(method, seed)
    if aug:
        aug = dict(aug)
        kind = aug.pop("method", "lens")
        factor = aug.pop("factor", 4)
        t0 = time.perf_counter()
        augmented = augment_pairs(
            X_train,
            method=kind,
            factor=factor,
            estimator=_make_head(method, seed),
            random_state=seed,
            report_pairs=report_pairs,
            **aug,
        )
        info["augment_seconds"] = round(time.perf_counter() - t0, 3)
        info["n_synthetic"] = int(len(augmented.X) - len(X_train))
        info["augment_info"] = json_safe(augmented.report.to_json(), default=str, max_array_size=64)
        if augmented.report.heldout_variance_kept is not None:
            info["heldout_variance_kept"] = augmented.report.heldout_variance_kept
        # parent and groups go to fit: the head's validation pairs stay real
        head.fit(augmented.X, sample_weight=augmented.sample_weight, **augmented.fit_params)
    else:
        head.fit(X_train)
    return head, info


def _run_selection(
    method: CellMethod, handle: DatasetHandle, data: CellData, budget: int, seed: int
) -> dict:
    """An active-labelling cell: :func:`~prefspace.experiments.run_active_learning` spends
    ``budget`` labels in rounds on the training prompts and is scored on this dataset's test
    prompts. Its simulated annotator is the one passive cells draw their pairs by.

    The simulation trains and scores the model itself, so these cells report its metrics
    (``spearman``, ``bon@<N>``, per round in ``rounds``) and no pairwise accuracy or calibration.
    """
    if handle.kind != "scored":
        raise ConfigError(
            f"method {method.name!r}: selection needs a scored dataset (gold scores to label with); "
            f"{handle.name!r} is {handle.kind!r}."
        )
    sel = dict(method.select or {})
    strategy = sel.pop("strategy", "random")
    sim = dict(handle.spec.get("simulate") or {})
    for key in ("within_prompt", "noise", "beta", "transform", "eps"):
        if key in sim and key not in sel:
            sel[key] = sim[key]
    sel.setdefault("batch_size", max(1, min(250, budget // 4)))
    best_of = int(sel.pop("best_of", 16))
    test_prompts = np.unique(data.prompt_index[data.test_rows])
    records = run_active_learning(
        data.features,
        data.prompt_index,
        data.scores,
        strategy=strategy,
        budget=budget,
        estimator=_make_head(method, seed),
        test_prompts=test_prompts,
        best_of=best_of,
        random_state=seed,
        **sel,
    )
    last = records[-1]
    return {
        "strategy": strategy,
        "spearman": last.get("spearman"),
        f"bon@{best_of}": last.get(f"best_of_{best_of}"),
        "rounds": [json_safe(r) for r in records],
    }


def _test_pairs(handle: DatasetHandle, data: CellData) -> np.ndarray:
    """The dataset's fixed held-out pairs (n, 2, D)."""
    if handle.kind in ("pairs", "pair_arrays"):
        return data.X_test
    F = data.features
    return np.stack([F[data.test_chosen], F[data.test_rejected]], axis=1)


class _LengthRows:
    """The learned length baseline as a model on one-column rows (a response's log length)."""

    def __init__(self, baseline):
        self.baseline = baseline

    def predict(self, E) -> np.ndarray:
        return self.baseline.predict(np.asarray(E, dtype=np.float64)[:, 0])


#: what a cell records of its learned length baseline (the metrics the summaries compare)
LENGTH_BASELINE_METRICS = ("accuracy", "ci_low", "ci_high", "ece", "spearman", "kendall")


def _evaluate_length_baseline(
    L_train: np.ndarray, handle: DatasetHandle, data: CellData, ev: dict, seed: int
) -> dict:
    """The learned length baseline fitted on the cell's training pairs, measured like the model
    on the same test pairs (and prompts): the same keys as the row's own metrics."""
    base = LengthBaseline().fit(L_train)
    if handle.kind == "scored":
        view = replace(data, features=data.lengths[:, None])
    else:
        view = replace(data, X_test=data.L_test[:, :, None])
    out = _evaluate(_LengthRows(base), handle, view, {**ev, "n_boot": 0}, seed)
    kept = {k: out[k] for k in LENGTH_BASELINE_METRICS if k in out}
    kept.update(
        {k: v for k, v in out.items() if k.startswith("bon@") and not k.endswith(("_low", "_high"))}
    )
    kept.update(coef=base.coef_, direction=base.direction_, reliability=out["reliability"])
    return kept


def _evaluate(model, handle: DatasetHandle, data: CellData, ev: dict, seed: int) -> dict:
    """The measuring stage's own evaluation (``evaluate_pairs``, ``evaluate_scored``), so a
    cell's metrics carry the same names and values as ``prefspace evaluate`` writes."""
    X_test = _test_pairs(handle, data)
    subsets = (data.meta or {}).get("test_subset") or None
    out = evaluate_pairs(
        model,
        X_test,
        subsets=subsets,
        n_boot=int(ev.get("n_boot", 1000)),
        n_bins=int(ev.get("n_bins", 10)),
        random_state=seed,
    )
    if handle.kind == "scored":
        rows = data.test_rows
        scored = evaluate_scored(
            model,
            data.features[rows],
            data.scores[rows],
            data.prompt_index[rows],
            ns=ev.get("best_of_n"),
            n_boot=int(ev.get("n_boot", 1000)),
            random_state=seed,
        )
        out.update(scored)
        out["gold_range"] = [float(np.min(data.scores)), float(np.max(data.scores))]
        curve = scored["best_of_n"]
        nan = [float("nan")] * len(curve["n"])
        for n, v, lo, hi in zip(
            curve["n"], curve["model"], curve.get("model_low", nan), curve.get("model_high", nan)
        ):
            out[f"bon@{n}"] = v
            out[f"bon@{n}_low"], out[f"bon@{n}_high"] = lo, hi
    return json_safe(out)
