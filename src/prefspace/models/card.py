"""What a saved model says about itself: a reproducibility record and a model card (README.md).

:func:`reproducibility_record` names what the numbers depend on besides the data and the
seed: the versions of prefspace and the libraries it computes with, the sha256 of the encoder's
weight files (a hub name alone does not pin them: its ``revision`` is usually null), and the
command line or the resolved configuration that trained the model. ``save_model`` writes it
into ``model.json`` (``record``); the training report (``metrics.json``) carries the same.

:func:`render_card` turns a model header into a ``README.md``: YAML metadata (``library_name:
prefspace``, the ``reward-model`` tag, the base encoder and its weights hash, the training
data's fingerprint, size, format and licence, the head and its parameters, TRL-named test
metrics with their interval, the seed) followed by a few lines on how to score, serve and use
the model as a TRL reward function. ``load_model`` never reads the card: it is for people and
model hubs.
"""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from .._version import __version__
from ..data.licence import data_licence

#: distributions whose versions a record names (import names differ: sklearn, sentence_transformers)
RECORDED_PACKAGES = (
    "prefspace", "torch", "transformers", "sentence-transformers", "numpy", "scikit-learn", "scipy",
    "safetensors", "lightgbm",
)
CARD = "README.md"
# metrics shown in the card's table, in this order (TRL's names); others stay in model.json
_CARD_METRICS = ("accuracy", "loss", "margin", "mean_reward", "min_reward", "max_reward", "ece", "n_pairs")


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


def reproducibility_record(encoder: Any = None, *, command: str | None = None, config: dict | None = None) -> dict:
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
        "encoder_weights_sha256": None if encoder is None else getattr(encoder, "weights_sha256", None),
        "encoder_fingerprint": None if encoder is None else getattr(encoder, "fingerprint", None),
        "command": command,
        "config": config,
    }


def training_data_summary(dataset: Any, *, licence: str | None = None) -> dict:
    """``{"source", "fingerprint", "n_pairs", "format", "subsets", "licence"}`` of a PreferenceDataset.

    ``format`` is the loader's (``"standard, explicit prompt"``, ``"conversational, implicit
    prompt"``, ...); ``licence`` defaults to what :func:`prefspace.data.licence.data_licence`
    finds for the dataset's source (None for data that came from memory or states no licence).
    """
    info = getattr(dataset, "info", {}) or {}
    if licence is None and getattr(dataset, "source", None):
        licence = data_licence(dataset.source)
    subsets = info.get("subsets") or {}
    return {
        "source": str(getattr(dataset, "source", "") or info.get("source", "")) or None,
        "fingerprint": dataset.fingerprint,
        "n_pairs": len(dataset),
        "format": info.get("format") or None,
        "subsets": dict(subsets) if subsets else None,
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
    return {k[len("test_"):]: v for k, v in metrics.items() if k.startswith("test_") and v is not None}


def _seed(header: dict, record: dict) -> Any:
    config = record.get("config") or {}
    if isinstance(config, dict) and config.get("seed") is not None:
        return config["seed"]
    return (header.get("params") or {}).get("random_state")


def card_metadata(header: dict) -> dict:
    """The YAML metadata of a model card, from a ``model.json`` header."""
    encoder = header.get("encoder") or {}
    cfg = encoder.get("config") or {}
    record = header.get("record") or {}
    data = header.get("train_data") or {}
    meta: dict = {"library_name": "prefspace", "tags": ["reward-model", "prefspace", header.get("class")]}
    base = _base_model(cfg)
    if base:
        meta["base_model"] = base
    meta["encoder"] = {
        "backend": cfg.get("backend"),
        "layout": cfg.get("layout"),
        "weights_sha256": record.get("encoder_weights_sha256"),
        "fingerprint": encoder.get("fingerprint"),
    }
    meta["head"] = {"class": header.get("class"), "params": header.get("params", {})}
    if header.get("members"):
        meta["head"]["n_members"] = len(header["members"])
    meta["seed"] = _seed(header, record)
    meta["training_data"] = {
        "source": data.get("source"),
        "fingerprint": data.get("fingerprint") or header.get("train_fingerprint"),
        "n_pairs": data.get("n_pairs"),
        "format": data.get("format"),
        "licence": data.get("licence"),
    }
    test = _test_metrics(header.get("metrics") or {})
    if test:
        meta["test_metrics"] = test
    meta["prefspace_version"] = header.get("prefspace_version")
    return meta


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_card(header: dict, name: str) -> str:
    """The model card (``README.md`` text) of a model whose ``model.json`` header is ``header``.

    ``name`` is the model directory's name, used in the usage lines.
    """
    import yaml

    meta = card_metadata(header)
    cfg = (header.get("encoder") or {}).get("config") or {}
    data = meta["training_data"]
    record = header.get("record") or {}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip(), "---", ""]
    lines.append(f"# Reward model `{name}`")
    lines.append("")
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
    lines += [what + ".", ""]
    lic = data.get("licence")
    lines.append(f"Training data licence: {lic}." if lic else "Training data licence: not stated by the data source; check it before sharing this model.")
    lines.append("")

    test = meta.get("test_metrics") or {}
    if test:
        lines += ["| test metric (TRL names) | value |", "|---|---|"]
        for key in _CARD_METRICS:
            if key not in test:
                continue
            value = _fmt(test[key])
            if key == "accuracy" and test.get("ci_low") is not None and test.get("ci_high") is not None:
                value += f" [{_fmt(test['ci_low'])}, {_fmt(test['ci_high'])}] (95% interval)"
            lines.append(f"| {key} | {value} |")
        lines.append("")
    else:
        lines += ["No test metrics were recorded with this model.", ""]

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
        f"RewardScorer({name!r}).score([\"What is 2+2?\"], [\"4\"])      # rewards, float64",
        "",
        "from prefspace.integrations.trl import reward_function",
        f"reward = reward_function({name!r})                        # GRPOTrainer(reward_funcs=[reward], ...)",
        "```",
        "",
    ]
    if fmt:
        kind = "conversational (lists of messages)" if fmt.startswith("conversational") else "plain text"
        lines += [f"The training prompts were {kind}; give the model prompts in the same format, since the "
                  "same text rendered the other way gets a different reward.", ""]
    versions = record.get("versions") or {}
    lines += ["## Reproduce", ""]
    if record.get("command"):
        lines += ["```bash", str(record["command"]), "```", ""]
    if versions:
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ".")
    if record.get("encoder_weights_sha256"):
        lines.append(f"Encoder weights sha256 (first 32 hex digits): `{record['encoder_weights_sha256']}`.")
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
