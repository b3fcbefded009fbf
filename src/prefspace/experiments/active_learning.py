"""Simulated active labeling: rounds of selection, gold-score labels, retraining, evaluation.

One call runs one learning curve (one strategy, one pool kind, one seed) on a scored-response
set such as ``alpaca_bon``:

1. prompts are split into a training part (whose responses form the candidate pool) and a test
   part (where the reward model is evaluated: per-prompt Spearman with gold, best-of-N gold);
2. a first batch is chosen at random and labelled from gold (noiselessly or with Bradley-Terry
   noise) by the annotator of ``prefspace.evaluate.simulate``, the same rule the passive
   experiment cells draw their pairs by;
3. each round the head is refitted on every label so far (plus optional synthetic pairs),
   evaluated, and the strategy chooses the next batch from the candidates not yet labelled.

What it does not do: plot or aggregate curves over seeds (``prefspace experiment`` and
``benchmarks/active.py`` do that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from .._estimators import seeded
from .._validation import check_embeddings, check_in, check_positive, check_random_state
from ..evaluate.ranking import best_of_n_curve, rank_correlations
from ..evaluate.simulate import NOISES, can_label, label_pairs, transform_scores
from ..exceptions import ConfigError, ShapeError
from ..models import BradleyTerryLinear, RewardEnsemble
from ..select import PairPool, get_pool, get_selector, selector_options
from ..synth import SYNTHESIZERS, SyntheticPairs, augment_pairs
from ..synth.training_set import heldout_pairs, training_set

logger = logging.getLogger(__name__)


def _default_estimator():
    return BradleyTerryLinear()


def _as_ensemble(estimator, n_members: int, seed: int):
    if isinstance(estimator, RewardEnsemble):
        return estimator
    return RewardEnsemble(estimator, n_members=n_members, random_state=seed)


def _labelable(pool: PairPool, utility: np.ndarray, noise: str) -> PairPool:
    """``pool`` without the pairs the simulated annotator cannot label (ties in noiseless mode;
    see ``prefspace.evaluate.simulate``): the same rule passive pairs are drawn by."""
    if noise == "bt":
        return pool
    parts = [
        idx[can_label(utility[rows[:, 0]], utility[rows[:, 1]], noise)]
        for idx, rows in pool.chunks()
    ]
    keep = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if keep.size == len(pool):
        return pool
    logger.info(
        "left out %d of %d candidate pairs with equal gold (a noiseless annotator has no preference)",
        len(pool) - keep.size,
        len(pool),
    )
    return pool.subset(keep)


def _augmented(augment, model, X: np.ndarray, groups: np.ndarray | None, seed: int):
    """The round's training set: real pairs ``X`` then synthetic ones, their count weights and
    the head's fit parameters (``parent``, ``groups``), by the protocol of ``augment_pairs``:
    nothing is synthesized from the pairs ``model`` holds out, and a real pair and its synthetic
    pairs share the real pair's weight.

    ``augment``: a method name of ``SYNTHESIZERS``; a synthesizer (``fit(X).sample()`` returning
    :class:`SyntheticPairs`); or a callable ``(X, seed)`` returning SyntheticPairs whose
    ``parent`` indexes the ``X`` it was given (or an empty array: none this round).
    """
    if augment is None:
        return X, None, ({} if groups is None else {"groups": groups}), 0
    if isinstance(augment, str):
        check_in(augment, tuple(SYNTHESIZERS), name="augment")
        aug = augment_pairs(X, method=augment, estimator=model, random_state=seed, groups=groups)
        return aug.X, aug.sample_weight, aug.fit_params, aug.n_synthetic
    source = np.flatnonzero(~heldout_pairs(model, X, groups))
    if hasattr(augment, "fit") and hasattr(augment, "sample"):
        out = seeded(augment, seed).fit(X[source]).sample()
    elif callable(augment):
        out = augment(X[source], seed)
    else:
        raise ConfigError(
            f"augment must be a synthesizer name, a synthesizer (fit/sample) or a callable (X, seed) -> "
            f"SyntheticPairs; got {type(augment).__name__}."
        )
    if not isinstance(out, SyntheticPairs):
        if np.asarray(out).size == 0:
            return X, None, ({} if groups is None else {"groups": groups}), 0
        raise ConfigError(
            "augment must return SyntheticPairs (each synthetic pair with its parent, so it can share "
            f"its parent's weight); got {type(out).__name__}."
        )
    if len(out) == 0:
        return X, None, ({} if groups is None else {"groups": groups}), 0
    if out.X.shape[1:] != X.shape[1:]:
        raise ShapeError(f"augment returned shape {out.X.shape}; expected (m, 2, {X.shape[2]}).")
    factor = max(1, round(len(out) / max(len(source), 1)))
    X_aug, w, fit_params = training_set(X, out, source, factor=factor, groups=groups)
    return X_aug, w, fit_params, len(out)


def _evaluate(model, features, gold, groups, test_rows, best_of: int, pool_test=None) -> dict:
    r = model.predict(features[test_rows])
    g = gold[test_rows]
    corr = rank_correlations(r, g, groups)
    bon = best_of_n_curve(r, g, groups, ns=[best_of])
    out = {
        "spearman": float(corr["spearman"]),
        "spearman_global": float(spearmanr(r, g).statistic),
        f"best_of_{best_of}": float(bon["model"][0]),
        f"best_of_{best_of}_oracle": float(bon["oracle"][0]),
        f"best_of_{best_of}_random": float(bon["random"][0]),
    }
    if (
        pool_test is not None
    ):  # the pool's own kind of response (e.g. one generator's) on the test prompts
        out["spearman_pool"] = float(spearmanr(r[pool_test], g[pool_test]).statistic)
    return out


def run_active_learning(
    features,
    prompt_index,
    gold,
    *,
    strategy: str = "random",
    batch_size: int = 250,
    budget: int = 4000,
    initial_size: int | None = None,
    estimator=None,
    within_prompt: bool = True,
    n_candidates: int | None = 200_000,
    noise: str = "none",
    beta: float = 1.0,
    transform: str | None = None,
    eps: float = 1e-4,
    test_fraction: float = 0.2,
    test_prompts=None,
    best_of: int = 16,
    n_members: int = 5,
    lam: float | None = None,
    selector_params: dict | None = None,
    pool_rows=None,
    augment=None,
    random_state: int = 0,
    on_round: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Simulate active labeling against gold scores; one record per round.

    Parameters
    ----------
    features, prompt_index, gold : arrays ``(n_responses, D)``, ``(n_responses,)`` of ints and
        ``(n_responses,)``: one row per response (``embed_responses``), its prompt, its gold
        score (higher is better)
    strategy : a name in :data:`prefspace.select.STRATEGIES`
    batch_size, budget, initial_size : labels per round, in all (the last round is cut to the
        budget) and in the first, random batch (default ``batch_size``)
    estimator : an unfitted reward head (default ``BradleyTerryLinear()``), cloned each round
        (the ensemble strategy: ``RewardEnsemble(estimator, n_members)``, its mean evaluated)
    within_prompt : candidate pairs within a prompt (True) or across prompts (False)
    n_candidates : a fixed random sample of this many candidate pairs of the training prompts
        (None: all of them), less the pairs the annotator cannot label
    noise, beta : the annotator of :mod:`prefspace.evaluate.simulate`: ``"none"`` (higher gold
        wins; equal gold cannot be labelled) or ``"bt"`` (sigmoid(beta * (g(a) - g(b))))
    transform, eps : the gold transform before labelling (``transform_scores``; ``"logit"``
        for win probabilities); metrics use the raw gold
    test_fraction, test_prompts : held-out prompts (a random fraction, or explicit prompt ids)
    best_of : N of the best-of-N gold metric
    lam, selector_params : the D-optimal ridge (None: the head's own penalty, see
        ``prefspace.select.DOptimalSelector``) and further selector parameters (e.g.
        ``{"exploration": 0.0, "outlier_z": None}`` for plain greedy D-optimal)
    pool_rows : the responses the pool is made of (indices or a mask), e.g. one generator's;
        test prompts are scored on all responses, and on those alone (``spearman_pool``)
    augment : a synthesizer name (``"lens"``), a synthesizer or a callable ``(X, seed) ->
        SyntheticPairs``; its pairs join each round's training set (they cost no labels) as
        ``augment_pairs`` adds them, none made from the pairs the head holds out
    random_state : the run's seed (split, first batch, candidate sample, noise, random strategy)
    on_round : called with each record as soon as it is made (e.g. to append it to a file)

    Returns
    -------
    list of dict, one per round: ``round``, ``labels`` (spent so far), ``strategy``, ``pool``,
    ``seed``, ``noise``, ``spearman`` (mean per-prompt Spearman on the test prompts),
    ``spearman_global``, ``best_of_<N>`` (expected gold of the best-of-N pick) with its
    ``_oracle`` and ``_random``, ``n_synthetic``, ``fit_seconds``, ``select_seconds``;
    ``spearman_pool`` with ``pool_rows``.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> E = rng.normal(size=(200, 8)).astype("float32"); gold = E @ rng.normal(size=8)
    >>> recs = run_active_learning(E, np.repeat(np.arange(10), 20), gold, strategy="d-optimal",
    ...                            batch_size=20, budget=60, random_state=0)
    >>> [r["labels"] for r in recs]
    [20, 40, 60]
    """
    features, prompt_index, gold = _check_inputs(features, prompt_index, gold)
    check_in(noise, NOISES, name="noise")
    beta = check_positive(beta, name="beta")
    sizes = _check_sizes(batch_size, initial_size, budget)
    kind = "within" if within_prompt else "cross"
    plan = _Plan(strategy, kind, random_state, noise, beta, *sizes, best_of, augment, on_round)
    rng = check_random_state(random_state)
    selector, estimator = _strategy(plan, estimator, n_members, lam, selector_params, rng)
    utility = transform_scores(gold, transform, eps=eps)
    split = (test_prompts, test_fraction, pool_rows)
    setting = _setting(plan, features, prompt_index, utility, n_candidates, split, rng)
    return _rounds(plan, setting, selector, estimator, features, gold, rng)


