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

The whole config is validated when it is loaded, before any cell runs (:func:`validate_config`,
pydantic models with ``extra="forbid"``): every key, its type, each method's head and head
parameters, its augmentation method and synthesizer parameters, its selection strategy and
options, and the loader and simulation options of each dataset. A typo is an error naming the
key's path and the allowed names (``methods[1].params.hiden_sizes: unknown parameter of
'hiden_sizes' is not a known parameter of BradleyTerryMLP; did you mean 'hidden_sizes'? ...``), and a data file that does
not exist is an error saying where relative paths were resolved from.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._paths import check_output
from ..data import load_preferences, load_scored_responses
from ..evaluate.simulate import pairs_from_scores
from ..exceptions import ConfigError
from ..models import HEADS
from ..models.registry import head_class
from ..select import STRATEGIES
from ..synth import METHODS, SYNTHESIZERS, augment_pairs, choose_augmentation
from .active_learning import run_active_learning

DATASET_KINDS = ("pairs", "scored", "pair_arrays")
PATH_KEYS = (
    "path",
    "responses",
    "prompts",
    "response_embeddings",
    "prompt_embeddings",
    "cache",
    "train",
    "test",
)


# ----------------------------------------------------------------------------- the schema
# pydantic models with extra="forbid": a key the runner would not read is an error naming its
# path and the allowed names, before any cell runs. The parameters of heads, synthesizers,
# selectors and loaders are checked against the classes' and functions' own signatures
# (get_params(), the registries models.HEADS, synth.SYNTHESIZERS, select.STRATEGIES).

