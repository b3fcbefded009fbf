"""The active-learning simulation on real alpaca_bon features (a slice of its prompts)."""

from __future__ import annotations

import numpy as np
import pytest

from prefspace.data import ScoredResponses, load_scored_responses
from prefspace.embed import scored_response_features
from prefspace.evaluate import pairs_from_scores
from prefspace.exceptions import ConfigError
from prefspace.experiments import run_active_learning
from prefspace.experiments.active_learning import _labelable
from prefspace.select import get_pool
from prefspace.synth import SyntheticPairs

TIMINGS = ("fit_seconds", "select_seconds")


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    scored = load_scored_responses(
        alpaca_dir / "responses.jsonl.gz", prompts=alpaca_dir / "prompts.jsonl.gz"
    )
    F = scored_response_features(
        scored, alpaca_dir / "prompt_emb_minilm.npy", alpaca_dir / "response_emb_minilm.npy"
    )
    keep = scored.prompt_index < 40  # 40 prompts x 60 responses
    return F[keep], scored.prompt_index[keep], scored.scores[keep]


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


def test_rounds_spend_exactly_the_budget_and_report_metrics(alpaca):
    F, prompts, gold = alpaca
    recs = run_active_learning(
        F,
        prompts,
        gold,
        strategy="d-optimal",
        batch_size=40,
        budget=100,
        n_candidates=5000,
        random_state=0,
    )
    assert [r["labels"] for r in recs] == [40, 80, 100]
    for r in recs:
        assert -1.0 <= r["spearman"] <= 1.0
        assert r["best_of_16_random"] <= r["best_of_16_oracle"]
        assert 0.0 <= r["best_of_16"] <= 1.0
        assert r["strategy"] == "d-optimal" and r["pool"] == "within" and r["n_synthetic"] == 0


def test_same_seed_same_curve_other_seed_other_curve(alpaca):
    F, prompts, gold = alpaca
    kw = dict(
        strategy="past-aware", batch_size=30, budget=60, n_candidates=3000, within_prompt=False
    )
    a = run_active_learning(F, prompts, gold, random_state=1, **kw)
    b = run_active_learning(F, prompts, gold, random_state=1, **kw)
    c = run_active_learning(F, prompts, gold, random_state=2, **kw)
    assert _strip(a) == _strip(b)
    assert _strip(a) != _strip(c)
    assert a[0]["pool"] == "cross"


def test_ensemble_strategy_trains_an_ensemble_and_noise_changes_labels(alpaca):
    from prefspace.models import BradleyTerryLinear

    F, prompts, gold = alpaca
    kw = dict(
        strategy="ensemble",
        estimator=BradleyTerryLinear(),
        batch_size=30,
        budget=60,
        n_candidates=2000,
        n_members=3,
        random_state=0,
    )
    clean = run_active_learning(F, prompts, gold, **kw)
    noisy = run_active_learning(F, prompts, gold, noise="bt", beta=0.5, transform="logit", **kw)
    assert len(clean) == len(noisy) == 2
    assert clean[-1]["spearman"] != noisy[-1]["spearman"]


def test_augment_adds_synthetic_pairs_that_cost_no_labels(alpaca):
    F, prompts, gold = alpaca
    seen = []

    def mirror_noise(X, seed):
        seen.append(len(X))
        g = np.random.default_rng(seed)
        return SyntheticPairs(
            X + 0.01 * g.normal(size=X.shape).astype(np.float32),
            np.arange(len(X)),
            np.ones((len(X), 2), bool),
            method="perturb",
        )

    recs = run_active_learning(
        F,
        prompts,
        gold,
        strategy="uncertainty",
        batch_size=25,
        budget=50,
        n_candidates=2000,
        augment=mirror_noise,
        random_state=0,
    )
    assert [r["n_synthetic"] for r in recs] == [25, 50]
    assert [r["labels"] for r in recs] == [25, 50]
    assert seen == [25, 50]
    with pytest.raises(ConfigError, match="augment must return SyntheticPairs"):
        run_active_learning(
            F,
            prompts,
            gold,
            strategy="uncertainty",
            batch_size=25,
            budget=50,
            n_candidates=2000,
            augment=lambda X, seed: X + 0.01,
            random_state=0,
        )


def test_augment_follows_the_training_protocol(alpaca, monkeypatch):
    # synthetic pairs share their parent's weight and carry it as ``parent``; nothing is
    # synthesized from the pairs an early-stopping head holds out
    from prefspace.models import BradleyTerryMLP

    F, prompts, gold = alpaca
    fits = []
    real_fit = BradleyTerryMLP.fit

    def spy(self, X, y=None, sample_weight=None, margin=None, *, groups=None, parent=None):
        fits.append(
            (
                X,
                sample_weight,
                groups,
                parent,
                self.validation_split(X[parent < 0], groups[parent < 0]),
            )
        )
        return real_fit(self, X, y, sample_weight, margin, groups=groups, parent=parent)

    monkeypatch.setattr(BradleyTerryMLP, "fit", spy)
    head = BradleyTerryMLP(hidden_sizes=(8,), max_epochs=2)
    recs = run_active_learning(
        F,
        prompts,
        gold,
        strategy="random",
        batch_size=40,
        budget=80,
        n_candidates=2000,
        estimator=head,
        augment="perturb",
        random_state=0,
    )
    assert [r["n_synthetic"] for r in recs] == [int((f[3] >= 0).sum()) for f in fits]
    for _X, w, groups, parent, held in fits:
        n_real = int((parent < 0).sum())
        assert held.any() and (parent[:n_real] == -1).all()
        assert not held[parent[n_real:]].any()  # no child of a held-out pair
        assert w.sum() == pytest.approx(
            n_real
        )  # a parent and its children share one unit of weight
        np.testing.assert_array_equal(groups[n_real:], groups[parent[n_real:]])


