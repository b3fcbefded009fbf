"""LENS: latent-space synthesis of preference pairs (Tao, Du & Li, NeurIPS 2025, arXiv 2509.26074).

Pipeline: fit a latent model of response embeddings on the real training pairs; for every
real response ``e`` encode ``mu(e)``, draw candidates ``z = mu(e) + eta`` with
``eta ~ N(0, sigma2 * I)`` (independently for the chosen and the rejected response), keep the
most likely ones, decode them, and pair real and synthetic responses within each original pair
(:func:`~prefspace.synth.pairs.combine_within_pairs`). Labels are inherited from the parent.

* :class:`LatentSynthesizer` -- the published method, the latent model a divergence-aware VAE
  (``vae.py``), plus the variants we tried: residual decoding (``decoding="residual"``), a
  prompt-conditioned VAE (``condition_on_shared=True``) and any latent size.
* :class:`PCASynthesizer` -- the same pipeline with the VAE replaced by whitened PCA at the
  same latent size (a baseline: is the VAE needed at all?).

Choices the paper leaves open are listed in ``docs/lens.md``; each one is a parameter here.
"""

from __future__ import annotations

import logging

import numpy as np

from .._threads import limit_threads
from .._validation import check_in, check_pairs, check_positive, check_whole
from ..exceptions import ConfigError
from .base import BaseSynthesizer

logger = logging.getLogger(__name__)

__all__ = ["LatentSynthesizer", "PCASynthesizer"]


