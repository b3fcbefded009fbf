"""Simulated annotation: labelled pairs drawn from a scored-response set.

A scored set (many responses per prompt, each with a gold score) stands in for an annotator:
:func:`pairs_from_scores` picks two responses and labels the pair from their gold scores, either
noiselessly (the higher gold wins) or with Bradley-Terry noise, P(a wins) =
sigmoid(beta * (g(a) - g(b))), the simulated annotator of Sun et al. (2024), "Rethinking
Bradley-Terry models in preference-based reward modeling".

How the two responses are picked (``strategy``):

- ``"random"``: two distinct responses uniformly at random.
- ``"far"`` / ``"close"``: ``n_candidates`` random pairs are drawn and the one with the largest
  / smallest gap ``|g(a) - g(b)|`` kept (ties go to the first candidate drawn). ``"close"``
  never keeps an exactly tied pair when an untied candidate exists.

``within_prompt=True`` draws both responses from one prompt; prompts are visited in a shuffled
round-robin so labels spread over prompts before any prompt gets a second pair. With
``within_prompt=False`` the two responses may come from any prompts. The same pair (in either
order) is never drawn twice.

The annotator's rule, the same wherever pairs are labelled from gold (:func:`pairs_from_scores`
for passive training and test pairs, and the active-learning simulation in
``prefspace.experiments``), is :func:`label_pairs`, with :func:`can_label` saying which pairs
it can label at all:

- ``noise="none"``: the response with the higher (transformed) gold wins. Two responses with
  equal gold are a tie, which carries no preference, so a tied pair is never labelled: it is
  not drawn here, and it is not a candidate for active selection (as ``load_preferences``
  drops labelled ties by default).
- ``noise="bt"``: the first response wins with probability ``sigmoid(beta * (g(a) - g(b)))``;
  a tied pair is a fair coin, like any pair with a small gap.

``transform="logit"`` maps gold probabilities to log-odds (clipped to [eps, 1 - eps]) before
gaps and Bradley-Terry probabilities are computed: ``alpaca_bon`` gold is a win probability with
a median near 1e-4, where raw differences are all tiny.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from .._validation import check_in, check_positive, check_random_state, check_whole
from ..data.dataset import PreferenceDataset
from ..exceptions import ConfigError, DataError, ShapeError

logger = logging.getLogger(__name__)

STRATEGIES = ("random", "far", "close")
NOISES = ("none", "bt")
TRANSFORMS = (None, "none", "logit")


@dataclass
class SimulatedPairs:
    """Labelled pairs as row indices into a scored set.

    Attributes
    ----------
    chosen, rejected : int64 arrays of shape (m,), rows of the scored set; ``chosen`` won
    p_chosen : float64 (m,), the probability the simulated annotator gave to this outcome's
        winner, before it drew the label (1.0 in noiseless mode)
    gold_gap : float64 (m,), ``g(chosen) - g(rejected)`` on the transformed scale (negative
        when the noisy annotator picked the worse response)
    """

    chosen: np.ndarray
    rejected: np.ndarray
    p_chosen: np.ndarray
    gold_gap: np.ndarray

    def __len__(self) -> int:
        return int(self.chosen.size)

    def pair_features(self, features) -> np.ndarray:
        """Stack per-response features into pairs: ``(m, 2, D)`` with ``[:, 0]`` the chosen.

        ``features`` has one row per response of the scored set, shape (n_responses, D).
        """
        F = np.asarray(features)
        if F.ndim != 2:
            raise ShapeError(f"features must have shape (n_responses, D); got {F.shape}.")
        return np.stack([F[self.chosen], F[self.rejected]], axis=1)

    def to_dataset(self, scored):
        """The pairs as a :class:`~prefspace.data.PreferenceDataset` (texts from ``scored``).

        Ids are ``"<chosen id>|<rejected id>"``; the prompt is the chosen response's prompt
        (the same for both in within-prompt pairs). ``subset`` records "within" or "cross".
        """
        pi = scored.prompt_index
        same = pi[self.chosen] == pi[self.rejected]
        return PreferenceDataset(
            prompts=[scored.prompts[pi[c]] for c in self.chosen],
            chosen=[scored.responses[c] for c in self.chosen],
            rejected=[scored.responses[r] for r in self.rejected],
            ids=[f"{scored.ids[c]}|{scored.ids[r]}" for c, r in zip(self.chosen, self.rejected)],
            subset=["within" if s else "cross" for s in same],
            source=f"simulated from {scored.source or 'scored responses'}",
        )


def transform_scores(scores, transform=None, *, eps: float = 1e-4) -> np.ndarray:
    """Apply the gold transform: ``None``/``"none"`` (identity) or ``"logit"``.

    ``"logit"`` requires scores in [0, 1]; they are clipped to [eps, 1 - eps] first.

    Example
    -------
    >>> transform_scores([0.5, 1.0], "logit", eps=0.01).round(3).tolist()
    [0.0, 4.595]
    """
    check_in(transform, TRANSFORMS, name="transform")
    g = np.asarray(scores, dtype=np.float64)
    if transform in (None, "none"):
        return g.copy()
    if not 0.0 < eps < 0.5:
        raise ConfigError(f"eps must be in (0, 0.5); got {eps!r}.")
    if (g < 0).any() or (g > 1).any():
        raise DataError(
            f"transform='logit' needs gold scores in [0, 1]; found range [{g.min():g}, {g.max():g}]. "
            "Use transform=None for scores that are not probabilities."
        )
    c = np.clip(g, eps, 1.0 - eps)
    return np.log(c) - np.log1p(-c)


def can_label(g_first, g_second, noise: str = "none") -> np.ndarray:
    """Which pairs the simulated annotator can label: bool, one per pair.

    Every pair under ``noise="bt"``; under ``noise="none"`` only pairs whose (transformed) gold
    differs, since a tie carries no preference.

    Example
    -------
    >>> can_label([1.0, 2.0], [1.0, 0.5]).tolist(), can_label([1.0], [1.0], "bt").tolist()
    ([False, True], [True])
    """
    check_in(noise, NOISES, name="noise")
    a, b = np.asarray(g_first, dtype=np.float64), np.asarray(g_second, dtype=np.float64)
    if noise == "bt":
        return np.ones(np.broadcast_shapes(a.shape, b.shape), dtype=bool)
    return a != b


def label_pairs(
    g_first, g_second, noise: str = "none", beta: float = 1.0, random_state=None
) -> np.ndarray:
    """The simulated annotator: True where the first response of a pair wins.

    ``noise="none"``: the higher gold wins (tied pairs cannot be labelled; leave them out with
    :func:`can_label`, or this raises ConfigError). ``noise="bt"``: the first wins with
    probability ``sigmoid(beta * (g_first - g_second))``, one uniform draw per pair from ``random_state``
    (an int or a Generator).

    Example
    -------
    >>> label_pairs([0.9, 0.1], [0.2, 0.5]).tolist()
    [True, False]
    """
    check_in(noise, NOISES, name="noise")
    gap = np.asarray(g_first, dtype=np.float64) - np.asarray(g_second, dtype=np.float64)
    if noise == "none":
        if (gap == 0).any():
            raise ConfigError(
                f"{int((gap == 0).sum())} pairs have equal gold, and a noiseless annotator has no preference "
                "between them; leave them out (can_label) or use noise='bt'."
            )
        return gap > 0
    beta = check_positive(beta, name="beta")
    return check_random_state(random_state).random(gap.size).reshape(gap.shape) < expit(beta * gap)


def _draw_pools(
    rows: np.ndarray, prompt_index: np.ndarray, within_prompt: bool
) -> list[np.ndarray]:
    """The pools pairs are drawn from: one per prompt with two responses or more, or one for all."""
    if not within_prompt:
        return [rows] if rows.size >= 2 else []
    order = np.argsort(prompt_index[rows], kind="stable")
    sorted_rows = rows[order]
    _, starts, counts = np.unique(prompt_index[sorted_rows], return_index=True, return_counts=True)
    return [sorted_rows[s : s + c] for s, c in zip(starts, counts) if c >= 2]


def _round_robin(
    pools: list[np.ndarray],
    n_pairs: int,
    g_all: np.ndarray,
    strategy: str,
    noise: str,
    n_candidates: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_pairs`` distinct unlabelled pairs ``(a, b)``: a shuffled round-robin over the pools (a
    fresh shuffle after each full pass), so labels spread over prompts before any gets a second."""
    seen: set[tuple[int, int]] = set()
    out_a, out_b = [], []
    full = [False] * len(pools)
    pool_order = rng.permutation(len(pools))
    cursor = 0
    while len(out_a) < n_pairs:
        if cursor == len(pool_order):
            pool_order = rng.permutation(len(pools))
            cursor = 0
        k = pool_order[cursor]
        cursor += 1
        if full[k]:
            if all(full):
                raise ConfigError(
                    f"could draw only {len(out_a)} of {n_pairs} distinct pairs; ask for fewer."
                )
            continue
        pair = _draw_pair(pools[k], g_all, strategy, noise, n_candidates, seen, rng)
        if pair is None:
            full[k] = True
            continue
        seen.add((min(pair), max(pair)))
        out_a.append(pair[0])
        out_b.append(pair[1])
    return np.asarray(out_a, dtype=np.int64), np.asarray(out_b, dtype=np.int64)