@dataclass(frozen=True)
class _Plan:
    """The checked settings of one :func:`run_active_learning` run."""

    strategy: str
    pool: str  # "within" or "cross": pairs within a prompt or across prompts
    seed: int
    noise: str
    beta: float
    batch_size: int
    initial_size: int
    budget: int
    best_of: int
    augment: Any
    on_round: Callable[[dict], None] | None

    def record(self) -> dict:
        """What every round's record says of the run."""
        return {key: getattr(self, key) for key in ("strategy", "pool", "seed", "noise")}


def _check_sizes(batch_size, initial_size, budget) -> tuple[int, int, int]:
    """``batch_size``, ``initial_size`` (default ``batch_size``) and ``budget`` as ints."""
    batch_size, budget = int(batch_size), int(budget)
    initial_size = batch_size if initial_size is None else int(initial_size)
    if batch_size < 1 or initial_size < 2 or budget < initial_size:
        raise ConfigError(
            f"need batch_size >= 1, initial_size >= 2 and budget >= initial_size; got "
            f"batch_size={batch_size}, initial_size={initial_size}, budget={budget}."
        )
    return batch_size, initial_size, budget


def _strategy(plan: _Plan, estimator, n_members: int, lam, selector_params, rng):
    """The strategy's selector and the head it refits each round."""
    strategy = plan.strategy
    # each strategy gets what it takes of lam and the run's generator; selector_params are the
    # caller's own choice for this strategy (refused if it does not take them)
    params = {**selector_options(strategy, lam=lam, random_state=rng), **(selector_params or {})}
    selector = get_selector(strategy, **params)
    estimator = _default_estimator() if estimator is None else estimator
    if strategy == "ensemble":
        estimator = _as_ensemble(estimator, n_members, plan.seed)
    return selector, estimator


