"""Saving and loading reward models: safetensors weights + a JSON sidecar, never pickle.

A model directory holds ``model.json`` (format name and version, class, ``get_params()``,
training metrics, the encoder's config and fingerprint, the training data's fingerprint,
user metrics, prefspace version), ``weights.safetensors`` for array weights, LightGBM's own
text format for boosted trees, and ``members/NN/`` (each a complete model directory) for an
ensemble. The format is specified in docs/model-format.md. Writing is atomic: everything goes
to a temporary sibling directory that is renamed into place.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_folder, write_text_atomic
from .._jsonread import loads as json_loads
from .._jsonsafe import dumps, json_safe
from .._paths import check_output
from .._version import __version__
from ..data.text_features import (
    TEXT_FEATURE_NAMES,
    TEXT_FEATURES_VERSION,
    check_text_features_version,
)
from ..embed import encoder_from_config
from ..exceptions import ConfigError, FingerprintMismatchError, FormatError
from ._base import RewardHead
from .card import CARD, render_card, reproducibility_record, training_data_summary
from .ensemble import RewardEnsemble
from .integrity import (
    bytes_digest,
    check_arrays,
    check_header,
    check_lightgbm_text,
    check_loaded,
    confined,
    read_verified,
)
from .registry import HEADS

logger = logging.getLogger(__name__)

FORMAT_NAME = "prefspace-reward-model"
FORMAT_VERSION = 1
HEADER = "model.json"
WEIGHTS = "weights.safetensors"


# Parameters renamed since models were first saved: old name -> new name.
RENAMED_PARAMS = {"n_threads": "n_jobs"}  # prefspace 0.1's MLP heads


def _classes() -> dict[str, type]:
    return {c.__name__: c for c in (*HEADS.values(), RewardEnsemble)}


# ---------------------------------------------------------------------------- JSON helpers
def _encode_params(model: RewardHead) -> dict:
    params = {}
    for name, value in model.get_params(deep=False).items():
        if isinstance(value, RewardHead):
            value = {
                "__estimator__": {"class": type(value).__name__, "params": _encode_params(value)}
            }
        elif isinstance(value, np.random.Generator):
            logger.warning("%s.%s is a numpy Generator; saved as null", type(model).__name__, name)
            value = None
        params[name] = json_safe(value)
    return params


def _decode_params(params: dict, where: Path) -> dict:
    out = {}
    for name, value in params.items():
        if isinstance(value, dict) and "__estimator__" in value:
            spec = value["__estimator__"]
            if not isinstance(spec, dict) or not isinstance(spec.get("params", {}), dict):
                raise FormatError(
                    f"{where / HEADER}: params {name!r} must be {{'__estimator__': {{'class': ..., 'params': {{...}}}}}}."
                )
            value = _class_for(spec.get("class"), where)(
                **_decode_params(spec.get("params", {}), where)
            )
        elif isinstance(value, list):
            value = tuple(value)
        out[RENAMED_PARAMS.get(name, name)] = value
    return out


def _class_for(name: Any, where: Path) -> type:
    classes = _classes()
    if name not in classes:
        raise FormatError(
            f"{where / HEADER}: unknown model class {name!r}; this prefspace knows {', '.join(sorted(classes))}. "
            "The model may come from a newer prefspace: upgrade it."
        )
    return classes[name]


def _write_json(path: Path, obj: dict) -> None:
    write_text_atomic(path, dumps(obj, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------- saving
def _write_model(model: RewardHead, directory: Path) -> dict:
    """Write ``model``'s weights into the (new, empty) ``directory``; return its header."""
    from safetensors.numpy import save_file

    header: dict = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": type(model).__name__,
        "params": _encode_params(model),
        "n_features_in": int(model.n_features_in_),
        "prefspace_version": __version__,
        "training_metrics": dict(getattr(model, "metrics_", {})),
    }
    # files_sha256 covers every file the model reads, so no part of it can change unnoticed
    digests: dict[str, str] = {}
    if isinstance(model, RewardEnsemble):
        members = []
        for i, member in enumerate(model.members_):
            rel = f"members/{i:02d}"
            (directory / rel).mkdir(parents=True)
            _write_json(directory / rel / HEADER, _write_model(member, directory / rel))
            members.append(rel)
            digests[f"{rel}/{HEADER}"] = bytes_digest((directory / rel / HEADER).read_bytes())
        header["members"] = members
        header["files_sha256"] = digests
        header["state"] = {"history": model.history_}
        return header
    arrays, info, texts = model._state()
    if arrays:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            str(directory / WEIGHTS),
            metadata={"format": FORMAT_NAME},
        )
        header["weights"] = WEIGHTS
        digests[WEIGHTS] = bytes_digest((directory / WEIGHTS).read_bytes())
    for name, text in texts.items():
        (directory / name).write_text(text, encoding="utf-8")
        digests[name] = bytes_digest((directory / name).read_bytes())
    header["files"] = sorted(texts)
    header["files_sha256"] = dict(sorted(digests.items()))
    header["state"] = info
    return header


