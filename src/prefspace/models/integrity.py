"""Checks a saved model must pass before it is used: ``model.json``'s fields, confined paths, weights.

``load_model`` (and so the reward server, ``score``, ``evaluate``, ``select``, ``rerank`` and
``info``) refuses a model directory with :class:`~prefspace.exceptions.FormatError` naming the
file and what is wrong, instead of loading something that fails or gives wrong rewards later:

- ``model.json``: ``class`` a known name, ``params`` and ``state`` objects, ``n_features_in`` an
  integer >= 1, ``encoder`` null or ``{"config": {...}, "fingerprint": "..."}``;
- paths: ``model.json`` itself, ``weights``, ``files`` and ``members`` are relative paths to
  files (members: folders) strictly inside the model folder: no absolute path, no ``..``, no
  NUL character, no symbolic link leading out, and no member that is the folder itself (which
  would recurse forever);
- digests: ``files_sha256`` records the sha256 of every file the model reads (the weights, the
  extra text files, each member's ``model.json``); a file whose bytes differ, or one without a
  recorded digest (a model saved before digests covered every file), is refused. The digests
  are checked on the bytes that are then parsed, so a file cannot change in between;
- weights: every tensor of a float dtype (float16/32/64), every value finite, the tensors a
  class needs present with shapes that agree with each other and with ``n_features_in``, no
  tensor the class does not know; LightGBM text that LightGBM can read, with ``n_features_in``
  features; finally a probe prediction on two rows must give two finite rewards.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FormatError

__all__ = [
    "check_header",
    "confined",
    "check_arrays",
    "file_digest",
    "bytes_digest",
    "read_verified",
    "check_lightgbm_text",
    "check_loaded",
]

HEADER = "model.json"
_MLP_CLASSES = ("BradleyTerryMLP", "PreferenceClassifierMLP")
_HIDDEN = re.compile(r"^hidden\.(\d+)\.(weight|bias)$")
_ENCODER_KEYS = {"config", "fingerprint"}


def _bad(directory: Path, message: str) -> FormatError:
    return FormatError(
        f"{directory / HEADER}: {message} The model folder is damaged or was edited; save the model again."
    )


def check_header(directory: Path, header: dict) -> None:
    """Check the types of ``model.json``'s fields (the class name is checked by the loader)."""
    for key in ("params", "state", "training_metrics", "metrics"):
        if key in header and header[key] is not None and not isinstance(header[key], dict):
            raise _bad(directory, f"{key!r} must be an object; found {_type(header[key])}.")
    n = header.get("n_features_in")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _bad(
            directory,
            f"'n_features_in' must be an integer >= 1 (the feature rows' width); found {n!r}.",
        )
    if (
        "weights" in header
        and header["weights"] is not None
        and not isinstance(header["weights"], str)
    ):
        raise _bad(directory, f"'weights' must be a file name; found {_type(header['weights'])}.")
    for key in ("files", "members"):
        if key in header and not (
            isinstance(header[key], list) and all(isinstance(x, str) for x in header[key])
        ):
            raise _bad(
                directory, f"{key!r} must be a list of relative paths; found {_type(header[key])}."
            )
    enc = header.get("encoder")
    if enc is not None:
        if not isinstance(enc, dict):
            raise _bad(
                directory,
                f"'encoder' must be null or an object with 'config' and 'fingerprint'; found {_type(enc)}.",
            )
        extra = sorted(set(enc) - _ENCODER_KEYS)
        if extra:
            raise _bad(
                directory,
                f"'encoder' has unknown key(s) {', '.join(map(repr, extra))}; it holds only 'config' and 'fingerprint'.",
            )
        if not isinstance(enc.get("config"), dict) or not isinstance(enc.get("fingerprint"), str):
            raise _bad(
                directory, "'encoder' must hold a 'config' object and a 'fingerprint' string."
            )


