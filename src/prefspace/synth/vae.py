"""The divergence-aware VAE of LENS (Tao, Du & Li 2025, Sec. 3.1), in torch on CPU.

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

Not here: synthesis (``lens.py``) and the choice of which columns to model (``base.py``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._threads import limit_threads
from ..models._mlp_train import _TORCH_RNG_LOCK as TORCH_RNG_LOCK

logger = logging.getLogger(__name__)

__all__ = ["wasserstein2_diag", "separation_loss", "fit_vae", "early_stopping_split"]


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
    Works on torch tensors (training) and numpy arrays.

    >>> float(separation_loss(np.array(8.0), 0.1, 4.0))
    -0.1
    """
    if isinstance(w2, np.ndarray):
        return -gamma * np.minimum(w2, margin) / margin
    return -gamma * w2.clamp(max=margin) / margin


def _build(in_dim: int, out_dim: int, cond_dim: int, latent_dim: int, hidden_dim: int):
    import torch
    from torch import nn

    class _VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(in_dim + cond_dim, hidden_dim),
                nn.GELU(),
                nn.Linear(hidden_dim, 2 * latent_dim),
            )
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim + cond_dim, hidden_dim),
                nn.GELU(),
                nn.Linear(hidden_dim, out_dim),
            )

        def encode(self, e, cond=None):
            h = self.encoder(e if cond is None else torch.cat([e, cond], -1))
            mu, log_var = h.chunk(2, dim=-1)
            log_var = log_var.clamp(-12.0, 6.0)
            return mu, (0.5 * log_var).exp()

        def decode(self, z, cond=None):
            return self.decoder(z if cond is None else torch.cat([z, cond], -1))

    return _VAE()


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


class _Adam:
    """``torch.optim.Adam`` with its defaults (no weight decay, no amsgrad), written out.

    The same update, operation for operation, as torch's single-tensor Adam on CPU (a test
    checks that both give the same weights). torch's optimizer imports ``torch._dynamo`` on its
    first step, which cost about as much CPU time as fitting the VAE on 1,000 pairs; this one
    imports nothing.
    """

    def __init__(
        self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        import torch

        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = float(lr), betas, float(eps)
        self.exp_avg = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.exp_avg_sq = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        self.steps += 1
        bias_correction1 = 1 - self.beta1 ** float(self.steps)
        bias_correction2 = 1 - self.beta2 ** float(self.steps)
        step_size = self.lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        with torch.no_grad():
            for p, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq):
                if p.grad is None:
                    continue
                grad = p.grad
                exp_avg.lerp_(grad, 1 - self.beta1)
                exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)


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
) -> tuple[Any, dict]:
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

    Returns the trained module (eval mode) and a dict: the final loss terms, ``steps`` run,
    ``best_step`` and ``heldout_recon`` (the held-out reconstruction error per dimension at the
    kept weights; 1.0 = no better than the mean) when there was a held-out set. Deterministic
    given ``random_state``; leaves torch's global RNG untouched. Trains with ``n_jobs`` threads (default
    1: the matrices are small, and on a shared 2-core machine a step was measured 5-10x slower
    with two torch threads than with one).
    """
    import torch  # noqa: F401 - imported before limit_threads, so that it sets torch's threads too

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
    with limit_threads(n_jobs):
        model, terms = _train(
            E, cond, pool, pool_cond, (train_pairs, val_pairs, train_pool, val_pool), cfg
        )
    logger.info(
        "VAE fitted on %d pairs%s in %d steps: %s",
        len(train_pairs),
        "" if pool is None else f" and {len(train_pool)} unlabelled responses",
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


def _tensor(a):
    import torch

    return None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _heldout(E, cond, pool, pool_cond, val_pairs, val_pool, cond_dim):
    """The held-out responses (both sides of the held-out pairs, then the held-out pool rows)
    and their conditioning, as tensors (None when nothing is held out)."""
    dim = E.shape[2]
    held = [E[val_pairs].reshape(-1, dim)] if len(val_pairs) else []
    held_c = [np.repeat(cond[val_pairs], 2, axis=0)] if len(val_pairs) and cond is not None else []
    if pool is not None and len(val_pool):
        held.append(pool[val_pool])
        if pool_cond is not None:
            held_c.append(pool_cond[val_pool])
    Ht = _tensor(np.concatenate(held)) if held else None
    HCt = _tensor(np.concatenate(held_c)) if held_c and cond_dim else None
    return Ht, HCt


def _kl(mu, std, dim: int):
    """KL(q || N(0, I)) summed over the latent dimensions, per embedding dimension."""
    return 0.5 * (mu**2 + std**2 - 1.0 - 2.0 * std.log()).sum(-1) / dim


def _pair_loss(model, e, cc, gen, cfg: _Config):
    """The loss terms of a batch of pairs ``e`` (b, 2, dim): ``(loss, recon, kl, w2)``."""
    import torch

    mu, std = model.encode(e, cc)
    z = mu + std * torch.randn(mu.shape, generator=gen)
    recon = ((model.decode(z, cc) - e) ** 2).mean(-1).sum(-1)  # both sides, (b,)
    kl = _kl(mu, std, cfg.dim).sum(-1)
    w2 = wasserstein2_diag(mu[:, 0], std[:, 0], mu[:, 1], std[:, 1])
    sep_loss = separation_loss(w2, cfg.gamma, cfg.margin)
    return (recon + cfg.beta * kl + sep_loss).mean(), recon, kl, w2


def _pool_loss(model, pe, pc, gen, cfg: _Config):
    """Unlabelled responses: reconstruction and KL only, weighted like a pair's two sides."""
    import torch

    pmu, pstd = model.encode(pe, pc)
    pz = pmu + pstd * torch.randn(pmu.shape, generator=gen)
    precon = ((model.decode(pz, pc) - pe) ** 2).mean(-1)
    return 2.0 * (precon + cfg.beta * _kl(pmu, pstd, cfg.dim)).mean()


