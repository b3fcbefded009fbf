"""The encoder options of the commands, as two option groups (see :mod:`prefspace.cli._groups`).

- :class:`EncoderOptions` (``@encoder_options()``): the encoder of a command that embeds data
  itself (``embed``, ``train``, ``synth``): ``--encoder``, ``--cache``, ``--layout``,
  ``--encoder-backend``, the causal-LM and batching options, ``--text-features``, ``--long-texts``.
- :class:`ModelEncoderOptions` (``@model_encoder_options()``): a saved model's recorded encoder,
  overridden (``serve``, ``rerank``, ``score``, ``evaluate``), in the "Model's encoder" panel, and
  ``--cache`` (in the command's own options, where the group stands in its signature).

Both embed through ``--cache`` (:meth:`ThroughCache.cache_dir`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ._groups import option, option_group, panel_options
from ._options import CacheOpt, ThroughCache

__all__ = [
    "EncoderOptions",
    "ModelEncoderOptions",
    "encoder_options",
    "model_encoder_options",
    "EMBED_ONLY",
    "DEFAULT_ENCODER",
]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"

Encoder = option(
    str,
    "--encoder",
    "-e",
    help="Encoder name or path: all-MiniLM-L6-v2 (default), smollm2-135m, a folder, a .gguf file.",
)
Layout = option(
    str | None,
    "--layout",
    help="'separate' (prompt and response apart, concatenated) or 'joint' (one text). Default: the encoder's.",
)
EncoderBackend = option(
    str,
    "--encoder-backend",
    help="What runs the encoder: auto (from the name), sentence-transformers (torch), onnx or onnx-int8 "
    "(ONNX Runtime on the CPU, float32 or 8-bit; needs the onnx extra), causal-lm. Part of the fingerprint.",
)
Layer = option(int | None, "--layer", help="Causal LMs: hidden-state layer (-1 = last).")
Pooling = option(
    str | None, "--pooling", help="Causal LMs: 'last' token or 'mean' over the response."
)
MaxLength = option(
    int | None, "--max-length", help="Token limit per text (default: the encoder's).", min=8
)
EncoderDevice = option(str | None, "--device", help="cpu, cuda, ... (default: automatic).")
BatchSize = option(
    int | None, "--batch-size", help="Texts per forward pass (default: the encoder's).", min=1
)
TextFeatures = option(
    bool,
    "--text-features/--no-text-features",
    help="Also measure each response's text-feature block (length, lines, lists, code, headings, truncation) into the cache, as `prefspace train` uses it.",
)
LongTexts = option(
    str,
    "--long-texts",
    help="Responses longer than the encoder's window: truncate (keep the start) or windows (mean of up to 8 windows; sentence-transformers encoders).",
)


@dataclasses.dataclass(frozen=True)
class EncoderOptions(ThroughCache):
    """The encoder a command embeds with, and the cache it embeds through (``None``: the
    encoder's own setting, or the shared cache)."""

    encoder: Encoder = DEFAULT_ENCODER
    cache: CacheOpt = None
    layout: Layout = None
    encoder_backend: EncoderBackend = "auto"
    layer: Layer = None
    pooling: Pooling = None
    max_length: MaxLength = None
    device: EncoderDevice = None
    batch_size: BatchSize = None
    text_features: TextFeatures = True
    long_texts: LongTexts = "truncate"

    def encoder_kwargs(self) -> dict[str, Any]:
        """The options :func:`prefspace.embed.get_encoder` takes beside the name and backend:
        those that are set, ``text_features``, and ``long_texts`` unless it is the default.

        Example
        -------
        >>> EncoderOptions(layout="joint").encoder_kwargs()
        {'layout': 'joint', 'text_features': True}
        """
        names = ("layout", "layer", "pooling", "max_length", "device")
        options = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        options["text_features"] = self.text_features
        if self.long_texts != "truncate":
            options["long_texts"] = self.long_texts
        return options


# Options only `prefspace embed` offers (train and synth take the encoder's own settings).
EMBED_ONLY = ("layer", "pooling", "max_length", "device", "batch_size")

encoder_options = option_group(EncoderOptions, "encoding")
"""Give a command that embeds data the encoder options, collected into its ``encoding:
EncoderOptions`` parameter."""


_MODEL_PANEL = "Model's encoder"
_model_option = panel_options(_MODEL_PANEL)
ModelEncoder = _model_option(
    str | None,
    "--encoder",
    help="Encoder to embed with instead of the one recorded with the model (it must have the same "
    "fingerprint; a different one is refused).",
)
ModelBackend = _model_option(
    str | None,
    "--encoder-backend",
    help="Run the recorded encoder (or --encoder) with this backend: sentence-transformers, onnx, onnx-int8, "
    "causal-lm. It is part of the fingerprint, so a model trained with another backend is refused.",
)
ModelLayout = _model_option(
    str | None,
    "--layout",
    help="Override the encoder's layout ('separate' or 'joint'); it must match the model's.",
)
ModelDevice = _model_option(
    str | None,
    "--device",
    help="Run the encoder on this device ('cpu', 'cuda', ...); the rewards do not change.",
)
LengthControlled = _model_option(
    bool,
    "--length-controlled",
    help="Rewards without the model's text-feature block (length, structure), as "
    "ODIN's content head: a policy gains nothing from length alone (docs/models.md).",
)


@dataclasses.dataclass(frozen=True)
class ModelEncoderOptions(ThroughCache):
    """What the command line changes about a saved model's recorded encoder (``None``: as
    recorded), whether its rewards leave out the text-feature block, and the cache it embeds
    through (``None``: the shared one)."""

    encoder: ModelEncoder = None
    encoder_backend: ModelBackend = None
    layout: ModelLayout = None
    device: ModelDevice = None
    length_controlled: LengthControlled = False
    cache: CacheOpt = None

    def for_model(self, model_dir: Path) -> Any:
        """The encoder to embed with for the model in ``model_dir``: the recorded one with these
        overrides (:func:`prefspace.workflows.model_encoder`; the scorer checks the fingerprint)."""
        from ..workflows.scoring import model_encoder

        return model_encoder(
            model_dir,
            self.encoder,
            layout=self.layout,
            device=self.device,
            backend=self.encoder_backend,
        )

    def scorer(self, model_dir: Path, **options: Any) -> Any:
        """A :class:`prefspace.models.RewardScorer` for the model in ``model_dir`` with this
        encoder and ``length_controlled``, through :meth:`cache_dir`; ``options`` go to the
        scorer (``lru_size``)."""
        from ..models.scorer import RewardScorer

        return RewardScorer(
            model_dir,
            encoder=self.for_model(model_dir),
            cache=self.cache_dir(),
            length_controlled=self.length_controlled,
            **options,
        )


model_encoder_options = option_group(ModelEncoderOptions, "model_encoder")
"""Give a command that scores with a saved model the overrides of its encoder and ``--cache``,
collected into its ``model_encoder: ModelEncoderOptions`` parameter."""