def confined(directory: Path, rel: Any, what: str, *, folder: bool = False) -> Path:
    """``directory / rel`` after checking that ``rel`` names something strictly inside ``directory``."""
    if not isinstance(rel, str) or not rel.strip():
        raise _bad(directory, f"{what} must be a non-empty relative path; found {rel!r}.")
    if "\x00" in rel:
        raise _bad(directory, f"{what} {rel[:80]!r} holds a NUL character; no file name does.")
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts or rel.startswith("~"):
        raise _bad(
            directory,
            f"{what} {rel!r} points outside the model folder; a model folder may only "
            "reference files inside itself.",
        )
    full = directory / path
    root = directory.resolve()
    resolved = full.resolve()
    if resolved == root or root not in resolved.parents:
        where = (
            "is the model folder itself"
            if resolved == root
            else "leads outside the model folder (a link)"
        )
        raise _bad(
            directory,
            f"{what} {rel!r} {where}; a model folder may only reference files inside itself.",
        )
    if folder and not full.is_dir():
        raise _bad(directory, f"{what} {rel!r} is not a folder inside the model folder.")
    if not folder and not full.is_file():
        raise _bad(directory, f"{what} {rel!r} is not a file inside the model folder.")
    return full


def check_arrays(
    directory: Path, class_name: str, header: dict, arrays: dict, weights_file: str
) -> None:
    """Dtypes, finiteness and shapes of the weight tensors of a ``class_name`` model."""
    where = directory / weights_file
    for name, arr in arrays.items():
        if arr.dtype.kind != "f":
            raise FormatError(
                f"{where}: tensor {name!r} has dtype {arr.dtype}; weights are floating point "
                "(float32 or float64). The weights file is damaged or was edited; save the model again."
            )
        if not np.isfinite(arr).all():
            raise FormatError(
                f"{where}: tensor {name!r} holds NaN or infinite values; its rewards would be NaN. "
                "The model diverged or the file was damaged; train and save it again."
            )
    d = header["n_features_in"]
    expected = _expected_shapes(class_name, arrays, d)
    if expected is None:
        return
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise FormatError(
            f"{where}: {class_name} needs tensors {', '.join(sorted(expected))}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(extra)}" if extra else "")
            + ". The weights file does not belong to this model.json; save the model again."
        )
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != shape:
            raise FormatError(
                f"{where}: tensor {name!r} has shape {tuple(arrays[name].shape)} but {class_name} with "
                f"n_features_in={d} (model.json) needs {shape}. The weights do not match model.json; save the model again."
            )


def bytes_digest(data: bytes) -> str:
    """The sha256 of a file's bytes, as ``model.json`` records it (``files_sha256``)."""
    return hashlib.sha256(data).hexdigest()


def file_digest(text: str) -> str:
    """The sha256 of a text file's UTF-8 bytes (``bytes_digest`` of what ``save_model`` writes)."""
    return bytes_digest(text.encode("utf-8"))


