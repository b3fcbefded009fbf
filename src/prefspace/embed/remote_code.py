"""Refuse model folders that need remote code: prefspace never runs code that comes with a model.

A Hugging Face model folder whose ``config.json`` (or ``tokenizer_config.json``) has an
``auto_map`` names Python files of its own that ``transformers`` would import and run
(``trust_remote_code=True``). prefspace does not pass that flag, so such a folder cannot load;
saying so when the encoder is made (a cheap read of two JSON files) turns what would be a
``ValueError`` deep inside ``transformers`` at the first ``encode``, in a server after it has
started, into a clear :class:`~prefspace.exceptions.ConfigError` before anything loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["refuse_remote_code", "remote_code_error"]

_FILES = ("config.json", "tokenizer_config.json")


def remote_code_error(model: str, detail: str = "") -> ConfigError:
    """The error for a model that needs remote code."""
    return ConfigError(
        f"{model} needs remote code (its own Python files, {detail or 'an auto_map entry'}), which prefspace "
        "never runs. Use a model that the installed transformers supports natively."
    )


def refuse_remote_code(folder: Path | None, model: str) -> None:
    """Raise ConfigError when the local model ``folder`` declares code of its own (``auto_map``)."""
    if folder is None or not folder.is_dir():
        return
    for name in _FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            raise ConfigError(
                f"{path}: not readable JSON; the model folder {model} is damaged."
            ) from None
        if isinstance(cfg, dict) and cfg.get("auto_map"):
            raise remote_code_error(model, f"auto_map in {name}")
