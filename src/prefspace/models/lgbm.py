"""Order-consistent classification head with gradient-boosted trees (LightGBM).

Sun, Shen & Ton ("Rethinking Bradley-Terry Models in Preference-Based Reward Modeling",
ICLR 2025) fit a binary classifier on single responses (label 1 chosen, 0 rejected) and use
its logit as the reward, with MLP and LightGBM classifiers on embeddings. This head is the
LightGBM version (binary objective).

``transform`` returns the one-hot leaf indicators of every tree: the raw score is exactly
the sum of the reached leaves' values, so the "last layer" is linear in those features with
``last_layer_weights_`` = the leaf values. The feature count is the total number of leaves.
"""

from __future__ import annotations

import logging

import numpy as np

from .._threads import check_n_jobs, limit_threads, resolve_n_jobs
from .._validation import check_positive, check_random_state
from ..evaluate.metrics import reward_metrics
from ..exceptions import ConfigError
from ._base import HoldsOutPairs, RewardHead

logger = logging.getLogger(__name__)


def _pair_bt_loss(preds: np.ndarray, data) -> tuple[str, float, bool]:
    """LightGBM eval function: mean weighted ``-log sigmoid(r_c - r_r)`` over the pairs of a
    dataset built as [chosen rows; rejected rows]. ``preds`` are probabilities (binary objective)."""
    p = np.clip(preds, 1e-12, 1 - 1e-12)
    z = np.log(p) - np.log1p(-p)
    k = len(z) // 2
    w = data.get_weight()
    loss = np.logaddexp(0.0, -(z[:k] - z[k:]))
    value = float(np.mean(loss) if w is None else np.average(loss, weights=w[:k]))
    return "pair_loss", value, False


