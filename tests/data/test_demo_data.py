"""The bundled demo set: size, balance, cleanliness, and that it is not separable by length alone."""

from __future__ import annotations

import re
from collections import Counter

from prefspace.data import demo_path, load_demo, load_preferences


def test_demo_ships_with_its_card_and_licence():
    path = demo_path()
    assert path.is_file()
    assert (path.parent / "DATA_CARD.md").is_file()
    assert "CC0" in (path.parent / "LICENSE").read_text(encoding="utf-8")


def test_demo_has_three_balanced_subsets_in_trl_standard_format():
    ds = load_demo()
    assert len(ds) >= 330
    counts = Counter(ds.subset)
    assert set(counts) == {"helpfulness", "harmlessness", "honesty"}
    assert min(counts.values()) >= 110
    assert ds.info.format == "standard, explicit prompt" and ds.info.n_skipped == 0
    assert ds.info.ids == "column 'id'"
    # the first rows interleave the subsets, so a --limit sample is balanced
    assert set(load_demo(limit=3).subset) == set(counts)


def test_demo_text_is_clean_and_varied():
    ds = load_preferences(demo_path())
    assert len(set(ds.prompts)) == len(ds)
    texts = ds.chosen + ds.rejected
    assert len(set(texts)) == len(texts)
    assert all(c != r for c, r in zip(ds.chosen, ds.rejected))
    assert all(t == t.strip() and 5 <= len(t) <= 600 for t in texts)
    sentences = [len(re.findall(r"[.!?](?:\s|$)", t)) for t in texts]
    # short answers: 1-4 sentences (citation formats, with their many full stops, are the exception)
    assert sum(n <= 4 for n in sentences) >= 0.99 * len(texts)


def test_demo_is_not_separable_by_length_alone():
    ds = load_demo()
    longer_chosen = sum(len(c) > len(r) for c, r in zip(ds.chosen, ds.rejected)) / len(ds)
    assert longer_chosen < 0.75
    assert sum(len(r) > len(c) for c, r in zip(ds.chosen, ds.rejected)) >= 0.2 * len(ds)