def test_active_and_passive_cells_label_by_one_rule():
    """The active pool holds exactly the pairs pairs_from_scores can draw: no ties when noiseless."""
    gold = np.array([0.0, 0.0, 1.0, 2.0, 5.0, 5.0, 5.0, 7.0])  # many ties
    prompt_index = np.repeat([0, 1], 4)
    F = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    pool = get_pool(F, prompt_index, "within")
    scored = ScoredResponses(
        prompts=["p", "q"],
        prompt_ids=["0", "1"],
        prompt_index=prompt_index,
        responses=[str(i) for i in range(8)],
        scores=gold,
        ids=[str(i) for i in range(8)],
    )
    for noise, n_labelable in (("none", 8), ("bt", 12)):
        kept = _labelable(pool, gold, noise)
        active = {frozenset(r) for r in kept.rows(np.arange(len(kept))).tolist()}
        drawn = pairs_from_scores(scored, n_labelable, noise=noise, random_state=0)
        passive = {frozenset(p) for p in zip(drawn.chosen.tolist(), drawn.rejected.tolist())}
        assert active == passive and len(active) == n_labelable
        with pytest.raises(ConfigError, match="distinct labelable pairs"):
            pairs_from_scores(scored, n_labelable + 1, noise=noise, random_state=0)
    assert _labelable(pool, gold, "bt") is pool


def test_noiseless_active_learning_never_labels_a_tie(alpaca):
    F, prompts, gold = alpaca
    coarse = np.round(gold, 1)  # most responses now share their gold with others
    # label_pairs refuses a tied pair in noiseless mode, so one tied pick would stop the run
    recs = run_active_learning(
        F,
        prompts,
        coarse,
        strategy="uncertainty",
        batch_size=30,
        budget=60,
        n_candidates=3000,
        random_state=0,
    )
    assert [r["labels"] for r in recs] == [30, 60]


def test_bad_budget_is_refused(alpaca):
    F, prompts, gold = alpaca
    with pytest.raises(ConfigError, match="budget >= initial_size"):
        run_active_learning(F, prompts, gold, batch_size=50, budget=20)
    with pytest.raises(ConfigError, match="strategy must be one of"):
        run_active_learning(F, prompts, gold, strategy="bald", batch_size=10, budget=20)


def test_single_policy_pool_labels_only_that_policys_responses(alpaca):
    F, prompts, gold = alpaca
    policy = np.unique(prompts, return_index=True)[1]  # one response per prompt, as one generator's
    seen = []

    def record(X, seed):
        seen.append(X.copy())
        return X[:0]  # no synthetic pairs

    recs = run_active_learning(
        F,
        prompts,
        gold,
        strategy="d-optimal",
        pool_rows=policy,
        within_prompt=False,
        noise="bt",
        transform="logit",
        batch_size=30,
        budget=60,
        augment=record,
        random_state=0,
    )
    assert [r["labels"] for r in recs] == [30, 60]
    allowed = {F[i].tobytes() for i in policy}
    labelled = seen[-1].reshape(-1, F.shape[1])
    assert all(row.tobytes() in allowed for row in labelled)
    # scored on all responses of the test prompts, and on the policy's own responses there
    for r in recs:
        assert -1.0 <= r["spearman_pool"] <= 1.0 and -1.0 <= r["spearman"] <= 1.0
    # a boolean mask means the same as the indices
    mask = np.zeros(len(F), dtype=bool)
    mask[policy] = True
    again = run_active_learning(
        F,
        prompts,
        gold,
        strategy="d-optimal",
        pool_rows=mask,
        within_prompt=False,
        noise="bt",
        transform="logit",
        batch_size=30,
        budget=60,
        random_state=0,
    )
    assert _strip(again) == _strip(recs)
    with pytest.raises(ConfigError, match="pool_rows must hold at least two"):
        run_active_learning(
            F, prompts, gold, pool_rows=[0], within_prompt=False, batch_size=2, budget=2
        )


def test_selector_params_reach_the_selector(alpaca):
    F, prompts, gold = alpaca
    kw = dict(strategy="d-optimal", batch_size=40, budget=80, n_candidates=4000, random_state=3)
    seen = {}

    def record(name):
        def grab(X, seed):
            seen.setdefault(name, []).append(X.copy())
            return X[:0]

        return grab

    run_active_learning(
        F, prompts, gold, augment=record("greedy"), selector_params={"exploration": 0.0}, **kw
    )
    run_active_learning(
        F, prompts, gold, augment=record("half"), selector_params={"exploration": 0.5}, **kw
    )
    run_active_learning(
        F, prompts, gold, augment=record("half2"), selector_params={"exploration": 0.5}, **kw
    )
    # same first (random) batch, different second batches; the same parameters repeat exactly
    np.testing.assert_array_equal(seen["greedy"][0], seen["half"][0])
    assert not np.array_equal(seen["greedy"][1], seen["half"][1])
    np.testing.assert_array_equal(seen["half"][1], seen["half2"][1])