class _LatentPipeline(BaseSynthesizer):
    """Encode, perturb, keep the most likely candidates, decode. Subclasses supply the model."""

    _uses_unlabelled = True

    def _check_params(self) -> None:
        check_whole(self.latent_dim, name="latent_dim")
        check_positive(self.sigma2, name="sigma2", allow_zero=True)
        check_whole(self.n_candidates, name="n_candidates")
        check_in(self.candidate_score, ("posterior", "prior"), name="candidate_score")
        check_in(self.decoding, ("direct", "residual"), name="decoding")

    # subclasses: _encode(F (n, 2, d), C) -> (mu, std) each (n, 2, k); _decode(Z (n, 2, s, k), C) -> (n, 2, s, d)

    def _synthesize(self, s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        C = self._cond()
        mu, std = self._encode(self.Fz_, C)
        n, _, k = mu.shape
        n_cand = max(int(self.n_candidates), s)
        eta = rng.normal(0.0, np.sqrt(float(self.sigma2)), size=(n, 2, n_cand, k)).astype(
            np.float32
        )
        Z = mu[:, :, None, :] + eta
        # Rank candidates by log-likelihood (constants dropped) and keep the best s.
        if self.candidate_score == "posterior":  # log q(z | e): stay in the parent's posterior
            nll = ((eta / std[:, :, None, :]) ** 2).sum(-1)
        else:  # log p(z) under the N(0, I) prior: prefer typical latents
            nll = (Z**2).sum(-1)
        keep = np.argsort(nll, axis=-1, kind="stable")[..., :s]
        Z = np.take_along_axis(Z, keep[..., None], axis=2)  # (n, 2, s, k)
        out = self._decode(Z, C)
        if self.decoding == "residual":  # e + g(z + eta) - g(z): keep what the low-rank code drops
            out = self.Fz_[:, :, None, :] + out - self._decode(mu[:, :, None, :], C)
        return out[:, 0], out[:, 1]

    def _cond(self) -> np.ndarray | None:
        return self._cond_of(self.X_)

    # -- diagnostics -----------------------------------------------------------------------
    def reconstruction_report(self, X=None) -> dict:
        """How much of the responses' variation the latent code keeps (encode ``mu``, decode).

        ``X`` (n, 2, dim): pairs to reconstruct, default the fitted ones (pass held-out pairs to
        see generalisation). Returns ``recon_mse`` (mean squared error per dimension on the
        standardised free columns, 1.0 = no better than the fitted mean), ``variance_kept``
        (1 - residual / total sum of squares around the fitted mean, original scale) and
        ``latent_dim``.
        """
        self._check_fitted()
        if X is None:
            F, C = self.Fz_, self._cond()
        else:
            X = check_pairs(X, dim=self.n_features_in_)
            F = ((X[:, :, ~self.shared_mask_] - self.mean_) / self.scale_).astype(np.float32)
            C = self._cond_of(X)
        with limit_threads(self.n_jobs):
            mu, _ = self._encode(F, C)
            R = self._decode(mu[:, :, None, :], C)[:, :, 0]  # (n, 2, d)
        mse = float(np.mean((R - F) ** 2))
        resid = ((R - F) * self.scale_) ** 2
        total = (F * self.scale_) ** 2  # deviations from the fitted mean
        return {
            "recon_mse": mse,
            "variance_kept": float(1.0 - resid.sum() / max(total.sum(), 1e-30)),
            "latent_dim": int(mu.shape[-1]),
        }

    def _cond_of(self, X: np.ndarray) -> np.ndarray | None:
        return None


class LatentSynthesizer(_LatentPipeline):
    """LENS: synthesize preference pairs by perturbing a VAE's latent code of real responses.

    Parameters
    ----------
    latent_dim : int, default 16 (paper).
    hidden_dim : int, default 256. One hidden layer in encoder and decoder.
    beta : float, default 1.0. KL weight, relative to the per-dimension reconstruction error on
        standardised features (see ``prefspace.synth.vae``).
    gamma : float, default 0.1 (paper's best). Weight of the separation term
        ``-min(W2, margin) / margin``, which lies in [-1, 0], against a reconstruction error of
        1.0 for a mean-only decoder.
    margin : float or None. Where the separation term stops pushing; None = sqrt(latent_dim).
    sigma2 : float, default 0.01 (paper). Variance of the latent perturbation.
    n_candidates : int, default 8. Candidates drawn per real response; the most likely
        ``s`` are decoded (``s`` = synthetic responses per side the factor needs).
    candidate_score : "posterior" (log q(z|e), default) or "prior" (log N(z; 0, I)).
    decoding : "direct" (paper: g(z + eta)) or "residual" (e + g(z + eta) - g(z)).
    condition_on_shared : bool, default False. Feed the shared (prompt) columns to encoder and
        decoder: a prompt-conditioned VAE.
    shared_columns : "auto" (default), "none" or a bool mask of columns copied from the parent.
    max_steps, batch_size, learning_rate : VAE optimisation (Adam), defaults 500, 128, 1e-3.
    early_stopping : bool, default True. Hold out ``validation_fraction`` (0.1) of the pairs
        (and of the unlabelled responses), measure their reconstruction error every
        ``eval_every`` (25) steps, stop after ``n_iter_no_change`` (4) checks without
        improvement and keep the best weights: the VAE stops before it memorises the few
        training responses (decoded pairs would otherwise be near-copies of their parents).
    n_jobs : int or None, default None. The VAE computes each step's batch in two halves: with
        2 or more (None: ``PREFSPACE_NUM_THREADS``, else the machine's cores) they run on two
        threads, each on one BLAS thread (threads that wait do not spin, unlike two BLAS threads
        on small matrices, which were 5-10x slower on a shared machine); 1 runs them one after
        the other. The pairs and figures do not depend on it. Outside the VAE: BLAS threads.
    random_state : None, int or numpy Generator, default 0. Seeds the VAE and the sampling.

    ``fit(X, unlabelled=E)`` also fits the VAE on responses without labels (rows ``(m, dim)``
    embedded like ``X``'s), e.g. every response a generator produced: the usual case in
    practice, and what a latent space of responses is for.

    Attributes
    ----------
    vae_ : the trained :class:`~prefspace.synth.vae.VAE` (numpy weights). ``train_terms_``: final loss terms. ``X_``: fitted pairs.
    heldout_pairs_ : indices into ``X_`` of the pairs held out for early stopping (never trained
        on; they chose the step whose weights were kept); empty without early stopping.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 2, 8)).astype(np.float32)
    >>> syn = LatentSynthesizer(latent_dim=4, max_steps=50).fit(X).sample(factor=2)
    >>> syn.X.shape, syn.parent[:4].tolist()
    ((100, 2, 8), [0, 0, 1, 1])
    """

    method = "lens"

    def __init__(
        self,
        *,
        latent_dim: int = 16,
        hidden_dim: int = 256,
        beta: float = 1.0,
        gamma: float = 0.1,
        margin: float | None = None,
        sigma2: float = 0.01,
        n_candidates: int = 8,
        candidate_score: str = "posterior",
        decoding: str = "direct",
        condition_on_shared: bool = False,
        shared_columns="auto",
        max_steps: int = 500,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        eval_every: int = 25,
        n_iter_no_change: int = 4,
        n_jobs: int | None = None,
        random_state=0,
    ) -> None:
        super().__init__(shared_columns=shared_columns, n_jobs=n_jobs, random_state=random_state)
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.beta = beta
        self.gamma = gamma
        self.margin = margin
        self.sigma2 = sigma2
        self.n_candidates = n_candidates
        self.candidate_score = candidate_score
        self.decoding = decoding
        self.condition_on_shared = condition_on_shared
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every
        self.n_iter_no_change = n_iter_no_change

    def _check_params(self) -> None:
        super()._check_params()
        check_positive(self.beta, name="beta", allow_zero=True)
        check_positive(self.gamma, name="gamma", allow_zero=True)
        if self.margin is not None:
            check_positive(self.margin, name="margin")
        check_positive(self.learning_rate, name="learning_rate")
        for name in ("hidden_dim", "max_steps", "batch_size", "eval_every", "n_iter_no_change"):
            check_whole(getattr(self, name), name=name)

    def _fit_free(self, F: np.ndarray, C: np.ndarray | None, pool=None, pool_cond=None) -> None:
        from .vae import early_stopping_split, fit_vae

        C = C if self.condition_on_shared else None
        if C is not None:
            self.cond_mean_ = C.mean(0)
            self.cond_scale_ = np.maximum(C.std(0), 1e-6).astype(np.float32)
            C = (C - self.cond_mean_) / self.cond_scale_
            if pool is not None and pool_cond is not None:
                pool_cond = ((pool_cond - self.cond_mean_) / self.cond_scale_).astype(np.float32)
        if C is None:
            pool_cond = None
        fraction = check_positive(
            self.validation_fraction, name="validation_fraction", allow_zero=True
        )
        if fraction >= 1:
            raise ConfigError(f"validation_fraction must be < 1; got {fraction!r}.")
        self.vae_, self.train_terms_ = fit_vae(
            F,
            C,
            pool=pool,
            pool_cond=pool_cond,
            early_stopping=bool(self.early_stopping),
            validation_fraction=fraction,
            n_iter_no_change=int(self.n_iter_no_change),
            eval_every=int(self.eval_every),
            latent_dim=int(self.latent_dim),
            hidden_dim=int(self.hidden_dim),
            beta=float(self.beta),
            gamma=float(self.gamma),
            margin=self.margin,
            max_steps=int(self.max_steps),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            random_state=self.seed_,
            n_jobs=self.n_jobs,
        )
        self.heldout_pairs_ = early_stopping_split(
            len(F),
            None if pool is None else len(pool),
            random_state=self.seed_,
            fraction=fraction if self.early_stopping else 0.0,
        )[0]

    def _cond(self) -> np.ndarray | None:
        return self._cond_of(self.X_)

    def _cond_of(self, X: np.ndarray) -> np.ndarray | None:
        if not (self.condition_on_shared and self.shared_mask_.any()):
            return None
        return ((X[:, 0, self.shared_mask_] - self.cond_mean_) / self.cond_scale_).astype(
            np.float32
        )

    def _encode(self, F: np.ndarray, C: np.ndarray | None):
        cc = None if C is None else np.broadcast_to(C[:, None, :], (*F.shape[:2], C.shape[1]))
        return self.vae_.encode(F, cc)

    def _decode(self, Z: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        cc = None if C is None else np.broadcast_to(C[:, None, None, :], (*Z.shape[:3], C.shape[1]))
        return self.vae_.decode(Z, cc)

    def _info(self) -> dict:
        return {
            **super()._info(),
            "train_terms": dict(self.train_terms_),
            "sigma2": float(self.sigma2),
            "decoding": self.decoding,
        }


class PCASynthesizer(_LatentPipeline):
    """The LENS pipeline with the VAE replaced by whitened PCA at the same latent size.

    ``mu(e)`` is ``e``'s whitened principal-component scores (unit variance per component, the
    scale the VAE's prior gives its latent), the decoder the inverse map. With
    ``decoding="direct"`` every synthetic response lies in the principal subspace (a PCA
    reconstruction plus noise); ``"residual"`` keeps the rest of the real embedding. The other
    parameters are those of :class:`LatentSynthesizer`.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(30, 2, 8)).astype(np.float32)
    >>> PCASynthesizer(latent_dim=3).fit(X).sample(factor=4).X.shape
    (120, 2, 8)
    """

    method = "pca"

    def __init__(
        self,
        *,
        latent_dim: int = 16,
        sigma2: float = 0.01,
        n_candidates: int = 8,
        candidate_score: str = "posterior",
        decoding: str = "direct",
        shared_columns="auto",
        n_jobs: int | None = 1,
        random_state=0,
    ) -> None:
        super().__init__(shared_columns=shared_columns, n_jobs=n_jobs, random_state=random_state)
        self.latent_dim = latent_dim
        self.sigma2 = sigma2
        self.n_candidates = n_candidates
        self.candidate_score = candidate_score
        self.decoding = decoding

    def _fit_free(self, F: np.ndarray, C: np.ndarray | None, pool=None, pool_cond=None) -> None:
        flat = F.reshape(-1, F.shape[-1]).astype(np.float64)  # centred by the base class
        if pool is not None:  # unlabelled responses join the fit (centred with the pairs' mean)
            flat = np.concatenate([flat, pool.astype(np.float64)])
        _, S, Vt = np.linalg.svd(flat, full_matrices=False)
        k = int(min(self.latent_dim, Vt.shape[0]))
        sd = S[:k] / np.sqrt(max(flat.shape[0] - 1, 1))
        sd = np.where(sd > 1e-8, sd, 1.0)
        self.components_ = Vt[:k].astype(np.float32)  # (k, d)
        self.component_scale_ = sd.astype(np.float32)  # (k,)

    def _encode(self, F: np.ndarray, C):
        mu = (F @ self.components_.T) / self.component_scale_
        return mu.astype(np.float32), np.ones_like(mu, dtype=np.float32)

    def _decode(self, Z: np.ndarray, C) -> np.ndarray:
        return ((Z * self.component_scale_) @ self.components_).astype(np.float32)