def read_verified(directory: Path, header: dict, rel: str, what: str) -> bytes:
    """The bytes of ``rel`` (confined to ``directory``) after checking them against ``files_sha256``.

    The digest is checked on the very bytes the caller then parses, so the file cannot change
    between the check and the use. A file without a recorded digest is refused: the models
    that lack one were saved before every file carried a digest, or were edited.
    """
    path = confined(directory, rel, what)
    digests = header.get("files_sha256")
    if not isinstance(digests, dict) or not isinstance(digests.get(rel), str):
        found = (
            "no 'files_sha256'" if digests is None else f"no sha256 for {rel!r} in 'files_sha256'"
        )
        raise FormatError(
            f"{directory / HEADER}: records {found}, so {rel!r} cannot be checked. Models saved by "
            f"prefspace {header.get('prefspace_version', '?')} before every file carried a digest "
            "(or edited by hand) are refused; train and save the model again with this prefspace."
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    if bytes_digest(data) != digests[rel]:
        raise FormatError(
            f"{path}: its content differs from the one saved (sha256 mismatch): the file "
            "is damaged, truncated or was edited. Save the model again."
        )
    return data


def check_lightgbm_text(path: Path, text: str, n_features: int) -> None:
    """Check the structure of a LightGBM model text before LightGBM parses it.

    LightGBM's own parser aborts the whole process on some truncated files, so the header's
    ``tree_sizes`` (the byte length of each tree) must add up, each tree must start where they
    say, the trees must end with ``end of trees``, and ``max_feature_idx + 1`` must equal
    ``n_features_in``.
    """
    fix = "The LightGBM model file is damaged or truncated; save the model again."
    head, sep, _ = text.partition("\nTree=0\n")
    fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    if not head.startswith("tree\n") or not sep or "tree_sizes" not in fields:
        raise FormatError(
            f"{path}: not a LightGBM model text (no header with tree_sizes, or no Tree=0). {fix}"
        )
    try:
        sizes = [int(x) for x in fields["tree_sizes"].split()]
        max_feature = int(fields.get("max_feature_idx", "-1"))
    except ValueError:
        raise FormatError(
            f"{path}: the header's tree_sizes or max_feature_idx is not a number. {fix}"
        ) from None
    data = text.encode("utf-8")
    offset = len(head.encode("utf-8")) + 1  # the tree blocks start after the header's last newline
    for i, size in enumerate(sizes):
        if size <= 0 or not data.startswith(f"Tree={i}\n".encode(), offset):
            raise FormatError(f"{path}: tree {i} is not where the header's tree_sizes says. {fix}")
        offset += size
    if not data[offset:].lstrip(b"\n").startswith(b"end of trees"):
        raise FormatError(
            f"{path}: the trees do not end with 'end of trees' where tree_sizes says (truncated?). {fix}"
        )
    if max_feature + 1 != n_features:
        raise FormatError(
            f"{path}: the trees use {max_feature + 1} features but model.json says n_features_in="
            f"{n_features}. {fix}"
        )


def _expected_shapes(class_name: str, arrays: dict, d: int) -> dict | None:
    if class_name == "BradleyTerryLinear":
        # "scale" (the standardisation, for its prior) is absent from files saved before it was kept
        return {"coef": (d,), "scale": (d,)} if "scale" in arrays else {"coef": (d,)}
    if class_name not in _MLP_CLASSES:
        return None
    layers = sorted({int(m.group(1)) for m in map(_HIDDEN.match, arrays) if m})
    if layers != list(range(len(layers))):
        layers = list(range(len(layers)))  # a gap is reported as a missing tensor below
    k = int(arrays["text.coef"].shape[0]) if "text.coef" in arrays else 0
    shapes: dict[str, tuple[int, ...]] = {"input_mean": (d - k,), "input_scale": (d - k,)}
    if "text.coef" in arrays:  # the text-feature block's linear offset (issue 20)
        shapes.update(
            {"text.coef": (k,), "text.intercept": (1,), "text.offset": (1,), "text.residual": (k,)}
        )
    prev = d - k
    for i in layers:
        w = arrays.get(f"hidden.{i}.weight")
        width = int(w.shape[0]) if w is not None and w.ndim == 2 else -1
        shapes[f"hidden.{i}.weight"] = (width, prev)
        shapes[f"hidden.{i}.bias"] = (width,)
        prev = width
    shapes["output.weight"] = (1, prev)
    shapes["output.bias"] = (1,)
    return shapes


def check_loaded(directory: Path, model: Any, header: dict, width: int | None) -> None:
    """The width the weights take (``width``) agrees with ``n_features_in`` and the loaded model
    predicts finite rewards."""
    d = header["n_features_in"]
    got = width
    if got is not None and int(got) != d:
        raise _bad(directory, f"'n_features_in' is {d} but the weights take rows of width {got}.")
    probe = np.stack([np.zeros(d, np.float32), np.linspace(-1.0, 1.0, d, dtype=np.float32)])
    try:
        rewards = np.asarray(model.predict(probe), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure here means the saved state is inconsistent
        raise FormatError(
            f"{directory}: the weights do not fit together ({type(exc).__name__}: {exc}); "
            "the model is damaged. Save it again."
        ) from None
    if rewards.shape != (2,) or not np.isfinite(rewards).all():
        raise FormatError(
            f"{directory}: the model gives {'non-finite' if rewards.shape == (2,) else 'malformed'} "
            "rewards on test rows; the weights are damaged. Save the model again."
        )


def _type(value: Any) -> str:
    if value is None:
        return "null"
    names: dict[type, str] = {list: "a list", dict: "an object", str: "a string"}
    return names.get(type(value), type(value).__name__)