@dataclass(frozen=True)
class _Setting:
    """Where a simulation runs: the training prompts' candidate pool with their responses'
    utilities, and the test prompts' rows and groups."""

    pool: PairPool
    u_train: np.ndarray
    test_rows: np.ndarray
    groups: list[np.ndarray]
    pool_test: np.ndarray | None


def _setting(plan: _Plan, features, prompt_index, utility, n_candidates, split, rng) -> _Setting:
    """Split the prompts: the pool comes from training prompts, metrics from test prompts."""
    test_prompts, test_fraction, pool_rows = split
    train_rows, test_rows, pool_test = _split_rows(
        prompt_index, test_prompts, test_fraction, pool_rows, rng
    )
    _, test_group_id = np.unique(prompt_index[test_rows], return_inverse=True)
    groups = [np.flatnonzero(test_group_id == i) for i in range(test_group_id.max() + 1)]
    u_train = utility[train_rows]
    train_features, train_prompts = features[train_rows], prompt_index[train_rows]
    pool = _candidate_pool(
        train_features, train_prompts, plan.pool, n_candidates, rng, u_train, plan.noise
    )
    if len(pool) < plan.budget:
        raise ConfigError(
            f"the candidate pool has {len(pool)} pairs, fewer than the budget of {plan.budget} labels."
        )
    logger.info(
        "active learning: %s, %s-prompt pool of %d candidates, %d test prompts",
        plan.strategy,
        plan.pool,
        len(pool),
        len(groups),
    )
    return _Setting(pool, u_train, test_rows, groups, pool_test)


