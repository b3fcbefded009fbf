"""The MLP reward network shared by ``BradleyTerryMLP`` and ``PreferenceClassifierMLP``.

Both heads train the same network ``r(e) = out(body((e - mean) / scale))`` on pairs; they
differ only in the per-pair loss (``pair_loss``). Training uses torch (mini-batch AdamW,
early stopping on held-out pairs, best weights restored); prediction after training uses the
saved arrays with numpy, so a loaded model needs no torch and gives exactly the rewards of
the fitted one.

The training runs inside ``torch.random.fork_rng``: the global torch RNG is left as it was.
That RNG is one per process, so fits on several threads (cross-validation's folds) take turns
through a lock: each fit draws from its own seed alone, whatever runs beside it.
The thread counts (torch, BLAS) are set to ``n_jobs`` for the duration of training only, by
:func:`prefspace._threads.limit_threads`, and restored afterwards; no other global torch setting
is changed.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import numpy as np
from scipy.special import erf

from .._threads import limit_threads
from ..exceptions import ConfigError

logger = logging.getLogger(__name__)

# torch's global RNG (initial weights, randperm, dropout) is shared by every thread of the process
_TORCH_RNG_LOCK = threading.Lock()

ACTIVATIONS = ("relu", "gelu", "tanh")
OBJECTIVES = ("bradley-terry", "classification")


# ---------------------------------------------------------------------- numpy forward
def _activate(h: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(h, 0.0, out=h)
    if activation == "gelu":  # exact GELU, as torch.nn.GELU()
        return 0.5 * h * (1.0 + erf(h / np.float32(math.sqrt(2.0))))
    return np.tanh(h)


def mlp_features(arrays: dict, E: np.ndarray, n_hidden: int, activation: str) -> np.ndarray:
    """Last hidden layer (the input of the output layer) for rows ``E``: float32 (n, h).

    With no hidden layer this is the standardised input.
    """
    h = (E - arrays["input_mean"]) / arrays["input_scale"]
    for i in range(n_hidden):
        h = h @ arrays[f"hidden.{i}.weight"].T + arrays[f"hidden.{i}.bias"]
        h = _activate(h, activation)
    return h.astype(np.float32, copy=False)


def mlp_rewards(
    arrays: dict, E: np.ndarray, n_hidden: int, activation: str, chunk: int = 65536
) -> np.ndarray:
    """Rewards for rows ``E`` (n, D) from the saved arrays: float64 (n,)."""
    out = np.empty(len(E), dtype=np.float64)
    w, b = arrays["output.weight"][0], float(arrays["output.bias"][0])
    for start in range(0, len(E), chunk):
        feats = mlp_features(arrays, E[start : start + chunk], n_hidden, activation)
        out[start : start + chunk] = feats.astype(np.float64) @ w.astype(np.float64) + b
    return out


# ---------------------------------------------------------------------- torch training
def _pair_loss(rc, rr, m, objective: str):
    """Per-pair loss. Bradley-Terry: -log sigmoid(rc - rr - m). Classification (Sun et al.
    2025): each response is a sample, label 1 chosen / 0 rejected, logit = reward; the margin
    asks the chosen logit to exceed +m/2 and the rejected one to stay below -m/2."""
    import torch.nn.functional as F

    if objective == "bradley-terry":
        return F.softplus(-(rc - rr - m))
    return 0.5 * (F.softplus(-(rc - 0.5 * m)) + F.softplus(rr + 0.5 * m))


def _build(torch, d: int, hidden_sizes: tuple[int, ...], activation: str, dropout: float):
    nn = torch.nn
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]
    layers, prev = [], d
    for h in hidden_sizes:
        layers += [nn.Linear(prev, h), act()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        prev = h
    return nn.Sequential(*layers), nn.Linear(prev, 1)


def check_hidden_sizes(hidden_sizes) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in hidden_sizes)
    except (TypeError, ValueError):
        raise ConfigError(
            f"hidden_sizes must be a sequence of positive ints; got {hidden_sizes!r}."
        ) from None
    if any(h <= 0 for h in sizes):
        raise ConfigError(f"hidden_sizes must be positive; got {hidden_sizes!r}.")
    return sizes


def _input_scaling(
    X: np.ndarray, train_idx: np.ndarray, real: np.ndarray, standardize: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mean, scale, n_real_train)``: the input scaling from the real training rows (both
    responses of every pair; all training rows when none is real), and how many real rows."""
    d = X.shape[2]
    scaled_rows = np.intersect1d(train_idx, np.flatnonzero(real))
    rows = X[scaled_rows if len(scaled_rows) else train_idx].reshape(-1, d)
    mean = rows.mean(axis=0) if standardize else np.zeros(d, dtype=np.float32)
    scale = rows.std(axis=0) if standardize else np.ones(d, dtype=np.float32)
    return mean, np.where(scale > 1e-6, scale, 1.0), max(1, len(scaled_rows))


