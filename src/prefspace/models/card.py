"""What a saved model says about itself: a reproducibility record and a model card (README.md).

:func:`reproducibility_record` names what the numbers depend on besides the data and the
seed: the versions of prefspace and the libraries it computes with, the sha256 of the encoder's
weight files (a hub name alone does not pin them: its ``revision`` is usually null), and the
command line or the resolved configuration that trained the model. ``save_model`` writes it
into ``model.json`` (``record``); the training report (``metrics.json``) carries the same.

:func:`render_card` turns a model header into a ``README.md``: YAML metadata in Hugging Face's
model-card keys (``license`` from the training data's licence, ``library_name``, ``base_model``,
``datasets`` for a Hub data set, ``tags``, ``pipeline_tag``, and ``model-index`` with the test
metrics), prefspace's own details under one ``prefspace`` key (the encoder and its weights
hash, the training data's fingerprint, size, format and licence, the head and its parameters,
TRL-named test metrics with their interval, the seed), then a few lines on how to score, serve
and use the model as a TRL reward function. ``load_model`` never reads the card: it is for people and
model hubs.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
from pathlib import Path
from typing import Any

from .._version import __version__
from ..data.dataset import PreferenceDataset
from ..data.licence import data_licence

#: distributions whose versions a record names (import names differ: sklearn, sentence_transformers)
RECORDED_PACKAGES = (
    "prefspace",
    "torch",
    "transformers",
    "sentence-transformers",
    "numpy",
    "scikit-learn",
    "scipy",
    "safetensors",
    "lightgbm",
)
CARD = "README.md"
# metrics shown in the card's table, in this order (TRL's names); others stay in model.json
_CARD_METRICS = (
    "accuracy",
    "loss",
    "margin",
    "mean_reward",
    "min_reward",
    "max_reward",
    "ece",
    "n_pairs",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`RECORDED_PACKAGES` (None when not installed) and Python's.

    Read from the installed distributions' metadata: nothing is imported.
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = __version__ if name == "prefspace" else None
    return out


def reproducibility_record(
    encoder: Any = None, *, command: str | None = None, config: dict | None = None
) -> dict:
    """What a result depends on besides its data and seed.

    Parameters
    ----------
    encoder : prefspace Encoder, optional
        Its weights' sha256 (``Encoder.weights_sha256``) and fingerprint are recorded.
    command : str, optional
        The command line that produced the result (``prefspace train ...``).
    config : dict, optional
        The resolved configuration (every setting, defaults included).

    Returns
    -------
    dict with ``versions`` (see :func:`package_versions`), ``encoder_weights_sha256``,
    ``encoder_fingerprint``, ``command`` and ``config``.

    Example
    -------
    >>> sorted(reproducibility_record()["versions"])[:3]
    ['lightgbm', 'numpy', 'prefspace']
    """
    return {
        "versions": package_versions(),
        "encoder_weights_sha256": None
        if encoder is None
        else getattr(encoder, "weights_sha256", None),
        "encoder_fingerprint": None if encoder is None else getattr(encoder, "fingerprint", None),
        "command": command,
        "config": config,
    }


def training_data_summary(dataset: PreferenceDataset, *, licence: str | None = None) -> dict:
    """``{"source", "fingerprint", "n_pairs", "format", "subsets", "licence"}`` of a PreferenceDataset.

    ``format`` is the loader's (``"standard, explicit prompt"``, ``"conversational, implicit
    prompt"``, ...); ``licence`` defaults to what :func:`prefspace.data.licence.data_licence`
    finds for the dataset's source (None for data that came from memory or states no licence).
    """
    info = dataset.info  # the empty report for pairs built in memory: no format, no subsets
    if licence is None and dataset.source:
        licence = data_licence(dataset.source)
    return {
        "source": (dataset.source or info.source) or None,
        "fingerprint": dataset.fingerprint,
        "n_pairs": len(dataset),
        "format": info.format or None,
        "subsets": dict(info.subsets) if info.subsets else None,
        "licence": licence,
    }


# ------------------------------------------------------------------------------------ the card
def _base_model(encoder_cfg: dict) -> str | None:
    name = encoder_cfg.get("model") or encoder_cfg.get("name")
    if not isinstance(name, str):
        return None
    if name.lower() in ("all-minilm-l6-v2", "minilm", "sentence-transformers/all-minilm-l6-v2"):
        return "sentence-transformers/all-MiniLM-L6-v2"
    return name


def _test_metrics(metrics: dict) -> dict:
    """``test_*`` entries of ``metrics`` without the prefix (TRL names), intervals kept."""
    return {
        k[len("test_") :]: v for k, v in metrics.items() if k.startswith("test_") and v is not None
    }


def _seed(header: dict, record: dict) -> Any:
    config = record.get("config") or {}
    if isinstance(config, dict) and config.get("seed") is not None:
        return config["seed"]
    return (header.get("params") or {}).get("random_state")


# Hugging Face's licence identifiers for the SPDX ids prefspace.data.licence names
_HUB_LICENCES = {
    "cc-by-nc-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-sa-4.0",
    "cc-by-4.0",
    "cc0-1.0",
    "odc-by",
    "apache-2.0",
    "mit",
}
_DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".gz", ".tsv", ".txt", ".arrow")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# what each TRL-named metric is called in model-index
_METRIC_NAMES = {
    "accuracy": "pairwise accuracy",
    "loss": "Bradley-Terry loss",
    "margin": "mean reward margin",
    "mean_reward": "mean reward",
    "ece": "expected calibration error",
}


def hub_licence(licence: str | None) -> tuple[str, str | None]:
    """``(license, license_name)`` for a model card: Hugging Face's id, or ``"other"`` and the name.

    Example
    -------
    >>> hub_licence("CC0-1.0"), hub_licence(None), hub_licence("Research only")
    (('cc0-1.0', None), ('unknown', None), ('other', 'Research only'))
    """
    if not licence:
        return "unknown", None
    low = licence.lower().replace("odc-by-1.0", "odc-by")
    return (low, None) if low in _HUB_LICENCES else ("other", licence)


def hub_dataset(source: str | None) -> str | None:
    """``source`` when it reads as a Hub data set name (``owner/name``, not a local path), else None."""
    if not isinstance(source, str) or not _HUB_NAME.match(source) or os.path.exists(source):
        return None
    if source.lower().endswith(_DATA_SUFFIXES):  # a relative path to a file that is not here
        return None
    return source


def model_index(name: str, header: dict) -> list | None:
    """The ``model-index`` entry with the test metrics (None when no test metrics were recorded)."""
    test = _test_metrics(header.get("metrics") or {})
    metrics = []
    for key in _CARD_METRICS:
        if key in test and key != "n_pairs" and isinstance(test[key], (int, float)):
            label = f"test {_METRIC_NAMES.get(key, key)}"
            if (
                key == "accuracy"
                and test.get("ci_low") is not None
                and test.get("ci_high") is not None
            ):
                label += f" (95% interval {test['ci_low']:.4f}-{test['ci_high']:.4f})"
            metrics.append({"type": key, "value": test[key], "name": label})
    if not metrics:
        return None
    data = header.get("train_data") or {}
    source = data.get("source")
    held_out = (
        f"held-out pairs of {Path(source).name if source and not hub_dataset(source) else source}"
        if source
        else "held-out preference pairs"
    )
    if test.get("n_pairs"):
        held_out += f" ({int(test['n_pairs'])} pairs)"
    dataset = {"name": held_out, "type": hub_dataset(source) or "preference-pairs"}
    task = {"type": "text-classification", "name": "Reward modeling (pairwise preference)"}
    return [{"name": name, "results": [{"task": task, "dataset": dataset, "metrics": metrics}]}]


def hub_metadata(
    header: dict,
    name: str,
    *,
    library_name: str = "prefspace",
    pipeline_tag: str = "text-classification",
    tags: tuple = (),
) -> dict:
    """Hugging Face model-card metadata of a model whose ``model.json`` header is ``header``:
    ``license``, ``library_name``, ``base_model``, ``datasets``, ``tags``, ``pipeline_tag`` and
    ``model-index`` with the test metrics, in Hugging Face's keys and spelling."""
    data = header.get("train_data") or {}
    licence, licence_name = hub_licence(data.get("licence"))
    meta: dict = {"license": licence}
    if licence_name:
        meta["license_name"] = licence_name
    meta["library_name"] = library_name
    base = _base_model((header.get("encoder") or {}).get("config") or {})
    if base:
        meta["base_model"] = base
    dataset = hub_dataset(data.get("source"))
    if dataset:
        meta["datasets"] = [dataset]
    meta["tags"] = [t for t in ("reward-model", "prefspace", *tags, header.get("class")) if t]
    meta["pipeline_tag"] = pipeline_tag
    index = model_index(name, header)
    if index:
        meta["model-index"] = index
    return meta


