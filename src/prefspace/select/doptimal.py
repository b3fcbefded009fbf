"""D-optimal batch selection: choose the pairs that most increase the Fisher information of the
reward model's final linear layer (Shen, Sun et al., "Active Reward Modeling", ICML 2025).

For a Bradley-Terry head ``r(x) = w . phi(x)`` and a pair ``k = (a, b)``, let
``d_k = phi(a) - phi(b)`` (last-hidden-layer features, ``model.transform``) and
``p_k = sigmoid(r(a) - r(b))``. Labelling pair ``k`` adds ``v_k d_k d_k^T`` with
``v_k = p_k (1 - p_k)`` to the Fisher information of ``w``. Starting from
``M = lambda I`` (plus the labelled pairs' terms for the past-aware variant), the greedy step takes
the candidate with the largest gain ``g_k = v_k d_k^T M^-1 d_k``; by the matrix determinant lemma
``det(M + v_k d_k d_k^T) = det(M) (1 + g_k)``, so this is exactly the candidate that most increases
``log det M``.

Coordinates and prior: a head that knows the prior it was fitted with
(``last_layer_prior() -> (scale, ridge)``; ``BradleyTerryLinear``: its standardisation and its
``alpha``) is designed for in its own coordinates ``phi / scale`` with ``lambda = ridge``, so
``M`` is the curvature of the objective the head minimised (for the past-aware variant, exactly
its Hessian at the fit). Other heads use ``transform()`` and ``lambda = 1`` unless told.

Two guards, both on by default: an exploration share of each batch is drawn at random and taken
first (its information enters ``M``, so the greedy part complements it), and the greedy part
never pairs an outlying response (:func:`outlier_rows`), the rows whose long feature differences
would otherwise make them every pair's partner.

Each step is cheap. With ``u = M^-1 d_j`` for the chosen ``j`` and ``c = v_j / (1 + v_j d_j^T u)``,
Sherman-Morrison gives ``M'^-1 = M^-1 - c u u^T`` and so ``g'_k = g_k - c v_k (d_k^T u)^2`` for every
candidate. Because ``d_k`` is a difference of rows, ``d_k^T u = s[a_k] - s[b_k]`` with
``s = Phi u`` over the *rows*: one (n_rows, h) matrix-vector product and two gathers per step,
never a pass over pair features. ``M`` is inverted once, at the start (a multiple of the identity
unless past pairs are given), and never again.

What this module does not do: refit the model between picks (``v_k`` and ``phi`` are those of the
model passed in, as in the paper's batch setting).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import expit

from .._validation import check_in, check_positive, check_random_state
from ..exceptions import ConfigError
from ._common import ChunkedSelector, check_labelled, compact_pair_rows, row_rewards, row_transform
from .baselines import RandomSelector
from .pools import DEFAULT_CHUNK_SIZE, PairPool

logger = logging.getLogger(__name__)


def fisher_information(D, v, lam: float) -> np.ndarray:
    """``M = sum_k v_k d_k d_k^T + lam I`` for ``D`` of shape (m, h) and ``v`` of shape (m,)."""
    D = np.asarray(D, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return (D * v[:, None]).T @ D + lam * np.eye(D.shape[1])


def initial_gains(F, a, b, v, M_inv, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """``v_k d_k^T M_inv d_k`` for every candidate, ``d_k = F[a_k] - F[b_k]``, in chunks.

    This is the one pass over the pool's pair features that every greedy run needs (the floor
    the speed benchmark compares against). Returns float64 ``(n,)``.
    """
    F = np.asarray(F, dtype=np.float64)
    scale = M_inv[0, 0]
    if np.array_equal(M_inv, scale * np.eye(M_inv.shape[0])):
        G = F * scale  # M = lam I: no matrix product needed
    else:
        G = F @ M_inv  # (n_rows, h)
    q = np.einsum("ij,ij->i", G, F)  # phi_r^T M_inv phi_r per row
    out = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], chunk_size):
        sl = slice(start, start + chunk_size)
        aa, bb = a[sl], b[sl]
        cross = np.einsum("ij,ij->i", G[aa], F[bb])
        out[sl] = q[aa] + q[bb] - 2.0 * cross
    np.maximum(out, 0.0, out=out)  # a quadratic form of a PSD matrix; clip round-off
    return out * np.asarray(v, dtype=np.float64)


def greedy_d_optimal(
    F,
    a,
    b,
    v,
    k: int,
    *,
    M_inv,
    exclude=None,
    forced=None,
    method: str = "lazy",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
):
    """Greedy log-det maximisation with rank-one updates.

    ``forced`` candidates (e.g. an exploration share drawn at random) are taken first, in their
    order, whatever their gains; their information enters ``M`` exactly as a greedy pick's does,
    so the greedy picks that follow complement them.

    Two exact ways to run the same greedy (they pick the same pairs unless two gains tie
    exactly):

    - ``method="update"`` keeps every candidate's gain current: after each pick,
      ``g_k -= c v_k (d_k . u)^2`` for all ``k`` (one ``(n_rows, h)`` matrix-vector product and two
      gathers per pick).
    - ``method="lazy"`` (default) uses that gains only ever decrease (``log det`` is submodular),
      so out-of-date gains are upper bounds (Minoux's lazy greedy): it keeps a shortlist of the
      256 best candidates exact and refreshes all gains in one batched pass only when the best
      shortlisted gain falls below the best gain outside the shortlist, or after 64 picks.
      When a few candidates stand out this reads the pool a few times per batch instead of
      once per pick; when all gains are alike it refreshes often and costs about what
      ``update`` costs.

    Parameters
    ----------
    F : array of shape (n_rows, h), last-hidden-layer features of the pool's rows
    a, b : int arrays of shape (n,), the rows of each candidate pair
    v : array of shape (n,), ``p_k (1 - p_k)`` per candidate
    k : number of pairs to choose
    M_inv : array of shape (h, h), the inverse of the starting information matrix
    exclude : sorted int array of candidates the greedy never chooses
    forced : int array of distinct candidates taken first (at most ``k``); may include excluded ones
    method : ``"lazy"`` or ``"update"``

    Returns
    -------
    picked : int64 array of shape (k,), in the order chosen (``forced`` first)
    gains : float64 array of shape (k,), each pick's gain ``v_j d_j^T M^-1 d_j`` when chosen
        (``log det`` rose by ``log1p(gain)``)
    M_inv : float64 array of shape (h, h), the inverse after all picks

    Example
    -------
    >>> import numpy as np
    >>> F = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> picked, gains, _ = greedy_d_optimal(F, np.array([0, 1, 0]), np.array([2, 2, 1]),
    ...                                     np.full(3, 0.25), 2, M_inv=np.eye(2))
    >>> picked.tolist()
    [2, 0]
    """
    F = np.asarray(F, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    M_inv = np.array(M_inv, dtype=np.float64, copy=True)
    forced = (
        np.zeros(0, dtype=np.int64)
        if forced is None
        else np.asarray(forced, dtype=np.int64).ravel()
    )
    if forced.size > k or np.unique(forced).size != forced.size:
        raise ConfigError(f"forced must hold at most k={k} distinct candidates; got {forced.size}.")
    gain = initial_gains(F, a, b, v, M_inv, chunk_size=chunk_size)
    if exclude is not None and len(exclude):
        gain[np.asarray(exclude)] = -np.inf
    picked = np.empty(k, dtype=np.int64)
    picked_gain = np.empty(k, dtype=np.float64)
    if method == "lazy":
        _lazy_greedy(
            F, a, b, v, M_inv, gain, picked, picked_gain, forced=forced, chunk_size=chunk_size
        )
    elif method == "update":
        _update_greedy(F, a, b, v, M_inv, gain, picked, picked_gain, forced=forced)
    else:
        raise ConfigError(f"method must be 'lazy' or 'update'; got {method!r}.")
    return picked, picked_gain, M_inv


def _update_greedy(F, a, b, v, M_inv, gain, picked, picked_gain, *, forced) -> None:
    """Greedy keeping every gain current; fills ``picked``/``picked_gain``, updates ``M_inv``."""
    t = np.empty(a.shape[0], dtype=np.float64)
    t_b = np.empty(a.shape[0], dtype=np.float64)
    for step in range(picked.size):
        j = int(forced[step]) if step < forced.size else int(np.argmax(gain))
        d = F[a[j]] - F[b[j]]
        u = M_inv @ d
        g = v[j] * float(d @ u)
        picked[step], picked_gain[step] = j, (g if step < forced.size else gain[j])
        c = v[j] / (1.0 + g)
        M_inv -= c * np.outer(u, u)
        # g_k <- g_k - c v_k (d_k . u)^2, with d_k . u = s[a_k] - s[b_k]
        s = F @ u
        np.take(s, a, out=t)
        np.take(s, b, out=t_b)
        t -= t_b
        t *= t
        t *= v
        t *= c
        gain -= t
        gain[j] = -np.inf


def _lazy_greedy(
    F,
    a,
    b,
    v,
    M_inv,
    gain,
    picked,
    picked_gain,
    *,
    forced=None,
    top: int = 256,
    max_pending: int = 64,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> None:
    """Lazy greedy with batched refreshes; fills ``picked``/``picked_gain``, updates ``M_inv``.

    ``gain`` holds every candidate's gain as of the last refresh: an upper bound on its current
    gain, since gains only decrease. A shortlist of the ``top`` largest is kept exact (its feature
    differences are gathered once per refresh; each pick updates them with one small
    matrix-vector product). The best shortlisted candidate is the true greedy pick whenever its
    exact gain is at least ``rest``, the largest bound outside the shortlist. When it is not, or
    when ``max_pending`` picks have accumulated, every gain is brought up to date at once:
    ``g_k -= v_k sum_i c_i (d_k . u_i)^2``, with ``S = F @ U`` a matrix-matrix product over the
    rows, so the whole pool is read once per refresh instead of once per pick. ``forced``
    candidates are taken first, in order, without consulting the gains.
    """
    forced = np.zeros(0, dtype=np.int64) if forced is None else forced
    n, h = gain.size, F.shape[1]
    k = picked.size
    # M^-1 is kept implicitly as M0^-1 - U_all diag(C_all) U_all^T (no h x h work per pick);
    # the columns since the last refresh, U_all[:, m0:], are the pending ones
    U_all = np.empty((h, k))
    C_all = np.empty(k)
    M0_inv = M_inv.copy()
    scale = M0_inv[0, 0]
    identity = np.array_equal(M0_inv, scale * np.eye(h))
    m0 = 0  # first pending column
    m = 0  # pending count
    refreshes = 0

    def refresh() -> None:
        nonlocal m, m0, refreshes
        if m:
            U, C = U_all[:, m0 : m0 + m], C_all[m0 : m0 + m]
            S = F @ U  # (n_rows, m)
            for start in range(0, n, chunk_size):
                sl = slice(start, start + chunk_size)
                T = S[a[sl]] - S[b[sl]]
                T *= T
                gain[sl] -= v[sl] * (T @ C)
            m0 += m
            m = 0
            refreshes += 1

    cand, D, ex, rest = _shortlist(F, a, b, gain, top)
    for step in range(picked.size):
        if step < forced.size:
            j = int(forced[step])
            d = F[a[j]] - F[b[j]]
            hit = np.flatnonzero(cand == j)
            i = int(hit[0]) if hit.size else -1
        else:
            while True:
                if ex.size:
                    best = ex.max()
                    i = int(
                        np.flatnonzero(ex == best)[0]
                    )  # ties: the lowest index (cand is sorted)
                    if best >= rest:
                        break
                refresh()
                cand, D, ex, rest = _shortlist(F, a, b, gain, top)
            j, d = int(cand[i]), D[i]
        u = d * scale if identity else M0_inv @ d
        if step:
            u -= U_all[:, :step] @ (C_all[:step] * (d @ U_all[:, :step]))
        g = v[j] * float(d @ u)
        c = v[j] / (1.0 + g)  # Sherman-Morrison: M'^-1 = M^-1 - c u u^T
        picked[step], picked_gain[step] = j, g
        gain[j] = -np.inf
        if i >= 0:
            keep = np.ones(cand.size, dtype=bool)
            keep[i] = False
            cand, D, ex = cand[keep], D[keep], ex[keep]
        ex -= c * v[cand] * (D @ u) ** 2
        U_all[:, step], C_all[step] = u, c
        m += 1
        if m == max_pending:
            refresh()
            cand, D, ex, rest = _shortlist(F, a, b, gain, top)
    M_inv -= (U_all * C_all) @ U_all.T
    logger.debug("lazy greedy: %d refreshes for %d picks", refreshes, picked.size)


def _shortlist(F, a, b, gain, top: int):
    """The ``top`` candidates of largest gain (sorted, finite gains only), their feature
    differences, their gains, and the largest gain left outside (``-inf`` if none)."""
    n = gain.size
    if n > top:
        part = np.argpartition(-gain, top)
        cand, rest = part[:top], gain[part[top]]
    else:
        cand, rest = np.arange(n), -np.inf
    cand = np.sort(cand[np.isfinite(gain[cand])])
    return cand, F[a[cand]] - F[b[cand]], gain[cand].copy(), rest


def head_prior(model, h: int) -> tuple[np.ndarray | None, float | None]:
    """``(scale, ridge)`` of the head's own prior on its final layer, or ``(None, None)``.

    A head that knows its prior (``BradleyTerryLinear.last_layer_prior()``) penalises its final
    weights ``w`` by ``ridge / 2 * ||w * scale||^2`` against pairs of unit weight; in the
    coordinates ``transform(E) / scale`` that prior is ``ridge I``. Other heads (MLPs, boosted
    trees, ensembles) do not expose one.
    """
    get = getattr(model, "last_layer_prior", None)
    prior = get() if callable(get) else None
    if prior is None:
        return None, None
    scale, ridge = prior
    scale = np.asarray(scale, dtype=np.float64)
    if scale.shape != (h,) or not np.all(scale > 0):
        raise ConfigError(
            f"{type(model).__name__}.last_layer_prior() gave a scale of shape {scale.shape}; "
            f"expected ({h},) positive values."
        )
    return scale, float(ridge)


def outlier_rows(F, groups=None, *, z: float = 3.5, min_group: int = 3) -> np.ndarray:
    """Rows far from the other responses to their prompt: True where a row is an outlier.

    A row's distance is its Euclidean distance from the coordinate-wise median of its group (its
    prompt's rows in ``F``; a median, so the outliers do not drag the centre towards them); rows
    in groups smaller than ``min_group`` (or all rows when ``groups`` is None) are measured from
    the median of those rows instead. Within each of these two populations a row is
    an outlier when its robust z-score ``(dist - median) / (1.4826 MAD)`` exceeds ``z``.

    On alpaca_bon (MiniLM features, the linear head's coordinates) ``z = 3.5`` flags about 5% of
    the responses, among them most of the adversarial ``gpt4_gamed`` outputs, empty answers and
    refusals: the rows D-optimal design would otherwise pair with everything, since their
    feature differences are the longest.

    Example
    -------
    >>> import numpy as np
    >>> F = np.r_[np.random.default_rng(0).normal(size=(30, 2)) * 0.1, [[5.0, 5.0]]]
    >>> np.flatnonzero(outlier_rows(F, np.zeros(31, dtype=int)))
    array([30])
    """
    F = np.asarray(F, dtype=np.float64)
    n = F.shape[0]
    dist = np.empty(n)
    grouped = np.zeros(n, dtype=bool)
    if groups is not None:
        _, gid, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
        grouped = counts[gid] >= min_group
        order = np.argsort(gid, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for g in np.flatnonzero(counts >= min_group):
            rows = order[bounds[g] : bounds[g + 1]]
            dist[rows] = np.linalg.norm(F[rows] - np.median(F[rows], axis=0), axis=1)
    rest = ~grouped
    if rest.any():
        dist[rest] = np.linalg.norm(F[rest] - np.median(F[rest], axis=0), axis=1)
    out = np.zeros(n, dtype=bool)
    for part in (grouped, rest):
        if part.sum() < 3:
            continue
        d = dist[part]
        med = np.median(d)
        mad = 1.4826 * np.median(np.abs(d - med))
        if mad > 0:
            out[part] = (d - med) / mad > z
    return out


class DOptimalSelector(ChunkedSelector):
    """Choose the batch that greedily maximises ``log det`` of the final layer's Fisher information.

    The information is computed in the head's own coordinates with the head's own prior when
    the head exposes them (``BradleyTerryLinear``: its standardised inputs and its penalty
    ``alpha``), so ``M`` is the curvature of the objective the head actually minimises. Part of
    each batch is drawn at random (``exploration``), and candidates that pair an outlying
    response are left to that random part (``outlier_z``).

    Parameters
    ----------
    lam : float or None, default None
        The ridge ``lambda`` in ``M = sum v_k d_k d_k^T + lambda I``. None: the head's own
        penalty (``ridge`` of ``model.last_layer_prior()``), or 1.0 for heads without one.
        A number overrides it (in the head's coordinates).
    past_aware : bool or None, default None
        If True, ``M`` starts from the already-labelled pairs passed to
        ``select(..., labelled=...)`` (the paper's past-aware variant), so the batch avoids
        directions those pairs already pin down. None: the class's own setting (False here,
        True for :class:`PastAwareDOptimalSelector`, which is this class with that default).
    exploration : float in [0, 1), default 0.25
        Share of each batch drawn uniformly at random from the candidates not excluded (rounded
        to the nearest whole pair). They are taken first and enter ``M``, so the greedy part
        complements them. A random share keeps the labelled set covering the pool when the
        model's ``p (1 - p)`` is wrong.
    outlier_z : float or None, default 3.5
        Candidates that pair a response whose distance from its prompt's other responses (in
        the head's coordinates) has a robust z-score above this are never chosen by the greedy
        part (they can still be drawn by the random part); see :func:`outlier_rows`. None: off.
    random_state : None, int or numpy Generator, for the exploration share.
    method : ``"lazy"`` (default) or ``"update"``: two exact ways to run the greedy (see
        :func:`greedy_d_optimal`); lazy is much faster on large pools, update touches every
        candidate after every pick.
    chunk_size : pairs per chunk in the pass over the pool.
    n_jobs : int or None, default None. Threads for the model's outputs and the greedy's
        matrix products; None keeps the libraries' settings.

    Attributes (after ``select``)
    -----------------------------
    gains_ : float64 (k,), each pick's gain ``v_j d_j^T M^-1 d_j`` when taken
    explored_ : int64 (m,), the randomly drawn candidates (the first ``m`` picks)
    n_outlier_rows_ : int, responses flagged by the outlier guard
    lam_ : float, the ridge used

    Memory: per candidate two int32 rows, ``v`` and the gain (about 24 bytes); the pair features
    are never materialised. For pools of hundreds of millions of pairs, ``pool.sample(n)`` first.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.select import WithinPromptPool
    >>> class Linear:  # any fitted head with predict() and transform()
    ...     def predict(self, E): return E @ np.array([1.0, 0.0])
    ...     def transform(self, E): return E
    >>> E = np.random.default_rng(0).normal(size=(12, 2))
    >>> pool = WithinPromptPool(E, np.repeat([0, 1, 2], 4))
    >>> DOptimalSelector(lam=1.0, random_state=0).select(pool, Linear(), 3).shape
    (3,)
    """

    strategy_name = "d-optimal"
    default_past_aware = False

    def __init__(
        self,
        lam: float | None = None,
        past_aware: bool | None = None,
        exploration: float = 0.25,
        outlier_z: float | None = 3.5,
        random_state=None,
        method: str = "lazy",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        n_jobs: int | None = None,
    ):
        super().__init__(chunk_size=chunk_size, n_jobs=n_jobs)
        self.lam = lam
        self.past_aware = past_aware
        self.exploration = exploration
        self.outlier_z = outlier_z
        self.random_state = random_state
        self.method = method

    def _check_params(self) -> None:
        if self.lam is not None:
            check_positive(self.lam, name="lam")
        check_in(self.method, ("lazy", "update"), name="method")
        if self.past_aware not in (None, True, False):
            raise ConfigError(f"past_aware must be True, False or None; got {self.past_aware!r}.")
        share = check_positive(self.exploration, name="exploration", allow_zero=True)
        if share >= 1.0:
            raise ConfigError(
                f"exploration must be in [0, 1); got {self.exploration!r} (use the random strategy for 1)."
            )
        if self.outlier_z is not None:
            check_positive(self.outlier_z, name="outlier_z")
        if not isinstance(self.random_state, np.random.Generator):
            check_random_state(self.random_state)

    def _select(
        self, pool: PairPool, model, k: int, *, labelled, exclude: np.ndarray
    ) -> np.ndarray:
        """In the order chosen (the random share first); ``labelled`` is used when ``past_aware``.
        Sets ``gains_``, ``explored_``, ``n_outlier_rows_`` and ``lam_``."""
        share = float(self.exploration)
        past_aware = self.default_past_aware if self.past_aware is None else bool(self.past_aware)
        name = "past-aware D-optimal" if past_aware else "D-optimal"
        used, a, b = compact_pair_rows(pool, self.chunk_size)
        F = row_transform(model, pool.features[used], name)
        scale, ridge = head_prior(model, F.shape[1])
        if scale is not None:
            F /= scale
        lam = float(self.lam) if self.lam is not None else (ridge if ridge is not None else 1.0)
        if not lam > 0:
            raise ConfigError(f"{name}: the head's penalty is {lam}; pass lam > 0.")
        r = row_rewards(model, pool.features[used], name)
        p = expit(r[a] - r[b])
        v = p * (1.0 - p)
        M_inv = np.eye(F.shape[1]) / lam
        past = check_labelled(labelled, pool.features.shape[1]) if past_aware else None
        if past is not None:
            Fa = row_transform(model, past[:, 0], name)
            Fb = row_transform(model, past[:, 1], name)
            if scale is not None:
                Fa, Fb = Fa / scale, Fb / scale
            rp = row_rewards(model, past[:, 0], name) - row_rewards(model, past[:, 1], name)
            pp = expit(rp)
            M = fisher_information(Fa - Fb, pp * (1.0 - pp), lam)
            M_inv = np.linalg.inv(M)  # the one inversion; greedy steps update it by rank one
            M_inv = 0.5 * (M_inv + M_inv.T)

        # exploration: a random share of the batch, taken first (it enters M)
        n_explore = int(np.floor(share * k + 0.5))
        explored = (
            RandomSelector(random_state=check_random_state(self.random_state)).select(
                pool, None, n_explore, exclude=exclude
            )
            if n_explore
            else np.zeros(0, dtype=np.int64)
        )
        # the outlier guard: the greedy part never pairs an outlying response
        blocked = np.union1d(exclude, explored)
        self.n_outlier_rows_ = 0
        if self.outlier_z is not None:
            groups = None if pool.prompt_index is None else pool.prompt_index[used]
            out = outlier_rows(F, groups, z=float(self.outlier_z))
            self.n_outlier_rows_ = int(out.sum())
            bad = np.flatnonzero(out[a] | out[b])
            if len(pool) - np.union1d(blocked, bad).size >= k - n_explore:
                blocked = np.union1d(blocked, bad)
            else:
                logger.warning(
                    "%s: the outlier guard would leave fewer than %d candidates; not applied.",
                    name,
                    k - n_explore,
                )
        picked, gains, M_inv = greedy_d_optimal(
            F,
            a,
            b,
            v,
            k,
            M_inv=M_inv,
            exclude=blocked,
            forced=explored,
            method=self.method,
            chunk_size=self.chunk_size,
        )
        self.gains_ = gains
        self.explored_ = explored
        self.lam_ = lam
        logger.info(
            "%s: chose %d of %d candidates (%d at random; %d outlying responses guarded; lambda %.4g in %s "
            "coordinates); gains %.3g .. %.3g",
            name,
            k,
            len(pool),
            n_explore,
            self.n_outlier_rows_,
            lam,
            "the head's standardised" if scale is not None else "transform()",
            gains[0],
            gains[-1],
        )
        return picked


class PastAwareDOptimalSelector(DOptimalSelector):
    """:class:`DOptimalSelector` with ``past_aware`` on by default: ``M`` includes the labelled
    pairs. The parameters are the same."""

    strategy_name = "past-aware"
    default_past_aware = True
