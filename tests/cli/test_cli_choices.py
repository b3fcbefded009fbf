"""The CLI's choices come from the library's registries, and ``prefspace --help`` stays light."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app
from prefspace.cli._choices import REGISTRIES, fill_choices
from prefspace.models import HEADS
from prefspace.models.ensemble import AGGREGATES
from prefspace.select import STRATEGIES
from prefspace.synth import METHODS, SYNTHESIZERS

runner = CliRunner()


def _help(command: str) -> str:
    _register_commands()
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command, names",
    [
        ("train", [*HEADS, *METHODS, *AGGREGATES]),
        ("synth", list(SYNTHESIZERS)),
        ("select", list(STRATEGIES)),
    ],
)
def test_help_names_every_registered_choice(command, names):
    text = _help(command)
    assert not [k for k in REGISTRIES if "{" + k + "}" in text], (
        "a registry placeholder was left unfilled"
    )
    missing = [n for n in names if n not in text]
    assert not missing, f"`prefspace {command} --help` does not name {missing}"


def test_placeholders_are_the_registries():
    assert fill_choices("{heads}") == ", ".join(list(HEADS)[:-1]) + " or " + list(HEADS)[-1]
    assert REGISTRIES["strategies"] == tuple(STRATEGIES)
    assert fill_choices("no placeholder {here}") == "no placeholder {here}"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "x.jsonl", "--out", "m", "--augment", "smote"],
            "Invalid value for '--augment': 'smote' is not one of 'none'",
        ),
        (
            ["train", "x.jsonl", "--out", "m", "--aggregate", "max"],
            "Invalid value for '--aggregate': 'max' is not one of 'mean'",
        ),
        (
            ["select", "m", "pool.jsonl", "--strategy", "entropy"],
            "Invalid value for '--strategy' / '-s': 'entropy' is not one of 'random'",
        ),
    ],
)
def test_a_name_outside_the_registry_exits_2_naming_the_flag(args, message, tmp_path, capsys):
    from prefspace.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2 and message in capsys.readouterr().err
