"""MLP reward heads: Bradley-Terry and order-consistent classification.

Both heads train the same network, ``D -> hidden_sizes -> 1`` on standardised inputs, and
differ only in the loss:

* ``BradleyTerryMLP``: ``-log sigmoid(r(chosen) - r(rejected) - margin)`` per pair.
* ``PreferenceClassifierMLP`` (Sun, Shen & Ton, "Rethinking Bradley-Terry Models in
  Preference-Based Reward Modeling", ICLR 2025): every response of a pair becomes a sample,
  labelled 1 if chosen and 0 if rejected; a binary classifier is fitted with the logistic
  loss, and its logit is the reward.

Training: mini-batch AdamW (full batch when ``batch_size`` covers the data), a
``validation_fraction`` of the *real* pairs held out by prompt (``prefspace.models.holdout``:
synthetic pairs of a held-out parent are left out), stop after ``n_iter_no_change`` epochs
without a better validation loss and keep the best epoch's weights. An epoch has the steps the
real training pairs alone would take; synthetic pairs ride along in those steps, so they change
neither the number of steps nor the weight decay applied per epoch. Prediction runs in numpy from the
fitted arrays (no torch needed after training).
"""

from __future__ import annotations

import logging

import numpy as np

from .._threads import check_n_jobs
from .._validation import check_in, check_positive, check_random_state
from ..evaluate.metrics import reward_metrics
from ..exceptions import ConfigError
from ._base import HoldsOutPairs, RewardHead, check_text_block
from ._mlp_train import ACTIVATIONS, check_hidden_sizes, mlp_features, mlp_rewards, train_pair_mlp
from .linear import BradleyTerryLinear

logger = logging.getLogger(__name__)