class PreferenceClassifierLGBM(HoldsOutPairs, RewardHead):
    """LightGBM binary classifier on responses (1 chosen, 0 rejected); reward = raw logit.

    Parameters
    ----------
    n_estimators : int, default 500
        Maximum boosting rounds; early stopping usually ends sooner.
    learning_rate : float, default 0.03
    num_leaves : int, default 7
        Small trees and many samples per leaf: preference labels are noisy (HH-RLHF's
        embedding ceiling is about 0.63) and larger trees overfit within a few rounds.
    min_child_samples : int, default 40
    subsample : float, default 0.8
        Row fraction per round (bagging every round when < 1).
    colsample_bytree : float, default 0.5
        Feature fraction per tree.
    reg_lambda : float, default 1.0
        L2 penalty on leaf values.
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of the real pairs, by whole prompts (both responses of
        a pair together; synthetic pairs of a held-out parent left out, as for the MLP heads)
        and stop when their Bradley-Terry loss has not improved for ``n_iter_no_change`` rounds.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 50
    n_jobs : int or None, default 1
        Threads while training (LightGBM's ``num_threads``, and BLAS); -1 all cores; None keeps
        LightGBM's default, all cores (or ``PREFSPACE_NUM_THREADS``). One thread was several
        times faster than two on a busy 2-core machine.
    random_state : None, int or numpy Generator
        Seeds the validation split and LightGBM's bagging: an int gives the same model every
        time, None a different one, a Generator draws from it.

    Attributes
    ----------
    booster_ : lightgbm.Booster, holding only the kept rounds
    n_trees_ : int
    history_ : list of dict, one per round: ``eval_loss``, the Bradley-Terry loss of the
        held-out pairs (the early-stopping criterion), or ``loss`` on the training pairs
        without validation
    metrics_ : dict, TRL-named metrics on the fitted pairs plus ``eval_*``
    last_layer_weights_ : float64 (n_leaves,), the leaf values; last_layer_bias_ : 0.0

    Margins enter through LightGBM's ``init_score``: the chosen response of a pair starts at
    ``-margin/2`` and the rejected one at ``+margin/2``, so the trees must push the chosen logit
    above ``+margin/2`` and the rejected one below ``-margin/2``, as the MLP classifier does.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 2, 8)).astype("float32")
    >>> PreferenceClassifierLGBM(n_estimators=20, random_state=0).fit(X).predict(X[:, 0]).shape
    (200,)
    """

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        reg_lambda: float = 1.0,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 50,
        n_jobs: int | None = 1,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _lgb_params(self, seed: int, threads: int | None) -> dict:
        for name in ("subsample", "colsample_bytree"):
            v = check_positive(getattr(self, name), name=name)
            if v > 1:
                raise ConfigError(f"{name} must be in (0, 1]; got {v!r}.")
        params = {
            "objective": "binary",
            "learning_rate": check_positive(self.learning_rate, name="learning_rate"),
            "num_leaves": int(check_positive(self.num_leaves, name="num_leaves")),
            "min_data_in_leaf": int(
                check_positive(self.min_child_samples, name="min_child_samples", allow_zero=True)
            ),
            "bagging_fraction": float(self.subsample),
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": float(self.colsample_bytree),
            "lambda_l2": check_positive(self.reg_lambda, name="reg_lambda", allow_zero=True),
            "seed": seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }
        if threads is not None:
            params["num_threads"] = int(threads)
        return params

    def _fit(self, X, sample_weight, margin, layout) -> dict:
        import lightgbm as lgb

        rng = check_random_state(self.random_state)
        train_idx, val_idx = self._split(layout)
        n_jobs = check_n_jobs(self.n_jobs)
        params = self._lgb_params(int(rng.integers(2**31 - 1)), resolve_n_jobs(n_jobs))

        def dataset(idx, reference=None):
            k = len(idx)
            rows = np.concatenate([X[idx, 0], X[idx, 1]])
            label = np.concatenate([np.ones(k), np.zeros(k)])
            w = None if sample_weight is None else np.tile(sample_weight[idx], 2)
            init = (
                None if margin is None else np.concatenate([-0.5 * margin[idx], 0.5 * margin[idx]])
            )
            return lgb.Dataset(
                rows,
                label=label,
                weight=w,
                init_score=init,
                reference=reference,
                free_raw_data=True,
            )

        # Early stopping watches the Bradley-Terry loss of the held-out *pairs* (their reward
        # differences), not the per-response log-loss: the ranking is what the reward is for,
        # and on noisy labels the log-loss often bottoms out after a couple of trees.
        train_set = dataset(train_idx)
        record: dict = {}
        callbacks = [lgb.record_evaluation(record)]
        if len(val_idx):
            valid_set, key = dataset(val_idx, reference=train_set), "eval_loss"
            callbacks.append(lgb.early_stopping(int(self.n_iter_no_change), verbose=False))
        else:
            valid_set, key = train_set, "loss"
        params["metric"] = "None"
        with limit_threads(n_jobs):
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=int(check_positive(self.n_estimators, name="n_estimators")),
                valid_sets=[valid_set],
                valid_names=["valid"],
                callbacks=callbacks,
                feval=_pair_bt_loss,
            )
        best = (
            booster.best_iteration
            if len(val_idx) and booster.best_iteration > 0
            else booster.current_iteration()
        )
        losses = record.get("valid", {}).get("pair_loss", [])
        self.history_ = [{"iteration": i + 1, key: float(v)} for i, v in enumerate(losses)]
        self._set_booster(lgb.Booster(model_str=booster.model_to_string(num_iteration=best)))
        if len(val_idx) == 0:
            return {}
        rc, rr = self._predict(X[val_idx, 0]), self._predict(X[val_idx, 1])
        return {f"eval_{k}": v for k, v in reward_metrics(rc, rr).items()}

    def _set_booster(self, booster) -> None:
        self.booster_ = booster
        self.n_trees_ = int(booster.num_trees())
        self.n_features_in_ = int(booster.num_feature())
        trees = booster.dump_model()["tree_info"]
        counts = np.array([t["num_leaves"] for t in trees], dtype=np.int64)
        self._leaf_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        values = np.zeros(int(counts.sum()))
        for t, tree in enumerate(trees):
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "leaf_value" in node:
                    values[self._leaf_offsets[t] + node.get("leaf_index", 0)] = node["leaf_value"]
                else:
                    stack += [node["left_child"], node["right_child"]]
        self._leaf_values = values

    def _predict(self, E):
        return self.booster_.predict(E, raw_score=True)

    def _transform(self, E):
        leaves = np.asarray(self.booster_.predict(E, pred_leaf=True), dtype=np.int64).reshape(
            len(E), -1
        )
        feats = np.zeros((len(E), len(self._leaf_values)))
        feats[np.arange(len(E))[:, None], leaves + self._leaf_offsets[None, :]] = 1.0
        return feats

    def _last_layer(self) -> tuple[np.ndarray, float]:
        return self._leaf_values, 0.0

    # persistence ------------------------------------------------------------------
    def _state(self) -> tuple[dict, dict, dict]:
        return {}, {"history": self.history_}, {"model.lgbm.txt": self.booster_.model_to_string()}

    def _set_state(self, arrays: dict, info: dict, texts: dict) -> None:
        import lightgbm as lgb

        self._set_booster(lgb.Booster(model_str=texts["model.lgbm.txt"]))
        self.history_ = list(info.get("history", []))
