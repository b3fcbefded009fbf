"""The text-feature block measured on real responses (HH and alpaca_bon)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from prefspace.data import load_preferences
from prefspace.data.text_features import (
    TEXT_FEATURE_NAMES,
    TEXT_FEATURES_VERSION,
    check_text_features_version,
    log_length,
    text_feature_block,
)

COL = {name: i for i, name in enumerate(TEXT_FEATURE_NAMES)}


def _alpaca_responses(alpaca_dir, n=60):
    with gzip.open(alpaca_dir / "responses.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["response"] for _, line in zip(range(n), f)]


def test_block_columns_count_what_they_name(alpaca_dir):
    texts = _alpaca_responses(alpaca_dir)
    tokens = np.array([len(t.split()) for t in texts])
    block = text_feature_block(texts, tokens, token_limit=256)
    assert block.shape == (len(texts), len(TEXT_FEATURE_NAMES)) and block.dtype == np.float32
    np.testing.assert_allclose(block[:, COL["log_chars"]], log_length(texts), rtol=1e-6)
    np.testing.assert_allclose(block[:, COL["log_tokens"]], np.log1p(tokens), rtol=1e-6)
    lines = [sum(1 for line in t.splitlines() if line.strip()) for t in texts]
    np.testing.assert_allclose(block[:, COL["log_lines"]], np.log1p(lines), rtol=1e-6)
    # the first response is a numbered list of bold names: one item per actor
    items = sum(1 for line in texts[0].splitlines() if line[:1].isdigit() and ". " in line[:5])
    assert items >= 3 and np.expm1(block[0, COL["log_list_items"]]) == pytest.approx(
        items, rel=1e-5
    )
    truncated = tokens > 256
    assert (
        truncated.any() and not truncated.all()
    )  # alpaca_bon's answers are long: some exceed the window
    np.testing.assert_array_equal(block[:, COL["truncated"]], truncated)
    np.testing.assert_allclose(
        block[truncated, COL["unseen_fraction"]], 1 - 256 / tokens[truncated], rtol=1e-6
    )
    assert (block[~truncated, COL["unseen_fraction"]] == 0).all()


def test_code_blocks_and_headings_are_counted():
    text = "## Setup\n\n```python\nx = 1\n```\n\nThen:\n\n~~~\nrun\n~~~\n# Done\n#not a heading"
    row = text_feature_block([text], [20], token_limit=None)[0]
    assert np.expm1(row[COL["log_code_blocks"]]) == pytest.approx(2)
    assert np.expm1(row[COL["log_headings"]]) == pytest.approx(2)
    assert (
        row[COL["truncated"]] == 0 and row[COL["unseen_fraction"]] == 0
    )  # no limit: nothing unseen


def test_hh_responses_give_finite_rows_and_empty_text_is_zero(hh_path):
    ds = load_preferences(hh_path, limit=50)
    texts = [*ds.chosen, *ds.rejected, ""]
    block = text_feature_block(texts, [len(t) // 4 for t in texts], token_limit=256)
    assert np.isfinite(block).all()
    assert (block[-1] == 0).all()


def test_token_counts_must_match_texts():
    with pytest.raises(ValueError, match="2 texts but 1 token counts"):
        text_feature_block(["a", "b"], [1], token_limit=None)


def test_unknown_version_is_refused_naming_the_known_one():
    assert check_text_features_version(TEXT_FEATURES_VERSION) == TEXT_FEATURES_VERSION
    with pytest.raises(ValueError, match=f"knows version {TEXT_FEATURES_VERSION}"):
        check_text_features_version(TEXT_FEATURES_VERSION + 1)


def test_truncation_summary_counts_the_truncated_responses(alpaca_dir):
    from prefspace.data.text_features import truncation_summary

    texts = _alpaca_responses(alpaca_dir)
    tokens = np.array([len(t.split()) for t in texts])
    s = truncation_summary(text_feature_block(texts, tokens, token_limit=256))
    over = tokens > 256
    assert s["texts"] == len(texts) and s["truncated"] == int(over.sum())
    assert s["unseen_fraction_max"] == pytest.approx(
        float((1 - 256 / tokens[over]).max()), rel=1e-5
    )
    assert s["unseen_tokens_share"] == pytest.approx(
        float(np.maximum(tokens - 256, 0).sum() / tokens.sum()), rel=1e-4
    )