class _PairMLP(HoldsOutPairs, RewardHead):
    """Shared implementation; subclasses set ``_objective``."""

    _objective = "bradley-terry"

    def __init__(
        self,
        hidden_sizes=(256,),
        activation: str = "relu",
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 128,
        max_epochs: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        tol: float = 1e-4,
        standardize: bool = True,
        n_jobs: int | None = 1,
        random_state=None,
        n_text_features: int = 0,
        text_alpha: float | str = "cv",
    ):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.standardize = standardize
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.n_text_features = n_text_features
        self.text_alpha = text_alpha

    def _fit(self, X, sample_weight, margin, layout) -> dict:
        sizes = check_hidden_sizes(self.hidden_sizes)
        check_in(self.activation, ACTIVATIONS, name="activation")
        dropout = check_positive(self.dropout, name="dropout", allow_zero=True)
        if dropout >= 1:
            raise ConfigError(f"dropout must be < 1; got {dropout!r}.")
        k = check_text_block(self.n_text_features, X.shape[2])
        train_idx, val_idx = self._split(layout)
        if self.early_stopping and len(val_idx) == 0:
            logger.info(
                "too few real pairs or prompts (%d pairs) for a validation split; stopping on the training loss",
                layout.n_real,
            )
        text_arrays, offset = {}, None
        if k:  # the text-feature block: a linear offset with its own penalty, fitted first (on the training pairs)
            text = BradleyTerryLinear(
                blocks="text", n_text_features=k, text_alpha=self.text_alpha
            ).fit(
                X[train_idx],
                sample_weight=None if sample_weight is None else sample_weight[train_idx],
                margin=None if margin is None else margin[train_idx],
                groups=layout.groups[train_idx],
            )
            gamma = text.coef_[-k:]
            text_arrays = {
                "text.coef": gamma,
                "text.intercept": np.array([text.intercept_]),
                "text.offset": np.array([text.text_offset_]),
            }
            T = X[:, :, -k:].astype(np.float64)
            offset = T @ gamma
            X = X[:, :, :-k]
        arrays, history, best_epoch = train_pair_mlp(
            X,
            sample_weight,
            margin,
            offset=offset,
            objective=self._objective,
            hidden_sizes=sizes,
            activation=self.activation,
            dropout=dropout,
            learning_rate=check_positive(self.learning_rate, name="learning_rate"),
            weight_decay=check_positive(self.weight_decay, name="weight_decay", allow_zero=True),
            batch_size=int(self.batch_size),
            max_epochs=int(check_positive(self.max_epochs, name="max_epochs")),
            train_idx=train_idx,
            val_idx=val_idx,
            real=layout.real,
            n_iter_no_change=int(check_positive(self.n_iter_no_change, name="n_iter_no_change")),
            tol=check_positive(self.tol, name="tol", allow_zero=True),
            standardize=bool(self.standardize),
            rng=check_random_state(self.random_state),
            n_jobs=check_n_jobs(self.n_jobs),
        )
        self._set_arrays({**arrays, **text_arrays})
        if (
            k
        ):  # what the length-controlled reward removes besides the offset (see _text_contribution)
            fit_rows = np.intersect1d(train_idx, np.flatnonzero(layout.real))
            w = np.ones(len(fit_rows)) if sample_weight is None else sample_weight[fit_rows]
            root = np.sqrt(w)
            net = self._network(X[fit_rows, 0]) - self._network(X[fit_rows, 1])
            t_diff = T[fit_rows, 0] - T[fit_rows, 1]
            residual = np.linalg.lstsq(t_diff * root[:, None], net * root, rcond=None)[0]
            rows = T[fit_rows].reshape(-1, k)
            self._set_arrays(
                {
                    **self.weights_,
                    "text.residual": residual,
                    "text.offset": np.array([float((rows @ (gamma + residual)).mean())]),
                }
            )
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.n_epochs_ = len(history)
        if len(val_idx) == 0:
            return {}
        rc, rr = self._network(X[val_idx, 0]), self._network(X[val_idx, 1])
        if offset is not None:
            rc, rr = rc + offset[val_idx, 0], rr + offset[val_idx, 1]
        return {f"eval_{key}": v for key, v in reward_metrics(rc, rr).items()}

    def _set_arrays(self, arrays: dict) -> None:
        self.weights_ = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.n_text_features_ = (
            int(self.weights_["text.coef"].shape[0]) if "text.coef" in self.weights_ else 0
        )
        self.n_features_in_ = int(self.weights_["input_mean"].shape[0]) + self.n_text_features_

    @property
    def _n_hidden(self) -> int:
        return sum(1 for k in self.weights_ if k.startswith("hidden.") and k.endswith(".weight"))

    def _network(self, E):
        return mlp_rewards(self.weights_, E, self._n_hidden, self.activation)

    def _text_part(self, E):
        k = self.n_text_features_
        return E[:, -k:].astype(np.float64) @ self.weights_["text.coef"].astype(np.float64)

    def _predict(self, E):
        k = self.n_text_features_
        if not k:
            return self._network(E)
        return (
            self._network(E[:, :-k])
            + self._text_part(E)
            + float(self.weights_["text.intercept"][0])
        )

    def _text_contribution(self, E):
        # the offset's term plus the block's linear prediction of the network's output within the
        # training pairs: what the length-controlled reward removes
        if not self.n_text_features_:
            return np.zeros(len(E))
        k = self.n_text_features_
        weights = self.weights_["text.coef"].astype(np.float64) + self.weights_[
            "text.residual"
        ].astype(np.float64)
        return E[:, -k:].astype(np.float64) @ weights - float(self.weights_["text.offset"][0])

    def _transform(self, E):
        k = self.n_text_features_
        if not k:
            return mlp_features(self.weights_, E, self._n_hidden, self.activation)
        # the last hidden layer, then the text-feature block (its weights follow the output layer's)
        hidden = mlp_features(self.weights_, E[:, :-k], self._n_hidden, self.activation)
        return np.concatenate([hidden, E[:, -k:].astype(np.float32)], axis=1)

    def _last_layer(self) -> tuple[np.ndarray, float]:
        """float64 (h,) weights (plus the text-feature weights when the block is used) and the
        bias (plus the text block's intercept)."""
        w = self.weights_["output.weight"][0].astype(np.float64)
        b = float(self.weights_["output.bias"][0])
        if self.n_text_features_:
            w = np.concatenate([w, self.weights_["text.coef"].astype(np.float64)])
            b += float(self.weights_["text.intercept"][0])
        return w, b

    # persistence ------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict, dict]:
        info = {
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
        }
        return dict(self.weights_), info, {}

    def _set_state(self, arrays: dict, info: dict, texts: dict) -> None:
        self._set_arrays(arrays)
        self.history_ = list(info.get("history", []))
        self.best_epoch_ = int(info.get("best_epoch", 0))
        self.n_epochs_ = int(info.get("n_epochs", len(self.history_)))


