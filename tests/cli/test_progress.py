"""Progress: the library's events (prefspace._progress) and how the CLI renders them in a log.

A fake clock drives the plain renderer, so nothing here depends on wall time; the end-to-end
test runs the real CLI in a fresh process whose stderr is a file (not a terminal).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from prefspace._progress import ProgressEvent, report_progress, track
from prefspace.cli._progress import PlainProgress, format_duration, format_rate, show_progress
from prefspace.data import demo_path


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_track_reports_to_the_listening_callback_only_inside_the_block():
    seen: list[ProgressEvent] = []
    with report_progress(seen.append):
        t = track("embed responses", 3, "texts")
        t.advance(2)
        t.finish()
    track("outside", 1).finish()  # nobody listens: nothing recorded, nothing raised
    assert [(e.stage, e.done, e.total, e.finished) for e in seen] == [
        ("embed responses", 0, 3, False),
        ("embed responses", 2, 3, False),
        ("embed responses", 3, 3, True),
    ]


@pytest.mark.parametrize(
    "count, seconds, unit, text",
    [
        (6875, 10, "texts", "688 texts/s"),
        (8, 10, "texts", "0.8 texts/s"),  # below one per second: not "0 texts/s"
        (1, 75, "texts", "75 s/text"),  # slower than one per ten seconds
        (1, 600, "cells", "10.0 min/cell"),
        (0, 10, "texts", ""),
    ],
)
def test_rates_below_one_per_second_read_correctly(count, seconds, unit, text):
    assert format_rate(count, seconds, unit) == text


def test_plain_lines_every_interval_and_at_the_end_without_redraws():
    clock, out = FakeClock(), io.StringIO()
    plain = PlainProgress(out, interval=30, clock=clock)
    with report_progress(plain):
        t = track("embed responses", 6875, "texts")
        for _ in range(10):  # 12 s apart: a line only when 30 s have passed since the last one
            clock.now += 12
            t.advance(12)
        clock.now += 5
        plain.tick()  # silent for 5 s: no line
        clock.now += 40
        plain.tick()  # silent for 40 s: the heartbeat writes one
        t.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "embed responses: 36/6,875 texts (1%), 1.0 texts/s, ETA 1h53m"
    assert len(lines) == 5 and lines[-1].startswith("embed responses: 6,875/6,875 texts (100%)")
    assert lines[-1].endswith("done in 2m45s")


def test_a_stage_that_starts_again_is_a_new_run():
    clock, out = FakeClock(), io.StringIO()
    plain = PlainProgress(out, interval=0, clock=clock)
    plain(ProgressEvent("embed prompts", 0, 4, "texts"))
    clock.now += 4
    plain(ProgressEvent("embed prompts", 4, 4, "texts"))
    plain(ProgressEvent("embed prompts", 0, 2, "texts"))  # the test set's prompts
    clock.now += 1
    plain(ProgressEvent("embed prompts", 2, 2, "texts"))
    assert (
        out.getvalue().splitlines()[-1]
        == "embed prompts: 2/2 texts (100%), 2.0 texts/s, done in 1.0s"
    )


def test_show_progress_writes_plain_lines_when_the_stream_is_not_a_terminal(monkeypatch):
    monkeypatch.setenv("PREFSPACE_PROGRESS_INTERVAL", "0")
    out = io.StringIO()
    with show_progress(stream=out):
        track("fit bt-linear", 1, "fits").finish()
    assert out.getvalue().splitlines()[-1].startswith("fit bt-linear: 1/1 fits (100%)")
    monkeypatch.setenv("PREFSPACE_PROGRESS", "0")
    quiet = io.StringIO()
    with show_progress(stream=quiet) as callback:
        track("fit", 1, "fits").finish()
    assert callback is None and quiet.getvalue() == ""


def test_format_duration():
    assert [format_duration(s) for s in (0.4, 42, 185, 7080)] == ["0.4s", "42s", "3m05s", "1h58m"]


def test_train_in_a_batch_log_writes_progress_lines(tmp_path):
    """`prefspace train` with stderr redirected to a file: plain progress lines, no carriage returns."""
    log = tmp_path / "train.log"
    env = {
        **os.environ,
        "PREFSPACE_PROGRESS_INTERVAL": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    with open(log, "w") as fh:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "prefspace",
                "train",
                str(demo_path()),
                "--limit",
                "12",
                "--head",
                "bt-linear",
                "--cache",
                str(tmp_path / "cache"),
                "--out",
                str(tmp_path / "model"),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=600,
        )
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "\r" not in text and "\x1b[" not in text  # no redraws, no terminal escapes
    lines = text.splitlines()
    for stage in ("embed prompts", "embed responses", "fit bt-linear"):
        done = [line for line in lines if line.startswith(f"{stage}: ") and "(100%)" in line]
        assert done, f"no finished {stage!r} line in:\n{text}"
    assert any(
        line.startswith("embed responses: 0/") for line in lines
    )  # the start, as the first event
    assert "trained BradleyTerryLinear" in text
