"""The divergence-aware VAE of LENS (Tao, Du & Li 2025, Sec. 3.1), in numpy on CPU.

A small MLP encoder maps a (standardised) response embedding to a diagonal Gaussian
``q(z|e) = N(mu(e), diag(std(e)**2))``; an MLP decoder maps ``z`` back. The loss of one
real pair (chosen ``c``, rejected ``r``) is::

    recon(c) + recon(r) + beta * (KL_c + KL_r) / dim - gamma * min(W2(q(.|c), q(.|r)), m) / m

* ``recon`` is the squared error averaged over the embedding dimensions, on features
  standardised to unit variance, so a decoder that outputs the mean scores 1.0: this is the
  scale the other two weights are stated against.
* ``KL`` is ``KL(q(z|e) || N(0, I))`` summed over latent dimensions and divided by the
  embedding dimension, which makes ``beta = 1`` the usual ELBO for a Gaussian decoder with
  variance 1/2 in standardised units.
* ``W2`` is the closed-form 2-Wasserstein distance between the two diagonal posteriors of the
  pair (:func:`wasserstein2_diag`). It enters with a minus sign (the paper's divergence loss
  pushes chosen and rejected apart) and is clamped at a margin ``m`` (default
  ``sqrt(latent_dim)``, one prior standard deviation per latent dimension) and divided by it,
  so the term lies in ``[-gamma, 0]``: it can never outweigh reconstruction by more than
  ``gamma`` and cannot blow the latent space apart.

The two MLPs (one GELU hidden layer each) and their gradients are written out in numpy
(:func:`_loss_and_grads`, checked against torch's autograd in the tests), with Adam as torch
implements it: the same model and optimiser as ``torch.nn`` would give, without importing torch,
which cost about a third of the fit's time on 1,000 pairs (docs/benchmarks.md).

Not here: synthesis (``lens.py``) and the choice of which columns to model (``base.py``).
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .._threads import limit_threads, resolve_n_jobs

logger = logging.getLogger(__name__)

__all__ = ["VAE", "wasserstein2_diag", "separation_loss", "fit_vae", "early_stopping_split"]


def wasserstein2_diag(mu1, std1, mu2, std2):
    """2-Wasserstein distance between diagonal Gaussians, batched over the leading axes.

    ``W2(N(mu1, diag(std1**2)), N(mu2, diag(std2**2)))**2 = |mu1 - mu2|**2 + |std1 - std2|**2``
    (the covariances commute, so the matrix square roots are elementwise). Works on numpy
    arrays and torch tensors of shape (..., latent_dim); returns shape (...,).

    >>> float(wasserstein2_diag(np.zeros(2), np.ones(2), np.array([3.0, 4.0]), np.ones(2)))
    5.0
    """
    sq = ((mu1 - mu2) ** 2 + (std1 - std2) ** 2).sum(-1)
    if isinstance(sq, np.ndarray) or np.isscalar(sq):
        return np.sqrt(sq)
    return (sq + 1e-12).sqrt()  # torch: the epsilon keeps the gradient finite at 0


def separation_loss(w2, gamma: float, margin: float):
    """The bounded divergence term ``-gamma * min(W2, margin) / margin`` (per pair).

    Negative, so minimising the loss pushes a pair's two posteriors apart (the paper's sign);
    flat beyond ``margin``, so it lies in ``[-gamma, 0]`` and cannot dominate reconstruction.

    >>> float(separation_loss(np.array(8.0), 0.1, 4.0))
    -0.1
    """
    return -gamma * np.minimum(w2, margin) / margin


def early_stopping_split(
    n_pairs: int, n_pool: int | None, *, random_state: int, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (and unlabelled rows) :func:`fit_vae` holds out for early stopping, sorted.

    ``ceil(fraction * n_pairs)`` pairs when at least 4 pairs and 2 to train on remain, and
    ``ceil(fraction * n_pool)`` pool rows when there are at least 10; none with ``fraction``
    0. Deterministic given ``random_state``: :class:`~prefspace.synth.LatentSynthesizer` calls it again
    to know which pairs its VAE never trained on (``heldout_pairs_``).
    """
    rng = np.random.default_rng([int(random_state), 0xAE])
    val_pairs = np.empty(0, dtype=np.int64)
    val_pool = np.empty(0, dtype=np.int64)
    if fraction > 0:
        k = int(math.ceil(fraction * n_pairs))
        if n_pairs >= 4 and n_pairs - k >= 2:
            val_pairs = np.sort(rng.permutation(n_pairs)[:k])
        if n_pool is not None and n_pool >= 10:
            val_pool = np.sort(rng.permutation(n_pool)[: int(math.ceil(fraction * n_pool))])
    return val_pairs, val_pool


