"""Simple augmentation baselines with the same interface as LENS.

* :class:`PerturbationSynthesizer` -- Gaussian noise on the raw (standardised) embeddings.
* :class:`GaussianSynthesizer` -- one Gaussian per side (chosen, rejected), fitted to the real
  responses of that side; synthetic responses are fresh draws, unrelated to their parent.
* :class:`MixupSynthesizer` -- convex combinations of two real pairs (chosen with chosen,
  rejected with rejected), the label kept.
* :class:`RepeatSynthesizer` -- the real pairs themselves, ``factor`` copies each: the control
  every synthesis is measured against (same number of pairs, same weights, same training
  steps, no new information).

The first two use the LENS pairing rule (real or synthetic chosen x real or synthetic
rejected within a pair); mixup makes both sides synthetic. None of them is from the LENS
paper; they are the controls that say whether its machinery earns its keep.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..exceptions import ConfigError
from .base import BaseSynthesizer
from .pairs import SyntheticPairs

__all__ = [
    "PerturbationSynthesizer",
    "GaussianSynthesizer",
    "MixupSynthesizer",
    "RepeatSynthesizer",
]


class PerturbationSynthesizer(BaseSynthesizer):
    """Add ``N(0, sigma2)`` noise to each standardised embedding dimension of real responses.

    Parameters
    ----------
    sigma2 : float, default 0.05. Noise variance as a fraction of each dimension's variance.
    shared_columns : "auto" (prompt columns kept), "none" or a bool mask.
    n_jobs : threads while fitting and sampling, default 1 (see ``prefspace.synth.base``).
    random_state : None, int or numpy Generator, default 0.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(10, 2, 4)).astype(np.float32)
    >>> PerturbationSynthesizer().fit(X).sample(factor=8).X.shape
    (80, 2, 4)
    """

    method = "perturb"

    def __init__(
        self, *, sigma2: float = 0.05, shared_columns="auto", n_jobs: int | None = 1, random_state=0
    ) -> None:
        super().__init__(shared_columns=shared_columns, n_jobs=n_jobs, random_state=random_state)
        self.sigma2 = sigma2

    def _check_params(self) -> None:
        check_positive(self.sigma2, name="sigma2", allow_zero=True)

    def _synthesize(self, s, rng):
        n, _, d = self.Fz_.shape
        out = self.Fz_[:, :, None, :] + rng.normal(
            0.0, np.sqrt(float(self.sigma2)), size=(n, 2, s, d)
        ).astype(np.float32)
        return out[:, 0], out[:, 1]


class GaussianSynthesizer(BaseSynthesizer):
    """Fit a Gaussian to the chosen responses and another to the rejected; sample from each.

    The covariance is Ledoit-Wolf shrunk (``covariance="ledoit_wolf"``, well defined with fewer
    pairs than dimensions) or diagonal (``"diag"``). ``shared_columns``, ``n_jobs`` and
    ``random_state`` as in :class:`PerturbationSynthesizer`.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(20, 2, 4)).astype(np.float32)
    >>> bool(GaussianSynthesizer().fit(X).sample(factor=2).synthetic_side.any(axis=1).all())
    True
    """

    method = "gaussian"

    def __init__(
        self,
        *,
        covariance: str = "ledoit_wolf",
        shared_columns="auto",
        n_jobs: int | None = 1,
        random_state=0,
    ) -> None:
        super().__init__(shared_columns=shared_columns, n_jobs=n_jobs, random_state=random_state)
        self.covariance = covariance

    def _check_params(self) -> None:
        if self.covariance not in ("ledoit_wolf", "diag"):
            raise ConfigError(
                f"covariance must be 'ledoit_wolf' or 'diag'; got {self.covariance!r}."
            )

    def _fit_free(self, F, C, pool=None, pool_cond=None) -> None:  # no pool: fit refuses it
        self.side_mean_, self.side_factor_ = [], []
        for side in (0, 1):
            Y = F[:, side].astype(np.float64)
            m = Y.mean(0)
            if self.covariance == "diag":
                L = np.diag(Y.std(0))
            else:
                from sklearn.covariance import ledoit_wolf

                cov, _ = ledoit_wolf(Y)
                w, V = np.linalg.eigh(cov)
                L = V * np.sqrt(np.clip(w, 0.0, None))  # cov = L L^T
            self.side_mean_.append(m.astype(np.float32))
            self.side_factor_.append(L.astype(np.float32))

    def _synthesize(self, s, rng):
        n, _, d = self.Fz_.shape
        out = []
        for side in (0, 1):
            eps = rng.standard_normal((n, s, self.side_factor_[side].shape[1])).astype(np.float32)
            out.append(self.side_mean_[side] + eps @ self.side_factor_[side].T)
        return out[0], out[1]


class MixupSynthesizer(BaseSynthesizer):
    """Mixup of pairs: ``lam * pair_i + (1 - lam) * pair_j`` on both sides, label of pair ``i``.

    ``lam ~ Beta(alpha, alpha)`` folded to ``[0.5, 1]`` so the parent ``i`` always dominates;
    the partner ``j != i`` is drawn uniformly. Shared (prompt) columns are copied from the
    parent, so a mixed response keeps its own prompt. ``shared_columns``, ``n_jobs`` and
    ``random_state`` as in :class:`PerturbationSynthesizer`.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(10, 2, 4)).astype(np.float32)
    >>> bool(MixupSynthesizer().fit(X).sample(factor=3).synthetic_side.all())
    True
    """

    method = "mixup"

    def __init__(
        self, *, alpha: float = 0.4, shared_columns="auto", n_jobs: int | None = 1, random_state=0
    ) -> None:
        super().__init__(shared_columns=shared_columns, n_jobs=n_jobs, random_state=random_state)
        self.alpha = alpha

    def _check_params(self) -> None:
        check_positive(self.alpha, name="alpha")

    def _sample_pairs(self, factor, rng) -> SyntheticPairs:
        n = self.Fz_.shape[0]
        parent = np.repeat(np.arange(n, dtype=np.int64), factor)
        partner = (parent + rng.integers(1, n, size=parent.size)) % n  # never the parent itself
        lam = rng.beta(self.alpha, self.alpha, size=parent.size).astype(np.float32)
        lam = np.maximum(lam, 1.0 - lam)[:, None, None]
        F = lam * self.Fz_[parent] + (1.0 - lam) * self.Fz_[partner]  # (m, 2, d)
        X = np.repeat(self.X_[:, None], factor, axis=1).reshape(-1, 2, self.X_.shape[2]).copy()
        X[:, :, ~self.shared_mask_] = F * self.scale_ + self.mean_
        return SyntheticPairs(
            X,
            parent,
            np.ones((parent.size, 2), bool),
            method=self.method,
            info={**self._info(), "alpha": float(self.alpha)},
        )


class RepeatSynthesizer(BaseSynthesizer):
    """The control: ``factor`` exact copies of every real pair, labelled as synthetic.

    A synthesis method helps only if it beats this: the copies add pairs, weight and training
    steps exactly as a synthesizer's pairs do, but no information. With weights that give each
    real pair and its copies the parent's weight (``augment_pairs``), the linear head fits
    exactly the real-only model. ``synthetic_side`` is False on both sides (nothing decoded).

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(5, 2, 4)).astype(np.float32)
    >>> syn = RepeatSynthesizer().fit(X).sample(factor=3)
    >>> syn.parent.tolist()[:6], bool((syn.X[:3] == X[0]).all())
    ([0, 0, 0, 1, 1, 1], True)
    """

    method = "repeat"
    _min_pairs = 1

    def __init__(self, *, n_jobs: int | None = 1, random_state=0) -> None:
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _resolve_shared(self, X):
        return np.zeros(X.shape[2], dtype=bool)

    def _sample_pairs(self, factor, rng) -> SyntheticPairs:
        n = self.X_.shape[0]
        parent = np.repeat(np.arange(n, dtype=np.int64), factor)
        return SyntheticPairs(
            self.X_[parent].copy(),
            parent,
            np.zeros((parent.size, 2), bool),
            method=self.method,
            info=self._info(),
        )
