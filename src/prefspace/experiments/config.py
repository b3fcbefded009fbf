"""Experiment configs: read the YAML, apply ``--set`` overrides, resolve paths, validate.

An experiment is a grid: datasets x budgets x methods x seeds. The format is documented in
``docs/evaluation.md``; in short::

    name: hh-label-budget
    data_root: ../../shared/data        # relative to this file; --set data_root=... overrides
    seeds: [0, 1, 2]
    budgets: [50, 100, 200]
    baseline: bt-mlp                    # paired differences are taken against this method
    datasets:
      - name: hh
        kind: pairs                     # or: scored, pair_arrays
        path: "{data_root}/hh_rlhf/harmless-base-test.jsonl.gz"
        encoder: all-MiniLM-L6-v2
        test_size: 500
    methods:
      - name: bt-mlp
        head: BradleyTerryMLP
        params: {hidden_sizes: [64]}
      - name: bt-mlp+lens
        head: BradleyTerryMLP
        augment: {method: lens, factor: 4}

Strings may use ``{data_root}`` and ``{out}`` (the output directory). Relative paths written in
the config file are resolved against the config file's directory; relative paths given with
``--set`` are resolved against the current directory. Nothing here knows where shared data
lives: the config (or the command line) says so.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

DATASET_KINDS = ("pairs", "scored", "pair_arrays")
PATH_KEYS = ("path", "responses", "prompts", "response_embeddings", "prompt_embeddings", "cache", "train", "test")
_TOP_KEYS = {"name", "data_root", "seeds", "budgets", "baseline", "datasets", "methods", "jobs", "eval", "description"}
_DATASET_KEYS = {
    "pairs": {"name", "kind", "path", "load", "encoder", "cache", "test_size", "test_fraction", "split_seed", "limit"},
    "scored": {
        "name", "kind", "responses", "prompts", "load", "response_embeddings", "prompt_embeddings",
        "test_size", "test_fraction", "split_seed", "simulate", "test_pairs",
    },
    "pair_arrays": {"name", "kind", "train", "test"},
}
_METHOD_KEYS = {"name", "head", "params", "augment", "select"}


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=3", "data_root=../x"]`` -> ``{"a.b": 3, "data_root": "../x"}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. --set data_root=../shared/data); got {item!r}.")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set {item!r}: the key is empty.")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            detail = " ".join(str(exc).split())
            raise ConfigError(
                f"--set {item!r}: the value is not plain YAML ({detail}). Write a number, text, a list or a "
                "mapping; YAML tags such as !!python/... are not accepted."
            ) from None
    return out


def load_config(path, overrides: dict[str, Any] | None = None, *, out_dir=None) -> dict:
    """Read an experiment config, apply overrides and return it validated with absolute paths.

    Parameters
    ----------
    path : the YAML file
    overrides : dotted keys -> values (see :func:`parse_overrides`); ``data_root`` and other
        relative paths given here are taken relative to the current directory
    out_dir : the output directory, substituted for ``{out}``

    Example
    -------
    >>> cfg = load_config("examples/hh_label_budget.yaml", {"data_root": "../shared/data"})  # doctest: +SKIP
    """
    import yaml

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; pass the experiment's YAML file (e.g. {path / 'experiment.yaml'}).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"experiment config not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the config as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc}).") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping (name:, datasets:, methods:, ...).")
    base = path.resolve().parent
    cfg = copy.deepcopy(raw)
    cwd_paths: set[str] = set()
    for key, value in (overrides or {}).items():
        _set_dotted(cfg, key, value, path)
        cwd_paths.add(key)
    return resolve_config(cfg, base=base, cwd_keys=cwd_paths, out_dir=out_dir, where=str(path))


def resolve_config(cfg: dict, *, base: Path, cwd_keys=frozenset(), out_dir=None, where: str = "config") -> dict:
    """Validate a config dict and make its paths absolute (see the module docstring)."""
    cfg = copy.deepcopy(cfg)
    unknown = set(cfg) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}.")
    cfg.setdefault("name", "experiment")
    subs: dict[str, str] = {}
    if cfg.get("data_root") is not None:
        root_base = Path.cwd() if "data_root" in cwd_keys else base
        cfg["data_root"] = str((root_base / str(cfg["data_root"])).resolve())
        subs["data_root"] = cfg["data_root"]
    if out_dir is not None:
        subs["out"] = str(Path(out_dir).resolve())

    cfg["seeds"] = _int_list(cfg.get("seeds", [0]), "seeds", where, minimum=0)
    cfg["budgets"] = _int_list(cfg.get("budgets"), "budgets", where, minimum=1)
    datasets = cfg.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise ConfigError(f"{where}: 'datasets' must be a non-empty list.")
    methods = cfg.get("methods")
    if not isinstance(methods, list) or not methods:
        raise ConfigError(f"{where}: 'methods' must be a non-empty list.")

    seen = set()
    for i, ds in enumerate(datasets):
        if not isinstance(ds, dict):
            raise ConfigError(f"{where}: datasets[{i}] must be a mapping.")
        kind = ds.get("kind")
        if kind not in DATASET_KINDS:
            raise ConfigError(f"{where}: datasets[{i}].kind must be one of {DATASET_KINDS}; got {kind!r}.")
        unknown = set(ds) - _DATASET_KEYS[kind]
        if unknown:
            raise ConfigError(
                f"{where}: datasets[{i}] ({kind}) has unknown key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_DATASET_KEYS[kind])}."
            )
        name = ds.get("name") or f"dataset{i}"
        if name in seen:
            raise ConfigError(f"{where}: two datasets are named {name!r}; names must be unique.")
        seen.add(name)
        ds["name"] = str(name)
        _check_dataset_values(ds, f"{where}: datasets[{i}] ({name})")
        for key in PATH_KEYS:
            if ds.get(key) is None:
                continue
            text = _substitute(str(ds[key]), subs, f"{where}: datasets[{i}].{key}")
            dotted = f"datasets.{i}.{key}"
            rel_base = Path.cwd() if dotted in cwd_keys else base
            ds[key] = str((rel_base / text).resolve())
        _require(ds, _REQUIRED[kind], f"{where}: datasets[{i}] ({name})")

    seen = set()
    for i, m in enumerate(methods):
        if not isinstance(m, dict):
            raise ConfigError(f"{where}: methods[{i}] must be a mapping.")
        unknown = set(m) - _METHOD_KEYS
        if unknown:
            raise ConfigError(f"{where}: methods[{i}] has unknown key(s) {sorted(unknown)}; allowed: {sorted(_METHOD_KEYS)}.")
        _require(m, ("head",), f"{where}: methods[{i}]")
        name = str(m.get("name") or m["head"])
        if name in seen:
            raise ConfigError(f"{where}: two methods are named {name!r}; names must be unique.")
        seen.add(name)
        m["name"] = name
        m.setdefault("params", {})
        if m["params"] is None:
            m["params"] = {}
        if not isinstance(m["params"], dict):
            raise ConfigError(f"{where}: methods[{i}].params must be a mapping of parameter names to values "
                              f"(e.g. {{hidden_sizes: [64]}}); got {_shown(m['params'])}.")
        for opt in ("augment", "select"):
            if m.get(opt) is not None and not isinstance(m[opt], dict):
                raise ConfigError(f"{where}: methods[{i}].{opt} must be a mapping (e.g. {{method: lens, factor: 4}}).")
    baseline = cfg.get("baseline") or methods[0]["name"]
    if baseline not in seen:
        raise ConfigError(f"{where}: baseline {baseline!r} is not one of the methods {sorted(seen)}.")
    cfg["baseline"] = baseline
    if cfg.get("eval") is None:
        cfg["eval"] = {}
    if not isinstance(cfg["eval"], dict):
        raise ConfigError(f"{where}: 'eval' must be a mapping of evaluation options (e.g. {{report_n: 16}}); "
                          f"got {_shown(cfg['eval'])}.")
    if cfg.get("jobs") is not None:
        cfg["jobs"] = _int_list([cfg["jobs"]], "jobs", where, minimum=1)[0]
    return cfg


_REQUIRED = {
    "pairs": ("path",),
    "scored": ("responses", "prompts", "response_embeddings", "prompt_embeddings"),
    "pair_arrays": ("train", "test"),
}


def spec_hash(obj: Any) -> str:
    """A short stable hash of a JSON-able spec (used to key results by what produced them)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# dataset keys with a value type: name -> (check, what it must be)
