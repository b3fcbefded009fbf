"""BradleyTerryLinear with a text-feature block: two penalties, chosen by leave-one-prompt-out CV.

Real data: alpaca_bon's precomputed MiniLM vectors with the text-feature block measured on its
responses (word counts stand in for tokens, so no model loads), pairs of two responses to one
prompt where the higher gold wins.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from prefspace.data.text_features import TEXT_FEATURE_NAMES, text_feature_block
from prefspace.exceptions import ConfigError, FormatError
from prefspace.models import BradleyTerryLinear, load_model, save_model
from prefspace.models.penalty_cv import heldout_errors

K = len(TEXT_FEATURE_NAMES)


@pytest.fixture(scope="module")
def alpaca(alpaca_dir):
    """Rows ``[prompt 384 | response 384 | block 8]`` of the first 200 prompts, their gold and prompt."""
    rows, gold, prompt, texts = [], [], [], []
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            if r["prompt_id"] >= 200:  # the file is ordered by generator, then prompt
                continue
            rows.append(i)
            texts.append(r["response"])
            gold.append(r["gold"])
            prompt.append(r["prompt_id"])
    R = np.load(alpaca_dir / "response_emb_minilm.npy", mmap_mode="r")[rows].astype(np.float32)
    P = np.load(alpaca_dir / "prompt_emb_minilm.npy").astype(np.float32)[prompt]
    T = text_feature_block(texts, [len(t.split()) for t in texts], token_limit=256)
    return np.concatenate([P, R, T], axis=1), np.array(gold), np.array(prompt), texts


def _pairs(F, gold, prompt, prompts, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        p = prompts[rng.integers(len(prompts))]
        i, j = rng.choice(np.flatnonzero(prompt == p), 2, replace=False)
        if gold[i] != gold[j]:
            out.append((i, j) if gold[i] > gold[j] else (j, i))
    return F[np.array(out)]


@pytest.fixture(scope="module")
def split(alpaca):
    F, gold, prompt, _ = alpaca
    return _pairs(F, gold, prompt, np.arange(0, 140), 400, 0), _pairs(
        F, gold, prompt, np.arange(140, 200), 2000, 1
    )


def test_closed_form_heldout_errors_equal_refitting_without_each_prompt(alpaca):
    F, gold, prompt, _ = alpaca
    X = _pairs(F, gold, prompt, np.arange(30), 60, 3)
    cols = np.r_[384:424, 768 : 768 + K]  # 40 response columns and the block: refits stay cheap
    D = (X[:, 0, cols] - X[:, 1, cols]).astype(np.float64)
    D /= np.where(D.std(axis=0) > 0, D.std(axis=0), 1.0)
    y, w = 2.0 + np.zeros(len(D)), np.linspace(0.5, 1.5, len(D))
    groups = np.array(
        [prompt[np.flatnonzero((F == X[i, 0]).all(axis=1))[0]] for i in range(len(X))]
    )
    alphas, text_alphas = [3.0, np.inf], [0.5, np.inf]
    fast, no_pairs = heldout_errors(D, y, w, groups, K, alphas, text_alphas)
    assert no_pairs is None
    for a, alpha in enumerate(alphas):
        for t, text_alpha in enumerate(text_alphas):
            if np.isinf(alpha) and np.isinf(text_alpha):
                assert np.isinf(fast[a, t])
                continue
            pen = np.r_[np.full(D.shape[1] - K, 4 * alpha), np.full(K, 4 * text_alpha)]
            keep = np.isfinite(pen)
            total = 0.0
            for g in np.unique(groups):
                tr, te = groups != g, groups == g
                A = (D[tr][:, keep] * w[tr, None]).T @ D[tr][:, keep] + np.diag(pen[keep])
                beta = np.linalg.solve(A, (D[tr][:, keep] * w[tr, None]).T @ y[tr])
                e = y[te] - D[te][:, keep] @ beta
                total += float(w[te] @ (e * e))
            assert fast[a, t] == pytest.approx(total, rel=1e-8)


def test_two_blocks_beat_the_embedding_alone_where_length_matters(split):
    train, test = split
    both = BradleyTerryLinear(n_text_features=K).fit(train)
    embedding = BradleyTerryLinear(alpha=1000.0, blocks="embedding", n_text_features=K).fit(train)
    assert np.isfinite(both.text_alpha_)  # CV kept the text block
    assert both.score(test) > embedding.score(test) + 0.01
    assert (
        both.cv_["heldout_error"] and len(both.cv_["alphas"]) == 7
    )  # six penalties and "left out"


def test_blocks_restrict_the_weights(split):
    train, _ = split
    text = BradleyTerryLinear(blocks="text", n_text_features=K).fit(train)
    assert np.isinf(text.alpha_) and (text.coef_[:-K] == 0).all() and (text.coef_[-K:] != 0).any()
    emb = BradleyTerryLinear(blocks="embedding", n_text_features=K).fit(train)
    assert np.isinf(emb.text_alpha_) and (emb.coef_[-K:] == 0).all()
    with pytest.raises(ConfigError, match="needs the text-feature block"):
        BradleyTerryLinear(blocks="text").fit(train)
    with pytest.raises(ConfigError, match="n_text_features"):
        BradleyTerryLinear(n_text_features=train.shape[2]).fit(train)


def test_length_controlled_reward_removes_the_text_block(alpaca, split):
    F, _, prompt, texts = alpaca
    train, _ = split
    model = BradleyTerryLinear(n_text_features=K).fit(train)
    plain, controlled = model.predict(F), model.predict(F, length_controlled=True)
    np.testing.assert_allclose(
        plain - controlled, model.text_contribution(F), rtol=1e-10, atol=1e-10
    )
    length = np.log1p([len(t) for t in texts])

    def within_prompt_corr(r):
        rc = r - np.array([r[prompt == p].mean() for p in prompt])
        lc = length - np.array([length[prompt == p].mean() for p in prompt])
        return float(np.corrcoef(rc, lc)[0, 1])

    assert within_prompt_corr(plain) > 0.3  # the plain reward leans on length on alpaca_bon
    assert abs(within_prompt_corr(controlled)) < abs(within_prompt_corr(plain)) / 2


def test_too_few_prompts_use_the_fallback_penalties(split):
    train, _ = split
    one_prompt = BradleyTerryLinear(n_text_features=K).fit(train[:20], groups=np.zeros(20))
    assert (one_prompt.alpha_, one_prompt.text_alpha_, one_prompt.cv_) == (1000.0, 1.0, None)


def test_save_load_keeps_the_block_and_refuses_an_unknown_version(split, tmp_path):
    train, test = split
    model = BradleyTerryLinear(n_text_features=K).fit(train)
    path = save_model(model, tmp_path / "m")
    header = json.loads((path / "model.json").read_text())
    assert header["text_features"] == {
        "version": 1,
        "names": list(TEXT_FEATURE_NAMES),
        "n_columns": K,
    }
    loaded = load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(test[:, 0], length_controlled=True),
        model.predict(test[:, 0], length_controlled=True),
    )
    assert (loaded.alpha_, loaded.text_alpha_) == (model.alpha_, model.text_alpha_)
    header["text_features"]["version"] = 2
    (path / "model.json").write_text(json.dumps(header))
    with pytest.raises(
        FormatError, match="text-feature version 2 is not one this prefspace computes"
    ):
        load_model(path)


def test_mlp_heads_take_the_block_as_a_linear_offset(split, tmp_path):
    from prefspace.models import BradleyTerryMLP, PreferenceClassifierMLP

    train, test = split
    for cls in (BradleyTerryMLP, PreferenceClassifierMLP):
        model = cls(hidden_sizes=(32,), n_text_features=K, random_state=0).fit(train)
        E = test[:, 0]
        # the contract: predict == transform @ last-layer weights + bias, the block's weights last
        np.testing.assert_allclose(
            model.transform(E) @ model.last_layer_weights_ + model.last_layer_bias_,
            model.predict(E),
            rtol=1e-4,
            atol=1e-4,
        )
        np.testing.assert_allclose(
            model.predict(E) - model.predict(E, length_controlled=True),
            model.text_contribution(E),
            rtol=1e-10,
            atol=1e-10,
        )
        assert (
            model.score(test) > 0.65
        )  # the offset carries length on alpaca_bon (embedding alone: ~0.66)
        loaded = load_model(save_model(model, tmp_path / cls.__name__))
        np.testing.assert_allclose(loaded.predict(E), model.predict(E), rtol=1e-6, atol=1e-6)


def test_export_refuses_a_model_that_reads_the_block(split, tmp_path):
    from prefspace.embed import get_encoder
    from prefspace.models.export import export_sentence_transformers

    train, _ = split
    enc = get_encoder(text_features=True)
    path = save_model(BradleyTerryLinear(n_text_features=K).fit(train), tmp_path / "m", encoder=enc)
    with pytest.raises(ConfigError, match="text-feature block .* no such model reproduces"):
        export_sentence_transformers(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
