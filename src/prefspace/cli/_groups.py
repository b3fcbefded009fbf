"""Option groups: a block of command options shared by several commands, handed to each
command as one frozen dataclass.

:func:`option_group` ties a dataclass to the typer options of its fields; the group, called,
decorates a command so that one parameter of the command stands for the whole block::

    @dataclasses.dataclass(frozen=True)
    class DataColumns:
        prompt_key: PromptKey = None  # PromptKey = option(str | None, "--prompt-key", help=...)
        ...

    data_columns = option_group(DataColumns, "columns")

    @app.command()
    @data_columns(exclude=("dedupe",))
    def validate(data: DataArg, columns: DataColumns): ...

The groups themselves live beside their options: data columns, a pool's columns and a server's
address in :mod:`prefspace.cli._options`, the encoder groups in
:mod:`prefspace.cli._encoder_options`, embed's scaling options in :mod:`prefspace.cli._scaling`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any

__all__ = ["OptionGroup", "option_group", "option", "argument", "panel_options"]


def _with_help(annotated: Any, help: str | None) -> Any:
    """``annotated`` (an ``Annotated[type, typer.Option(...)]``) with another help text."""
    if help is None:
        return annotated
    kind, info = typing.get_args(annotated)[:2]
    info = copy.copy(info)
    info.help = help
    return Annotated[kind, info]


@dataclasses.dataclass(frozen=True)
class OptionGroup:
    """A block of options several commands share, handed to a command as one object.

    ``cls`` is a frozen dataclass; ``options`` maps each of its fields to ``(annotated type,
    command-line default)``, the annotated type carrying the typer option (:func:`option_group`
    reads them off the dataclass). Calling the group gives a decorator (put it under
    ``@app.command()``): the command declares one parameter named ``param``, where the group's
    options are to appear in ``--help``, and the command line sees one option per field (minus
    ``exclude``, which keep the dataclass's default). ``helps`` and ``defaults`` give a command
    its own help text or default for a field, where the flag means something narrower there; the
    flag and the field keep their names.
    """

    cls: type
    options: Mapping[str, tuple[Any, Any]]
    param: str

    def __call__(
        self,
        *,
        exclude: tuple[str, ...] = (),
        helps: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> Callable[[Callable], Callable]:
        helps, defaults = dict(helps or {}), dict(defaults or {})
        unknown = (set(exclude) | set(helps) | set(defaults)) - set(self.options)
        if unknown:
            raise ValueError(f"not {self.cls.__name__} options: {sorted(unknown)}")
        options = {
            name: (_with_help(kind, helps.get(name)), defaults.get(name, default))
            for name, (kind, default) in self.options.items()
            if name not in exclude
        }
        return functools.partial(_expand, self, options)


def _expand(group: OptionGroup, options: dict[str, tuple[Any, Any]], func: Callable) -> Callable:
    """``func`` with ``group.param`` replaced by the group's options (see :class:`OptionGroup`)."""
    # typer reads the new signature as is, so the command's own (postponed) annotations are
    # resolved here; the group's class resolves even where the command's module imports it locally
    signature = inspect.signature(func, eval_str=True, locals={group.cls.__name__: group.cls})
    if group.param not in signature.parameters:
        raise TypeError(
            f"{func.__name__} needs a '{group.param}: {group.cls.__name__}' parameter for its options"
        )
    clash = set(options) & set(signature.parameters)
    if clash:
        raise TypeError(f"{func.__name__}: parameters {sorted(clash)} clash with its option group")
    params = []  # typer passes every value by keyword, so each parameter may be keyword-only
    for p in signature.parameters.values():
        if p.name != group.param:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        params += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
            for n, (kind, default) in options.items()
        ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        values = group.cls(**{n: kwargs.pop(n) for n in options if n in kwargs})
        return func(**kwargs, **{group.param: values})

    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    del command.__wrapped__  # typer must read the new signature, not the function's own
    return command


def option_group(
    cls: type, param: str, *, defaults: Mapping[str, Any] | None = None
) -> OptionGroup:
    """The :class:`OptionGroup` of a frozen dataclass whose fields are typed with options
    (``field: SomeOption = default``, ``SomeOption`` an :func:`option`), collected into a
    command's parameter ``param``. An option's default is its field's, unless ``defaults`` gives
    the command line another (``DataColumns`` keeps None, "not given", where ``--ties`` shows
    ``drop``).
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    options = {}
    for f in dataclasses.fields(cls):
        if typing.get_origin(hints[f.name]) is not Annotated:
            raise TypeError(f"{cls.__name__}.{f.name} is not typed with an option")
        options[f.name] = (hints[f.name], (defaults or {}).get(f.name, f.default))
    return OptionGroup(cls, options, param)


def _optional(kind: Any) -> bool:
    return type(None) in typing.get_args(kind)


def option(kind: Any, *flags: str, help: str, **settings: Any) -> Any:
    """``Annotated[kind, typer.Option(*flags, help=help, **settings)]``: a command option as a
    type, declared once at module level. An optional value (``kind`` admits None) shows no
    default in ``--help`` unless ``show_default`` says otherwise.

    >>> typing.get_args(option(int | None, "--limit", help="At most this many."))[1].show_default
    False
    """
    import typer

    settings.setdefault("show_default", not _optional(kind))
    return Annotated[kind, typer.Option(*flags, help=help, **settings)]


def argument(kind: Any, help: str, **settings: Any) -> Any:
    """``Annotated[kind, typer.Argument(help=help, show_default=False, **settings)]``: a command
    argument as a type, declared once at module level."""
    import typer

    settings.setdefault("show_default", False)
    return Annotated[kind, typer.Argument(help=help, **settings)]


def panel_options(panel: str) -> Callable[..., Any]:
    """:func:`option` for the options shown together under ``panel`` in ``--help``.

    >>> scaling_option = panel_options("Scaling")
    >>> typing.get_args(scaling_option(int, "--num-shards", help="Slices."))[1].rich_help_panel
    'Scaling'
    """
    return functools.partial(option, rich_help_panel=panel)