def pairs_from_scores(
    scored,
    n_pairs: int,
    *,
    within_prompt: bool = True,
    strategy: str = "random",
    noise: str = "none",
    beta: float = 1.0,
    transform: str | None = None,
    eps: float = 1e-4,
    n_candidates: int = 16,
    rows=None,
    random_state=0,
) -> SimulatedPairs:
    """Draw and label ``n_pairs`` pairs from a scored-response set.

    Parameters
    ----------
    scored : ScoredResponses, or an object with ``scores`` (n,) and ``prompt_index`` (n,)
    n_pairs : number of pairs to return
    within_prompt : both responses from one prompt (True) or from anywhere (False)
    strategy : "random", "far" or "close" (see the module docstring)
    noise : "none" (higher gold wins) or "bt" (P(a wins) = sigmoid(beta * (g(a) - g(b))))
    beta : Bradley-Terry inverse temperature, > 0
    transform : None or "logit" (for gold probabilities), applied before gaps and noise
    eps : clip for the logit transform
    n_candidates : candidate pairs per draw for "far"/"close"
    rows : optional int array, restrict drawing to these rows (e.g. a training split's rows)
    random_state : int or Generator; the same random_state gives the same pairs

    Returns
    -------
    SimulatedPairs (row indices into ``scored``; ``.pair_features(F)`` gives ``(m, 2, D)``)

    Raises ConfigError if fewer than ``n_pairs`` distinct labelable pairs exist.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.data import ScoredResponses
    >>> s = ScoredResponses(prompts=["p"], prompt_ids=["0"], prompt_index=np.zeros(3),
    ...     responses=["a", "b", "c"], scores=[0.1, 0.5, 0.9], ids=["0", "1", "2"])
    >>> sp = pairs_from_scores(s, 3, random_state=0)
    >>> sorted(zip(sp.chosen.tolist(), sp.rejected.tolist()))
    [(1, 0), (2, 0), (2, 1)]
    """
    check_in(strategy, STRATEGIES, name="strategy")
    check_in(noise, NOISES, name="noise")
    beta = check_positive(beta, name="beta")
    n_pairs = check_whole(n_pairs, name="n_pairs")
    n_candidates = check_whole(n_candidates, name="n_candidates")
    rng = check_random_state(random_state)
    g_all = transform_scores(np.asarray(scored.scores, dtype=np.float64), transform, eps=eps)
    prompt_index = np.asarray(scored.prompt_index, dtype=np.int64)
    if rows is None:
        rows = np.arange(g_all.size)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= g_all.size):
        raise ConfigError(
            f"rows must index the {g_all.size} responses; found {rows[0]}..{rows[-1]}."
        )

    pools = _draw_pools(rows, prompt_index, within_prompt)
    capacity = sum(_labelable_pairs(g_all[p], noise) for p in pools)
    if capacity < n_pairs:
        raise ConfigError(
            f"asked for {n_pairs} pairs but only {capacity} distinct labelable pairs exist "
            f"({'within prompts' if within_prompt else 'across prompts'}"
            f"{', equal-gold pairs excluded in noiseless mode' if noise == 'none' else ''}). "
            "Ask for fewer pairs or draw from more responses."
        )

    a, b = _round_robin(pools, n_pairs, g_all, strategy, noise, n_candidates, rng)
    a_wins = label_pairs(g_all[a], g_all[b], noise, beta, rng)
    if noise == "none":
        p_win = np.ones(a.size)
    else:
        p_a = expit(beta * (g_all[a] - g_all[b]))
        p_win = np.where(a_wins, p_a, 1.0 - p_a)
    chosen = np.where(a_wins, a, b)
    rejected = np.where(a_wins, b, a)
    logger.info(
        "simulated %d pairs (strategy=%s, noise=%s, within_prompt=%s)",
        n_pairs,
        strategy,
        noise,
        within_prompt,
    )
    return SimulatedPairs(
        chosen=chosen, rejected=rejected, p_chosen=p_win, gold_gap=g_all[chosen] - g_all[rejected]
    )