NonNegInt = Annotated[StrictInt, Field(ge=0)]
PosInt = Annotated[StrictInt, Field(ge=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


def _names(names) -> str:
    return ", ".join(sorted(names))


def _unknown(
    key: str, allowed, what: str, path: str = "", *, value: bool = False
) -> PydanticCustomError:
    """The error for a key (or, with ``value``, a name given as a value) that is not allowed: its
    path, a close match and the allowed names."""
    close = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    where = path if value else (f"{path}.{key}" if path else str(key))
    return PydanticCustomError(
        "prefspace_unknown_key",
        "{message}",
        {
            "path": where,
            "message": f"{key!r} is not a known {what}{hint} Allowed: {_names(allowed) or '(none)'}.",
        },
    )


def _keyword_names(func, *, leave_out=()) -> set[str]:
    """The keyword parameters of ``func`` (its ``**kwargs`` and ``leave_out`` excluded)."""
    return {
        n
        for n, p in inspect.signature(func).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in leave_out
    }


def _check_keys(data: dict, allowed, what: str, path: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise _unknown(key, allowed, what, path)


class _Strict(BaseModel):
    """A config mapping: unknown keys are refused with the allowed names."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _check_keys(data, set(cls.model_fields), "key")
        return data


class EvalSpec(_Strict):
    n_boot: PosInt = 1000
    n_bins: Annotated[StrictInt, Field(ge=2)] = 10
    report_n: PosInt = 16
    best_of_n: list[PosInt] | None = None


class _SplitSpec(_Strict):
    name: str | None = None
    test_size: PosInt | None = None
    test_fraction: Fraction | None = None
    split_seed: NonNegInt = 0


class PairsDataset(_SplitSpec):
    kind: Literal["pairs"]
    path: str = Field(min_length=1)
    load: dict[str, Any] | None = None
    encoder: Annotated[str, Field(min_length=1)] | dict[str, Any] = "all-MiniLM-L6-v2"
    cache: str | None = None
    limit: PosInt | None = None

    @field_validator("load")
    @classmethod
    def _load_keys(cls, load: dict | None) -> dict | None:
        _check_keys(
            load or {},
            _keyword_names(load_preferences, leave_out=("source",)),
            "load_preferences argument",
        )
        return load


class ScoredDataset(_SplitSpec):
    kind: Literal["scored"]
    responses: str = Field(min_length=1)
    prompts: str = Field(min_length=1)
    response_embeddings: str = Field(min_length=1)
    prompt_embeddings: str = Field(min_length=1)
    load: dict[str, Any] | None = None
    simulate: dict[str, Any] | None = None
    test_pairs: PosInt = 2000

    @field_validator("load")
    @classmethod
    def _load_keys(cls, load: dict | None) -> dict | None:
        allowed = _keyword_names(load_scored_responses, leave_out=("source", "prompts"))
        _check_keys(load or {}, allowed, "load_scored_responses argument")
        return load

    @field_validator("simulate")
    @classmethod
    def _simulate_keys(cls, simulate: dict | None) -> dict | None:
        allowed = _keyword_names(
            pairs_from_scores, leave_out=("scored", "n_pairs", "rows", "random_state")
        )
        _check_keys(simulate or {}, allowed, "simulate option")
        return simulate


class PairArraysDataset(_Strict):
    name: str | None = None
    kind: Literal["pair_arrays"]
    train: str = Field(min_length=1)
    test: str = Field(min_length=1)


DatasetSpec = Annotated[
    PairsDataset | ScoredDataset | PairArraysDataset, Field(discriminator="kind")
]


def head_names() -> list[str]:
    """What a config's ``head`` may say: a name in ``HEADS`` or a head class's name."""
    return sorted(set(HEADS) | {cls.__name__ for cls in HEADS.values()})


def _estimator_params(cls) -> set[str]:
    try:
        return set(cls().get_params())
    except TypeError:  # a class with required arguments: its __init__'s names
        return _keyword_names(cls.__init__, leave_out=("self",))


class MethodSpec(_Strict):
    name: str | None = None
    head: str = Field(min_length=1)
    params: dict[str, Any] | None = None
    augment: dict[str, Any] | None = None
    select: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_estimators(self) -> MethodSpec:
        cls = head_class(self.head)
        if cls is None:
            raise _unknown(self.head, head_names(), "head", "head", value=True)
        _check_keys(
            self.params or {}, _estimator_params(cls), f"parameter of {cls.__name__}", "params"
        )
        if self.augment is not None:
            _check_augment(self.augment)
        if self.select is not None:
            _check_select(self.select)
        return self


def _check_augment(aug: dict) -> None:
    method = aug.get("method", "lens")
    if method not in METHODS:
        raise _unknown(method, METHODS, "augment method", "augment.method", value=True)
    allowed = {"method", "factor"} | _keyword_names(
        augment_pairs,
        leave_out=("X", "method", "factor", "estimator", "random_state", "groups", "sample_weight"),
    )
    if method in SYNTHESIZERS:
        allowed |= _estimator_params(SYNTHESIZERS[method]) - {"random_state"}
    elif method == "auto":
        allowed |= _keyword_names(
            choose_augmentation,
            leave_out=("X", "estimator", "groups", "random_state", "sample_weight"),
        )
    what = f"augment option for {method!r}" + (
        " (or parameter of its synthesizer)" if method in SYNTHESIZERS else ""
    )
    _check_keys(aug, allowed, what, "augment")
    factor = aug.get("factor", 4)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise PydanticCustomError(
            "prefspace_value",
            "{message}",
            {
                "path": "augment.factor",
                "message": f"must be a whole number >= 1 (synthetic pairs per real pair); got {factor!r}.",
            },
        )


def _check_select(sel: dict) -> None:
    strategy = sel.get("strategy", "random")
    if strategy not in STRATEGIES:
        raise _unknown(strategy, STRATEGIES, "selection strategy", "select.strategy", value=True)
    allowed = {"strategy"} | _keyword_names(
        run_active_learning,
        leave_out=(
            "features",
            "prompt_index",
            "gold",
            "strategy",
            "estimator",
            "test_prompts",
            "random_state",
            "budget",
            "on_round",
        ),
    )
    _check_keys(sel, allowed, "select option", "select")


class ExperimentConfig(_Strict):
    """The whole experiment config (see docs/evaluation.md)."""

    name: str = "experiment"
    description: str | None = None
    data_root: str | None = None
    seeds: list[NonNegInt] = Field(default=[0], min_length=1)
    budgets: list[PosInt] = Field(min_length=1)
    baseline: str | None = None
    jobs: PosInt | None = None
    eval: EvalSpec | None = None
    datasets: list[DatasetSpec] = Field(min_length=1)
    methods: list[MethodSpec] = Field(min_length=1)

    @field_validator("seeds", "budgets", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value


# What a value must be, by its key (pydantic's own words for anything else).
_MUST = {
    "test_size": "a whole number >= 1 (test prompts or pairs)",
    "test_fraction": "a number between 0 and 1",
    "split_seed": "a whole number >= 0",
    "limit": "a whole number >= 1",
    "test_pairs": "a whole number >= 1",
    "jobs": "a whole number >= 1",
    "n_boot": "a whole number >= 1",
    "n_bins": "a whole number >= 2",
    "report_n": "a whole number >= 1",
    "best_of_n": "a list of whole numbers >= 1",
    "seeds": "a non-empty list of whole numbers >= 0",
    "budgets": "a non-empty list of whole numbers >= 1",
    "eval": "a mapping of evaluation options (e.g. {report_n: 16})",
    "params": "a mapping of parameter names to values (e.g. {hidden_sizes: [64]})",
    "load": "a mapping of loader options (e.g. {prompt_key: question})",
    "simulate": "a mapping of simulation options (e.g. {noise: bt, beta: 1.0})",
    "augment": "a mapping (e.g. {method: lens, factor: 4})",
    "select": "a mapping (e.g. {strategy: d-optimal, batch_size: 250})",
    "encoder": "an encoder name or a mapping of get_encoder arguments",
    "datasets": "a non-empty list of datasets",
    "methods": "a non-empty list of methods",
}


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _location(loc: tuple) -> str:
    """``("methods", 1, "params")`` -> ``"methods[1].params"`` (union tags left out)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            i >= 2
            and loc[0] == "datasets"
            and isinstance(loc[i - 1], int)
            and part in DATASET_KINDS
        ):
            continue  # pydantic's discriminated-union step
        else:
            out += f".{part}" if out else str(part)
    return out


def _explain(exc: ValidationError, where: str) -> ConfigError:
    lines = []
    for err in exc.errors(include_url=False)[:5]:
        loc = tuple(err["loc"])
        path = _location(loc)
        ctx = err.get("ctx") or {}
        key = next(
            (part for part in reversed(loc) if isinstance(part, str) and part not in DATASET_KINDS),
            "",
        )
        if err["type"].startswith("prefspace_"):
            path = f"{path}.{ctx['path']}" if path else ctx["path"]
            lines.append(f"{path}: {ctx['message']}")
        elif err["type"] == "union_tag_invalid":
            lines.append(
                f"{path}.kind: must be one of {', '.join(DATASET_KINDS)}; got {err['input'].get('kind')!r}."
            )
        elif err["type"] == "union_tag_not_found":
            lines.append(f"{path}: missing 'kind' ({', '.join(DATASET_KINDS)}).")
        elif err["type"] == "missing":
            lines.append(f"{path}: missing (required).")
        elif err["type"] == "too_short" and isinstance(err.get("input"), str):
            lines.append(f"{path}: must not be empty.")
        elif key in _MUST:
            lines.append(f"{path} must be {_MUST[key]}; got {_shown(err.get('input'))}.")
        else:
            lines.append(f"{path}: {err['msg']}; got {_shown(err.get('input'))}.")
    more = len(exc.errors()) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    head = f"{where}: " if len(lines) == 1 else f"{where}: {len(exc.errors())} problems:\n  "
    return ConfigError(head + "\n  ".join(lines))


def validate_config(cfg: dict, where: str = "config") -> ExperimentConfig:
    """Check a config mapping against the schema; a ConfigError names every bad key's path.

    Example
    -------
    >>> validate_config({"budgets": [50], "datasets": [{"kind": "pair_arrays", "train": "a.npy", "test": "b.npy"}],
    ...                  "methods": [{"head": "bt-mlp", "params": {"hiden_sizes": [64]}}]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: config: methods[0].params.hiden_sizes: 'hiden_sizes' is not a known parameter of BradleyTerryMLP; did you mean 'hidden_sizes'? ...
    """
    try:
        return ExperimentConfig.model_validate(cfg)
    except ValidationError as exc:
        raise _explain(exc, where) from None


def _value_problem(exc: ValueError) -> str:
    """What a ValueError from the YAML reader means (an integer past Python's digit limit)."""
    if "digits" in str(exc):
        return "an integer of more than 4,300 digits, more than any setting needs"
    return f"a value YAML cannot read ({str(exc)[:200]})"


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=3", "data_root=../x"]`` -> ``{"a.b": 3, "data_root": "../x"}`` (values parsed as YAML,
    safely: a YAML tag such as ``!!python/object`` is refused)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(
                f"--set expects KEY=VALUE (e.g. --set data_root=../shared/data); got {item!r}."
            )
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set {item!r}: the key is empty.")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except (
            ValueError,
            RecursionError,
        ) as exc:  # an integer over 4,300 digits; nesting too deep
            detail = "nested too deeply" if isinstance(exc, RecursionError) else _value_problem(exc)
            raise ConfigError(
                f"--set {key}: {detail}. Write a number, text, a list or a mapping."
            ) from None
        except yaml.YAMLError as exc:
            detail = " ".join(str(exc).split())
            raise ConfigError(
                f"--set {item!r}: the value is not plain YAML ({detail}). Write a number, text, a list or a "
                "mapping; YAML tags such as !!python/... are not accepted."
            ) from None
    return out