def _rows_per_step(n_train: int, n_real_train: int, batch_size: int) -> int:
    """Rows per optimisation step: ``batch_size`` for real pairs alone (or the full batch); with
    synthetic rows, the real pairs' number of steps, each taking its share of all the rows."""
    if n_train == n_real_train or batch_size <= 0:
        return n_train if batch_size <= 0 else min(int(batch_size), n_train)
    return math.ceil(n_train / math.ceil(n_real_train / int(batch_size)))


def _tensors(
    torch: Any,
    X: np.ndarray,
    idx: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    sample_weight: np.ndarray | None,
    margin: np.ndarray | None,
    offset: np.ndarray | None,
) -> tuple:
    """Rows ``idx`` as float32 tensors: scaled chosen and rejected inputs, weights (default 1),
    margins (default 0) and reward offsets ``(2, k)`` (default 0)."""
    n = len(X)
    w_all = np.ones(n) if sample_weight is None else sample_weight
    m_all = np.zeros(n) if margin is None else margin
    o_all = np.zeros((n, 2)) if offset is None else offset
    Xs = torch.from_numpy(np.ascontiguousarray((X[idx] - mean) / scale, dtype=np.float32))
    w = torch.from_numpy(w_all[idx].astype(np.float32))
    m = torch.from_numpy(m_all[idx].astype(np.float32))
    o = torch.from_numpy(np.ascontiguousarray(o_all[idx].T, dtype=np.float32))
    return Xs[:, 0].contiguous(), Xs[:, 1].contiguous(), w, m, o


