"""What every synthesizer shares: input checks, prompt columns, standardisation, sampling.

A synthesizer is a scikit-learn-style estimator: ``fit(X)`` on real pairs ``(n, 2, dim)``,
then ``sample(factor)`` returns :class:`~prefspace.synth.pairs.SyntheticPairs` whose
``parent`` indexes the fitted ``X``.

Prompt columns. With the ``"separate"`` embedding layout a response row is
``[prompt embedding, response embedding]`` and both sides of a pair share the prompt half.
Columns equal on both sides of every pair carry no preference information of their own, so
by default (``shared_columns="auto"``) they are detected, copied unchanged from the parent
into every synthetic response, and only the remaining ("free") columns are synthesized. A
conditional variant may feed them to the generator as context.

Subclasses implement ``_synthesize(s, rng)`` (or ``_sample_pairs``) and, when they learn
something beyond the pairs themselves, ``_fit_free(F, C)``, on standardised free columns; they
do not see the shared columns or the original scale.

Two parameters mean the same in every synthesizer (and in every reward head and selector):

- ``random_state``: None (fresh randomness), an int (the same pairs every time) or a numpy
  Generator (drawn from once, at ``fit``). ``fit`` turns it into the int ``seed_`` from which
  training and ``sample`` draw, so two ``sample`` calls on one fit give the same pairs.
- ``n_jobs``: BLAS threads while fitting and sampling, through
  :func:`prefspace._threads.limit_threads`. The default is 1: these matrices are small and on a
  shared 2-core machine extra threads only spin-wait. (LENS defaults to None and uses it for the
  VAE's two half-batches, each on one BLAS thread: see ``LatentSynthesizer``.)
"""

from __future__ import annotations

import logging
import os

import numpy as np
from sklearn.base import BaseEstimator

from .._threads import limit_threads
from .._validation import check_embeddings, check_pairs, check_random_state, check_whole, seed_from
from ..exceptions import ConfigError, NotFittedError, ShapeError
from ..models.holdout import shared_column_mask
from .pairs import SyntheticPairs, combine_within_pairs, responses_per_side

logger = logging.getLogger(__name__)


def _check_factor(factor) -> int:
    return check_whole(factor, name="factor", what="synthetic pairs per real pair")


