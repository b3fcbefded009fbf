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
option is one field of :class:`DataColumns` and one entry of ``_COLUMN_OPTIONS``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

_DATA_HELP = (
    "Preference data: a .jsonl/.json/.parquet/.csv file (optionally .gz), a directory saved by "
    "`datasets`, or a Hugging Face dataset name (with --split)."
)
_PANEL = "Data columns"

DataArg = Annotated[str, typer.Argument(help=_DATA_HELP, show_default=False)]


def _key(flag: str, what: str, default: str) -> Any:
    return typer.Option(
        flag,
        help=f"Column holding {what} (default: {default!r}).",
        rich_help_panel=_PANEL,
        show_default=False,
    )


PromptKey = Annotated[str | None, _key("--prompt-key", "the prompt", "prompt")]
ChosenKey = Annotated[str | None, _key("--chosen-key", "the preferred response", "chosen")]
RejectedKey = Annotated[str | None, _key("--rejected-key", "the dispreferred response", "rejected")]
ResponseAKey = Annotated[
    str | None, _key("--response-a-key", "the first response of a labelled pair", "response_a")
]
ResponseBKey = Annotated[
    str | None, _key("--response-b-key", "the second response of a labelled pair", "response_b")
]
LabelKey = Annotated[
    str | None, _key("--label-key", "which response is better: a/b/tie or 0/1", "label")
]
MarginKey = Annotated[str | None, _key("--margin-key", "an optional preference margin", "margin")]
WeightKey = Annotated[str | None, _key("--weight-key", "an optional per-pair weight", "weight")]
SubsetKey = Annotated[str | None, _key("--subset-key", "an optional subset name", "subset")]
IdKey = Annotated[str | None, _key("--id-key", "an optional unique pair id", "id")]

# responses grouped by prompt (select, label): one row per response, prompts joined on a key
PoolPromptKey = Annotated[str, typer.Option("--prompt-key", help="Column holding the prompt.")]
PoolResponseKey = Annotated[
    str,
    typer.Option("--response-key", help="Column holding a response (or '<key>s' a list of them)."),
]
PoolIdKey = Annotated[
    str | None,
    typer.Option(
        "--id-key",
        help="Column holding a unique response id (default: the row number).",
        show_default=False,
    ),
]
PoolJoinKey = Annotated[
    str, typer.Option("--join-key", help="Prompt id column shared by POOL and --prompts.")
]