def fit_vae(
    E: np.ndarray,
    cond: np.ndarray | None,
    *,
    latent_dim: int,
    hidden_dim: int,
    beta: float,
    gamma: float,
    margin: float | None,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    random_state: int,
    pool: np.ndarray | None = None,
    pool_cond: np.ndarray | None = None,
    early_stopping: bool = True,
    validation_fraction: float = 0.1,
    eval_every: int = 25,
    n_iter_no_change: int = 4,
    n_jobs: int | None = 1,
) -> tuple[VAE, dict]:
    """Train the VAE on standardised pair embeddings ``E`` of shape (n, 2, dim).

    ``cond`` (n, c) is an optional per-pair conditioning vector (the prompt columns) fed to
    both encoder and decoder. ``pool`` (m, dim) holds responses without labels (standardised the
    same way; ``pool_cond`` (m, c) their conditioning): they enter the reconstruction and KL terms
    (a batch of them beside every batch of pairs), not the separation term, which needs pairs.

    Early stopping (``early_stopping``): ``validation_fraction`` of the pairs (and of the pool)
    are held out; every ``eval_every`` steps their reconstruction error (decoding the posterior
    mean) is measured, training stops after ``n_iter_no_change`` checks without improvement and
    the weights of the best check are kept. Without it (or with fewer than 4 pairs), all
    ``max_steps`` steps run on every pair.

    Returns the trained :class:`VAE` and a dict: the final loss terms, ``steps`` run,
    ``best_step`` and ``heldout_recon`` (the held-out reconstruction error per dimension at the
    kept weights; 1.0 = no better than the mean) when there was a held-out set. Deterministic
    given ``random_state`` (its own numpy generator: fits on other threads cannot interleave
    with it). Each step's batch is computed in two halves whose gradients are added; with
    ``n_jobs`` of 2 or more (None: ``PREFSPACE_NUM_THREADS``, else the machine's cores) the
    halves run on two threads, each on one BLAS thread (default 1: one after the other). The
    result does not depend on ``n_jobs``.
    """
    n, _, dim = E.shape
    cond_dim = 0 if cond is None else cond.shape[1]
    m = float(margin) if margin is not None else math.sqrt(latent_dim)
    val_pairs, val_pool = early_stopping_split(
        n,
        None if pool is None else len(pool),
        random_state=random_state,
        fraction=validation_fraction if early_stopping else 0.0,
    )
    train_pairs = np.setdiff1d(np.arange(n), val_pairs)
    train_pool = None if pool is None else np.setdiff1d(np.arange(len(pool)), val_pool)
    cfg = _Config(dim, cond_dim, latent_dim, hidden_dim, beta, gamma, m, max_steps, batch_size,
                  learning_rate, random_state, eval_every, n_iter_no_change)  # fmt: skip
    threads = resolve_n_jobs(n_jobs)
    two = min(2, threads if threads is not None else (os.cpu_count() or 1)) == 2
    with (
        limit_threads(1),
        ThreadPoolExecutor(1, "prefspace-vae") if two else nullcontext() as worker,
    ):
        model, terms = _train(
            E, cond, pool, pool_cond, (train_pairs, val_pairs, train_pool, val_pool), cfg, worker
        )
    logger.info(
        "VAE fitted on %d pairs%s in %d steps: %s",
        len(train_pairs),
        "" if train_pool is None else f" and {len(train_pool)} unlabelled responses",
        terms["steps"],
        terms,
    )
    return model, terms


@dataclass(frozen=True)
class _Config:
    """What :func:`_train` needs besides the data (see :func:`fit_vae`)."""

    dim: int
    cond_dim: int
    latent_dim: int
    hidden_dim: int
    beta: float
    gamma: float
    margin: float
    max_steps: int
    batch_size: int
    learning_rate: float
    seed: int
    eval_every: int
    n_iter_no_change: int


# -- the network, in numpy ---------------------------------------------------------------------

