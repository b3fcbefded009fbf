"""The ``prefspace`` command line.

Each command lives in its own module under ``prefspace.cli`` and only parses
arguments and calls the library. Exit codes: 0 done, 2 bad input or usage,
1 unexpected error (a bug: run with PREFSPACE_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from .._surface import enter_command_line, leave
from .._threads import ENV_THREADS, check_n_jobs
from ..exceptions import PrefspaceError
from ._groups import option

app = typer.Typer(
    name="prefspace",
    help="Reward models from scarce preference data in LLM embedding space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on `app` when imported, with the commands each registers.
# A command line that names a command imports only that command's module: building a command's
# options costs time (typer validates each one), so `prefspace train --help` should not pay for
# `label serve`'s. `prefspace --help` (no command) imports them all to list them.
# tests/cli/test_cli_startup.py checks this table against what the modules register.
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "data": ("validate",),
    "embed": ("embed", "info", "cache"),
    "train": ("train", "score"),
    "synth": ("synth",),
    "evaluate": ("evaluate", "experiment", "demo"),
    "select": ("select",),
    "serve": ("serve", "rerank"),
    "label": ("label",),
    "export": ("export",),
}
# The root options that take a value (so the word after them is not a command).
_ROOT_VALUE_OPTIONS = ("--threads",)


def _command_named(argv: list[str]) -> str | None:
    """The command ``argv`` names (``["-v", "train", "x"]`` -> ``"train"``), or None."""
    args = iter(argv)
    for arg in args:
        if arg in _ROOT_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _register_commands(argv: list[str] | None = None) -> None:
    """Import the command modules: the one that registers ``argv``'s command, else all."""
    command = _command_named(argv) if argv is not None else None
    known = command is not None and any(command in names for names in _COMMAND_MODULES.values())
    for name, commands in _COMMAND_MODULES.items():
        if known and command not in commands:
            continue
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


Verbose = option(bool, "--verbose", "-v", help="Log progress details to stderr.")
Threads = option(
    int | None,
    "--threads",
    help="Threads for torch, BLAS and ONNX Runtime alike (-1: all cores; default: "
    "$PREFSPACE_NUM_THREADS, else each library's own).",
)


@app.callback()
def _root(ctx: typer.Context, verbose: Verbose = False, threads: Threads = None) -> None:
    # library errors name the flags (--subset-key) while a command runs, keywords otherwise
    token = enter_command_line()
    ctx.call_on_close(lambda: leave(token))
    if threads is not None:
        os.environ[ENV_THREADS] = str(check_n_jobs(threads, name="--threads"))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _collect_less_often() -> None:
    """Run the cyclic garbage collector's youngest generation every 50,000 new objects instead
    of every 700: importing scikit-learn, scipy and pandas creates millions of objects that live
    as long as the process, and the collector kept rescanning them (about 0.15 s of every
    command's start). Cycles are still collected, later. Only for a whole process (the console
    script)."""
    import gc

    gc.set_threshold(50_000, *gc.get_threshold()[1:])


def _exit_without_a_last_collection() -> None:
    """Spare the process the garbage collector's passes over every imported module's objects
    at interpreter shutdown (``gc.freeze``): with scikit-learn, scipy and pandas loaded they
    took about 0.2 s of every command's wall time. Only for a whole process (the console
    script), after the command has finished; files are written and closed by then, and
    ``atexit`` handlers still run."""
    import gc

    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app and maps errors to exit codes."""
    if argv is None:
        _collect_less_often()
    _register_commands(sys.argv[1:] if argv is None else list(argv))
    debug = os.environ.get("PREFSPACE_DEBUG", "") not in ("", "0")
    try:
        app(args=argv, standalone_mode=False)
        if argv is None:
            _exit_without_a_last_collection()
    except PrefspaceError as exc:
        if debug:
            raise
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:  # typer.Exit from commands
        code = getattr(exc, "exit_code", None)
        if code is None:
            code = exc.code if isinstance(exc, SystemExit) else 0
        sys.exit(code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        # typer >= 0.2x raises its own vendored click's exceptions (typer._click), not click's.
        clicks = []
        for click_module in ("typer._click", "click"):
            try:
                clicks.append(importlib.import_module(click_module))
            except ImportError:
                pass
        if isinstance(exc, tuple(c.exceptions.UsageError for c in clicks)):
            exc.show()
            sys.exit(2)
        if isinstance(exc, tuple(c.exceptions.ClickException for c in clicks)):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        typer.secho(
            f"unexpected error ({type(exc).__name__}): {exc}\n"
            "This is a bug in prefspace; rerun with PREFSPACE_DEBUG=1 for the traceback.",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
