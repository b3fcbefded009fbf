"""Option types shared by every command that reads preference data.

Each name below is an ``Annotated`` type carrying its typer option, so a command reuses an
option with one line and gets the same flag name, default and help text everywhere. The data
columns (``--prompt-key`` ... ``--max-text-chars``) are defined once, in :class:`DataColumns`;
a command takes them all as one parameter through :func:`data_columns`::

    @app.command()
    @data_columns()
    def validate(data: DataArg, columns: DataColumns, as_json: bool = False):
        dataset = load_preferences(data, **columns.load_kwargs())

A column key left at ``None`` means "use the default name" (``prompt``, ``chosen``, ...), so
:meth:`DataColumns.load_kwargs` passes on only the flags the user actually set. A new loader
option is one field of :class:`DataColumns`, typed with its option.

``data_columns`` is one of the option groups (:mod:`prefspace.cli._groups`); the others here are
:func:`pool_columns` (a pool of responses: select, label; rerank's adds ``--group-key``) and
:func:`server_options` (serve, label serve); the encoder groups are in
:mod:`prefspace.cli._encoder_options`.

Flags several commands share one declaration of: :func:`out_option` (``--out/-o``, each command's
help), :func:`json_flag` (``--json``), :func:`figure_format_option`, ``CacheOpt`` (``--cache``), and a renamed flag's old name
is one :class:`RenamedFlag`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ._choices import RegistryChoice
from ._groups import OptionGroup, argument, option, option_group, panel_options

_DATA_HELP = (
    "Preference data: a .jsonl/.json/.parquet/.csv file (optionally .gz), a directory saved by "
    "`datasets`, or a Hugging Face dataset name (with --split)."
)
_PANEL = "Data columns"
_data_option = panel_options(_PANEL)

DataArg = argument(str, _DATA_HELP)


def _key(flag: str, what: str, default: str) -> Any:
    """The option of the column holding ``what`` (``None``: the column named ``default``)."""
    return _data_option(str | None, flag, help=f"Column holding {what} (default: {default!r}).")


PromptKey = _key("--prompt-key", "the prompt", "prompt")
ChosenKey = _key("--chosen-key", "the preferred response", "chosen")
RejectedKey = _key("--rejected-key", "the dispreferred response", "rejected")
ResponseAKey = _key("--response-a-key", "the first response of a labelled pair", "response_a")
ResponseBKey = _key("--response-b-key", "the second response of a labelled pair", "response_b")
LabelKey = _key("--label-key", "which response is better: a/b/tie or 0/1", "label")
MarginKey = _key("--margin-key", "an optional preference margin", "margin")
WeightKey = _key("--weight-key", "an optional per-pair weight", "weight")
SubsetKey = _key("--subset-key", "an optional subset name", "subset")
IdKey = _key("--id-key", "an optional unique pair id", "id")

OnBadRows = _data_option(
    Literal["error", "skip"],
    "--on-bad-rows",
    help="What to do with a malformed row: 'error' stops with its line number; 'skip' drops it and counts why.",
)
Ties = _data_option(
    Literal["drop", "keep"],
    "--ties",
    help="Labelled pairs marked as a tie: 'drop' them (reported) or 'keep' them (flagged in dataset.tie).",
)
Dedupe = _data_option(
    bool,
    "--dedupe",
    help="Drop exact duplicate pairs (same prompt, chosen and rejected), keeping the first. "
    "By default they are kept (the same comparison labelled twice is data) and counted.",
)
Split = _data_option(
    str | None,
    "--split",
    help="Split to read from a DatasetDict directory or a Hugging Face dataset (e.g. 'train').",
)
Limit = _data_option(
    int | None,
    "--limit",
    help="Read at most this many pairs (the first ones in file order).",
    min=1,
)

MaxTextChars = _data_option(
    int | None,
    "--max-text-chars",
    help="Longest prompt or response in characters; a longer one is a bad row (default: 100,000).",
    min=1,
)


@dataclasses.dataclass(frozen=True)
class DataColumns:
    """The data-column options of a command, as :func:`prefspace.data.load_preferences` takes
    them (``None``: the loader's default)."""

    prompt_key: PromptKey = None
    chosen_key: ChosenKey = None
    rejected_key: RejectedKey = None
    response_a_key: ResponseAKey = None
    response_b_key: ResponseBKey = None
    label_key: LabelKey = None
    margin_key: MarginKey = None
    weight_key: WeightKey = None
    subset_key: SubsetKey = None
    id_key: IdKey = None
    on_bad_rows: OnBadRows = None  # None here: not given; the command line shows its default
    ties: Ties = None
    dedupe: Dedupe = None
    split: Split = None
    limit: Limit = None
    max_text_chars: MaxTextChars = None

    def load_kwargs(self) -> dict:
        """Keyword arguments for :func:`prefspace.data.load_preferences`: the options that are set.

        Example
        -------
        >>> DataColumns(prompt_key="question", limit=10).load_kwargs()
        {'prompt_key': 'question', 'limit': 10}
        """
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


data_columns = option_group(
    DataColumns, "columns", defaults={"on_bad_rows": "error", "ties": "drop", "dedupe": False}
)
"""Give a command every data-column option at once, collected into its ``columns`` parameter
(``columns: DataColumns``), in the "Data columns" panel of ``--help``; ``exclude`` leaves out
options a command has no use for."""


# ---------------------------------------------------------------- a pool of responses
# responses grouped by prompt (select, label, rerank): one row per response, prompts joined on a key
PoolPrompts = option(
    str | None, "--prompts", help="Separate prompts file joined on --join-key (alpaca_bon layout)."
)
PoolPromptKey = option(str, "--prompt-key", help="Column holding the prompt.")
PoolResponseKey = option(
    str, "--response-key", help="Column holding a response (or '<key>s' a list of them)."
)
PoolIdKey = option(
    str | None, "--id-key", help="Column holding a unique response id (default: the row number)."
)
PoolJoinKey = option(str, "--join-key", help="Prompt id column shared by POOL and --prompts.")


@dataclasses.dataclass(frozen=True)
class PoolColumns:
    """Where a pool of responses finds its prompts and columns (as
    :func:`prefspace.data.read_responses` takes them)."""

    prompts: PoolPrompts = None
    prompt_key: PoolPromptKey = "prompt"
    response_key: PoolResponseKey = "response"
    id_key: PoolIdKey = None
    join_key: PoolJoinKey = "prompt_id"

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments.

        >>> PoolColumns(prompts="prompts.jsonl").kwargs()["join_key"]
        'prompt_id'
        """
        return dataclasses.asdict(self)


pool_columns = option_group(PoolColumns, "keys")
"""Give a command that reads a pool of responses its column options, collected into its
``keys: PoolColumns`` parameter."""


# ---------------------------------------------------------------- a local web server
Host = option(str, "--host", help="Address to bind; 127.0.0.1 serves this machine only.")
Port = option(int, "--port", help="TCP port.", min=0, max=65535)
LogLevel = option(str, "--log-level", help="uvicorn log level.")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Where a command's HTTP server listens, and how much uvicorn logs."""

    host: Host = "127.0.0.1"
    port: Port = 8000
    log_level: LogLevel = "info"

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` as given (port 0: the one the system picks is known later).

        >>> ServerOptions(port=8000).url
        'http://127.0.0.1:8000'
        """
        return f"http://{self.host}:{self.port}"


server_options = option_group(ServerOptions, "server")
"""Give a command that serves HTTP its address options, collected into its ``server:
ServerOptions`` parameter."""


# ---------------------------------------------------------------- choosing pairs (select, label)
_STRATEGY_HELP = (
    "{strategies}. Default random: in this project's label-loop and active-labeling benchmarks "
    "(docs/benchmarks.md) D-optimal selection learned more slowly than random; see "
    "docs/active-labeling.md."
)
Strategy = option(str, "--strategy", "-s", help=_STRATEGY_HELP, parser=RegistryChoice("strategies"))
CrossPrompt = option(
    bool, "--cross-prompt", help="Pair responses to different prompts instead of within a prompt."
)
MaxCandidates = option(
    int,
    "--max-candidates",
    help="Score a random sample of this many candidate pairs when the pool is larger.",
    min=1,
)


@dataclasses.dataclass(frozen=True)
class CandidatePairs:
    """Which pairs of a pool's responses are candidates: two responses to one prompt, or to
    different prompts, and at most how many (a random sample of them beyond), as
    :func:`prefspace.workflows.select_for_labeling` and :func:`prefspace.studio.build_studio`
    take them."""

    cross_prompt: CrossPrompt = False
    max_candidates: MaxCandidates = 1_000_000

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments.

        >>> CandidatePairs().kwargs()
        {'cross_prompt': False, 'max_candidates': 1000000}
        """
        return dataclasses.asdict(self)


candidate_pairs = option_group(CandidatePairs, "pairs")
"""Give a command that chooses pairs from a pool (select, label) the candidate-pair options,
collected into its ``pairs: CandidatePairs`` parameter."""


def examples(*commands: str) -> str:
    """The epilog that ends a command's ``--help``: one example command line per paragraph.

    >>> examples("prefspace validate pairs.jsonl").splitlines()
    ['Example:', '', 'prefspace validate pairs.jsonl']
    """
    return ("Example:" if len(commands) == 1 else "Examples:") + "".join(
        f"\n\n{c}" for c in commands
    )


def out_option(help: str, kind: Any = Path) -> Any:
    """The ``--out/-o`` option of a command that writes a file or a folder, with its help.

    >>> import typing
    >>> typing.get_args(out_option("Folder to write."))[1].help
    'Folder to write.'
    """
    return option(kind, "--out", "-o", help=help)


def figure_format_option(help: str) -> Any:
    """The ``--figure-format`` option of a command that draws plots: always PNG, and also SVG or
    PDF beside each (the formats of :data:`prefspace.evaluate.plots.FIGURE_FORMATS`)."""
    return option(Literal["png", "svg", "pdf"], "--figure-format", help=help)


def json_flag(what: str) -> Any:
    """The ``--json`` flag of a command that prints ``what`` (its summary, its metrics) as JSON
    instead of lines of text."""
    return option(bool, "--json", help=f"Print {what} as JSON.")


CacheOpt = option(
    Path | None,
    "--cache",
    help="Embedding cache folder (default: $PREFSPACE_CACHE, else $PREFSPACE_HOME/embeddings, "
    "else ~/.cache/prefspace/embeddings; every command shares it).",
)


class ThroughCache:
    """An option group with a ``cache`` field (``--cache``; None when not given), which it
    embeds through."""

    cache: Path | None

    def cache_dir(self) -> Path:
        """``--cache``, else the cache every command shares (:func:`default_cache_dir`)."""
        return self.cache or default_cache_dir()


@dataclasses.dataclass(frozen=True)
class RenamedFlag:
    """A flag renamed for one vocabulary across commands: the old name (``old``, with its short
    forms after a ``/``) still works for one release, hidden from ``--help``, with a warning on
    stderr; ``new`` is the flag that replaces it. Declared once per old flag; a command takes
    ``old_name: FLAG.option = None`` and uses ``FLAG.value(old_name, new_name)``.

    >>> RenamedFlag("--n", "--best-of", int).value(None, 16)
    16
    """

    old: str
    new: str
    kind: Any

    @property
    def option(self) -> Any:
        """The hidden option that keeps the old name working."""
        return Annotated[
            self.kind | None,
            typer.Option(
                *self.old.split("/"),
                hidden=True,
                help=f"Deprecated: use {self.new}.",
                show_default=False,
            ),
        ]

    def value(self, old_value: Any, new_value: Any) -> Any:
        """The value the command goes on with: the old flag's when it was given (with the
        warning), else the new flag's."""
        if old_value is None:
            return new_value
        typer.echo(
            f"warning: {self.old} is deprecated and goes in the next release; use {self.new}.",
            err=True,
        )
        return old_value


def default_cache_dir() -> Path:
    """The embedding cache a command uses without ``--cache``: ``$PREFSPACE_CACHE``, else
    ``$PREFSPACE_HOME/embeddings``, else ``~/.cache/prefspace/embeddings``
    (:func:`prefspace.embed.default_cache_dir`)."""
    from ..embed.cache import default_cache_dir as library_default

    return library_default()


__all__ = [
    "DataArg",
    "PromptKey",
    "ChosenKey",
    "RejectedKey",
    "ResponseAKey",
    "ResponseBKey",
    "LabelKey",
    "MarginKey",
    "WeightKey",
    "SubsetKey",
    "IdKey",
    "OnBadRows",
    "Ties",
    "Dedupe",
    "Split",
    "Limit",
    "MaxTextChars",
    "DataColumns",
    "data_columns",
    "PoolColumns",
    "pool_columns",
    "ServerOptions",
    "server_options",
    "Strategy",
    "CandidatePairs",
    "candidate_pairs",
    "OptionGroup",
    "option_group",
    "examples",
    "default_cache_dir",
    "RenamedFlag",
    "CacheOpt",
    "ThroughCache",
    "out_option",
    "json_flag",
    "figure_format_option",
]