_SQRT_HALF = np.float32(math.sqrt(0.5))
_INV_SQRT_2PI = np.float32(1.0 / math.sqrt(2.0 * math.pi))
# Abramowitz & Stegun 7.1.26: erf(x) = 1 - t * P(t) * exp(-x**2), t = 1 / (1 + p * x), x >= 0,
# absolute error below 1.5e-7 (float32's own resolution near 1); numpy has no erf, and
# scipy.special.erf took about 5x as long as this on the VAE's hidden layer
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)


def _gelu(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """GELU ``x * Phi(x)`` (torch's exact ``nn.GELU()``, to float32 precision), and what its
    gradient needs.

    ``Phi(-|x|) = erfc(|x| / sqrt(2)) / 2`` from :data:`_ERF_A`; the same ``exp(-x**2 / 2)``
    gives the normal density for :func:`_gelu_grad`. Returns ``(gelu, (Phi(x), exp(-x**2/2)))``.
    """
    t = np.abs(x)
    t *= _ERF_P * _SQRT_HALF
    t += 1.0
    np.reciprocal(t, out=t)
    tail = t * _ERF_A[0]
    for c in _ERF_A[1:]:
        tail += c
        tail *= t
    e = x * x
    e *= -0.5
    np.exp(e, out=e)
    tail *= e
    tail *= 0.5  # Phi(-|x|)
    # Phi(x) = 0.5 + sign(x) * (0.5 - Phi(-|x|)), in place (np.where was 5x slower here)
    tail -= 0.5
    tail *= np.sign(x)
    cdf = np.subtract(0.5, tail, out=tail)
    return x * cdf, (cdf, e)


def _gelu_grad(x: np.ndarray, saved: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    cdf, e = saved
    return cdf + (_INV_SQRT_2PI * x) * e


def _layer_shapes(dim: int, cond_dim: int, latent_dim: int, hidden_dim: int) -> dict:
    """Weight and bias shapes, named as torch's ``state_dict`` of the same two MLPs would be."""
    return {
        "encoder.0": (hidden_dim, dim + cond_dim),
        "encoder.2": (2 * latent_dim, hidden_dim),
        "decoder.0": (hidden_dim, latent_dim + cond_dim),
        "decoder.2": (dim, hidden_dim),
    }


def _init_weights(shapes: dict, rng: np.random.Generator, dtype=np.float32) -> dict:
    """torch.nn.Linear's default initialisation: weights and biases ``U(-1/sqrt(fan_in), ...)``."""
    params = {}
    for name, (fan_out, fan_in) in shapes.items():
        bound = 1.0 / math.sqrt(fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(dtype)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(dtype)
    return params


_LOG_VAR_MIN, _LOG_VAR_MAX = -12.0, 6.0  # the encoder's log-variances are clamped to these


def _posterior(out: np.ndarray, k: int):
    """The encoder's output split into ``mu``, the raw and the clamped log-variance, and ``std``."""
    mu, raw = out[:, :k], out[:, k:]
    log_var = np.clip(raw, _LOG_VAR_MIN, _LOG_VAR_MAX)
    return mu, raw, log_var, np.exp(0.5 * log_var)


def _join(x: np.ndarray, cond: np.ndarray | None) -> np.ndarray:
    return x if cond is None else np.concatenate([x, cond.astype(x.dtype, copy=False)], -1)


class VAE:
    """A trained VAE: the encoder and decoder weights (float32 numpy arrays) and their maps.

    ``encode(e, cond)`` gives the posterior ``(mu, std)`` of response embeddings ``e`` (any
    leading shape, last axis the embedding; ``cond`` the same leading shape, or None);
    ``decode(z, cond)`` maps latents back. ``params`` holds the arrays under the names torch's
    ``state_dict`` of the same modules would use (``encoder.0.weight``, ...).
    """

    def __init__(self, params: dict[str, np.ndarray], latent_dim: int) -> None:
        self.params = params
        self.latent_dim = int(latent_dim)

    def _encoder(self, x: np.ndarray):
        p = self.params
        h = x @ p["encoder.0.weight"].T + p["encoder.0.bias"]
        a, saved = _gelu(h)
        out = a @ p["encoder.2.weight"].T + p["encoder.2.bias"]
        return h, a, saved, out

    def _decoder(self, z: np.ndarray):
        p = self.params
        g = z @ p["decoder.0.weight"].T + p["decoder.0.bias"]
        a, saved = _gelu(g)
        return g, a, saved, a @ p["decoder.2.weight"].T + p["decoder.2.bias"]

    def encode(self, e: np.ndarray, cond: np.ndarray | None = None):
        x = _join(np.asarray(e, np.float32), cond)
        lead = x.shape[:-1]
        mu, _, _, std = _posterior(self._encoder(x.reshape(-1, x.shape[-1]))[3], self.latent_dim)
        shape = (*lead, self.latent_dim)
        return mu.reshape(shape), std.reshape(shape)

    def decode(self, z: np.ndarray, cond: np.ndarray | None = None) -> np.ndarray:
        x = _join(np.asarray(z, np.float32), cond)
        out = self._decoder(x.reshape(-1, x.shape[-1]))[3]
        return out.reshape(*x.shape[:-1], out.shape[-1])


class _Adam:
    """``torch.optim.Adam`` with its defaults (no weight decay, no amsgrad), on numpy arrays.

    The same update, operation for operation, as torch's single-tensor Adam (a test checks
    both give the same weights to float32 rounding).
    """

    def __init__(self, params: dict, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = params
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), betas, float(eps)
        self.exp_avg = {k: np.zeros_like(v) for k, v in params.items()}
        self.exp_avg_sq = {k: np.zeros_like(v) for k, v in params.items()}
        self.steps = 0

    def step(self, grads: dict) -> None:
        self.steps += 1
        bias_correction1 = 1 - self.beta1 ** float(self.steps)
        bias_correction2_sqrt = (1 - self.beta2 ** float(self.steps)) ** 0.5
        step_size = self.lr / bias_correction1
        for k, p in self.params.items():
            grad, m, v = grads[k], self.exp_avg[k], self.exp_avg_sq[k]
            m += (grad - m) * (1 - self.beta1)  # torch's lerp_
            v *= self.beta2
            v += (1 - self.beta2) * grad * grad
            denom = np.sqrt(v)
            denom /= bias_correction2_sqrt
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step_size
            p -= denom


_SPLIT_PAIRS = 64  # a batch of fewer pairs is not split in halves (see _Batch.halves)


@dataclass(frozen=True)
class _Batch:
    """One training step's rows (or half of them): ``2 * n_pairs`` pair rows (chosen, rejected,
    chosen, ...), then the pool rows; ``x`` the encoder's input (embedding and conditioning),
    ``e`` the target embedding, ``cond`` the conditioning (or None), ``eps`` the
    reparameterisation noise and ``weight`` each row's weight in the loss (``1/B`` for pair
    rows, ``2/P`` for pool rows, B and P the whole step's pairs and pool rows: a pool row counts
    like one side of a pair); ``pair_weight`` is ``1/B``, the separation term's weight."""

    x: np.ndarray
    e: np.ndarray
    cond: np.ndarray | None
    eps: np.ndarray
    weight: np.ndarray
    n_pairs: int
    pair_weight: float

    def halves(self) -> list[_Batch]:
        """The step's rows in two parts (by pairs, and by pool rows), whose losses and gradients
        add up to the whole step's; one part below :data:`_SPLIT_PAIRS` pairs (a small batch
        costs more in Python than it saves in arithmetic). The rule depends on the batch alone,
        so the result does not depend on how many threads compute it."""
        b, n_pool = self.n_pairs, len(self.x) - 2 * self.n_pairs
        if b < _SPLIT_PAIRS:
            return [self]
        cut_pairs, cut_pool = b // 2, 2 * b + n_pool // 2
        parts = []
        for rows, n in (
            (np.r_[0 : 2 * cut_pairs, 2 * b : cut_pool], cut_pairs),
            (np.r_[2 * cut_pairs : 2 * b, cut_pool : len(self.x)], b - cut_pairs),
        ):
            cond = None if self.cond is None else self.cond[rows]
            parts.append(_Batch(self.x[rows], self.e[rows], cond, self.eps[rows],
                                self.weight[rows], n, self.pair_weight))  # fmt: skip
        return parts


def _loss_and_grads(vae: VAE, batch: _Batch, cfg: _Config) -> tuple[dict, dict]:
    """The loss of a batch (see the module docstring) and its gradient for every weight.

    Written out by hand (a test checks it against torch's autograd). Returns ``(terms, grads)``:
    ``terms`` the loss and, per pair, ``recon`` (both sides), ``kl`` and ``w2``.
    """
    p, k, dim, w = vae.params, vae.latent_dim, cfg.dim, batch.weight[:, None]
    h, a1, saved1, out = vae._encoder(batch.x)
    mu, raw, log_var, std = _posterior(out, k)
    z = mu + std * batch.eps
    zin = _join(z, batch.cond)
    g, a2, saved2, recon_out = vae._decoder(zin)
    diff = recon_out - batch.e
    recon = (diff * diff).mean(-1)
    kl = 0.5 * (mu * mu + std * std - 1.0 - log_var).sum(-1) / dim
    b = batch.n_pairs
    dmu = (mu[0 : 2 * b : 2] - mu[1 : 2 * b : 2], std[0 : 2 * b : 2] - std[1 : 2 * b : 2])
    w2 = np.sqrt((dmu[0] ** 2 + dmu[1] ** 2).sum(-1) + 1e-12)
    sep = separation_loss(w2, cfg.gamma, cfg.margin)
    loss = float((batch.weight * (recon + cfg.beta * kl)).sum() + sep.sum() * batch.pair_weight)

    grads: dict[str, np.ndarray] = {}
    d_out = w * (2.0 / dim) * diff
    d_g = (d_out @ p["decoder.2.weight"]) * _gelu_grad(g, saved2)
    grads["decoder.2.weight"], grads["decoder.2.bias"] = d_out.T @ a2, d_out.sum(0)
    grads["decoder.0.weight"], grads["decoder.0.bias"] = d_g.T @ zin, d_g.sum(0)
    d_z = (d_g @ p["decoder.0.weight"])[:, :k]
    d_mu = d_z + w * (cfg.beta / dim) * mu
    d_std = d_z * batch.eps + w * (cfg.beta / dim) * std
    # the separation term: -gamma/margin * W2 below the margin (torch's clamp passes W2 == m)
    pull = np.where(w2 <= cfg.margin, -cfg.gamma * batch.pair_weight / cfg.margin / w2, 0.0)[
        :, None
    ]
    d_mu[0 : 2 * b : 2] += pull * dmu[0]
    d_mu[1 : 2 * b : 2] -= pull * dmu[0]
    d_std[0 : 2 * b : 2] += pull * dmu[1]
    d_std[1 : 2 * b : 2] -= pull * dmu[1]
    inside = (raw >= _LOG_VAR_MIN) & (raw <= _LOG_VAR_MAX)  # the clamp passes its bounds
    d_log_var = (d_std * 0.5 * std - w * (0.5 * cfg.beta / dim)) * inside
    d_o = np.concatenate([d_mu, d_log_var], -1).astype(out.dtype, copy=False)
    d_h = (d_o @ p["encoder.2.weight"]) * _gelu_grad(h, saved1)
    grads["encoder.2.weight"], grads["encoder.2.bias"] = d_o.T @ a1, d_o.sum(0)
    grads["encoder.0.weight"], grads["encoder.0.bias"] = d_h.T @ batch.x, d_h.sum(0)
    terms = {"loss": loss, "recon": recon[: 2 * b].reshape(b, 2).sum(-1),
             "kl": kl[: 2 * b].reshape(b, 2).sum(-1), "w2": w2}  # fmt: skip
    return terms, {key: v.astype(p[key].dtype, copy=False) for key, v in grads.items()}


def _float32(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32)


def _heldout(E, cond, pool, pool_cond, val_pairs, val_pool):
    """The held-out responses (both sides of the held-out pairs, then the held-out pool rows)
    and their conditioning (None when nothing is held out, or without conditioning)."""
    dim = E.shape[2]
    held = [E[val_pairs].reshape(-1, dim)] if len(val_pairs) else []
    held_c = [np.repeat(cond[val_pairs], 2, axis=0)] if len(val_pairs) and cond is not None else []
    if pool is not None and len(val_pool):
        held.append(pool[val_pool])
        if pool_cond is not None:
            held_c.append(pool_cond[val_pool])
    H = _float32(np.concatenate(held)) if held else None
    return H, (_float32(np.concatenate(held_c)) if held_c else None)


class _Batches:
    """Draws the training batches: ``batch_size`` random pairs (and pool rows) per step."""

    def __init__(self, E, cond, pool, pool_cond, cfg: _Config, rng: np.random.Generator) -> None:
        self.E, self.cond, self.pool, self.pool_cond, self.rng = E, cond, pool, pool_cond, rng
        self.b = min(cfg.batch_size, len(E))
        self.bp = 0 if pool is None else min(cfg.batch_size, len(pool))
        weight = [np.full(2 * self.b, 1.0 / self.b)] + [np.full(self.bp, 2.0 / max(self.bp, 1))]
        self.weight = np.concatenate(weight).astype(np.float32)
        self.latent_dim = cfg.latent_dim

    def draw(self) -> _Batch:
        idx = self.rng.permutation(len(self.E))[: self.b]
        e = self.E[idx].reshape(2 * self.b, -1)
        c = None if self.cond is None else np.repeat(self.cond[idx], 2, axis=0)
        if self.bp:
            pidx = self.rng.permutation(len(self.pool))[: self.bp]
            e = np.concatenate([e, self.pool[pidx]])
            if c is not None:
                c = np.concatenate([c, self.pool_cond[pidx]])
        eps = self.rng.standard_normal((len(e), self.latent_dim), dtype=np.float32)
        return _Batch(_join(e, c), e, c, eps, self.weight, self.b, 1.0 / self.b)


def _whole_step(vae: VAE, batch: _Batch, cfg: _Config, worker) -> tuple[dict, dict]:
    """A step's loss terms and gradients, computed by halves (:meth:`_Batch.halves`), the second
    on ``worker`` (a one-thread executor) when given, and added in a fixed order: the result
    is the same with or without ``worker``."""
    parts = batch.halves()
    if len(parts) == 1:
        return _loss_and_grads(vae, batch, cfg)
    later = None if worker is None else worker.submit(_loss_and_grads, vae, parts[1], cfg)
    first = _loss_and_grads(vae, parts[0], cfg)
    second = _loss_and_grads(vae, parts[1], cfg) if later is None else later.result()
    terms = {"loss": first[0]["loss"] + second[0]["loss"]}
    terms.update({k: np.concatenate([first[0][k], second[0][k]]) for k in ("recon", "kl", "w2")})
    return terms, {k: g + second[1][k] for k, g in first[1].items()}


def _train(E, cond, pool, pool_cond, split, cfg: _Config, worker=None):
    train_pairs, val_pairs, train_pool, val_pool = split
    rng = np.random.default_rng([int(cfg.seed), 0x5AE])
    shapes = _layer_shapes(cfg.dim, cfg.cond_dim, cfg.latent_dim, cfg.hidden_dim)
    vae = VAE(_init_weights(shapes, rng), cfg.latent_dim)
    opt = _Adam(vae.params, lr=cfg.learning_rate)
    batches = _Batches(
        _float32(E[train_pairs]),
        None if cond is None else _float32(cond[train_pairs]),
        None if pool is None else _float32(pool[train_pool]),
        None if pool is None or pool_cond is None else _float32(pool_cond[train_pool]),
        cfg,
        rng,
    )
    H, HC = _heldout(E, cond, pool, pool_cond, val_pairs, val_pool)
    best: tuple[float, int, dict | None] = (math.inf, 0, None)
    stale = step = 0
    terms: dict = {}
    for step in range(1, cfg.max_steps + 1):
        terms, grads = _whole_step(vae, batches.draw(), cfg, worker)
        opt.step(grads)
        if H is not None and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            mu, _ = vae.encode(H, HC)
            err = float(np.mean((vae.decode(mu, HC) - H) ** 2))
            if err < best[0] - 1e-4:
                best, stale = (err, step, {k: v.copy() for k, v in vae.params.items()}), 0
            else:
                stale += 1
                if stale >= cfg.n_iter_no_change:
                    break
    w2 = terms["w2"]
    report = {
        "loss": float(terms["loss"]),
        "recon": float(terms["recon"].mean() / 2),
        "kl_per_dim": float(terms["kl"].mean() / 2),
        "w2": float(w2.mean()),
        "separation": float((np.minimum(w2, cfg.margin) / cfg.margin).mean()),
    }
    if best[2] is not None:
        vae.params.update(best[2])
        report.update(heldout_recon=float(best[0]), best_step=int(best[1]))
    report["steps"] = int(step)
    return vae, report
