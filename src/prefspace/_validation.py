"""Input checks shared by every estimator. Private: call them, do not re-export them."""

from __future__ import annotations

from typing import Any

import numpy as np

from .exceptions import ConfigError, DataError, ShapeError


def _finite_float32(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as float32, refused unless numeric and finite."""
    if not np.issubdtype(arr.dtype, np.number):
        raise ShapeError(f"{name} must be numeric; got dtype {arr.dtype}.")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ShapeError(f"{name} contains NaN or infinite values.")
    return arr


def _check_dim(arr: np.ndarray, dim: int | None, name: str, what: str) -> np.ndarray:
    """``arr``, refused when its last axis is not ``dim`` (the model's) and ``dim`` is given."""
    if dim is not None and arr.shape[-1] != dim:
        raise ShapeError(
            f"{name} has {what} {arr.shape[-1]} but the model was fitted on dimension {dim}. "
            "Embed with the same encoder (and layout) the model was trained with."
        )
    return arr


def check_pairs(X: Any, *, name: str = "X", dim: int | None = None) -> np.ndarray:
    """Validate pair embeddings and return them as a float32 array of shape (n_pairs, 2, dim).

    ``X[:, 0]`` is the chosen (preferred) response, ``X[:, 1]`` the rejected one.
    """
    arr = np.asarray(X)
    if arr.ndim == 2:
        raise ShapeError(
            f"{name} must have shape (n_pairs, 2, dim); got {arr.shape}. "
            "To score single responses use predict(), which takes (n, dim)."
        )
    if arr.ndim != 3 or arr.shape[1] != 2:
        raise ShapeError(
            f"{name} must have shape (n_pairs, 2, dim) with {name}[:, 0] the chosen response; got {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ShapeError(f"{name} holds no pairs (shape {arr.shape}).")
    arr = _finite_float32(arr, name)
    return _check_dim(arr, dim, name, "embedding dimension")


def check_embeddings(E: Any, *, name: str = "E", dim: int | None = None) -> np.ndarray:
    """Validate single-response embeddings and return them as float32 of shape (n, dim)."""
    arr = np.asarray(E)
    if arr.ndim == 3 and arr.shape[1] == 2:
        raise ShapeError(
            f"{name} must have shape (n, dim); got pairs of shape {arr.shape}. "
            "To compare pairs use predict_proba() or score(), which take (n_pairs, 2, dim)."
        )
    if arr.ndim == 1 and dim is not None and arr.shape[0] == dim:
        raise ShapeError(
            f"{name} must have shape (n, dim); got one vector {arr.shape}. Use E[None, :]."
        )
    if arr.ndim != 2:
        raise ShapeError(f"{name} must have shape (n, dim); got {arr.shape}.")
    arr = _finite_float32(arr, name)
    return _check_dim(arr, dim, name, "dimension")


def check_sample_vector(v: Any, n: int, *, name: str) -> np.ndarray | None:
    """Validate an optional per-pair vector (sample_weight, margin) of length n."""
    if v is None:
        return None
    arr = np.asarray(v, dtype=np.float64)
    if arr.shape != (n,):
        raise ShapeError(f"{name} must have shape ({n},) to match X; got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ShapeError(f"{name} contains NaN or infinite values.")
    if name == "sample_weight" and (arr < 0).any():
        raise ShapeError("sample_weight must be non-negative.")
    return arr


def check_random_state(random_state: Any, *, name: str = "random_state") -> np.random.Generator:
    """Turn ``random_state`` into a numpy Generator: the one meaning every estimator shares.

    - ``None``: fresh, unpredictable randomness (a new Generator seeded from the OS);
    - an int ``>= 0``: a Generator seeded with it, so the same int gives the same result;
    - a ``numpy.random.Generator``: used as it is (its state advances; pass the same
      Generator to several estimators to chain them from one seed).

    >>> check_random_state(0).integers(10, size=3).tolist() == check_random_state(0).integers(10, size=3).tolist()
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (int, np.integer)) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if random_state < 0:
            raise ConfigError(f"{name} must be a non-negative int; got {random_state}.")
        return np.random.default_rng(int(random_state))
    raise ConfigError(
        f"{name} must be None, a non-negative int or a numpy Generator; got {random_state!r}."
    )


def seed_from(random_state: Any, *, name: str = "random_state") -> int:
    """An int seed in ``[0, 2**31 - 1)`` for libraries that take one (torch, LightGBM).

    An int ``random_state`` is returned unchanged, so a seeded estimator makes the same draws it
    always made; ``None`` gives a fresh seed and a Generator gives its next draw.

    >>> seed_from(7), 0 <= seed_from(None) < 2**31 - 1
    (7, True)
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        check_random_state(random_state, name=name)  # the same checks
        return int(random_state)
    return int(check_random_state(random_state, name=name).integers(2**31 - 1))


def check_in(value: Any, allowed: tuple, *, name: str) -> Any:
    """Refuse a parameter value outside ``allowed`` with a message listing the choices."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return value


def check_text_list(texts: Any, *, name: str = "texts") -> list[str]:
    """``texts`` as a list of strings, or a DataError naming the first bad element (a single
    string is refused too: it is a common slip for a list of one).

    Example
    -------
    >>> check_text_list(("a", "b"))
    ['a', 'b']
    >>> check_text_list(["a", 3], name="responses")
    Traceback (most recent call last):
    ...
    prefspace.exceptions.DataError: responses[1] must be a string; got int.
    """
    if isinstance(texts, str):
        raise DataError(
            f"{name} must be a list of strings; got one string. Wrap it: [{texts[:30]!r}...]."
        )
    try:
        out = list(texts)
    except TypeError:
        raise DataError(f"{name} must be a list of strings; got {type(texts).__name__}.") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DataError(f"{name}[{i}] must be a string; got {type(t).__name__}.")
    return out


def check_whole(value: Any, *, name: str, minimum: int = 1, what: str = "") -> int:
    """``value`` as an int when it is a whole number ``>= minimum`` (``3`` or ``3.0``; not
    ``True``, ``2.5`` or ``"3"``), else a ConfigError naming ``name`` (and ``what`` it counts).

    Example
    -------
    >>> check_whole(4, name="factor")
    4
    >>> check_whole(0, name="factor", what="synthetic pairs per real pair")
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: factor must be a whole number >= 1 (synthetic pairs per real pair); got 0.
    """
    whole = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, (bool, np.bool_)) or not whole or value < minimum:
        extra = f" ({what})" if what else ""
        raise ConfigError(f"{name} must be a whole number >= {minimum}{extra}; got {value!r}.")
    return int(value)


def check_positive(value: Any, *, name: str, allow_zero: bool = False) -> float:
    """Refuse a non-positive (or negative) number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number; got {value!r}.") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be {bound}; got {value!r}.")
    return v


def check_params(cls: type, params: dict, *, what: str) -> None:
    """Refuse constructor parameters ``cls`` does not take, naming them and the ones it does.

    The registries (heads, synthesizers, selectors) call it before building an estimator by
    name; ``what`` names the choice in the message (e.g. ``"head 'bt-mlp'"``).
    """
    accepted = sorted(cls().get_params(deep=False))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"{cls.__name__} ({what}) has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(accepted) or 'none'}."
        )
