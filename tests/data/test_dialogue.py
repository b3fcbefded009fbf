"""Splitting HH dialogues: the shared prompt is the longest common prefix up to an Assistant turn."""

from __future__ import annotations

import os
import random

from prefspace.data.dialogue import _common_prefix, split_hh


def test_common_prefix_agrees_with_the_standard_library():
    rng = random.Random(0)
    for _ in range(5000):
        a = "".join(rng.choice("ab") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("ab") for _ in range(rng.randint(0, 12)))
        assert _common_prefix(a, b) == os.path.commonprefix([a, b]), (a, b)


def test_split_hh_cuts_at_the_last_shared_assistant_turn():
    shared = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant:"
    prompt, chosen, rejected = split_hh(shared + " yes", shared + " no")
    assert [m["role"] for m in prompt] == ["user", "assistant", "user"]
    assert (chosen, rejected) == ("yes", "no")
