"""Every command's --help ends with an example command line."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from prefspace.cli import _register_commands, app


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_command_help_ends_with_an_example():
    _register_commands()
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    assert {("train",), ("score",), ("experiment",), ("cache", "merge")} <= set(paths)
    runner = CliRunner()
    missing = []
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "240"})
        assert result.exit_code == 0, result.output
        lines = [line.strip() for line in result.output.splitlines() if line.strip()]
        header = [i for i, line in enumerate(lines) if line in ("Example:", "Examples:")]
        boxes = [
            i for i, line in enumerate(lines) if line.startswith(("╰", "+-"))
        ]  # the end of the option panels
        ok = (
            header
            and (not boxes or header[-1] > boxes[-1])
            and header[-1] + 1 < len(lines)
            and lines[header[-1] + 1].startswith(f"prefspace {' '.join(path)} ")
        )
        if not ok:
            missing.append(" ".join(path))
    assert not missing, f"--help without a closing example: {missing}"
