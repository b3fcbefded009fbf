"""ONNX Runtime encoders for sentence-transformers models: ``"onnx"`` (fp32) and ``"onnx-int8"``.

The same model files as the default ``sentence-transformers`` backend (all-MiniLM-L6-v2 by
default), run by ONNX Runtime instead of torch:

``"onnx"``
    float32. The transformer is exported once with ``torch.onnx.export`` (eager attention,
    opset 17) and rewritten by ONNX Runtime's transformer optimizer (one fused ``Attention`` op
    per layer, fused embedding / skip layer norms, bias + GELU). Same numbers as torch up to
    float32 rounding.
``"onnx-int8"``
    the fp32 graph above with every ``MatMul`` outside attention replaced by ONNX Runtime's
    ``MatMulNBits`` with 8-bit weights (symmetric, one scale per block of 32 input channels)
    and ``accuracy_level=4``: the activations are quantized to int8 per block of 32 as well, and
    the products run on int8 dot-product instructions (AVX-512 VNNI / AVX-VNNI on x86). The fine
    blocks are what keep the vectors close to torch's (mean cosine 0.9997 on HH texts, see
    docs/benchmarks.md); per-tensor dynamic quantization (``quantize_dynamic``) loses much more.

Both cut the batches by a token budget (``max_batch_tokens`` padded tokens; texts sorted by
length), so short texts are not padded to the longest of a fixed-size batch.

The exported graph is kept in ``artifact_dir`` (default ``$PREFSPACE_HOME/onnx``, else
``~/.cache/prefspace/onnx``), named by the model files' hash and the recipe, so it is built once
per machine (a few seconds) and rebuilt when either changes. The fingerprint holds the backend and
its numerics (precision, quantization recipe), so a cache never mixes vectors of two backends.

Threads: ``n_jobs`` (or ``PREFSPACE_NUM_THREADS``, ``--threads``) sets ONNX Runtime's intra-op
threads, with the same meaning as everywhere in prefspace (see :mod:`prefspace._threads`).

What this module does not do: models other than ``Transformer -> Pooling (mean, cls or max)
[-> Normalize]`` (other sentence-transformers pipelines raise ConfigError; use the torch backend),
GPU execution, or training.

Needs the ``onnx`` extra: ``pip install 'prefspace[onnx]'`` (onnxruntime, onnx, onnx-ir).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._threads import resolve_n_jobs
from .._validation import check_whole
from ..exceptions import ConfigError
from .encoder import hash_model_files
from .sentence_transformer import DEFAULT_MODEL, SentenceTransformerEncoder

logger = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnx", "onnx-int8")

#: Bumped when the export, fusion or quantization recipe changes: the artifacts and the
#: fingerprints change with it.
RECIPE_VERSION = 1

#: What each backend does to the numbers (hashed into the fingerprint).
NUMERICS = {
    "onnx": {
        "runtime": "onnxruntime",
        "precision": "float32",
        "graph": "torch.onnx.export(opset=17, attention=eager) + onnxruntime bert fusion",
        "recipe": RECIPE_VERSION,
    },
    "onnx-int8": {
        "runtime": "onnxruntime",
        "precision": "int8",
        "graph": "torch.onnx.export(opset=17, attention=eager) + onnxruntime bert fusion",
        "quantization": "MatMulNBits(bits=8, block_size=32, symmetric, accuracy_level=4) on MatMul outside attention",
        "recipe": RECIPE_VERSION,
    },
}

_OPSET = 17
_INT8_BLOCK = 32


def default_artifact_dir() -> Path:
    """Where exported graphs live: ``$PREFSPACE_HOME/onnx`` (default ``~/.cache/prefspace/onnx``)."""
    home = os.environ.get("PREFSPACE_HOME")
    return (
        Path(home).expanduser() / "onnx" if home else Path("~/.cache/prefspace/onnx").expanduser()
    )


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(
            "the 'onnx' and 'onnx-int8' encoder backends need ONNX Runtime: pip install 'prefspace[onnx]' "
            "(onnxruntime, onnx, onnx-ir), or use the default torch backend."
        ) from exc
    return onnxruntime


def token_budget_batches(lengths, max_tokens: int, max_texts: int) -> list[np.ndarray]:
    """Indices grouped into batches, longest texts first, each at most ``max_tokens`` padded tokens.

    A batch holds texts of similar length (they are sorted), at most ``max_texts`` of them, and
    ``len(batch) * longest <= max_tokens`` unless one text alone is longer. Deterministic: ties
    keep their input order.

    Example
    -------
    >>> [b.tolist() for b in token_budget_batches([5, 100, 7, 98], max_tokens=200, max_texts=64)]
    [[1, 3], [2, 0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = int(lengths[order[start]])
        n = max(1, min(max_texts, max_tokens // max(width, 1)))
        batches.append(order[start : start + n])
        start += n
    return batches


class OnnxEncoder(SentenceTransformerEncoder):
    """A sentence-transformers model run by ONNX Runtime, in float32 or int8.

    Parameters
    ----------
    model : str
        ``"all-MiniLM-L6-v2"`` (bundled, offline) or a local sentence-transformers folder.
    backend : {"onnx", "onnx-int8"}
    layout, max_length, normalize, revision
        As for :class:`SentenceTransformerEncoder`.
    batch_size : int
        Most texts in one forward pass (and texts per call when the pipeline batches).
    max_batch_tokens : int
        Most padded tokens in one forward pass (the token budget); 4096 measured best on HH
        texts on 2 cores (docs/benchmarks.md).
    n_jobs : int, optional
        Threads: ONNX Runtime's intra-op pool (set when the session is created) and torch/BLAS
        while encoding; None: ``PREFSPACE_NUM_THREADS`` if set, else each library's default (one
        per physical core); -1 all cores. Not in the fingerprint or the config.
    artifact_dir : str or Path, optional
        Where the exported graph is kept (default :func:`default_artifact_dir`).
    device : str, optional
        Only ``"cpu"`` (or None).

    Example
    -------
    >>> enc = OnnxEncoder(backend="onnx-int8")
    >>> enc.encode(["a cat", "a dog"]).shape
    (2, 384)
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        backend: str = "onnx",
        layout: str = "separate",
        max_length: int | None = None,
        normalize: bool = False,
        revision: str | None = None,
        device: str | None = None,
        batch_size: int = 256,
        max_batch_tokens: int = 4096,
        n_jobs: int | None = None,
        artifact_dir: str | os.PathLike | None = None,
        long_texts: str = "truncate",
        max_windows: int = 8,
    ) -> None:
        if backend not in ONNX_BACKENDS:
            raise ConfigError(
                f"backend must be one of {', '.join(map(repr, ONNX_BACKENDS))}; got {backend!r}."
            )
        if device not in (None, "cpu"):
            raise ConfigError(
                f"the {backend!r} backend runs on the CPU only; got device={device!r}. "
                "Use the default torch backend on a GPU."
            )
        check_whole(max_batch_tokens, name="max_batch_tokens")
        super().__init__(
            model,
            layout=layout,
            max_length=max_length,
            normalize=normalize,
            revision=revision,
            device=device,
            batch_size=batch_size,
            n_jobs=n_jobs,
            long_texts=long_texts,
            max_windows=max_windows,
        )
        self.backend = backend
        self.max_batch_tokens = max_batch_tokens
        self.artifact_dir = Path(artifact_dir).expanduser() if artifact_dir is not None else None
        if self._local is None:
            raise ConfigError(
                f"the {backend!r} backend needs the model's files on this machine; {model!r} is not a local folder "
                "nor in the Hugging Face cache. Pass a folder, or use the default torch backend."
            )
        self._pipeline = _read_pipeline(self._local)
        self._tok = None
        self._session = None

    # -- identity ------------------------------------------------------------------------------
    _config_fields: tuple[str, ...] = (
        *SentenceTransformerEncoder._config_fields,
        "max_batch_tokens",
    )

    def _identity(self) -> dict:
        identity = super()._identity()
        identity["numerics"] = NUMERICS[self.backend]
        return identity

    @property
    def dim(self) -> int:
        return int(self._pipeline["dim"])

    # -- the graph ---------------------------------------------------------------------------
    @property
    def artifact_path(self) -> Path:
        """The exported (and, for ``onnx-int8``, quantized) graph of this model."""
        folder = self.artifact_dir or default_artifact_dir()
        assert self._local is not None  # __init__ refuses a model without local files
        return folder / f"{hash_model_files(self._local)}-{self.backend}-r{RECIPE_VERSION}.onnx"

    @property
    def tokenizer(self):
        if self._tok is None:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(str(self._local), revision=self.revision)
        return self._tok

    @property
    def session(self):
        """The ONNX Runtime inference session (exports the graph first if it is not there yet)."""
        if self._session is None:
            ort = _require_onnxruntime()
            path = self.artifact_path
            if not path.is_file():
                export_graph(self._local, path, int8=self.backend == "onnx-int8")
            options = ort.SessionOptions()
            threads = resolve_n_jobs(self.n_jobs)
            if threads is not None:
                options.intra_op_num_threads = int(threads)
                options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            self._inputs = {i.name for i in self._session.get_inputs()}
        return self._session

    @property
    def st(self):
        raise ConfigError(
            f"the {self.backend!r} backend has no torch SentenceTransformer; use "
            "SentenceTransformerEncoder for one."
        )

    def load(self) -> OnnxEncoder:
        _ = self.tokenizer, self.session  # load both now
        return self

    def _tokenizer_and_limit(self):
        return self.tokenizer, self._limit()

    def _limit(self) -> int:
        limit = self._effective_max_length()
        if limit is None:
            limit = min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 512)
        return int(limit)

    # -- the forward pass ----------------------------------------------------------------------
    def _run(self, texts: list[str]) -> np.ndarray:
        tok, session = self.tokenizer, self.session
        if self._pipeline["lower_case"]:
            texts = [t.lower() for t in texts]
        limit = self._limit()
        ids = tok(texts, add_special_tokens=True, truncation=True, max_length=limit, verbose=False)[
            "input_ids"
        ]
        lengths = [len(x) for x in ids]
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in token_budget_batches(
            lengths, self.max_batch_tokens, max(1, self.default_batch_size)
        ):
            width = max(lengths[i] for i in rows)
            input_ids = np.full((len(rows), width), pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : lengths[i]] = ids[i]
                mask[r, : lengths[i]] = 1
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            hidden = session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            out[rows] = _pool(hidden, mask, self._pipeline["pooling"])
        if self._pipeline["normalize"] or self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    m = mask[..., None].astype(hidden.dtype)
    if mode == "max":
        return np.where(m > 0, hidden, -1e9).max(axis=1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def _read_pipeline(folder: Path) -> dict:
    """Pooling mode, normalisation, lower-casing and dimension of a Transformer/Pooling/Normalize model."""
    modules_path = folder / "modules.json"
    if not modules_path.is_file():
        raise ConfigError(
            f"{folder}: no modules.json; the ONNX backends need a sentence-transformers folder."
        )
    modules = json.loads(modules_path.read_text())
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]):
        raise ConfigError(
            f"{modules_path}: the ONNX backends run Transformer -> Pooling [-> Normalize] models; this one is "
            f"{' -> '.join(kinds)}. Use the default torch backend (--encoder-backend sentence-transformers)."
        )
    pool_cfg = json.loads(
        (folder / modules[1].get("path", "1_Pooling") / "config.json").read_text()
    )
    modes = [k for k, v in pool_cfg.items() if k.startswith("pooling_mode") and v is True]
    names = {
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_cls_token": "cls",
        "pooling_mode_max_tokens": "max",
    }
    if len(modes) != 1 or modes[0] not in names:
        raise ConfigError(
            f"{folder}: pooling {modes} is not supported by the ONNX backends (mean, cls or max); "
            "use the default torch backend."
        )
    st_cfg_path = folder / "sentence_bert_config.json"
    st_cfg = json.loads(st_cfg_path.read_text()) if st_cfg_path.is_file() else {}
    return {
        "pooling": names[modes[0]],
        "normalize": kinds[2:] == ["Normalize"],
        "lower_case": bool(st_cfg.get("do_lower_case", False)),
        "dim": int(pool_cfg["word_embedding_dimension"]),
    }


def _import_quantizer():
    """ONNX Runtime's MatMulNBits quantizer, imported without its side effects on logging.

    Its module calls ``logging.basicConfig(level=INFO)`` on import (a handler on the root logger
    that would print every later log record of the application); that is undone here, and its
    own per-node INFO messages are silenced.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    return MatMulNBitsQuantizer


def export_graph(folder: Path, path: Path, *, int8: bool) -> Path:
    """Export the transformer of ``folder`` to ONNX at ``path`` (fused; int8 when asked), atomically.

    The graph maps ``input_ids`` and ``attention_mask`` (int64, batch x tokens) to the last
    hidden state (float32, batch x tokens x hidden); pooling is done by :class:`OnnxEncoder`.
    """
    import tempfile

    import onnx
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.from_pretrained(str(folder))
    logger.info("exporting %s to ONNX (%s) at %s", folder, "int8" if int8 else "fp32", path)
    model = AutoModel.from_pretrained(
        str(folder), attn_implementation="eager", dtype=torch.float32
    ).eval()
    uses_token_types = (
        getattr(cfg, "type_vocab_size", 0)
        and "token_type_ids" in model.forward.__code__.co_varnames
    )

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            kw = {"token_type_ids": torch.zeros_like(input_ids)} if uses_token_types else {}
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, **kw
            ).last_hidden_state

    # a padded example row, so the traced graph keeps the attention mask
    ids = torch.full((2, 8), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.inference_mode(), warnings.catch_warnings():
            # the tracer's notes on shape-dependent Python branches and the legacy exporter's
            # deprecation notice: expected here (the graph is checked against torch in the tests)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model),
                (ids, mask),
                str(raw),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                opset_version=_OPSET,
                dynamo=False,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "last_hidden_state": {0: "batch", 1: "tokens"},
                },
            )
        kind = (
            "bert"
            if cfg.model_type in ("bert", "roberta", "xlm-roberta", "camembert", "distilbert")
            else None
        )
        if kind is not None:
            opt = optimize_model(
                str(raw),
                model_type=kind,
                num_heads=int(cfg.num_attention_heads),
                hidden_size=int(cfg.hidden_size),
                opt_level=1,
            )
            logger.info(
                "ONNX fusion: %s",
                {k: v for k, v in opt.get_fused_operator_statistics().items() if v},
            )
            graph = opt.model
        else:
            graph = onnx.load(str(raw))
        if int8:
            MatMulNBitsQuantizer = _import_quantizer()
            quantizer = MatMulNBitsQuantizer(
                graph, bits=8, block_size=_INT8_BLOCK, is_symmetric=True, accuracy_level=4
            )
            quantizer.process()
            graph = quantizer.model.model
        with atomic_path(path) as out:
            onnx.save(graph, str(out))
    return path


__all__ = [
    "OnnxEncoder",
    "ONNX_BACKENDS",
    "NUMERICS",
    "export_graph",
    "token_budget_batches",
    "default_artifact_dir",
]