def _train_epoch(
    torch: Any, reward: Any, opt: Any, rows: tuple, w_norm: float, bs: int, objective: str
) -> float:
    """One pass over the training rows in a random order, ``bs`` rows a step; the mean loss.
    ``rows``: chosen and rejected inputs, weights, margins and the fixed reward offsets."""
    Xc, Xr, W, M, Off = rows
    n_train = len(Xc)
    perm = torch.randperm(n_train)
    total = 0.0
    for start in range(0, n_train, bs):
        idx = perm[start : start + bs]
        k = len(idx)
        r = reward(torch.cat([Xc[idx], Xr[idx]])) + torch.cat([Off[0, idx], Off[1, idx]])
        loss = (W[idx] * _pair_loss(r[:k], r[k:], M[idx], objective)).sum() / (w_norm * k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * k
    return total / n_train


def _restore(torch: Any, params: list, saved: list) -> None:
    """Copy ``saved`` tensors back into the network's parameters."""
    with torch.no_grad():
        for p, value in zip(params, saved):
            p.copy_(value)


def _evaluate(r, VW, VM, objective: str, vw_sum: float) -> dict:
    """Weighted loss and accuracy on the validation pairs from their rewards ``r`` (chosen half first)."""
    k = len(VW)
    return {
        "eval_loss": float((VW * _pair_loss(r[:k], r[k:], VM, objective)).sum()) / vw_sum,
        "eval_accuracy": float(((r[:k] > r[k:]).float() * VW).sum()) / vw_sum,
    }


def _export_arrays(
    torch: Any, body: Any, out: Any, mean: np.ndarray, scale: np.ndarray
) -> dict[str, np.ndarray]:
    """The trained network as float32 arrays (``input_mean``, ``input_scale``, ``hidden.{i}.*``, ``output.*``)."""
    arrays = {"input_mean": mean.astype(np.float32), "input_scale": scale.astype(np.float32)}
    linears = [layer for layer in body if isinstance(layer, torch.nn.Linear)]
    for i, layer in enumerate(linears):
        arrays[f"hidden.{i}.weight"] = layer.weight.detach().numpy().copy()
        arrays[f"hidden.{i}.bias"] = layer.bias.detach().numpy().copy()
    arrays["output.weight"] = out.weight.detach().numpy().copy()
    arrays["output.bias"] = out.bias.detach().numpy().copy()
    return arrays


def train_pair_mlp(
    X: np.ndarray,
    sample_weight: np.ndarray | None,
    margin: np.ndarray | None,
    *,
    objective: str,
    hidden_sizes: tuple[int, ...],
    activation: str,
    dropout: float,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    real: np.ndarray,
    n_iter_no_change: int,
    tol: float,
    standardize: bool,
    rng: np.random.Generator,
    n_jobs: int | None = 1,
    offset: np.ndarray | None = None,
) -> tuple[dict, list, int]:
    """Train the reward MLP on pairs ``X[train_idx]`` (n, 2, D), early stopping on ``X[val_idx]``.

    ``real`` (bool, n): which rows are real pairs. The optimisation is counted in real pairs:
    an epoch has the number of steps the real training pairs alone would take at
    ``batch_size`` pairs a step, and every step takes its share of all the training rows
    (real and synthetic), its loss their weighted mean. Synthetic pairs therefore change what
    a step averages over, not how many steps (and how much weight decay) an epoch applies.

    ``offset`` (float, (n, 2)): a fixed reward added to each response's network output in the
    loss (the text-feature block's part, fitted beforehand); None adds nothing.

    Returns ``(arrays, history, best_epoch)``: ``arrays`` the float32 weights
    (``input_mean``, ``input_scale``, ``hidden.{i}.weight/bias``, ``output.weight/bias``),
    ``history`` one dict per epoch (``loss`` of the objective; ``eval_loss``,
    ``eval_accuracy`` on the held-out pairs) and ``best_epoch`` the epoch whose weights were
    kept (with validation, the one of lowest ``eval_loss``; otherwise the last).
    """
    import torch

    d = X.shape[2]
    mean, scale, n_real_train = _input_scaling(X, train_idx, real, standardize)
    torch_seed = int(rng.integers(2**31 - 1))
    columns = (sample_weight, margin, offset)
    Xc, Xr, W, M, Off = _tensors(torch, X, train_idx, mean, scale, *columns)
    w_norm = float(W.mean())
    has_val = len(val_idx) > 0
    if has_val:
        Vc, Vr, VW, VM, VO = _tensors(torch, X, val_idx, mean, scale, *columns)
        vw_sum = float(VW.sum())

    history: list[dict] = []
    best: tuple[float, int, list | None] = (math.inf, 0, None)  # (criterion, epoch, state)
    stale = 0
    n_train = len(train_idx)
    bs = _rows_per_step(n_train, n_real_train, batch_size)
    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]), limit_threads(n_jobs):
        torch.manual_seed(torch_seed)
        body, out = _build(torch, d, hidden_sizes, activation, dropout)
        params = list(body.parameters()) + list(out.parameters())
        opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)

        def reward(x):
            return out(body(x)).squeeze(-1)

        for epoch in range(1, int(max_epochs) + 1):
            body.train()
            record: dict = {
                "epoch": epoch,
                "loss": _train_epoch(
                    torch, reward, opt, (Xc, Xr, W, M, Off), w_norm, bs, objective
                ),
            }

            body.eval()
            if has_val:
                with torch.no_grad():
                    r = reward(torch.cat([Vc, Vr])) + torch.cat([VO[0], VO[1]])
                    record.update(_evaluate(r, VW, VM, objective, vw_sum))
                criterion = record["eval_loss"]
            else:
                criterion = record["loss"]
            history.append(record)

            if criterion < best[0] - tol:
                state = [p.detach().clone() for p in params] if has_val else None
                best, stale = (criterion, epoch, state), 0
            else:
                stale += 1
                if stale >= n_iter_no_change:
                    break

        if has_val and best[2] is not None:  # restore the epoch with the best validation loss
            _restore(torch, params, best[2])

    arrays = _export_arrays(torch, body, out, mean, scale)  # numpy prediction from here on
    best_epoch = int(best[1]) if has_val else len(history)
    return arrays, history, best_epoch
