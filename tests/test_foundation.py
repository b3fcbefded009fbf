"""The shared base modules: the JSON-safe encoder and the process-alive check."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prefspace._jsonsafe import dumps, json_number, json_safe, write_json, write_jsonl
from prefspace._process import pid_alive


def test_json_safe_turns_numpy_and_non_finite_values_into_plain_json():
    value = {
        1: np.float32(0.25),
        "ints": (np.int64(3), np.int8(-1)),
        "flag": np.bool_(True),
        "bad": [float("nan"), np.float64("inf"), -math.inf],
        "arr": np.array([[1.5, np.nan]]),
        "path": Path("a") / "b",
        "none": None,
    }
    out = json_safe(value)
    assert out == {
        "1": 0.25,
        "ints": [3, -1],
        "flag": True,
        "bad": [None, None, None],
        "arr": [[1.5, None]],
        "path": os.path.join("a", "b"),
        "none": None,
    }
    assert type(out["ints"][0]) is int and type(out["flag"]) is bool
    text = dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == out


def test_json_safe_refuses_unknown_objects_unless_given_a_default():
    with pytest.raises(TypeError, match="not JSON-serialisable: object"):
        json_safe({"x": object()})
    assert json_safe({"x": {1, 2}}, default=sorted) == {"x": [1, 2]}
    assert json_safe(np.zeros((10, 10)), max_array_size=64) == "array(10, 10)"
    assert json_number(None) is None and json_number(np.float16(2.0)) == 2.0 and json_number(7) == 7


def test_json_files_are_written_atomically_with_null_for_nan(tmp_path):
    p = write_json(tmp_path / "m.json", {"ece": np.float64("nan")})
    assert json.loads(p.read_text()) == {"ece": None}
    q = write_jsonl(tmp_path / "r.jsonl", [{"r": np.float32(1.5)}, {"r": float("nan")}])
    assert [json.loads(line) for line in q.read_text().splitlines()] == [{"r": 1.5}, {"r": None}]
    with pytest.raises(TypeError):
        write_jsonl(tmp_path / "bad.jsonl", [{"r": object()}])
    assert not (tmp_path / "bad.jsonl").exists() and not list(tmp_path.glob("*.tmp-*"))


def test_pid_alive_for_this_process_a_live_child_and_a_dead_one():
    assert pid_alive(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert pid_alive(child.pid)
    finally:
        child.communicate(b"")  # it exits, and wait() reaps it
    assert child.returncode == 0
    assert not pid_alive(child.pid)
    assert not pid_alive(0) and not pid_alive(-1)