def _encoder_record(model: RewardHead, encoder: Any) -> dict | None:
    """The encoder's config and fingerprint for ``model.json`` (None without an encoder); an
    encoder whose rows are not the model's width is refused."""
    if encoder is None:
        return None
    feature_dim = getattr(encoder, "feature_dim", None)
    if feature_dim is not None and int(feature_dim) != model.n_features_in_:
        raise FingerprintMismatchError(
            f"the model was fitted on rows of dimension {model.n_features_in_} but this encoder makes rows of "
            f"dimension {feature_dim}; pass the encoder the training embeddings came from."
        )
    return {"config": encoder.config(), "fingerprint": encoder.fingerprint}


def check_replaceable_folder(directory: Path, marker: str, what: str) -> None:
    """Refuse to replace ``directory`` unless it is missing, empty or holds ``marker`` (a folder
    this function's caller wrote before, which it may replace whole); ``what`` names that kind
    of folder in the error."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise FormatError(f"{directory} exists and is not a folder; choose another output path.")
    if any(directory.iterdir()) and not (directory / marker).is_file():
        raise FormatError(
            f"{directory} is a non-empty folder that is not {what}; refusing to replace it. "
            "Choose an empty or new folder."
        )


def _make_parent(directory: Path) -> None:
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise FormatError(
            f"cannot make {directory}: a part of {directory.parent} is a file, not a folder. "
            "Choose another path for the model."
        ) from None


def save_model(
    model: RewardHead,
    directory: str | os.PathLike,
    encoder: Any = None,
    *,
    metrics: dict | None = None,
    train_fingerprint: str | None = None,
    train_data: Any = None,
    record: dict | None = None,
    length_baseline: Any = None,
) -> Path:
    """Save a fitted reward model to ``directory`` (created or replaced atomically).

    Besides the weights and ``model.json`` the directory gets a model card, ``README.md``
    (see :mod:`prefspace.models.card`), which ``load_model`` ignores.

    Parameters
    ----------
    model : a fitted reward head or ``RewardEnsemble``
    directory : path
        Created if missing. An existing model directory is replaced; an existing non-empty
        directory that is not a model is refused.
    encoder : prefspace Encoder, optional
        The encoder the training rows came from; its ``config()`` and ``fingerprint`` are
        recorded so that ``load_model`` can refuse a different encoder and
        ``load_model_encoder`` can rebuild this one.
    metrics : dict, optional
        Extra metrics to record (e.g. test-set metrics).
    train_fingerprint : str, optional
        Fingerprint of the training data (``PreferenceDataset.fingerprint``).
    train_data : PreferenceDataset or dict, optional
        The training pairs (or :func:`~prefspace.models.card.training_data_summary` of them):
        their source, fingerprint, size, format and licence go into ``model.json``
        (``train_data``) and the card. The format lets the TRL reward function warn when it
        is given prompts of the other format.
    record : dict, optional
        A :func:`~prefspace.models.card.reproducibility_record` (with the command line or the
        resolved config); by default one with the versions and the encoder's weights hash.
    length_baseline : LengthBaseline or its ``to_dict()``, optional
        The learned length baseline fitted on the same training pairs; recorded as
        ``length_baseline`` so that ``evaluate`` can stand it beside the model
        (:func:`load_length_baseline`).

    Returns
    -------
    Path of the model directory.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.models import BradleyTerryLinear
    >>> X = np.random.default_rng(0).normal(size=(40, 2, 8)).astype("float32")
    >>> model = BradleyTerryLinear().fit(X)
    >>> save_model(model, "runs/bt", metrics={"test_accuracy": 0.61}).name
    'bt'
    >>> describe_model("runs/bt").metrics
    {'test_accuracy': 0.61}
    """
    if not isinstance(model, RewardHead):
        raise ConfigError(
            f"save_model expects a prefspace reward head; got {type(model).__name__}."
        )
    model._check_fitted()
    directory = Path(directory)
    check_replaceable_folder(directory, HEADER, f"a model folder (it has no {HEADER})")
    # the folder is swapped in whole: a model folder holding other files would lose them
    check_output(directory, kind="model", what="the model folder")
    encoder_info = _encoder_record(model, encoder)
    text_block = _text_feature_record(model, encoder)
    if train_data is not None and not isinstance(train_data, dict):
        train_data = training_data_summary(train_data)
    if train_data is not None and train_fingerprint is None:
        train_fingerprint = train_data.get("fingerprint")
    record = reproducibility_record(encoder) if record is None else record

    _make_parent(directory)
    with atomic_folder(directory) as tmp:
        header = _write_model(model, tmp)
        header.update(
            encoder=encoder_info,
            text_features=text_block,
            train_fingerprint=train_fingerprint,
            train_data=train_data,
            metrics=dict(metrics or {}),
            record=record,
        )
        if length_baseline is not None:
            header["length_baseline"] = (
                length_baseline if isinstance(length_baseline, dict) else length_baseline.to_dict()
            )
        header["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        _write_json(tmp / HEADER, header)
        write_text_atomic(tmp / CARD, render_card(json_safe(header), directory.name))
    logger.info("saved %s to %s", type(model).__name__, directory)
    return directory


# ---------------------------------------------------------------------------- loading
def _read_header(directory: Path, data: bytes | None = None) -> dict:
    """``model.json`` of ``directory``, parsed from ``data`` when the caller read (and checked) it."""
    path = directory / HEADER
    if not directory.is_dir():
        raise FormatError(
            f"{directory}: no such model directory. Models are written by save_model() or "
            "`prefspace train --out DIR`."
        )
    if not path.is_file():
        raise FormatError(
            f"{directory} is not a prefspace model directory: {HEADER} not found. Models are "
            "written by save_model() or `prefspace train --out DIR`."
        )
    if path.is_symlink() and path.resolve().parent != directory.resolve():
        raise FormatError(
            f"{path} is a link to {path.resolve()}, outside the model folder; a model folder's "
            f"{HEADER} must be its own file. Copy the model instead of linking its header."
        )
    try:
        header = json_loads((path.read_bytes() if data is None else data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"{path}: not valid JSON ({exc}); the model directory is corrupt."
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise FormatError(
            f"{path}: format is {found!r}, expected {FORMAT_NAME!r}; this is not a prefspace model."
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        hint = (
            "upgrade prefspace"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "re-save the model"
        )
        raise FormatError(
            f"{path}: format_version {version!r} is not supported (this prefspace reads version "
            f"{FORMAT_VERSION}); {hint}."
        )
    check_header(directory, header)
    _check_text_feature_record(path, header.get("text_features"))
    return header


def _text_feature_record(model: RewardHead, encoder: Any) -> dict | None:
    """``model.json``'s ``text_features``: the block's version, column names and width, or None.

    The head's ``n_text_features`` (where it has one) must match the encoder's block.
    """
    version = getattr(encoder, "text_features", None) if encoder is not None else None
    width = len(TEXT_FEATURE_NAMES) if version else 0
    heads = getattr(model, "members_", None) or [model]
    for head in heads:
        k = getattr(head, "n_text_features_", getattr(head, "n_text_features", None))
        if k is not None and encoder is not None and int(k) not in (0, width):
            raise FingerprintMismatchError(
                f"the model treats the last {k} columns as the text-feature block, but the encoder "
                f"appends {width}; pass the encoder the training rows came from."
            )
        if encoder is None and k == len(
            TEXT_FEATURE_NAMES
        ):  # rows made by an encoder not passed here
            version, width = TEXT_FEATURES_VERSION, int(k)
    if not version:
        return None
    return {"version": int(version), "names": list(TEXT_FEATURE_NAMES), "n_columns": width}


def _check_text_feature_record(path: Path, record: Any) -> None:
    """Refuse a model whose text-feature block this library does not compute."""
    if record is None:
        return
    if not isinstance(record, dict):
        raise FormatError(
            f"{path}: 'text_features' must be an object or null; the model directory is corrupt."
        )
    try:
        check_text_features_version(record.get("version"))
    except ValueError as exc:
        raise FormatError(f"{path}: {exc}") from None
    if list(record.get("names") or []) != list(TEXT_FEATURE_NAMES):
        raise FormatError(
            f"{path}: text-feature columns {record.get('names')} differ from this prefspace's version "
            f"{TEXT_FEATURES_VERSION} columns {list(TEXT_FEATURE_NAMES)}; the model directory was edited or is corrupt."
        )


def _read_model(directory: Path, header: dict) -> RewardHead:
    from safetensors import SafetensorError
    from safetensors.numpy import load as safetensors_load

    cls = _class_for(header.get("class"), directory)
    try:
        model = cls(**_decode_params(header.get("params") or {}, directory))
    except TypeError as exc:
        raise FormatError(
            f"{directory / HEADER}: params do not fit {cls.__name__} ({exc})."
        ) from None
    state = header.get("state") or {}
    if isinstance(model, RewardEnsemble):
        model.members_ = []
        for rel in header.get("members", []):
            path = confined(directory, rel, "a 'members' entry", folder=True)
            data = read_verified(directory, header, f"{rel}/{HEADER}", "a member's model.json")
            model.members_.append(_read_model(path, _read_header(path, data)))
        if not model.members_:
            raise FormatError(f"{directory / HEADER}: an ensemble without members.")
        model.history_ = list(state.get("history", []))
    else:
        arrays = {}
        if header.get("weights"):
            weights = directory / header["weights"]
            data = read_verified(directory, header, header["weights"], "'weights'")
            try:
                arrays = safetensors_load(data)
            except (OSError, SafetensorError) as exc:
                raise FormatError(f"{weights}: cannot read the weights ({exc}).") from None
            check_arrays(directory, cls.__name__, header, arrays, header["weights"])
        texts = {}
        for name in header.get("files", []):
            data = read_verified(directory, header, name, "a 'files' entry")
            try:
                texts[name] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(f"{directory / name}: cannot read ({exc}).") from None
            if name.endswith(".lgbm.txt"):
                check_lightgbm_text(directory / name, texts[name], header["n_features_in"])
        try:
            model._set_state(arrays, state, texts)
        except Exception as exc:  # noqa: BLE001 - a damaged state fails in many ways (LightGBM's own errors too)
            raise FormatError(
                f"{directory}: weights do not match the header ({type(exc).__name__}: {exc}); "
                "the model is corrupt. Save it again."
            ) from None
    width = getattr(model, "n_features_in_", None)  # what the weights take (heads set it from them)
    model.n_features_in_ = int(header["n_features_in"])
    if isinstance(model, RewardEnsemble):
        if any(m.n_features_in_ != model.n_features_in_ for m in model.members_):
            raise FormatError(f"{directory}: members disagree on the input dimension.")
    model.metrics_ = dict(header.get("training_metrics") or {})
    check_loaded(directory, model, header, width)
    return model


def _encoder_label(info: dict) -> str:
    cfg = info.get("config") or {}
    name = cfg.get("name") or cfg.get("model") or cfg.get("model_name")
    label = json.dumps(cfg, sort_keys=True) if name is None else repr(name)
    if name is not None and cfg.get("layout"):
        label += f" (layout {cfg['layout']!r})"
    return label


def load_model(directory: str | os.PathLike, encoder: Any = None) -> RewardHead:
    """Load a model written by :func:`save_model`. Never unpickles anything.

    Parameters
    ----------
    directory : path of the model directory
    encoder : prefspace Encoder, optional
        If given, it must be the encoder the model was trained with (same fingerprint);
        otherwise :class:`FingerprintMismatchError` names the encoder the model needs.

    Raises
    ------
    FormatError : not a model directory, unknown format version or class, corrupt files.
    FingerprintMismatchError : ``encoder`` differs from the training encoder.

    Example
    -------
    >>> import numpy as np
    >>> from prefspace.models import BradleyTerryLinear
    >>> X = np.random.default_rng(0).normal(size=(40, 2, 8)).astype("float32")
    >>> path = save_model(BradleyTerryLinear().fit(X), "runs/bt")
    >>> model = load_model(path)  # pass the training encoder to have it checked
    >>> model.predict(X[:3, 0]).shape
    (3,)
    """
    directory = Path(directory)
    header = _read_header(directory)
    needed = header.get("encoder")
    if encoder is not None and needed:
        given = getattr(encoder, "fingerprint", None)
        if given != needed.get("fingerprint"):
            raise FingerprintMismatchError(
                f"{directory} was trained on embeddings from encoder {_encoder_label(needed)} "
                f"(fingerprint {str(needed.get('fingerprint'))[:12]}), but the encoder given has fingerprint "
                f"{str(given)[:12]}; its rewards would be meaningless. Use that encoder, e.g. "
                f"prefspace.models.load_model_encoder({str(directory)!r})."
            )
    model = _read_model(directory, header)
    logger.info("loaded %s from %s", type(model).__name__, directory)
    return model


def load_model_encoder(directory: str | os.PathLike):
    """Rebuild the encoder a saved model was trained with (``prefspace.embed.encoder_from_config``)."""
    directory = Path(directory)
    header = _read_header(directory)
    info = header.get("encoder")
    if not info or not info.get("config"):
        raise FormatError(
            f"{directory} was saved without an encoder; embed with the encoder used for training and pass "
            "rows to model.predict() yourself."
        )
    try:
        encoder = encoder_from_config(info["config"], expected_fingerprint=info.get("fingerprint"))
    except TypeError as exc:  # a key the encoder does not take
        raise FormatError(
            f"{directory / HEADER}: the encoder config does not fit its backend ({exc}); "
            "the model folder was edited. Save the model again."
        ) from None
    if getattr(encoder, "fingerprint", None) != info.get("fingerprint"):
        raise FingerprintMismatchError(
            f"{directory}: the encoder rebuilt from its config ({_encoder_label(info)}) has fingerprint "
            f"{str(getattr(encoder, 'fingerprint', None))[:12]}, not the recorded "
            f"{str(info.get('fingerprint'))[:12]}; the encoder's weights or settings changed since training."
        )
    return encoder


@dataclass(frozen=True)
class ModelDescription:
    """What a model directory holds (:func:`describe_model`), read from ``model.json``.

    Attributes
    ----------
    path : the folder; class_name : the head's class; format, format_version : the file format
    params : the head's parameters; n_features_in : the width of a feature row
    n_members : an ensemble's members (None for a single head)
    encoder : the encoder's record (``config`` and ``fingerprint``), or None
    text_features : the text-feature block's record, or None without the block
    train_fingerprint, train_data : the training data's fingerprint and summary (its
        ``format``, ``rows``...), or None
    record : the reproducibility record (versions, command, resolved config), or None
    length_baseline : the learned length baseline's record, or None
    metrics, training_metrics : the metrics saved with the model
    prefspace_version, created : who wrote the folder, and when
    files : the folder's files (relative paths); size_bytes : their total size
    """

    path: str
    class_name: str | None
    format: str | None
    format_version: int | None
    params: dict
    n_features_in: int | None
    n_members: int | None
    encoder: dict | None
    text_features: dict | None
    train_fingerprint: str | None
    train_data: dict | None
    record: dict | None
    length_baseline: dict | None
    metrics: dict
    training_metrics: dict
    prefspace_version: str | None
    created: str | None
    files: tuple[str, ...]
    size_bytes: int

    @property
    def prompt_format(self) -> str | None:
        """``"standard"`` or ``"conversational"``: the format of the training prompts, when
        recorded (else None)."""
        fmt = (self.train_data or {}).get("format") or ""
        kind = fmt.split(",")[0].strip()
        return kind if kind in ("standard", "conversational") else None

    def to_json(self) -> dict:
        """The JSON form (``prefspace info --json``): the fields by name, ``class_name`` as
        ``class`` and ``files`` as a list."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {("class" if k == "class_name" else k): v for k, v in out.items()}
        return {**out, "files": list(self.files)}


