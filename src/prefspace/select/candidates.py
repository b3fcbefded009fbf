"""Candidate responses for pair selection: scoring them with a saved model, choosing pairs, and
writing the chosen pairs for annotators. Reading them is the data stage's job.

A candidate file has several responses per prompt, scored or not, one response per row::

    {"prompt": "Name a prime.", "response": "7", "id": "r1"}
    {"prompt": "Name a prime.", "response": "9", "id": "r2"}

or one prompt per row with a list of responses::

    {"prompt": "Name a prime.", "responses": ["7", "9", "11"]}

or two files joined on ``prompt_id`` (``alpaca_bon``'s layout).
:func:`prefspace.data.read_responses` (the one reader of responses grouped by prompt) reads them,
so every file type, compression and bad-row rule of the data stage applies. Candidates are turned into
feature rows by a :class:`~prefspace.models.RewardScorer` (the model's own encoder, the same
rows training and serving use); :func:`choose_pairs` then runs a selection strategy over them.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from .._jsonsafe import write_jsonl
from ..data.dataset import PreferenceDataset, ScoredResponses, canonical_prompt
from ..models.scorer import RewardScorer
from . import get_selector, selector_options
from .pools import PairPool, get_pool

logger = logging.getLogger(__name__)

__all__ = [
    "ChosenPairs",
    "candidate_features",
    "choose_pairs",
    "match_labelled_rows",
    "selection_records",
    "write_jsonl",
]


def candidate_features(scorer: RewardScorer, candidates: ScoredResponses) -> np.ndarray:
    """Feature rows ``(n, feature_dim)`` of every candidate, from ``scorer`` (its encoder and cache)."""
    return scorer.features(candidates.row_prompts(), candidates.responses)


@dataclasses.dataclass(frozen=True)
class ChosenPairs:
    """What :func:`choose_pairs` chose, and from what pool.

    ``records``: the output lines (:func:`selection_records`), in the order chosen; ``pool``:
    ``"within"`` or ``"cross"`` (prompts); ``n_candidates``: candidate pairs considered (after
    ``max_candidates``); ``n_responses``/``n_prompts``: the candidates file's; ``n_excluded``:
    candidate pairs left out because they were labelled already."""

    records: list[dict]
    pool: str
    n_candidates: int
    n_responses: int
    n_prompts: int
    n_excluded: int


def choose_pairs(
    scorer: RewardScorer,
    candidates: ScoredResponses,
    budget: int,
    strategy: str = "d-optimal",
    *,
    cross_prompt: bool = False,
    max_candidates: int | None = 1_000_000,
    labelled: PreferenceDataset | None = None,
    lam: float | None = None,
    random_state: int = 0,
    options: dict | None = None,
) -> ChosenPairs:
    """Choose ``budget`` pairs of ``candidates`` worth labelling, with the scorer's model.

    Parameters
    ----------
    scorer : RewardScorer of the current reward model (its head, encoder and cache)
    candidates : from :func:`prefspace.data.read_responses`
    budget : how many pairs
    strategy : a name in ``prefspace.select.STRATEGIES``
    cross_prompt : pair responses to different prompts instead of within a prompt
    max_candidates : use a random sample of this many candidate pairs when the pool is larger
        (None: all)
    labelled : pairs already labelled: used by past-aware and coreset, and never chosen again
    lam : ridge of the D-optimal information matrix (None: the head's own prior)
    random_state : the random strategies' seed (random, D-optimal's random share) and the candidate sample's
    options : further selector parameters, given to the strategy where it takes them (e.g.
        D-optimal's ``exploration`` and ``outlier_z``)

    Returns
    -------
    :class:`ChosenPairs`: the chosen pairs' output lines in the order chosen, and the pool's
    counts.
    """
    # each strategy gets the options it takes (random has no lam, uncertainty no random_state);
    # a bad name fails here, before any embedding
    selector = get_selector(
        strategy,
        **selector_options(strategy, lam=lam, random_state=random_state, **(options or {})),
    )
    E = candidate_features(scorer, candidates)
    kind = "cross" if cross_prompt else "within"
    full = get_pool(E, candidates.prompt_index, kind)
    pool = (
        full
        if max_candidates is None or len(full) <= max_candidates
        else full.sample(int(max_candidates), random_state)
    )

    X_lab, exclude = None, None
    if labelled is not None:
        n = len(labelled.chosen)
        F = scorer.features(
            list(labelled.prompts) * 2, list(labelled.chosen) + list(labelled.rejected)
        )
        X_lab = np.stack([F[:n], F[n:]], axis=1)
        rows = match_labelled_rows(candidates, labelled)
        exclude = pool.index_of(rows) if len(rows) else None
        exclude = None if exclude is None else exclude[exclude >= 0]

    chosen = selector.select(pool, scorer.model, budget, labelled=X_lab, exclude=exclude)
    records = selection_records(
        candidates, pool, chosen, strategy=strategy, gains=getattr(selector, "gains_", None)
    )
    logger.info(
        "chose %d pairs with %s from a %s-prompt pool of %d candidates",
        len(records),
        strategy,
        kind,
        len(pool),
    )
    return ChosenPairs(
        records=records,
        pool=kind,
        n_candidates=len(pool),
        n_responses=len(candidates),
        n_prompts=candidates.n_prompts,
        n_excluded=0 if exclude is None else int(len(exclude)),
    )


def match_labelled_rows(candidates: ScoredResponses, dataset) -> np.ndarray:
    """Rows ``(m, 2)`` of ``candidates`` holding the labelled pairs of ``dataset`` (a
    ``PreferenceDataset``), matched on prompt and response text; pairs not found are left out."""
    where: dict[tuple[str, str], int] = {}
    for row, (p, text) in enumerate(zip(candidates.prompt_index.tolist(), candidates.responses)):
        where.setdefault((canonical_prompt(candidates.prompts[p]), text), row)
    found = []
    for key, c, r in zip(dataset.prompt_keys(), dataset.chosen, dataset.rejected):
        a, b = where.get((key, c)), where.get((key, r))
        if a is not None and b is not None and a != b:
            found.append((a, b))
    return np.asarray(found, dtype=np.int64).reshape(-1, 2)


def selection_records(
    candidates: ScoredResponses, pool: PairPool, indices, *, strategy: str, gains=None
) -> list[dict]:
    """One JSON-able dict per chosen pair, in the order chosen, ready for an annotator.

    Keys: ``rank``, ``pair_id`` (``"<id_a>|<id_b>"``), ``prompt`` (the first response's prompt),
    ``response_a``, ``response_b``, ``id_a``, ``id_b``, ``prompt_id_a``, ``prompt_id_b``,
    ``strategy``; ``prompt_b`` when the two prompts differ (cross-prompt pairs); ``gain`` for
    D-optimal picks. Fill in ``label`` (``"a"``, ``"b"`` or ``"tie"``) and read the file back
    with ``load_preferences(path, label_key="label")``.
    """
    rows = pool.rows(indices)
    out = []
    for rank, (ra, rb) in enumerate(rows.tolist()):
        pa, pb = int(candidates.prompt_index[ra]), int(candidates.prompt_index[rb])
        rec = {
            "rank": rank,
            "pair_id": f"{candidates.ids[ra]}|{candidates.ids[rb]}",
            "prompt": candidates.prompts[pa],
            "response_a": candidates.responses[ra],
            "response_b": candidates.responses[rb],
            "id_a": candidates.ids[ra],
            "id_b": candidates.ids[rb],
            "prompt_id_a": candidates.prompt_ids[pa],
            "prompt_id_b": candidates.prompt_ids[pb],
            "strategy": strategy,
        }
        if pa != pb:
            rec["prompt_b"] = candidates.prompts[pb]
        if gains is not None:
            rec["gain"] = float(gains[rank])
        out.append(rec)
    return out