def _labelable_pairs(g: np.ndarray, noise: str) -> int:
    """How many pairs of ``g`` :func:`can_label` accepts (all, or all but the equal-gold ones)."""
    n = g.size
    total = n * (n - 1) // 2
    if noise == "bt":
        return total
    _, counts = np.unique(g, return_counts=True)
    return int(total - np.sum(counts * (counts - 1) // 2))


def _draw_pair(pool, g, strategy, noise, n_candidates, seen, rng, max_tries: int = 64):
    """One new (a, b) pair of rows from ``pool``, or None when the pool looks exhausted."""
    want = 1 if strategy == "random" else n_candidates
    best = None
    best_gap = None
    for _ in range(max_tries):
        i, j = rng.choice(pool.size, size=2, replace=False)
        a, b = int(pool[i]), int(pool[j])
        if (min(a, b), max(a, b)) in seen:
            continue
        if not can_label(g[a], g[b], noise):
            continue
        gap = abs(g[a] - g[b])
        if best is None:
            best, best_gap = (a, b), gap
        elif strategy == "far" and gap > best_gap:
            best, best_gap = (a, b), gap
        elif strategy == "close" and (gap == 0, gap) < (best_gap == 0, best_gap):
            best, best_gap = (a, b), gap
        want -= 1
        if want == 0:
            return best
    if best is not None:
        return best
    return _exhaustive_pair(pool, g, noise, seen, rng)


def _exhaustive_pair(pool, g, noise, seen, rng):
    """Random sampling kept hitting used pairs: list what is left (small pools only)."""
    if pool.size > 2000:
        return None
    i, j = np.triu_indices(pool.size, k=1)
    a, b = pool[i], pool[j]
    keep = np.array([(int(x), int(y)) not in seen for x, y in zip(a, b)], dtype=bool)
    keep &= can_label(g[a], g[b], noise)
    if not keep.any():
        return None
    k = rng.choice(np.flatnonzero(keep))
    return (int(a[k]), int(b[k])) if rng.random() < 0.5 else (int(b[k]), int(a[k]))