_DATASET_VALUES = {
    "test_size": (lambda v: _whole(v) and v >= 1, "a whole number >= 1 (test prompts or pairs)"),
    "test_fraction": (lambda v: _real(v) and 0 < v < 1, "a number between 0 and 1"),
    "split_seed": (lambda v: _whole(v) and v >= 0, "a whole number >= 0"),
    "limit": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "test_pairs": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "load": (lambda v: isinstance(v, dict), "a mapping of load_preferences options"),
    "simulate": (lambda v: isinstance(v, dict), "a mapping of simulation options"),
}


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shown(v: Any) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check_dataset_values(ds: dict, where: str) -> None:
    for key, (ok, what) in _DATASET_VALUES.items():
        if ds.get(key) is not None and not ok(ds[key]):
            raise ConfigError(f"{where}: {key!r} must be {what}; got {_shown(ds[key])}.")


def _require(d: dict, keys, where: str) -> None:
    missing = [k for k in keys if d.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}.")


def _int_list(value, name: str, where: str, *, minimum: int) -> list[int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: '{name}' must be a non-empty list of integers; got {value!r}.")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < minimum:
            raise ConfigError(f"{where}: '{name}' must hold integers >= {minimum}; found {v!r}.")
        out.append(int(v))
    return out


def _substitute(text: str, subs: dict[str, str], where: str) -> str:
    try:
        return text.format(**subs)
    except KeyError as exc:
        key = exc.args[0]
        hints = {
            "data_root": " Set data_root in the config or pass --set data_root=PATH.",
            "out": " {out} is the output directory: pass out_dir= to load_config (the CLI passes --out).",
        }
        hint = hints.get(key, "")
        raise ConfigError(f"{where}: {{{key}}} is used but not defined.{hint}") from None


def _set_dotted(cfg: dict, key: str, value: Any, path: Path) -> None:
    parts = key.split(".")
    node: Any = cfg
    for j, part in enumerate(parts[:-1]):
        nxt = node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else (
            node.get(part) if isinstance(node, dict) else None
        )
        if nxt is None:
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[: j + 1])} does not exist in {path}.")
            nxt = node[part] = {}
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"--set {key}: index {last} is out of range in {path}.")
        node[int(last)] = value
    else:
        node[last] = value