def card_metadata(header: dict, name: str = "model") -> dict:
    """The YAML metadata of a model card, from a ``model.json`` header.

    Hugging Face's keys (:func:`hub_metadata`), then prefspace's own details under one key,
    ``prefspace``: the encoder, the head, the seed, the training data, the test metrics.
    """
    encoder = header.get("encoder") or {}
    cfg = encoder.get("config") or {}
    record = header.get("record") or {}
    data = header.get("train_data") or {}
    meta = hub_metadata(header, name)
    own: dict = {"version": header.get("prefspace_version")}
    own["encoder"] = {
        "backend": cfg.get("backend"),
        "layout": cfg.get("layout"),
        "weights_sha256": record.get("encoder_weights_sha256"),
        "fingerprint": encoder.get("fingerprint"),
    }
    own["head"] = {"class": header.get("class"), "params": header.get("params", {})}
    if header.get("members"):
        own["head"]["n_members"] = len(header["members"])
    own["seed"] = _seed(header, record)
    own["training_data"] = {
        "source": data.get("source"),
        "fingerprint": data.get("fingerprint") or header.get("train_fingerprint"),
        "n_pairs": data.get("n_pairs"),
        "format": data.get("format"),
        "licence": data.get("licence"),
    }
    test = _test_metrics(header.get("metrics") or {})
    if test:
        own["test_metrics"] = test
    meta["prefspace"] = own
    return meta


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def front_matter(meta: dict) -> list[str]:
    """A model card's YAML front matter (the Hub's metadata block) as lines, a blank line last."""
    import yaml

    dumped = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return ["---", dumped.rstrip(), "---", ""]