class BradleyTerryMLP(_PairMLP):
    """MLP reward ``r(e)`` trained with the Bradley-Terry loss ``-log sigmoid(r_c - r_r - margin)``.

    Parameters
    ----------
    hidden_sizes : tuple of int, default (256,)
        Hidden layer widths. Sun et al. (2025) used ``D -> 1024 -> 512 -> 1``; on a 2-core CPU
        one 256-unit layer is several times faster and as accurate on 1-10k pairs of MiniLM
        embeddings (docs/models.md gives the figures).
    activation : {"relu", "gelu", "tanh"}, default "relu"
    dropout : float, default 0.1
        Dropout after each hidden layer while training.
    learning_rate, weight_decay : float, defaults 1e-3 and 1e-2 (AdamW)
    batch_size : int, default 128
        Pairs per step; ``0`` or at least ``n_pairs`` means full batch.
    max_epochs : int, default 200
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of the real pairs, by whole prompts (``groups`` in
        ``fit``, default the prompt columns; see ``prefspace.models.holdout``), and keep the
        weights of the epoch with the lowest validation loss, stopping after
        ``n_iter_no_change`` epochs without an improvement larger than ``tol``. Synthetic pairs
        (``parent`` in ``fit``) are never validation pairs, and those of a held-out parent are
        not trained on. Without early stopping (or with fewer than 2 pairs or prompts to hold
        out) training stops when the training loss stops improving.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 5
    tol : float, default 1e-4
    standardize : bool, default True
        Centre and scale each input dimension with the training rows' mean and std.
    n_jobs : int or None, default 1
        Threads (torch and BLAS) while training, restored afterwards; -1 all cores; None keeps
        the libraries' settings (or ``PREFSPACE_NUM_THREADS``). The matrices are small: one
        thread was the fastest on a shared 2-core machine.
    n_text_features : int, default 0
        Columns at the end of each row that are the text-feature block (``encoder.
        n_text_features``). The block enters as a linear offset ``t . gamma`` added to the
        network's reward: ``gamma`` is fitted first, on the training pairs, by
        ``BradleyTerryLinear(blocks="text")`` with its own penalty ``text_alpha`` (chosen by
        leave-one-prompt-out CV when "cv"), and the network learns the rest from the embedding
        (docs/models.md). ``predict(E, length_controlled=True)`` drops the offset.
    text_alpha : float or "cv", default "cv"
    random_state : None, int or numpy Generator
        Seeds initialisation, dropout and shuffling (an int gives the same model every time,
        None a different one, a Generator draws from it), and, through a stream of its own that
        is fixed when None (see ``validation_split``), the validation split.

    Attributes
    ----------
    weights_ : dict of float32 arrays (``input_mean``, ``input_scale``, ``hidden.{i}.weight``,
        ``hidden.{i}.bias``, ``output.weight``, ``output.bias``)
    history_ : list of dict, one per epoch: ``loss`` and, with validation, ``eval_loss``,
        ``eval_accuracy``
    best_epoch_, n_epochs_ : int
    metrics_ : dict, TRL-named metrics on the fitted pairs plus ``eval_*`` on the held-out ones
    last_layer_weights_ : float64 (h,), last_layer_bias_ : float

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 2, 8)).astype("float32")
    >>> model = BradleyTerryMLP(hidden_sizes=(16,), random_state=0).fit(X)
    >>> model.transform(X[:, 0]).shape
    (100, 16)
    """

    _objective = "bradley-terry"


class PreferenceClassifierMLP(_PairMLP):
    """Order-consistent classification head (Sun, Shen & Ton, ICLR 2025) with an MLP.

    Each response of each pair is a sample labelled 1 (chosen) or 0 (rejected); the network
    is trained with the logistic loss and its logit is the reward. A pair's ``margin`` asks
    the chosen logit to exceed ``+margin/2`` and the rejected one to stay below ``-margin/2``.
    Pairs stay together for the validation split, so a response never sits on both sides.
    Parameters and attributes are those of :class:`BradleyTerryMLP`.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 2, 8)).astype("float32")
    >>> PreferenceClassifierMLP(random_state=0).fit(X).predict_proba(X).shape
    (100,)
    """

    _objective = "classification"
