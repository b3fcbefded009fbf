"""Option types shared by every command that reads preference data.

Each name below is an ``Annotated`` type carrying its typer option, so a command reuses an
option with one line and gets the same flag name, default and help text everywhere::

    from ._options import DataArg, PromptKey, ChosenKey, ..., preference_load_kwargs

    @app.command()
    def embed(data: DataArg, prompt_key: PromptKey = None, chosen_key: ChosenKey = None, ...):
        dataset = load_preferences(data, **preference_load_kwargs(locals()))

A column key left at ``None`` means "use the default name" (``prompt``, ``chosen``, ...), so
:func:`preference_load_kwargs` passes on only the flags the user actually set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

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


PromptKey = Annotated[Optional[str], _key("--prompt-key", "the prompt", "prompt")]
ChosenKey = Annotated[Optional[str], _key("--chosen-key", "the preferred response", "chosen")]
RejectedKey = Annotated[Optional[str], _key("--rejected-key", "the dispreferred response", "rejected")]
ResponseAKey = Annotated[
    Optional[str], _key("--response-a-key", "the first response of a labelled pair", "response_a")
]
ResponseBKey = Annotated[
    Optional[str], _key("--response-b-key", "the second response of a labelled pair", "response_b")
]
LabelKey = Annotated[
    Optional[str], _key("--label-key", "which response is better: a/b/tie or 0/1", "label")
]
MarginKey = Annotated[Optional[str], _key("--margin-key", "an optional preference margin", "margin")]
WeightKey = Annotated[Optional[str], _key("--weight-key", "an optional per-pair weight", "weight")]
SubsetKey = Annotated[Optional[str], _key("--subset-key", "an optional subset name", "subset")]
IdKey = Annotated[Optional[str], _key("--id-key", "an optional unique pair id", "id")]

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
    Optional[str],
    typer.Option(
        "--split",
        help="Split to read from a DatasetDict directory or a Hugging Face dataset (e.g. 'train').",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]
Limit = Annotated[
    Optional[int],
    typer.Option(
        "--limit",
        min=1,
        help="Read at most this many pairs (the first ones in file order).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]

MaxTextChars = Annotated[
    Optional[int],
    typer.Option(
        "--max-text-chars",
        min=1,
        help="Longest prompt or response in characters; a longer one is a bad row (default: 100,000).",
        rich_help_panel=_PANEL,
        show_default=False,
    ),
]

# The parameter names above, as a command spells them, mapped to load_preferences' keywords
# (identical today; the mapping keeps the two free to differ).
_LOAD_KWARGS = {
    "prompt_key": "prompt_key",
    "chosen_key": "chosen_key",
    "rejected_key": "rejected_key",
    "response_a_key": "response_a_key",
    "response_b_key": "response_b_key",
    "label_key": "label_key",
    "margin_key": "margin_key",
    "weight_key": "weight_key",
    "subset_key": "subset_key",
    "id_key": "id_key",
    "on_bad_rows": "on_bad_rows",
    "ties": "ties",
    "dedupe": "dedupe",
    "split": "split",
    "limit": "limit",
    "max_text_chars": "max_text_chars",
}


# A saved model's encoder, overridden (serve, rerank, score, evaluate).
_MODEL_PANEL = "Model's encoder"
ModelEncoder = Annotated[
    Optional[str],
    typer.Option(
        "--encoder",
        help="Encoder to embed with instead of the one recorded with the model (it must have the same "
        "fingerprint; a different one is refused).",
        rich_help_panel=_MODEL_PANEL,
        show_default=False,
    ),
]
ModelLayout = Annotated[
    Optional[str],
    typer.Option("--layout", help="Override the encoder's layout ('separate' or 'joint'); it must match the model's.",
                 rich_help_panel=_MODEL_PANEL, show_default=False),
]
ModelBackend = Annotated[
    Optional[str],
    typer.Option(
        "--encoder-backend",
        help="Run the recorded encoder (or --encoder) with this backend: sentence-transformers, onnx, onnx-int8, "
        "causal-lm. It is part of the fingerprint, so a model trained with another backend is refused.",
        rich_help_panel=_MODEL_PANEL, show_default=False,
    ),
]
Device = Annotated[
    Optional[str],
    typer.Option("--device", help="Run the encoder on this device ('cpu', 'cuda', ...); the rewards do not change.",
                 rich_help_panel=_MODEL_PANEL, show_default=False),
]


def preference_load_kwargs(values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict:
    """Keyword arguments for :func:`prefspace.data.load_preferences` from a command's options.

    Pass a command's ``locals()`` (other names are ignored) or the options as keywords. Options
    left at ``None`` are dropped, so the loader's defaults apply.

    Example
    -------
    >>> preference_load_kwargs({"prompt_key": "question", "chosen_key": None, "encoder": "x"})
    {'prompt_key': 'question'}
    """
    merged = dict(values or {})
    merged.update(kwargs)
    return {
        target: merged[name]
        for name, target in _LOAD_KWARGS.items()
        if name in merged and merged[name] is not None
    }


def examples(*commands: str) -> str:
    """The epilog that ends a command's ``--help``: one example command line per paragraph.

    >>> examples("prefspace validate pairs.jsonl").splitlines()
    ['Example:', '', 'prefspace validate pairs.jsonl']
    """
    return ("Example:" if len(commands) == 1 else "Examples:") + "".join(f"\n\n{c}" for c in commands)


EncoderBackend = Annotated[
    str,
    typer.Option(
        "--encoder-backend",
        help="What runs the encoder: auto (from the name), sentence-transformers (torch), onnx or onnx-int8 "
        "(ONNX Runtime on the CPU, float32 or 8-bit; needs the onnx extra), causal-lm. Part of the fingerprint.",
    ),
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
    "preference_load_kwargs",
    "examples",
    "default_cache_dir",
    "EncoderBackend",
]
