"""Evaluate one reward model: metrics on held-out pairs or on a scored-response set, and a report.

:func:`evaluate_pairs` and :func:`evaluate_scored` take a fitted model (anything with
``predict(E: (n, D)) -> (n,)``) and embedded data, and return JSON-able dicts;
:func:`write_evaluation` writes ``metrics.json``, PNG plots and ``report.html``. Embedding the
data with the model's own encoder is the caller's job (the ``prefspace evaluate`` command does it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import expit

from .._jsonsafe import dumps
from .._validation import check_embeddings, check_pairs
from ..exceptions import ShapeError
from .baseline import compare_pairs, compare_scored
from .calibration import pair_calibration
from .metrics import accuracy_with_interval, reward_metrics, subset_accuracy
from .plots import plot_best_of_n, plot_reliability
from .ranking import best_of_n_curve, rank_correlations
from .report import Section, write_html_report, write_text_atomic
from .reward_bench import reward_bench_section


def evaluate_pairs(
    model,
    X,
    *,
    subsets=None,
    baseline=None,
    groups=None,
    n_boot: int = 1000,
    n_bins: int = 10,
    random_state=0,
) -> dict:
    """Accuracy (Wilson 95% interval, inside [0, 1]), TRL metrics, per-subset accuracy and calibration.

    Parameters
    ----------
    model : fitted reward model with ``predict(E)``
    X : array of shape (n_pairs, 2, D), ``X[:, 0]`` the chosen response's row
    subsets : optional list of n_pairs subset names
    baseline : optional array of shape (n_pairs, 2), the learned length baseline's rewards on
        the same pairs (``LengthBaseline.predict`` of their log lengths)
    groups : optional prompt label per pair, for the baseline comparison's interval

    Returns
    -------
    dict with ``accuracy``, ``ci_low``, ``ci_high``, ``n_pairs``, TRL's ``loss``, ``margin``,
    ``mean_reward``, ``min_reward``, ``max_reward``, ``ece``, ``reliability`` (per bin
    ``edges``, ``count``, ``mean_prob``, ``frac_pos``; NaN means for empty bins), with
    subsets, ``subsets`` (``per_subset``, ``weighted``, ``macro``), and with a baseline,
    ``length_baseline``: the :class:`~prefspace.evaluate.baseline.BaselineComparison` of the
    accuracies as a dict. The experiment cells report exactly these keys.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.models import BradleyTerryLinear
    >>> X = np.random.default_rng(0).normal(size=(50, 2, 4)).astype("float32")
    >>> out = evaluate_pairs(BradleyTerryLinear().fit(X), X)  # doctest: +SKIP
    """
    X = check_pairs(X)
    r = np.asarray(model.predict(X.reshape(-1, X.shape[2])), dtype=np.float64).reshape(len(X), 2)
    out: dict = accuracy_with_interval(
        r[:, 0], r[:, 1], n_boot=n_boot, random_state=random_state
    ).to_dict()
    trl = reward_metrics(r[:, 0], r[:, 1])
    out.update({k: trl[k] for k in ("loss", "margin", "mean_reward", "min_reward", "max_reward")})
    p = expit(r[:, 0] - r[:, 1])
    cal = pair_calibration(p, n_bins=n_bins)
    out["ece"] = cal["ece"]
    out["reliability"] = {k: np.asarray(v).tolist() for k, v in cal.items() if k != "ece"}
    if subsets is not None:
        out["subsets"] = subset_accuracy(r[:, 0], r[:, 1], subsets)
    if baseline is not None:
        out["length_baseline"] = compare_pairs(
            r, baseline, groups=groups, random_state=random_state
        ).to_dict()
    return out


def evaluate_scored(
    model,
    features,
    scores,
    prompt_index,
    *,
    ns=None,
    baseline=None,
    n_boot: int = 1000,
    random_state=0,
) -> dict:
    """Best-of-N curve (with oracle and random, and a 95% bootstrap interval over prompts for the
    model's curve), per-prompt Spearman and Kendall with gold.

    Parameters
    ----------
    model : fitted reward model with ``predict(E)``
    features : array of shape (n_responses, D), each response's row for the model
    scores : gold scores, shape (n_responses,)
    prompt_index : int array (n_responses,), row -> prompt
    ns : subset sizes for best-of-N (default 1, 2, 4, ..., 32 and the largest prompt's size)
    baseline : optional (n_responses,) rewards of the learned length baseline; the result then
        has ``length_baseline``, a list of comparison dicts (Spearman, best-of-16 where prompts
        have 16 responses, and best-of the largest N), paired by prompt
    """
    F = check_embeddings(features)
    scores = np.asarray(scores, dtype=np.float64)
    prompt_index = np.asarray(prompt_index, dtype=np.int64)
    if scores.shape != (len(F),) or prompt_index.shape != (len(F),):
        raise ShapeError(
            f"features has {len(F)} rows but scores {scores.shape} and prompt_index {prompt_index.shape}; "
            "give one score and one prompt index per response row."
        )
    rewards = np.asarray(model.predict(F), dtype=np.float64)
    order = np.argsort(prompt_index, kind="stable")
    _, starts = np.unique(prompt_index[order], return_index=True)
    groups = np.split(order, starts[1:])
    curve = best_of_n_curve(
        rewards, scores, groups, ns=ns, n_boot=n_boot, random_state=random_state
    )
    corr = rank_correlations(rewards, scores, groups)
    out = {
        "best_of_n": curve,
        "spearman": corr["spearman"],
        "kendall": corr["kendall"],
        "n_prompts": len(groups),
        "n_prompts_with_correlation": corr["n_prompts"],
        "n_responses": int(len(F)),
    }
    if baseline is not None:
        largest = int(curve["n"][-1])
        compared = compare_scored(
            rewards,
            baseline,
            scores,
            groups,
            ns=sorted({min(16, largest), largest}),
            n_boot=max(n_boot, 1),
            random_state=random_state,
        )
        out["length_baseline"] = [c.to_dict() for c in compared]
    return out


def baseline_verdict(comparisons) -> tuple[str, str]:
    """``(kind, sentence)`` for the headline: does the model beat the learned length baseline?

    ``kind`` is the verdict of the first comparison (accuracy for pairs, Spearman for scored
    responses): ``"above"``, ``"below"`` or ``"not significantly different"``.
    """
    items = comparisons if isinstance(comparisons, list) else [comparisons]
    first = items[0]
    d = first["difference"]
    scale, unit = (100.0, " points") if first["metric"] == "accuracy" else (1.0, "")
    digits = 1 if scale == 100.0 else 3
    what = {
        "above": "The model beats the learned length baseline",
        "below": "The model is BELOW the learned length baseline",
        "not significantly different": "The model is not significantly different from the learned length baseline",
    }
    return first["verdict"], (
        f"{what[first['verdict']]} on {first['metric']}: {first['model']:.4f} against {first['baseline']:.4f}, "
        f"{scale * d:+.{digits}f}{unit} [{scale * first['ci_low']:+.{digits}f}, {scale * first['ci_high']:+.{digits}f}] "
        f"(paired 95% interval over {first['n']:,} {first['unit']})."
    )


def baseline_section(comparisons, fit: dict | None = None) -> Section:
    """The report's first section: the model beside the learned length baseline, with a verdict."""
    items = comparisons if isinstance(comparisons, list) else [comparisons]
    kind, headline = baseline_verdict(items)
    rows = [
        [
            c["metric"],
            f"{c['model']:.4f}",
            f"{c['baseline']:.4f}",
            f"{c['difference']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
            c["verdict"],
        ]
        for c in items
    ]
    how = (
        "The learned length baseline is a Bradley-Terry model on one feature, the log-length difference "
        "(log(1 + characters)), with no intercept"
    )
    if fit:
        how += (
            f"; fitted on {fit.get('source', 'the training pairs')}: the {fit.get('direction', '?')} "
            f"answer wins (coef {fit.get('coef', float('nan')):.4f})"
        )
    how += (
        ". Differences are the model's value minus the baseline's on the same data, with a paired "
        "percentile-bootstrap 95% interval; 'not significantly different' is not evidence that they are equal."
    )
    return Section(
        "Against the learned length baseline",
        paragraphs=[how],
        tables=[
            (["metric", "model", "length baseline", "difference [95% interval]", "verdict"], rows)
        ],
        callout=(kind, headline),
    )


def _accuracy_section(result: dict, out: Path, figure_format: str) -> tuple[Section, Path]:
    """Pairs: accuracy, loss, margin, ECE (and per subset) with the reliability diagram."""
    rows = [
        ["accuracy", f"{result['accuracy']:.4f} [{result['ci_low']:.4f}, {result['ci_high']:.4f}]"],
        ["pairs", result["n_pairs"]],
        ["loss", f"{result['loss']:.4f}"],
        ["margin", f"{result['margin']:.4f}"],
        ["ECE", f"{result['ece']:.4f}"],
    ]
    tables = [(["metric", "value (95% Wilson interval)"], rows)]
    if "subsets" in result:
        sub = result["subsets"]
        srows = [
            [name, v["n_pairs"], f"{v['accuracy']:.4f}"] for name, v in sub["per_subset"].items()
        ]
        n_pairs = sum(v["n_pairs"] for v in sub["per_subset"].values())
        srows.append(["weighted average", n_pairs, f"{sub['weighted']:.4f}"])
        srows.append(["macro average", "", f"{sub['macro']:.4f}"])
        tables.append((["subset", "pairs", "accuracy"], srows))
    # the ECE as in the table
    diag = dict(result["reliability"], ece=result["ece"], ece_label=f"{result['ece']:.4f}")
    img = plot_reliability(
        {"model": diag}, out / "plots" / "reliability.png", figure_format=figure_format
    )
    section = Section(
        "Pairwise accuracy and calibration",
        paragraphs=[
            "Accuracy: fraction of pairs where the chosen response gets the strictly higher reward "
            "(ties count wrong), with a Wilson score 95% interval (always inside [0, 1]).",
            "Reliability: P(chosen wins) against how often the first response won, in 10 equal-width bins over "
            "both orderings of every pair; the lower panel counts the predictions in each bin.",
        ],
        tables=tables,
        images=[img],
    )
    return section, img


def _best_of_n_section(result: dict, out: Path, figure_format: str) -> tuple[Section, Path]:
    """Scored responses: Spearman, Kendall and the best-of-N curve against oracle and random."""
    c = result["best_of_n"]
    low, high = c.get("model_low", c["model"]), c.get("model_high", c["model"])
    img = plot_best_of_n(
        {"model": {"n": c["n"], "mean": c["model"], "low": low, "high": high}},
        out / "plots" / "best_of_n.png",
        oracle=c["oracle"],
        random=c["random"],
        ns=c["n"],
        figure_format=figure_format,
    )
    rows = [
        [
            n,
            f"{m:.4f} [{lo:.4f}, {hi:.4f}]" if "model_low" in c else f"{m:.4f}",
            f"{o:.4f}",
            f"{r:.4f}",
            k,
        ]
        for n, m, lo, hi, o, r, k in zip(
            c["n"], c["model"], low, high, c["oracle"], c["random"], c["n_prompts"]
        )
    ]
    section = Section(
        "Best-of-N",
        paragraphs=[
            f"Spearman {result['spearman']:.4f}, Kendall {result['kendall']:.4f} (mean over "
            f"{result['n_prompts_with_correlation']} prompts with a defined correlation). Best-of-N: "
            "expected gold of the top-reward response among N; model with a 95% bootstrap interval over prompts."
        ],
        tables=[(["N", "model [95% interval]", "oracle", "random", "prompts"], rows)],
        images=[img],
    )
    return section, img


def write_evaluation(
    result: dict,
    out_dir,
    *,
    title: str = "Reward model evaluation",
    meta: str = "",
    figure_format: str = "png",
) -> dict:
    """Write ``metrics.json``, plots and a self-contained ``report.html``; return their paths.

    ``result`` is the output of :func:`evaluate_pairs` or :func:`evaluate_scored`.
    ``figure_format``: ``"svg"`` or ``"pdf"`` also writes each plot in that format beside its PNG.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics_json": write_text_atomic(out / "metrics.json", dumps(result, indent=2) + "\n")
    }
    sections = []
    if result.get("length_baseline"):
        sections.append(
            baseline_section(result["length_baseline"], result.get("length_baseline_fit"))
        )
    if "accuracy" in result:
        section, paths["reliability_plot"] = _accuracy_section(result, out, figure_format)
        sections.append(section)
    if "best_of_n" in result:
        section, paths["best_of_n_plot"] = _best_of_n_section(result, out, figure_format)
        sections.append(section)
    for key in ("reward_bench", "reward_bench_2"):
        if key in result:
            sections.append(reward_bench_section(result[key]))
    paths["report_html"] = write_html_report(out / "report.html", title, sections, meta=meta)
    return paths