def _available_memory() -> int | None:
    """Bytes of memory a new allocation can use now (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_synthetic_memory(
    n_real: int,
    n_source: int,
    dim: int,
    factor: int,
    *,
    itemsize: int = 4,
    label_filter: bool = False,
) -> int:
    """Refuse a synthesis that cannot fit in memory, before anything is allocated; return the estimate.

    ``n_real`` pairs of rows of ``dim`` values (``itemsize`` bytes each), ``n_source`` of them
    synthesized from, ``factor`` synthetic pairs each. The peak holds the pairs drawn (twice
    as many with the label filter), the training set they join (the real pairs plus the kept
    ones) and the synthesizer's copy of its input: a lower bound on what the run needs.
    """
    row = 2 * int(dim) * int(itemsize)
    drawn = n_source * factor * (2 if label_filter else 1)
    need = (drawn + n_real + n_source * factor + n_source) * row
    have = _available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"factor {factor} would make {n_source * factor:,} synthetic pairs from {n_source:,} real ones: at least "
            f"{need / 2**30:,.1f} GiB, and {have / 2**30:,.1f} GiB of memory is available. Use a smaller factor "
            "(4 to 16 is usual)."
        )
    return need


class BaseSynthesizer(BaseEstimator):
    """Base class; see the module docstring. Not for direct use."""

    method = "base"
    _min_pairs = 2

    def __init__(self, *, shared_columns="auto", n_jobs: int | None = 1, random_state=0) -> None:
        """Store the parameters this class uses for every synthesizer (see the module
        docstring); a subclass lists all its parameters in its own ``__init__`` and passes
        these on."""
        self.shared_columns = shared_columns
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------
    _uses_unlabelled = False  # latent models can also learn from responses without labels

    def fit(self, X, y=None, *, unlabelled=None) -> BaseSynthesizer:
        """Learn from real pairs ``X`` of shape (n_pairs, 2, dim), ``X[:, 0]`` chosen.

        ``y`` is ignored (present for scikit-learn compatibility). ``unlabelled`` (latent
        models only: ``lens``, ``pca``): rows (m, dim) of responses without labels, embedded
        like ``X``'s, to fit the latent model on as well. Returns ``self``.
        """
        X = check_pairs(X)
        if unlabelled is not None and not self._uses_unlabelled:
            raise ConfigError(
                f"{type(self).__name__} does not use unlabelled responses; the latent models (lens, pca) do."
            )
        self._check_params()
        seed = seed_from(self.random_state)
        with limit_threads(self.n_jobs):
            return self._fit_checked(X, seed, unlabelled)

    def _fit_checked(self, X: np.ndarray, seed: int, unlabelled=None) -> BaseSynthesizer:
        if X.shape[0] < self._min_pairs:
            raise ShapeError(
                f"{type(self).__name__}.fit needs at least {self._min_pairs} pairs; got {X.shape[0]}."
            )
        shared = self._resolve_shared(X)
        if shared.all():
            raise ShapeError(
                "every column of X is identical on the chosen and rejected side: there is nothing to synthesize. "
                "Check that X[:, 0] and X[:, 1] hold different responses."
            )
        self.X_ = X
        self.seed_ = seed
        self.n_features_in_ = X.shape[2]
        self.shared_mask_ = shared
        F = X[:, :, ~shared]
        flat = F.reshape(-1, F.shape[-1])
        self.mean_ = flat.mean(0)
        sd = flat.std(0)
        self.scale_ = np.where(sd > 1e-8 * max(float(sd.max()), 1e-30), sd, 1.0).astype(np.float32)
        self.Fz_ = ((F - self.mean_) / self.scale_).astype(np.float32)  # (n, 2, d_free)
        C = X[:, 0, shared] if shared.any() else None
        if unlabelled is None:
            self._fit_free(self.Fz_, C)
        else:
            U = check_embeddings(unlabelled, name="unlabelled", dim=X.shape[2])
            Uz = ((U[:, ~shared] - self.mean_) / self.scale_).astype(np.float32)
            self._fit_free(self.Fz_, C, pool=Uz, pool_cond=U[:, shared] if shared.any() else None)
        return self

    def _resolve_shared(self, X: np.ndarray) -> np.ndarray:
        spec = getattr(self, "shared_columns", "auto")
        if spec is None or (isinstance(spec, str) and spec == "none"):
            return np.zeros(X.shape[2], dtype=bool)
        if isinstance(spec, str):
            if spec != "auto":
                raise ConfigError(
                    f"shared_columns must be 'auto', 'none', None or a bool mask; got {spec!r}."
                )
            return shared_column_mask(X) if X.shape[0] >= 2 else np.zeros(X.shape[2], dtype=bool)
        mask = np.asarray(spec, dtype=bool)
        if mask.shape != (X.shape[2],):
            raise ShapeError(
                f"shared_columns mask must have shape ({X.shape[2]},); got {mask.shape}."
            )
        return mask

    def _check_params(self) -> None:  # subclasses add their own
        pass

    def _fit_free(
        self,
        F: np.ndarray,
        C: np.ndarray | None,
        pool: np.ndarray | None = None,
        pool_cond: np.ndarray | None = None,
    ) -> None:
        """Learn from the standardised free columns ``F`` (n, 2, d_free) beside the shared
        columns ``C``, and from unlabelled responses ``pool`` (m, d_free; their shared columns
        ``pool_cond``) when given: only the latent models (lens, pca) are given them. By
        default nothing (noise, mixup and repeat need only the fitted pairs)."""

    # -- sampling --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "X_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet: call fit(X) with real pairs first."
            )

    def sample(self, factor: int = 4, *, random_state=None) -> SyntheticPairs:
        """Synthesize ``factor`` pairs per fitted real pair.

        Parameters
        ----------
        factor : int >= 1. The result holds ``n_pairs * factor`` synthetic pairs.
        random_state : None, int or Generator. ``None`` derives the stream from the fitted
            ``seed_`` (the estimator's own ``random_state``), so two calls give the same pairs.

        Returns
        -------
        SyntheticPairs with ``X`` of shape (n_pairs * factor, 2, dim), ``parent`` into the
        fitted ``X``, labels inherited from the parent.
        """
        self._check_fitted()
        factor = _check_factor(factor)
        n, _, dim = self.X_.shape
        check_synthetic_memory(n, n, dim, factor, itemsize=self.X_.dtype.itemsize)
        if random_state is None:
            rng = np.random.default_rng([self.seed_, 0x5EED])
        else:
            rng = check_random_state(random_state)
        with limit_threads(self.n_jobs):
            pairs = self._sample_pairs(factor, rng)
        logger.info(
            "%s: %d synthetic pairs from %d real pairs", self.method, len(pairs), self.X_.shape[0]
        )
        return pairs

    def _sample_pairs(self, factor: int, rng: np.random.Generator) -> SyntheticPairs:
        """Default: ``s`` synthetic responses per side, then the LENS pairing rule."""
        s = responses_per_side(factor)
        Sc, Sr = self._synthesize(s, rng)  # (n, s, d_free) each, standardised
        return combine_within_pairs(
            self.X_,
            self._to_full(Sc, side=0),
            self._to_full(Sr, side=1),
            factor,
            rng,
            method=self.method,
            info=self._info(),
        )

    def _synthesize(self, s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _to_full(self, S: np.ndarray, *, side: int) -> np.ndarray:
        """Standardised free columns (n, s, d_free) -> full rows (n, s, dim) in the input scale,
        the shared columns copied from the parent's response on that side."""
        n, s, _ = S.shape
        out = np.repeat(self.X_[:, side][:, None, :], s, axis=1).astype(np.float32)
        out[:, :, ~self.shared_mask_] = S * self.scale_ + self.mean_
        return out

    def _info(self) -> dict:
        return {
            "shared_columns": int(self.shared_mask_.sum()),
            "free_columns": int((~self.shared_mask_).sum()),
        }
