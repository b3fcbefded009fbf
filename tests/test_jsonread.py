"""Reading JSON from outside (prefspace._jsonread): every malformed text is one JSONDecodeError."""

from __future__ import annotations

import json
import sys

import pytest

from prefspace._jsonread import MAX_INT_DIGITS, loads


def test_plain_json_reads_as_json_does():
    text = '{"a": [1, -2, 3.5, "x", null, true], "b": {"c": 1e999}}'
    assert loads(text) == json.loads(text)


def test_an_integer_at_the_limit_reads():
    assert loads("[-" + "9" * MAX_INT_DIGITS + "]")[0] == -int("9" * MAX_INT_DIGITS)


@pytest.mark.parametrize("limit", [None, 0])
def test_a_longer_integer_is_a_decode_error_on_every_machine(limit):
    old = sys.get_int_max_str_digits()
    if limit is not None:
        sys.set_int_max_str_digits(limit)  # unlimited: the limit here still holds
    try:
        with pytest.raises(json.JSONDecodeError, match="an integer of 5,000 digits") as info:
            loads('{"ok": 1,\n "n": ' + "1" * 5000 + "}")
    finally:
        sys.set_int_max_str_digits(old)
    assert (info.value.lineno, info.value.colno) == (2, 7)


def test_deep_nesting_is_a_decode_error_that_says_where():
    with pytest.raises(json.JSONDecodeError, match="nested too deeply") as info:
        loads("[\n" + "[" * 100_000 + "]" * 100_000 + "]")
    assert info.value.lineno == 2


def test_invalid_json_is_still_a_decode_error():
    with pytest.raises(json.JSONDecodeError, match="Expecting"):
        loads('{"a": }')