def _train(E, cond, pool, pool_cond, split, cfg: _Config):
    import torch

    train_pairs, val_pairs, train_pool, val_pool = split
    dim, m = cfg.dim, cfg.margin
    # the initial weights come from torch's global generator: seeded and restored under the lock
    # the MLP heads take, so that fits on other threads (choose_augmentation's folds) cannot
    # interleave with it; everything after draws from ``gen`` alone
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = _build(dim, dim, cfg.cond_dim, cfg.latent_dim, cfg.hidden_dim)
    opt = _Adam(model.parameters(), lr=cfg.learning_rate)
    Et, Ct = _tensor(E[train_pairs]), None if cond is None else _tensor(cond[train_pairs])
    Pt = None if pool is None else _tensor(pool[train_pool])
    PCt = None if pool is None or pool_cond is None else _tensor(pool_cond[train_pool])
    Ht, HCt = _heldout(E, cond, pool, pool_cond, val_pairs, val_pool, cfg.cond_dim)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = Et.shape[0]
    b = min(cfg.batch_size, n)
    bp = 0 if Pt is None else min(cfg.batch_size, Pt.shape[0])
    best = (math.inf, 0, None)
    stale = 0
    step = 0

    def heldout_recon() -> float:
        model.eval()
        with torch.no_grad():
            mu, _ = model.encode(Ht, HCt)
            err = float(((model.decode(mu, HCt) - Ht) ** 2).mean())
        model.train()
        return err

    model.train()
    for step in range(1, cfg.max_steps + 1):
        idx = torch.randperm(n, generator=gen)[:b]
        c = None if Ct is None else Ct[idx]
        cc = None if c is None else c[:, None, :].expand(-1, 2, -1)
        loss, recon, kl, w2 = _pair_loss(model, Et[idx], cc, gen, cfg)
        if bp:
            pidx = torch.randperm(Pt.shape[0], generator=gen)[:bp]
            pc = None if PCt is None else PCt[pidx]
            loss = loss + _pool_loss(model, Pt[pidx], pc, gen, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = (loss, recon, kl, w2)  # the terms are read once, after the last step
        if Ht is not None and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            err = heldout_recon()
            if err < best[0] - 1e-4:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best, stale = (err, step, state), 0
            else:
                stale += 1
                if stale >= cfg.n_iter_no_change:
                    break
    loss, recon, kl, w2 = (t.detach() for t in last)
    terms = {
        "loss": float(loss),
        "recon": float(recon.mean() / 2),
        "kl_per_dim": float(kl.mean() / 2),
        "w2": float(w2.mean()),
        "separation": float((w2.clamp(max=m) / m).mean()),
    }
    if best[2] is not None:
        model.load_state_dict(best[2])
        terms.update(heldout_recon=float(best[0]), best_step=int(best[1]))
    terms["steps"] = int(step)
    model.eval()
    return model, terms