OnBadRows = Annotated[
    Literal["error", "skip"],
    typer.Option(
        "--on-bad-rows",
        help="What to do with a malformed row: 'error' stops with its line number; 'skip' drops it and counts why.",
        rich_help_panel=_PANEL,
    ),
]
Ties = Annotated[
    Literal["drop", "keep"],
    typer.Option(
        "--ties",
        help="Labelled pairs marked as a tie: 'drop' them (reported) or 'keep' them (flagged in dataset.tie).",
        rich_help_panel=_PANEL,
    ),
]
Dedupe = Annotated[
    bool,
    typer.Option(
        "--dedupe",
        help="Drop exact duplicate pairs (same prompt, chosen and rejected), keeping the first. "
        "By default they are kept (the same comparison labelled twice is data) and counted.",
        rich_help_panel=_PANEL,
    ),
]
Split = Annotated[
    str | None,
    typer.Option(
        "--split",
        help="Split to read from a DatasetDict directory or a Hugging Face dataset (e.g. 'train').",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        help="Read at most this many pairs (the first ones in file order).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]

MaxTextChars = Annotated[
    int | None,
    typer.Option(
        "--max-text-chars",
        min=1,
        help="Longest prompt or response in characters; a longer one is a bad row (default: 100,000).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]


@dataclasses.dataclass(frozen=True)
class DataColumns:
    """The data-column options of a command, as :func:`prefspace.data.load_preferences` takes
    them (``None``: the loader's default)."""

    prompt_key: str | None = None
    chosen_key: str | None = None
    rejected_key: str | None = None
    response_a_key: str | None = None
    response_b_key: str | None = None
    label_key: str | None = None
    margin_key: str | None = None
    weight_key: str | None = None
    subset_key: str | None = None
    id_key: str | None = None
    on_bad_rows: str | None = None
    ties: str | None = None
    dedupe: bool | None = None
    split: str | None = None
    limit: int | None = None
    max_text_chars: int | None = None

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


# Each field of DataColumns as a command option: (annotated type, default).
_COLUMN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "prompt_key": (PromptKey, None),
    "chosen_key": (ChosenKey, None),
    "rejected_key": (RejectedKey, None),
    "response_a_key": (ResponseAKey, None),
    "response_b_key": (ResponseBKey, None),
    "label_key": (LabelKey, None),
    "margin_key": (MarginKey, None),
    "weight_key": (WeightKey, None),
    "subset_key": (SubsetKey, None),
    "id_key": (IdKey, None),
    "on_bad_rows": (OnBadRows, "error"),
    "ties": (Ties, "drop"),
    "dedupe": (Dedupe, False),
    "split": (Split, None),
    "limit": (Limit, None),
    "max_text_chars": (MaxTextChars, None),
}


def data_columns(*, exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Give a command every data-column option at once, collected into its ``columns`` parameter.

    The decorated function declares ``columns: DataColumns``; the command line sees one option
    per field of :class:`DataColumns` (minus ``exclude``, for options a command has no use for),
    in the "Data columns" panel of ``--help``. Put it under ``@app.command()``.
    """
    unknown = set(exclude) - set(_COLUMN_OPTIONS)
    if unknown:
        raise ValueError(f"not data-column options: {sorted(unknown)}")

    def decorate(func: Callable) -> Callable:
        # typer reads the new signature as is, so the command's own (postponed) annotations are
        # resolved here; DataColumns resolves even where the command's module imports it locally
        signature = inspect.signature(func, eval_str=True, locals={"DataColumns": DataColumns})
        if "columns" not in signature.parameters:
            raise TypeError(
                f"{func.__name__} needs a 'columns: DataColumns' parameter for @data_columns"
            )
        names = [n for n in _COLUMN_OPTIONS if n not in exclude]
        params = [p for p in signature.parameters.values() if p.name != "columns"]
        params += [
            inspect.Parameter(
                n,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_COLUMN_OPTIONS[n][0],
                default=_COLUMN_OPTIONS[n][1],
            )
            for n in names
        ]

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            columns = DataColumns(**{n: kwargs.pop(n) for n in names if n in kwargs})
            return func(*args, columns=columns, **kwargs)

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer must read the new signature, not the function's own
        return command

    return decorate


# A saved model's encoder, overridden (serve, rerank, score, evaluate).
_MODEL_PANEL = "Model's encoder"
ModelEncoder = Annotated[
    str | None,
    typer.Option(
        "--encoder",
        help="Encoder to embed with instead of the one recorded with the model (it must have the same "
        "fingerprint; a different one is refused).",
        rich_help_panel=_MODEL_PANEL,
        show_default=False,
    ),
]
ModelLayout = Annotated[
    str | None,
    typer.Option(
        "--layout",
        help="Override the encoder's layout ('separate' or 'joint'); it must match the model's.",
        rich_help_panel=_MODEL_PANEL,
        show_default=False,
    ),
]
ModelBackend = Annotated[
    str | None,
    typer.Option(
        "--encoder-backend",
        help="Run the recorded encoder (or --encoder) with this backend: sentence-transformers, onnx, onnx-int8, "
        "causal-lm. It is part of the fingerprint, so a model trained with another backend is refused.",
        rich_help_panel=_MODEL_PANEL,
        show_default=False,
    ),
]
LengthControlled = Annotated[
    bool,
    typer.Option(
        "--length-controlled",
        help="Rewards without the model's text-feature block (length, structure), as "
        "ODIN's content head: a policy gains nothing from length alone (docs/models.md).",
        rich_help_panel=_MODEL_PANEL,
    ),
]
Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Run the encoder on this device ('cpu', 'cuda', ...); the rewards do not change.",
        rich_help_panel=_MODEL_PANEL,
        show_default=False,
    ),
]


def examples(*commands: str) -> str:
    """The epilog that ends a command's ``--help``: one example command line per paragraph.

    >>> examples("prefspace validate pairs.jsonl").splitlines()
    ['Example:', '', 'prefspace validate pairs.jsonl']
    """
    return ("Example:" if len(commands) == 1 else "Examples:") + "".join(
        f"\n\n{c}" for c in commands
    )


EncoderBackend = Annotated[
    str,
    typer.Option(
        "--encoder-backend",
        help="What runs the encoder: auto (from the name), sentence-transformers (torch), onnx or onnx-int8 "
        "(ONNX Runtime on the CPU, float32 or 8-bit; needs the onnx extra), causal-lm. Part of the fingerprint.",
    ),
]


CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="Embedding cache folder (default: $PREFSPACE_CACHE, else $PREFSPACE_HOME/embeddings, "
        "else ~/.cache/prefspace/embeddings; every command shares it).",
        show_default=False,
    ),
]


def renamed(old_flag: str, new_flag: str, old_value: Any, new_value: Any) -> Any:
    """A flag renamed for one vocabulary across commands: the old name still works for one
    release, with a warning on stderr; its value wins when it was given."""
    if old_value is None:
        return new_value
    typer.echo(
        f"warning: {old_flag} is deprecated and goes in the next release; use {new_flag}.", err=True
    )
    return old_value


def deprecated_option(flags: str, new_flag: str, kind: Any) -> Any:
    """The hidden option that keeps an old flag name working (see :func:`renamed`)."""
    names = flags.split("/")
    return Annotated[
        kind | None,
        typer.Option(*names, hidden=True, help=f"Deprecated: use {new_flag}.", show_default=False),
    ]


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
    "ModelEncoder",
    "ModelLayout",
    "ModelBackend",
    "Device",
    "MaxTextChars",
    "DataColumns",
    "data_columns",
    "examples",
    "default_cache_dir",
    "renamed",
    "deprecated_option",
    "CacheOpt",
    "EncoderBackend",
]
