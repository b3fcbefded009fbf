"""Use a saved reward model on a file: what ``prefspace score``, ``evaluate`` and ``select`` run.

Every function here turns text into features and rewards through
:class:`prefspace.models.RewardScorer` (the model's own encoder, the embedding cache), the same
object the server and the TRL reward function use:

- :func:`score_file`: a reward for every response of a file of pairs or of prompt/response rows.
- :func:`evaluate_model_dir`: one model's metrics, plots and report on pairs or on scored responses.
- :func:`select_for_labeling`: the candidate pairs most worth sending to annotators.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from .._jsonsafe import write_jsonl as write_json_lines
from .._paths import check_output
from .._progress import ProgressCallback, report_progress
from .._surface import option
from .._validation import check_in, check_whole
from ..data import PreferenceDataset, load_preferences, load_scored_responses
from ..data.rules import MAX_TEXT_CHARS
from ..data.scored import looks_like_response_rows, read_response_rows, read_responses
from ..data.text_features import log_length
from ..embed import default_cache_dir, encoder_from_config, get_encoder
from ..embed.pipeline import CacheUse, pair_response_rows
from ..evaluate.reward_bench import (
    best_of_k_results,
    check_benchmark,
    load_best_of_k,
    reward_bench_2_scores,
    reward_bench_scores,
    score_best_of_k,
)
from ..evaluate.single import evaluate_pairs, evaluate_scored, write_evaluation
from ..exceptions import ConfigError, DataError, FormatError
from ..models import (
    RewardScorer,
    cross_fit_length_rewards,
    cross_fit_scored_length_rewards,
    describe_model,
    load_length_baseline,
    pair_log_lengths,
)
from ..select import STRATEGIES
from ..select.candidates import choose_pairs, write_jsonl
from .training import HELD_OUT_FILE, SPLIT_FILE

logger = logging.getLogger(__name__)

__all__ = [
    "ScoreSummary",
    "Evaluation",
    "EvaluationFiles",
    "SelectionSummary",
    "score_file",
    "evaluate_model_dir",
    "select_for_labeling",
    "pair_features",
    "model_encoder",
]


@dataclass(frozen=True)
class ScoreSummary:
    """What :func:`score_file` wrote.

    Attributes
    ----------
    mode : ``"pairs"`` or ``"rows"`` (prompt/response rows); n : lines written; out : the file
    cache : :class:`prefspace.embed.CacheUse`, the embedding cache used and what it held
    columns : rows mode: the input columns kept on each line (empty for pairs)
    accuracy : pairs: the share of pairs whose chosen response scores strictly higher (else None)
    duplicates : pairs: exact duplicate pairs found in the data (else None)
    """

    mode: str
    n: int
    out: str
    cache: CacheUse
    columns: tuple[str, ...] = ()
    accuracy: float | None = None
    duplicates: int | None = None

    def to_json(self) -> dict:
        """``{"mode", "n", "columns" | "accuracy", "duplicates", "out", "cache"}``."""
        if self.mode == "rows":
            by_mode: dict = {"columns": list(self.columns)}
        else:
            by_mode = {"accuracy": self.accuracy, "duplicates": self.duplicates}
        return {
            "mode": self.mode,
            "n": self.n,
            **by_mode,
            "out": self.out,
            "cache": self.cache.to_json(),
        }


@dataclass(frozen=True)
class EvaluationFiles:
    """The files :func:`evaluate_model_dir` wrote: ``metrics.json``, ``report.html``, the plots
    (None when the data has no such figure) and, with a benchmark, every example's scores."""

    metrics_json: Path
    report_html: Path
    reliability_plot: Path | None = None
    best_of_n_plot: Path | None = None
    per_example: Path | None = None

    def to_json(self) -> dict:
        """The paths as strings, by name; the files not written are left out."""
        paths = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: str(path) for name, path in paths if path is not None}


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_model_dir` measured and wrote.

    Attributes
    ----------
    metrics : what ``metrics.json`` holds: the metrics of
        :func:`prefspace.evaluate.single.evaluate_pairs` or ``evaluate_scored`` (keyed by metric
        name, which differs by kind of data), ``length_baseline_fit``, any benchmark's scores,
        ``data`` and ``cache``
    data : the data evaluated on (the model's held-out pairs when none was given)
    cache : :class:`prefspace.embed.CacheUse`, the embedding cache used and what it held
    files : :class:`EvaluationFiles`, the files written under the output folder
    """

    metrics: dict
    data: str
    cache: CacheUse
    files: EvaluationFiles


@dataclass(frozen=True)
class SelectionSummary:
    """What :func:`select_for_labeling` chose and wrote.

    Attributes
    ----------
    n_pairs : pairs written; strategy : the strategy's name; out : the file
    pool : ``"within"`` or ``"cross"`` (pairs within a prompt or across prompts)
    n_candidates : candidate pairs considered; n_responses, n_prompts : of the pool
    n_excluded : candidate pairs already labelled (None without labelled data)
    cache : :class:`prefspace.embed.CacheUse`, the embedding cache used and what it held
    """

    n_pairs: int
    strategy: str
    pool: str
    n_candidates: int
    n_responses: int
    n_prompts: int
    n_excluded: int | None
    out: str
    cache: CacheUse

    def to_json(self) -> dict:
        """The summary by field name, ``cache`` as :meth:`CacheUse.to_json`."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "cache": self.cache.to_json()}


def pair_features(scorer: RewardScorer, dataset: PreferenceDataset) -> np.ndarray:
    """Feature rows of every pair of ``dataset``: float32 ``(n_pairs, 2, D)``, ``[:, 0]`` chosen.

    The rows are those ``embed_pairs`` gives with the scorer's encoder (the same
    ``embed_responses`` call underneath).
    """
    n = len(dataset)
    rows = scorer.features(*pair_response_rows(dataset))
    return np.ascontiguousarray(np.stack([rows[:n], rows[n:]], axis=1), dtype=np.float32)


def model_encoder(
    model_dir: str | os.PathLike,
    name: str | None = None,
    *,
    layout: str | None = None,
    device: str | None = None,
    backend: str | None = None,
):
    """The encoder to use with a saved model: ``None`` (the recorded one, rebuilt by
    :class:`~prefspace.models.RewardScorer`) unless a name, layout or device is given.

    ``name`` builds that encoder (``get_encoder(name, layout=..., device=...)``); without it the
    recorded encoder's config is rebuilt with the ``layout``/``device`` overrides. The scorer then
    refuses an encoder whose fingerprint differs from the model's (its rewards would be
    meaningless); the device never changes the fingerprint. ``backend`` (``"onnx-int8"``...) runs
    the named or recorded model with that backend; it is part of the fingerprint, so it must be
    the one the model was trained with.
    """
    overrides: dict[str, Any] = {
        k: v for k, v in (("layout", layout), ("device", device)) if v is not None
    }
    if name is None and backend is None and not overrides:
        return None
    recorded = (describe_model(model_dir).encoder or {}).get("config")
    # how the model's rows were built beyond the encoder's weights: the text-feature block and
    # the long-text windows go with any encoder named here, so the rows are the training rows
    same_rows: dict[str, Any] = {
        "text_features": (recorded or {}).get("text_features") or False,
        **{k: recorded[k] for k in ("long_texts", "max_windows") if recorded and k in recorded},
    }
    if name is not None:
        return get_encoder(name, backend=backend or "auto", **same_rows, **overrides)
    if not recorded:
        raise FormatError(
            f"{model_dir} was saved without an encoder; pass {option('encoder', 'NAME', flag='--encoder')}."
        )
    if backend is not None:
        return get_encoder(
            recorded.get("model") or "all-MiniLM-L6-v2", backend=backend, **same_rows, **overrides
        )
    return encoder_from_config({**recorded, **overrides})


def _cache_path(cache: Any) -> Any:
    """The folder of an embedding cache given as a path or an ``EmbeddingCache`` (for the guard)."""
    return getattr(cache, "directory", cache)


def _scorer(
    model_dir: str | os.PathLike, cache: Any, encoder: Any = None, length_controlled: bool = False
) -> RewardScorer:
    # one pass over a file: nothing is scored twice, so no in-memory rows (the disk cache stays)
    return RewardScorer(
        model_dir, encoder=encoder, cache=cache, lru_size=0, length_controlled=length_controlled
    )


# ------------------------------------------------------------------------------------ score
def score_file(
    model_dir: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    cache: Any = None,
    response_key: str = "response",
    load_kwargs: Mapping[str, Any] | None = None,
    encoder: Any = None,
    progress: ProgressCallback | None = None,
    length_controlled: bool = False,
) -> ScoreSummary:
    """Write one JSON line with rewards for every pair or response of ``data`` to ``out``.

    ``data`` holds either preference pairs (any format ``load_preferences`` reads, with
    ``load_kwargs``; each line has the pair's ``id``, its ``subset`` when the data has one,
    its ``prompt``, ``chosen`` and ``rejected``, ``reward_chosen``, ``reward_rejected`` and ``p_chosen`` = P(chosen wins)) or prompt/response
    rows: rows that have ``response_key`` and neither ``chosen`` nor ``response_a``. A row's line
    keeps every column of the input row (the prompt, the response, ids such as ``prompt_id``
    or ``generator``), then its ``id`` (from ``load_kwargs["id_key"]``
    or ``"id"``, else the row number) and its ``reward``. Rows mode reads ``load_kwargs``'
    ``prompt_key`` (default ``"prompt"``), ``split``, ``limit``, ``on_bad_rows`` and
    ``max_text_chars``, and checks each row by the rules of :mod:`prefspace.data.rules` (a
    score column, when present, must hold finite numbers).

    ``encoder``: embed with this encoder instead of the recorded one (see
    :func:`model_encoder`; a different fingerprint is refused). ``progress``: a
    :data:`~prefspace._progress.ProgressCallback` for the embedding. ``length_controlled``: the
    rewards without the model's text-feature block (``RewardScorer(length_controlled=True)``;
    ``p_chosen`` then compares those rewards).

    Returns a :class:`ScoreSummary`: the mode (``"pairs"`` or ``"rows"``), the lines written,
    the input columns kept (rows mode) or, for pairs, the accuracy (the share of pairs whose
    chosen response scores strictly higher) and duplicates, and which embedding cache was used
    and how many texts were found there.
    """
    check_output(out, inputs=[model_dir, data], caches=[_cache_path(cache)], what=option("out"))
    load_kwargs = dict(load_kwargs or {})
    split = load_kwargs.get("split")
    # the data is read and checked first: a bad row stops before the model and encoder load
    with report_progress(progress):
        if looks_like_response_rows(data, response_key=response_key, split=split):
            rows = read_response_rows(
                data,
                prompt_key=load_kwargs.get("prompt_key") or "prompt",
                response_key=response_key,
                id_key=load_kwargs.get("id_key") or "id",
                split=split,
                limit=load_kwargs.get("limit"),
                on_bad_rows=load_kwargs.get("on_bad_rows", "error"),
                max_text_chars=load_kwargs.get("max_text_chars", MAX_TEXT_CHARS),
            )
            scorer = _scorer(model_dir, cache, encoder, length_controlled)
            lines, by_mode = _score_rows(scorer, rows)
        else:
            dataset = load_preferences(data, **load_kwargs)
            scorer = _scorer(model_dir, cache, encoder, length_controlled)
            lines, by_mode = _score_pairs(scorer, dataset, length_controlled)
        write_jsonl(out, lines)
    return ScoreSummary(n=len(lines), out=str(out), cache=scorer.cache_use(), **by_mode)


def _score_rows(scorer: RewardScorer, rows: Any) -> tuple[list[dict], dict]:
    """One line per prompt/response row (its columns, ``id``, ``reward``) and the
    :class:`ScoreSummary` fields of rows mode."""
    rewards = scorer.score(rows.prompts, rows.responses)
    lines = [
        {**cols, "id": i, "reward": float(r)} for cols, i, r in zip(rows.extra, rows.ids, rewards)
    ]
    kept = tuple(dict.fromkeys(k for cols in rows.extra for k in cols))
    return lines, {"mode": "rows", "columns": kept}


def _score_pairs(
    scorer: RewardScorer, dataset: PreferenceDataset, length_controlled: bool
) -> tuple[list[dict], dict]:
    """One line per pair (its texts, both rewards, ``p_chosen``) and the :class:`ScoreSummary`
    fields of pairs mode."""
    X = pair_features(scorer, dataset)
    rewards = scorer.predict(X.reshape(-1, X.shape[2])).reshape(len(X), 2)
    p = (
        expit(rewards[:, 0] - rewards[:, 1])
        if length_controlled
        else scorer.p_first_wins(X[:, 0], X[:, 1])
    )
    subsets = dataset.subset if dataset.subset is not None else [None] * len(dataset)
    lines = [
        {
            "id": i,
            **({"subset": sub} if sub is not None else {}),
            "prompt": pr,
            "chosen": ch,
            "rejected": rj,
            "reward_chosen": float(rc),
            "reward_rejected": float(rr),
            "p_chosen": float(pc),
        }
        for i, sub, pr, ch, rj, rc, rr, pc in zip(
            dataset.ids,
            subsets,
            dataset.prompts,
            dataset.chosen,
            dataset.rejected,
            rewards[:, 0],
            rewards[:, 1],
            p,
        )
    ]
    return lines, {
        "mode": "pairs",
        "accuracy": float(np.mean(rewards[:, 0] > rewards[:, 1])),
        "duplicates": dataset.info.duplicates,
    }


# ------------------------------------------------------------------------------------ evaluate
def evaluate_model_dir(
    model_dir: str | os.PathLike,
    data: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    prompts: str | os.PathLike | None = None,
    score_key: str | None = None,
    limit_prompts: int | None = None,
    cache: Any = None,
    n_boot: int = 1000,
    load_kwargs: Mapping[str, Any] | None = None,
    benchmark: str | None = None,
    encoder: Any = None,
    figure_format: str = "png",
    progress: ProgressCallback | None = None,
) -> Evaluation:
    """Metrics, plots and a report for the saved model in ``model_dir`` on ``data``, under ``out``.

    ``data`` None: the model's own held-out pairs, ``model_dir/test.jsonl``, written by
    ``prefspace train`` (refused, naming the fix, when the model has none).

    Pairs (no ``prompts``): :func:`prefspace.evaluate.single.evaluate_pairs`, i.e. accuracy with
    a bootstrap interval (``n_boot`` resamples), TRL metrics, per-subset accuracy, calibration;
    ``data`` is read by ``load_preferences`` with ``load_kwargs``. Scored responses (with the
    ``prompts`` file joined to them): :func:`~prefspace.evaluate.single.evaluate_scored`, i.e.
    best-of-N with oracle and random, per-prompt Spearman and Kendall; ``limit_prompts`` keeps
    the first N prompts. A single file of prompt/response rows with a score column is read as
    scored responses too (no ``prompts`` needed). ``cache``: the embedding cache (default
    :func:`prefspace.embed.default_cache_dir`; ``Evaluation.cache`` says how many texts were
    found there). ``encoder``:
    as for :func:`score_file`. ``figure_format``: ``"png"`` (default), ``"svg"`` or ``"pdf"``
    for the plots beside the report (the report embeds PNGs). ``progress``: a
    :data:`~prefspace._progress.ProgressCallback` for the embedding.

    ``benchmark="reward-bench"``: pairs with a ``subset`` column, evaluated as above plus
    reward-bench's section and overall scores (``metrics["reward_bench"]``, see
    :func:`prefspace.evaluate.reward_bench.reward_bench_scores`). ``benchmark="reward-bench-2"``:
    reward-bench 2's rows (a prompt, lists of chosen and rejected responses), scored into
    ``metrics["reward_bench_2"]`` (best-of-4 per subset, Ties, the overall score); ``load_kwargs``
    then only gives ``split``, ``limit`` and the column keys. Both also write every example's
    scores, as reward-bench does, to ``out/reward_bench_scores.jsonl`` (per pair: ``id``,
    ``subset``, ``reward_chosen``, ``reward_rejected``, ``correct``) or
    ``out/reward_bench_2_scores.jsonl`` (per example: ``id``, ``subset``, ``rewards`` with the
    chosen ones first, ``num_correct``, ``score``).

    Returns an :class:`Evaluation`: the metrics (also in ``out/metrics.json``, with ``data`` and
    ``cache``), the data, the cache used and the :class:`EvaluationFiles` written (metrics,
    report, plots, per-example scores).
    """
    if data is None:
        data = _held_out(model_dir)
    cache = cache if cache is not None else default_cache_dir()
    check_output(
        out,
        inputs=[model_dir, data, prompts],
        caches=[_cache_path(cache)],
        kind="folder",
        what=option("out"),
    )
    check_benchmark(benchmark)
    if benchmark is not None and prompts is not None:
        raise ConfigError(
            f"{option('benchmark', benchmark)} reads its own data format; leave out "
            f"{option('prompts')}."
        )
    scorer = partial(_scorer, model_dir, cache, encoder)  # built once the data has been read
    with report_progress(progress):
        result, per_example, used = _measure(
            scorer,
            model_dir,
            data,
            dict(load_kwargs or {}),
            benchmark=benchmark,
            prompts=prompts,
            score_key=score_key,
            limit_prompts=limit_prompts,
            n_boot=n_boot,
        )
    cache_use = used.cache_use()
    result["data"] = str(data)
    result["cache"] = cache_use.to_json()
    files = _write_evaluation(
        result, per_example, model_dir, data, Path(out), benchmark, figure_format
    )
    return Evaluation(metrics=result, data=str(data), cache=cache_use, files=files)


def _held_out(model_dir) -> Path:
    """The test pairs ``prefspace train`` wrote beside the model, or a ConfigError naming the fix."""
    path = Path(model_dir) / HELD_OUT_FILE
    if path.is_file():
        return path
    split = Path(model_dir) / SPLIT_FILE
    why = (
        f"it was trained without test pairs ({option('test_fraction', 0)})"
        if split.is_file()
        else "it was not written by `prefspace train` (or by a version before held-out pairs were kept)"
    )
    raise ConfigError(
        f"{model_dir} has no held-out pairs ({HELD_OUT_FILE}): {why}. Pass a data file to evaluate on."
    )


def _scored_rows(data, load_kwargs: dict, prompts) -> bool:
    """True when ``data`` (without ``prompts``) holds prompt/response rows rather than pairs."""
    if prompts is not None:
        return False
    return looks_like_response_rows(data, response_key="response", split=load_kwargs.get("split"))


def _measure(
    make_scorer,
    model_dir,
    data,
    load_kwargs: dict,
    *,
    benchmark,
    prompts,
    score_key,
    limit_prompts,
    n_boot,
):
    """The metrics of a benchmark's rows, of pairs or of scored responses: ``(result,
    per-example lines or None, scorer)``. The data is read and checked first: a bad row stops
    before ``make_scorer`` loads the model and encoder."""
    if benchmark == "reward-bench-2":
        return _evaluate_best_of_k(make_scorer, data, load_kwargs, n_boot)
    if prompts is None and (benchmark is not None or not _scored_rows(data, load_kwargs, prompts)):
        return _evaluate_pair_file(make_scorer, model_dir, data, load_kwargs, benchmark, n_boot)
    # scored responses: joined to a prompts file, or one file of rows that carry their prompt
    keys = {
        k: load_kwargs[k]
        for k in ("on_bad_rows", "max_text_chars", "prompt_key", "id_key", "split")
        if load_kwargs.get(k) is not None
    }
    scored = _load_scored(data, prompts, score_key, keys)
    result, used = _evaluate_scored_file(make_scorer(), model_dir, scored, limit_prompts, n_boot)
    return result, None, used


def _write_evaluation(
    result: dict, per_example, model_dir, data, out: Path, benchmark, figure_format: str
) -> EvaluationFiles:
    """``metrics.json``, the plots and the report, and a benchmark's per-example scores."""
    paths = write_evaluation(
        result,
        out,
        title=f"Evaluation of {Path(model_dir).name}",
        meta=f"model {model_dir}; data {data}",
        figure_format=figure_format,
    )
    if per_example is not None:
        file = out / (
            "reward_bench_2_scores.jsonl"
            if benchmark == "reward-bench-2"
            else "reward_bench_scores.jsonl"
        )
        paths["per_example"] = write_json_lines(file, per_example)
    return EvaluationFiles(**paths)


def _evaluate_best_of_k(make_scorer, data, load_kwargs: dict, n_boot: int):
    """reward-bench 2: ``(result, per-example lines, scorer)``."""
    keys = {
        k: load_kwargs[k]
        for k in ("prompt_key", "chosen_key", "rejected_key", "subset_key", "id_key")
        if load_kwargs.get(k)
    }
    examples = load_best_of_k(
        data, split=load_kwargs.get("split"), limit=load_kwargs.get("limit"), **keys
    )
    scorer = make_scorer()
    rewards = score_best_of_k(scorer.score, examples)
    result = {
        "reward_bench_2": reward_bench_2_scores(
            rewards, examples.num_correct, examples.subsets, examples.ids, n_boot=n_boot
        )
    }
    per_example = [
        {
            "id": i,
            "subset": sub,
            "rewards": [float(v) for v in r],
            "num_correct": int(k),
            "score": float(sc),
        }
        for i, sub, r, k, sc in zip(
            examples.ids,
            examples.subsets,
            rewards,
            examples.num_correct,
            best_of_k_results(rewards),
        )
    ]
    return result, per_example, scorer


def _evaluate_pair_file(make_scorer, model_dir, data, load_kwargs: dict, benchmark, n_boot: int):
    """Pairs (and reward-bench's scores): ``(result, per-example lines or None, scorer)``."""
    dataset = load_preferences(data, **load_kwargs)
    if benchmark == "reward-bench" and dataset.subset is None:
        raise DataError(
            f"{data}: reward-bench scores need each pair's subset; the data has no 'subset' column "
            f"(name it with {option('subset_key')})."
        )
    scorer = make_scorer()
    X = pair_features(scorer, dataset)
    groups = np.unique(
        np.asarray(dataset.prompt_keys(), dtype=object).astype(str), return_inverse=True
    )[1].ravel()
    baseline, fit = _pair_baseline(
        model_dir, pair_log_lengths(dataset.chosen, dataset.rejected), groups
    )
    result = evaluate_pairs(
        scorer.model, X, subsets=dataset.subset, n_boot=n_boot, baseline=baseline, groups=groups
    )
    result["length_baseline_fit"] = fit
    if benchmark != "reward-bench" or dataset.subset is None:  # reward-bench has subsets (above)
        return result, None, scorer
    r = scorer.predict(X.reshape(-1, X.shape[2])).reshape(len(X), 2)
    result["reward_bench"] = reward_bench_scores(r[:, 0], r[:, 1], dataset.subset, n_boot=n_boot)
    per_example = [
        {
            "id": i,
            "subset": sub,
            "reward_chosen": float(rc),
            "reward_rejected": float(rr),
            "correct": bool(rc > rr),
        }
        for i, sub, rc, rr in zip(dataset.ids, dataset.subset, r[:, 0], r[:, 1])
    ]
    return result, per_example, scorer


def _evaluate_scored_file(scorer: RewardScorer, model_dir, scored, limit_prompts, n_boot: int):
    """Scored responses (the first ``limit_prompts`` prompts): ``(result, scorer)``."""
    rows = np.arange(len(scored))
    if limit_prompts is not None:
        rows = np.flatnonzero(scored.prompt_index < limit_prompts)
    if rows.size == 0:
        raise ConfigError(f"{option('limit_prompts')} left no responses to evaluate.")
    row_prompts = scored.row_prompts()
    F = scorer.features([row_prompts[i] for i in rows], [scored.responses[i] for i in rows])
    lengths = log_length([scored.responses[i] for i in rows])
    stored = load_length_baseline(model_dir)
    if stored is not None:
        baseline = stored.predict(lengths)
        fit = {"source": "the model's training pairs", **stored.to_dict()}
    else:
        baseline = cross_fit_scored_length_rewards(
            lengths, scored.scores[rows], scored.prompt_index[rows]
        )
        fit = {
            "source": _CROSS_FIT_SOURCE.format(
                what="within-prompt pairs of the other folds' responses"
            ),
            "direction": "longer"
            if np.median(baseline / np.maximum(lengths, 1e-12)) > 0
            else "shorter",
        }
    result = evaluate_scored(
        scorer.model,
        F,
        scored.scores[rows],
        scored.prompt_index[rows],
        n_boot=n_boot,
        baseline=baseline,
    )
    result["length_baseline_fit"] = fit
    return result, scorer


def _load_scored(data, prompts, score_key, keys: dict):
    """Scored responses, from rows that carry their prompt or joined to a prompts file; an error
    about a missing column names the option that fixes it."""
    try:
        return load_scored_responses(data, prompts=prompts, score_key=score_key, **keys)
    except DataError as exc:
        if prompts is None and ("prompt" in str(exc) or "score" in str(exc)):
            raise DataError(
                f"{exc} To evaluate scored responses, give each row its prompt and a score column "
                f"({option('score_key')}), or pass the prompts file with {option('prompts')}; to "
                "evaluate pairs, give "
                "each row 'chosen' and 'rejected'."
            ) from None
        raise


_CROSS_FIT_SOURCE = (
    "this data, cross-fitted because the model records no baseline (5 folds of prompts; each "
    "fold scored by a baseline fitted on the {what})"
)


def _pair_baseline(model_dir, L: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, dict]:
    """The length baseline's rewards on evaluation pairs: the one saved with the model (fitted
    on its training pairs), else cross-fitted on these pairs by folds of prompts."""
    stored = load_length_baseline(model_dir)
    if stored is not None:
        return stored.predict(L.ravel()).reshape(-1, 2), {
            "source": "the model's training pairs",
            **stored.to_dict(),
        }
    if np.unique(groups).size < 2:
        groups = np.arange(len(L))
    rewards = cross_fit_length_rewards(L, groups)
    direction = "longer" if np.median((rewards / np.maximum(L, 1e-12))[L > 0]) > 0 else "shorter"
    return rewards, {
        "source": _CROSS_FIT_SOURCE.format(what="other folds' pairs"),
        "direction": direction,
    }


# ------------------------------------------------------------------------------------ select
def select_for_labeling(
    model_dir: str | os.PathLike,
    pool: str | os.PathLike,
    out: str | os.PathLike,
    *,
    budget: int = 100,
    strategy: str = "d-optimal",
    labelled: str | os.PathLike | None = None,
    cross_prompt: bool = False,
    max_candidates: int = 1_000_000,
    lam: float | None = None,
    random_state: int = 0,
    selector_params: dict | None = None,
    prompts: str | os.PathLike | None = None,
    prompt_key: str = "prompt",
    response_key: str = "response",
    id_key: str | None = None,
    join_key: str = "prompt_id",
    cache: Any = None,
    max_text_chars: int = MAX_TEXT_CHARS,
    progress: ProgressCallback | None = None,
) -> SelectionSummary:
    """Choose ``budget`` pairs of the candidate responses in ``pool`` and write them to ``out``.

    The pool's responses (read by :func:`prefspace.data.read_responses`) are
    embedded with the model's own encoder and paired within each prompt (``cross_prompt``:
    across prompts); a random sample of ``max_candidates`` pairs stands in for a larger pool.
    ``strategy`` (a name in :data:`prefspace.select.STRATEGIES`) gets ``lam`` (None: the head's
    own prior), ``random_state`` and ``selector_params`` (e.g. D-optimal's ``exploration``, ``outlier_z``)
    where it takes them. Pairs of ``labelled`` (preference data) are given to the strategies
    that use them (past-aware, coreset) and never chosen again. Texts longer than
    ``max_text_chars`` characters are refused (``prefspace.data.rules``).

    Returns a :class:`SelectionSummary`: the pairs written, the strategy, the pool
    (``"within"`` or ``"cross"``), the candidate pairs considered, the pool's responses and
    prompts, the pairs already labelled (None without ``labelled``), the file and the
    embedding cache used. ``progress``: a
    :data:`~prefspace._progress.ProgressCallback` for the embedding.
    """
    check_in(strategy, tuple(STRATEGIES), name="strategy")  # before any file is read
    check_output(
        out,
        inputs=[model_dir, pool, prompts, labelled],
        caches=[_cache_path(cache)],
        what=option("out"),
    )
    random_state = check_whole(random_state, name=option("random_state", flag="--seed"), minimum=0)
    candidates = read_responses(
        pool,
        prompts=prompts,
        prompt_key=prompt_key,
        response_key=response_key,
        id_key=id_key,
        join_key=join_key,
        max_text_chars=max_text_chars,
    )
    dataset = (
        load_preferences(labelled, max_text_chars=max_text_chars) if labelled is not None else None
    )
    scorer = _scorer(model_dir, cache if cache is not None else default_cache_dir())
    with report_progress(progress):
        chosen = choose_pairs(
            scorer,
            candidates,
            budget,
            strategy,
            cross_prompt=cross_prompt,
            max_candidates=max_candidates,
            labelled=dataset,
            lam=lam,
            random_state=random_state,
            options=selector_params,
        )
    write_jsonl(out, chosen.records)
    return SelectionSummary(
        n_pairs=len(chosen.records),
        strategy=strategy,
        pool=chosen.pool,
        n_candidates=chosen.n_candidates,
        n_responses=chosen.n_responses,
        n_prompts=chosen.n_prompts,
        n_excluded=None if labelled is None else chosen.n_excluded,
        out=str(out),
        cache=scorer.cache_use(),
    )