def _rounds(plan: _Plan, s: _Setting, selector, estimator, features, gold, rng) -> list[dict]:
    """Label the chosen pairs, refit, measure, choose the next batch; until the budget is spent."""
    pool, seed = s.pool, plan.seed
    labelled_idx = np.zeros(0, dtype=np.int64)
    X_lab = np.zeros((0, 2, features.shape[1]), dtype=np.float32)
    prompt_of = getattr(pool, "prompt_index", None) if plan.pool == "within" else None
    g_lab = None if prompt_of is None else np.zeros(0, dtype=np.int64)
    records: list[dict] = []
    chosen = get_selector("random", random_state=rng).select(pool, None, plan.initial_size)
    select_seconds = 0.0
    for round_ in range(10**9):
        rows = pool.rows(chosen)
        u_a, u_b = s.u_train[rows[:, 0]], s.u_train[rows[:, 1]]
        first_wins = label_pairs(u_a, u_b, plan.noise, plan.beta, rng)
        oriented = np.where(first_wins[:, None], rows, rows[:, ::-1])
        X_lab = np.concatenate([X_lab, pool.features[oriented]])
        labelled_idx = np.concatenate([labelled_idx, chosen])
        if prompt_of is not None and g_lab is not None:  # validation holds out whole prompts
            g_lab = np.concatenate([g_lab, prompt_of[oriented[:, 0]]])

        t0 = time.perf_counter()
        model = seeded(estimator, seed)
        X_fit, w_fit, fit_params, n_syn = _augmented(
            plan.augment, model, X_lab, g_lab, seed * 1000 + round_
        )
        model.fit(X_fit, sample_weight=w_fit, **fit_params)
        fit_seconds = time.perf_counter() - t0

        metrics = _evaluate(model, features, gold, s.groups, s.test_rows, plan.best_of, s.pool_test)
        record = {
            "round": round_,
            "labels": int(labelled_idx.size),
            **plan.record(),
            **metrics,
            "n_synthetic": int(n_syn),
            "fit_seconds": round(fit_seconds, 3),
            "select_seconds": round(select_seconds, 3),
        }
        records.append(record)
        logger.info(
            "round %d: %d labels, spearman %.4f", round_, record["labels"], record["spearman"]
        )
        if plan.on_round is not None:
            plan.on_round(record)
        if labelled_idx.size >= plan.budget:
            break
        k = min(plan.batch_size, plan.budget - labelled_idx.size)
        t0 = time.perf_counter()
        chosen = selector.select(pool, model, k, labelled=X_lab, exclude=labelled_idx)
        select_seconds = time.perf_counter() - t0
    return records