def describe_model(directory: str | os.PathLike) -> ModelDescription:
    """What a model directory holds, read from ``model.json`` without loading weights: a
    :class:`ModelDescription`."""
    directory = Path(directory)
    header = _read_header(directory)
    files = tuple(
        sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    )
    return ModelDescription(
        path=str(directory),
        class_name=header.get("class"),
        format=header.get("format"),
        format_version=header.get("format_version"),
        params=header.get("params", {}),
        n_features_in=header.get("n_features_in"),
        n_members=len(header["members"]) if "members" in header else None,
        encoder=header.get("encoder"),
        text_features=header.get("text_features"),
        train_fingerprint=header.get("train_fingerprint"),
        train_data=header.get("train_data"),
        record=header.get("record"),
        length_baseline=header.get("length_baseline"),
        metrics=header.get("metrics", {}),
        training_metrics=header.get("training_metrics", {}),
        prefspace_version=header.get("prefspace_version"),
        created=header.get("created"),
        files=files,
        size_bytes=sum((directory / f).stat().st_size for f in files),
    )


def load_length_baseline(directory: str | os.PathLike):
    """The learned length baseline saved with a model (``save_model(..., length_baseline=)``),
    or None when the model has none (saved without one, or by an older prefspace).

    Example
    -------
    >>> load_length_baseline("runs/bt") is None  # saved above without one
    True
    """
    from .length import LengthBaseline

    directory = Path(directory)
    record = _read_header(directory).get("length_baseline")
    if record is None:
        return None
    try:
        return LengthBaseline.from_dict(record)
    except FormatError as exc:
        raise FormatError(f"{directory / HEADER}: length_baseline: {exc}") from None
