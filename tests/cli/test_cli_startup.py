"""The command line starts without the library: help and name checks import no numeric stack.

Start-up time itself is measured in benchmarks, not here; these tests check the causes of a slow
start (what ``--help`` imports) and that the shortcuts taken for it stay true: the name tables
mirror the registries, and the command-to-module table mirrors what the modules register.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from prefspace import _names
from prefspace.cli import _COMMAND_MODULES, _command_named, app


def test_name_tables_are_the_registries():
    from prefspace.evaluate.reward_bench import BENCHMARKS
    from prefspace.models import HEADS
    from prefspace.models.ensemble import AGGREGATES
    from prefspace.select import STRATEGIES
    from prefspace.synth import METHODS, SYNTHESIZERS
    from prefspace.workflows.training import HEAD_CHOICES

    assert _names.HEADS == tuple(HEADS)
    assert _names.TRAIN_HEADS == tuple(HEAD_CHOICES)
    assert _names.SYNTHESIZERS == tuple(SYNTHESIZERS)
    assert _names.AUGMENT_METHODS == tuple(METHODS)
    assert _names.STRATEGIES == tuple(STRATEGIES)
    assert _names.AGGREGATES == tuple(AGGREGATES)
    assert _names.BENCHMARKS == tuple(BENCHMARKS)


def test_command_table_lists_what_each_module_registers():
    import importlib

    registered = {}
    for module in _COMMAND_MODULES:
        before = {c.name or c.callback.__name__ for c in app.registered_commands}
        before |= {g.name for g in app.registered_groups}
        importlib.import_module(f"prefspace.cli.{module}")
        after = {c.name or c.callback.__name__ for c in app.registered_commands}
        after |= {g.name for g in app.registered_groups}
        registered[module] = after - before
    # a module imported by an earlier test registered its commands then: compare the union too
    everything = set(typer.main.get_command(app).commands)
    assert everything == {name for names in _COMMAND_MODULES.values() for name in names}
    for module, names in registered.items():
        assert not names or names == set(_COMMAND_MODULES[module]), module


@pytest.mark.parametrize(
    "argv, command",
    [
        (["train", "x.jsonl"], "train"),
        (["-v", "--threads", "2", "synth", "--help"], "synth"),
        (["--threads=2", "label", "serve"], "label"),
        (["--help"], None),
        ([], None),
    ],
)
def test_command_named_skips_root_options(argv, command):
    assert _command_named(argv) == command


_HEAVY = ("numpy", "torch", "scipy", "sklearn", "pandas", "onnxruntime", "transformers")
_STAGES = (
    "data",
    "embed",
    "evaluate",
    "models",
    "synth",
    "select",
    "experiments",
    "workflows",
    "serve",
    "studio",
    "integrations",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["train", "--help"],
        ["synth", "--help"],
        ["select", "--help"],
        ["evaluate", "--help"],
        ["embed", "--help"],
        ["serve", "--help"],
        ["label", "serve", "--help"],
    ],
)
def test_help_imports_no_stage_and_no_numeric_library(argv):
    script = (
        "import sys\n"
        "from prefspace.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {_HEAVY!r}\n"
        f"               or m.split('.')[:2] in [['prefspace', s] for s in {_STAGES!r}])\n"
        "print('LOADED', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert "Usage" in result.stdout and "LOADED []" in result.stdout, result.stdout[-2000:]


def test_a_refused_head_name_imports_no_head():
    script = (
        "import sys\n"
        "from prefspace.cli import main\n"
        "try:\n    main(['train', 'x.jsonl', '--out', 'm', '--head', 'svm'])\n"
        "except SystemExit as e:\n    print('EXIT', e.code)\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'torch')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert "EXIT 2" in result.stdout and "LOADED []" in result.stdout, result.stdout
    assert "Invalid value for '--head': 'svm' is not one of 'bt-linear'" in result.stderr