def _check_inputs(features, prompt_index, gold) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows ``(n, D)``, each row's prompt (ints) and its finite gold score."""
    features = check_embeddings(features, name="features")
    n = features.shape[0]
    prompt_index = np.asarray(prompt_index)
    if prompt_index.shape != (n,) or not np.issubdtype(prompt_index.dtype, np.integer):
        raise ShapeError(
            f"prompt_index must be an int array of shape ({n},); got {prompt_index.shape}, {prompt_index.dtype}."
        )
    gold = np.asarray(gold, dtype=np.float64)
    if gold.shape != (n,) or not np.isfinite(gold).all():
        raise ShapeError(f"gold must be a finite array of shape ({n},); got {gold.shape}.")
    return features, prompt_index, gold


def _split_rows(
    prompt_index: np.ndarray,
    test_prompts,
    test_fraction: float,
    pool_rows,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(train_rows, test_rows, pool_test)``: rows of the training prompts (within ``pool_rows``
    when given), rows of the test prompts (given, or ``test_fraction`` of the prompts drawn), and
    the test rows inside ``pool_rows`` (None without it)."""
    n = prompt_index.size
    prompts = np.unique(prompt_index)
    if test_prompts is None:
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1); got {test_fraction!r}.")
        n_test = max(1, int(round(test_fraction * prompts.size)))
        test_prompts = rng.choice(prompts, size=n_test, replace=False)
    test_mask = np.isin(prompt_index, np.asarray(test_prompts))
    if test_mask.all() or not test_mask.any():
        raise ConfigError(
            "the test prompts must leave some prompts for training and hold at least one response."
        )
    in_pool = np.ones(n, dtype=bool)
    if pool_rows is not None:
        pool_rows = np.asarray(pool_rows)
        in_pool = np.zeros(n, dtype=bool)
        try:
            in_pool[pool_rows] = True
        except IndexError:
            raise ShapeError(
                f"pool_rows must be a boolean mask of shape ({n},) or indices into the {n} rows."
            ) from None
    train_rows = np.flatnonzero(~test_mask & in_pool)
    test_rows = np.flatnonzero(test_mask)
    pool_test = None if pool_rows is None else np.flatnonzero(in_pool[test_rows])
    if pool_test is not None and (train_rows.size < 2 or pool_test.size < 2):
        raise ConfigError(
            "pool_rows must hold at least two responses of the training prompts and two of the test prompts."
        )
    return train_rows, test_rows, pool_test


def _candidate_pool(
    features: np.ndarray,
    prompt_index: np.ndarray,
    kind: str,
    n_candidates: int | None,
    rng: np.random.Generator,
    utility: np.ndarray,
    noise: str,
) -> PairPool:
    """The candidate pairs of the training rows (a random sample of ``n_candidates`` of a larger
    pool), without the pairs the simulated annotator cannot label."""
    pool: PairPool = get_pool(features, prompt_index, kind)
    if n_candidates is not None and len(pool) > int(n_candidates):
        pool = pool.sample(int(n_candidates), rng)
    return _labelable(pool, utility, noise)