def _card_summary(header: dict, meta: dict, cfg: dict) -> str:
    """ "A <class> reward head ... on <encoder> embeddings, trained with prefspace ... on n pairs"."""
    data = meta["prefspace"]["training_data"]
    encoder_name = meta.get("base_model") or cfg.get("name") or "(no encoder recorded)"
    what = f"A `{header.get('class')}` reward head"
    if header.get("members"):
        what += f" ensemble of {len(header['members'])} members"
    what += f" on `{encoder_name}` embeddings"
    if cfg.get("layout"):
        what += f" ({cfg['layout']} layout)"
    what += f", trained with prefspace {header.get('prefspace_version')}"
    if data.get("n_pairs"):
        what += f" on {data['n_pairs']:,} preference pairs"
        if data.get("source"):
            what += f" from `{data['source']}`"
    return what


def _card_metrics(test: dict) -> list[str]:
    """The test metrics as a Markdown table (the accuracy with its interval)."""
    if not test:
        return ["No test metrics were recorded with this model.", ""]
    lines = ["| test metric (TRL names) | value |", "|---|---|"]
    for key in _CARD_METRICS:
        if key not in test:
            continue
        value = _fmt(test[key])
        if key == "accuracy" and test.get("ci_low") is not None and test.get("ci_high") is not None:
            value += f" [{_fmt(test['ci_low'])}, {_fmt(test['ci_high'])}] (95% interval)"
        lines.append(f"| {key} | {value} |")
    return lines + [""]


def render_card(header: dict, name: str) -> str:
    """The model card (``README.md`` text) of a model whose ``model.json`` header is ``header``.

    ``name`` is the model directory's name, used in the usage lines.
    """

    meta = card_metadata(header, name)
    cfg = (header.get("encoder") or {}).get("config") or {}
    data = meta["prefspace"]["training_data"]
    record = header.get("record") or {}
    lines = front_matter(meta)
    lines += [f"# Reward model `{name}`", "", _card_summary(header, meta, cfg) + ".", ""]
    lic = data.get("licence")
    lines.append(
        f"Training data licence: {lic}."
        if lic
        else "Training data licence: not stated by the data source; check it before sharing this model."
    )
    lines.append("")
    lines += _card_metrics(meta["prefspace"].get("test_metrics") or {})

    fmt = data.get("format") or ""
    lines += [
        "## Use",
        "",
        "```bash",
        f"prefspace score {name} pairs.jsonl --out rewards.jsonl   # a reward per response or pair",
        f"prefspace serve {name}                                   # POST /get_reward (OpenRLHF), /score",
        "```",
        "",
        "```python",
        "from prefspace.models import RewardScorer",
        f'RewardScorer({name!r}).score(["What is 2+2?"], ["4"])      # rewards, float64',
        "",
        "from prefspace.integrations.trl import reward_function",
        f"reward = reward_function({name!r})                        # GRPOTrainer(reward_funcs=[reward], ...)",
        "```",
        "",
    ]
    if fmt:
        kind = (
            "conversational (lists of messages)"
            if fmt.startswith("conversational")
            else "plain text"
        )
        lines += [
            f"The training prompts were {kind}; give the model prompts in the same format, since the "
            "same text rendered the other way gets a different reward.",
            "",
        ]
    versions = record.get("versions") or {}
    lines += ["## Reproduce", ""]
    if record.get("command"):
        lines += ["```bash", str(record["command"]), "```", ""]
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".")
    if record.get("encoder_weights_sha256"):
        lines.append(
            f"Encoder weights sha256 (first 32 hex digits): `{record['encoder_weights_sha256']}`."
        )
    lines += [
        "",
        "## Files",
        "",
        "`model.json` (format, parameters, metrics, encoder, this record) and the weights "
        "(`weights.safetensors`, or LightGBM's text format, or `members/` for an ensemble) are what "
        "`prefspace.models.load_model` reads; it ignores this README.",
        "",
    ]
    return "\n".join(lines)