def load_config(path, overrides: dict[str, Any] | None = None, *, out_dir=None) -> dict:
    """Read an experiment config, apply overrides and return it validated with absolute paths.

    Every key is checked (:func:`validate_config`: names, types, the heads', synthesizers' and
    selectors' parameters) and every data file must exist, before anything runs.

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
        raise ConfigError(
            f"{path} is a folder; pass the experiment's YAML file (e.g. {path / 'experiment.yaml'})."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"experiment config not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the config as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc}).") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValueError as exc:  # a value its type cannot hold: an integer of more than 4,300 digits
        raise ConfigError(
            f"{path}: {_value_problem(exc)}. Check the numbers in the config."
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the config must be a mapping (name:, datasets:, methods:, ...)."
        )
    base = path.resolve().parent
    cfg = copy.deepcopy(raw)
    cwd_paths: set[str] = set()
    for key, value in (overrides or {}).items():
        _set_dotted(cfg, key, value, path)
        cwd_paths.add(key)
    resolved = resolve_config(cfg, base=base, cwd_keys=cwd_paths, out_dir=out_dir, where=str(path))
    if out_dir is not None:
        inputs, caches = config_paths(resolved)
        check_output(out_dir, inputs=[path, *inputs], caches=caches, kind="folder", what="--out")
    return resolved


def config_paths(cfg: dict) -> tuple[list[str], list[str]]:
    """``(data files, cache folders)`` a resolved config reads, for the output guard."""
    inputs: list[str] = []
    caches: list[str] = []
    for ds in cfg.get("datasets") or []:
        for key in PATH_KEYS:
            if isinstance(ds, dict) and isinstance(ds.get(key), str):
                (caches if key == "cache" else inputs).append(ds[key])
    return inputs, caches


def resolve_config(
    cfg: dict,
    *,
    base: Path,
    cwd_keys=frozenset(),
    out_dir=None,
    where: str = "config",
    check_files: bool = True,
) -> dict:
    """Validate a config dict and make its paths absolute (see the module docstring).

    ``base``: the folder relative paths are resolved from (the config file's); keys in
    ``cwd_keys`` (given with ``--set``) are resolved from the current directory instead. With
    ``check_files``, a data file that does not exist is an error saying where it was looked for.
    The returned dict holds the keys given (not the schema's defaults), so the cells' spec
    hashes do not depend on the schema.
    """
    validate_config(cfg, where)
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("name", "experiment")
    subs: dict[str, str] = {}
    if cfg.get("data_root") is not None:
        root_base = Path.cwd() if "data_root" in cwd_keys else base
        cfg["data_root"] = str((root_base / str(cfg["data_root"])).resolve())
        subs["data_root"] = cfg["data_root"]
    if out_dir is not None:
        subs["out"] = str(Path(out_dir).resolve())
    for key in ("seeds", "budgets"):
        if key in cfg and not isinstance(cfg[key], list):
            cfg[key] = [cfg[key]]
    cfg.setdefault("seeds", [0])

    seen = set()
    for i, ds in enumerate(cfg["datasets"]):
        name = ds.get("name") or f"dataset{i}"
        if name in seen:
            raise ConfigError(
                f"{where}: datasets[{i}].name: two datasets are named {name!r}; names must be unique."
            )
        seen.add(name)
        ds["name"] = _path_name(name, f"{where}: datasets[{i}].name")
        for key in PATH_KEYS:
            if ds.get(key) is None:
                continue
            original = str(ds[key])
            text = _substitute(original, subs, f"{where}: datasets[{i}].{key}")
            dotted = f"datasets.{i}.{key}"
            rel_base = Path.cwd() if dotted in cwd_keys else base
            ds[key] = str((rel_base / text).resolve())
            if check_files and key != "cache" and not Path(ds[key]).exists():
                raise ConfigError(
                    _missing_file(
                        where,
                        f"datasets[{i}].{key}",
                        original,
                        ds[key],
                        rel_base,
                        from_cwd=dotted in cwd_keys,
                        data_root=cfg.get("data_root") if "{data_root}" in original else None,
                        root_from_cwd="data_root" in cwd_keys,
                    )
                )

    seen = set()
    for i, m in enumerate(cfg["methods"]):
        cls = head_class(m["head"])
        assert cls is not None  # validate_config refused unknown heads
        m["head"] = (
            cls.__name__
        )  # a registry name (bt-mlp) becomes its class name, as the cells expect
        name = str(m.get("name") or m["head"])
        if name in seen:
            raise ConfigError(
                f"{where}: methods[{i}].name: two methods are named {name!r}; names must be unique."
            )
        seen.add(name)
        m["name"] = name
        if m.get("params") is None:
            m["params"] = {}
    baseline = cfg.get("baseline") or cfg["methods"][0]["name"]
    if baseline not in seen:
        raise ConfigError(
            f"{where}: baseline {baseline!r} is not one of the methods {sorted(seen)}."
        )
    cfg["baseline"] = baseline
    if cfg.get("eval") is None:
        cfg["eval"] = {}
    return cfg


_UNSAFE_NAME_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")


def _path_name(name: Any, where: str) -> str:
    """``name`` as text, if it can be one part of a file name: a dataset's name names its files
    under ``OUT/prepared/``, so no folder separator, ``..``, control character or NUL may leave
    that folder."""
    text = str(name)
    if (
        text in (".", "..")
        or _UNSAFE_NAME_CHARS.search(text)
        or not text.strip()
        or len(text) > 100
    ):
        raise ConfigError(
            f"{where}: {text[:60]!r} cannot be used as a name: it becomes part of a file name under OUT/prepared/, "
            "so it must be 1 to 100 characters without '/', '\\', control characters or NUL, and not '.' or '..'."
        )
    return text


def _missing_file(
    where: str,
    key: str,
    written: str,
    resolved: str,
    rel_base: Path,
    *,
    from_cwd: bool,
    data_root: str | None,
    root_from_cwd: bool,
) -> str:
    """Say which file is missing, where its relative path was resolved from, and how to point elsewhere."""
    if data_root is not None:
        origin = (
            "given with --set, resolved from the current directory"
            if root_from_cwd
            else "written in the config, resolved from the config file's folder"
        )
        how = (
            f"written as {written!r} with data_root = {data_root} ({origin}); "
            "point data_root at the data with --set data_root=PATH (relative to the current directory)"
        )
    elif Path(written).is_absolute():
        how = f"written as {written!r}"
    elif from_cwd:
        how = f"written as {written!r} with --set, resolved from the current directory {rel_base}"
    else:
        how = (
            f"written as {written!r}; relative paths in a config are resolved from the config file's folder "
            f"{rel_base}, not from the current directory"
        )
    return f"{where}: {key}: {resolved} does not exist ({how})."


def spec_hash(obj: Any) -> str:
    """A short stable hash of a JSON-able spec (used to key results by what produced them)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


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
        nxt = (
            node[int(part)]
            if isinstance(node, list) and part.isdigit() and int(part) < len(node)
            else (node.get(part) if isinstance(node, dict) else None)
        )
        if nxt is None:
            if not isinstance(node, dict):
                raise ConfigError(
                    f"--set {key}: {'.'.join(parts[: j + 1])} does not exist in {path}."
                )
            nxt = node[part] = {}
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"--set {key}: index {last} is out of range in {path}.")
        node[int(last)] = value
    else:
        node[last] = value
