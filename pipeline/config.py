"""One parser for every config: params.yaml sections and catalog entries become frozen
dataclasses, checked against their type hints and the bounds declared beside each field.

A field says what it accepts once, where it is defined: its type (`Literal[...]` for a
choice, `tuple[X, ...]` for a list, `dict[K, V]`, a nested dataclass, `X | None`) and, in
`setting(...)`, its range and whether a list may be empty or hold repeats. Floats must be
finite unless a field allows otherwise: YAML's `.nan` passes every comparison test and would
quietly put every face in train. Whatever does not fit is one error naming the key's full
path (`train.models.simple_cnn.lr`), raised as the caller's error type.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pipeline.errors import MasksetError, ParamsError

C = TypeVar("C")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    nonempty: bool = False,
    unique: bool = False,
    finite: bool = True,
    weights: bool = False,
) -> Any:
    """A dataclass field with its constraints; bounds apply to a number, or to every number
    of a list or dict value. `weights`: a dict of how often each key is drawn, which may
    also be given as a list of keys, drawn equally often."""
    bounds = {"ge": ge, "gt": gt, "le": le, "lt": lt}
    bounds |= {"nonempty": nonempty, "unique": unique, "finite": finite, "weights": weights}
    if isinstance(default, list | dict | set):
        frozen = default
        return dataclasses.field(default_factory=lambda: type(frozen)(frozen), metadata=bounds)
    return dataclasses.field(default=default, metadata=bounds)


class _Invalid(Exception):
    def __init__(self, where: str, message: str, sep: str = " ") -> None:
        super().__init__(f"`{where}`{sep}{message}")


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    if origin is dict or hint is dict:
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _number(value: Any, hint: Any, where: str, meta: dict) -> Any:
    wrong = not isinstance(value, int | float) or (hint is int and isinstance(value, float))
    if isinstance(value, bool) or wrong:
        raise _Invalid(where, f"must be {_describe(hint)}, got {value!r}")
    if meta.get("finite", True) and isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(where, f"must be a finite number, got {value!r}")
    for key, test, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = meta.get(key)
        if bound is not None and not test(value, bound):
            raise _Invalid(where, f"must be {word} {bound}, got {value!r}")
    return float(value) if hint is float else value


def _convert(value: Any, hint: Any, where: str, meta: dict) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _convert(value, arg, where, meta)
                except _Invalid:
                    continue
        raise _Invalid(where, f"must be {_describe(hint)}, got {value!r}")
    if value is None and hint is not type(None):
        raise _Invalid(where, f"must be {_describe(hint)}, got null")
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise _Invalid(where, f"must be {_describe(hint)}, got {value!r}")
        return value
    if hint in (int, float):
        return _number(value, hint, where, meta)
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise _Invalid(where, f"must be {_describe(hint)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Invalid(where, f"must be {_describe(hint)}, got {value!r}")
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise _Invalid(where, f"must be {_describe(hint)}, got {len(value)} value(s): {list(value)!r}")
        if meta.get("nonempty") and not value:
            raise _Invalid(where, "must not be empty")
        if meta.get("unique") and len(set(map(repr, value))) < len(value):
            raise _Invalid(where, f"lists a value twice: {list(value)!r}")
        pairs = enumerate(zip(value, items, strict=True))
        return tuple(_convert(v, h, f"{where}[{i}]", meta) for i, (v, h) in pairs)
    if origin is dict or hint is dict:
        if meta.get("weights") and isinstance(value, list | tuple):
            if len(set(map(repr, value))) < len(value):
                raise _Invalid(where, f"lists a value twice: {list(value)!r}")
            value = {key: 1.0 for key in value}
        if not isinstance(value, dict):
            raise _Invalid(where, f"must be a mapping, got {value!r}")
        if meta.get("nonempty") and not value:
            raise _Invalid(where, "must not be empty")
        if not args:
            return dict(value)
        key_hint, value_hint = args
        return {
            _convert(k, key_hint, f"{where}.{k}", {}): _convert(v, value_hint, f"{where}.{k}", meta)
            for k, v in value.items()
        }
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    return value


def _build(cls: Callable[..., C], values: Any, where: str) -> C:
    if not isinstance(values, dict):
        raise _Invalid(where, f"must be a mapping of keys, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - set(fields)
    if unknown:
        raise _Invalid(where, f"has unknown key(s) {sorted(map(str, unknown))}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {
        name: _convert(value, hints[name], f"{where}.{name}" if where else name, dict(fields[name].metadata))
        for name, value in values.items()
    }
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise _Invalid(where, f"needs key(s) {missing}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # the cross-field checks of __post_init__
        raise _Invalid(where, str(exc), sep=": ") from None


def parse(
    cls: Callable[..., C],
    values: Any,
    where: str,
    error: type[MasksetError] = ParamsError,
    prefix: str = "",
) -> C:
    """`values` (a params section, a catalog entry) as the frozen dataclass `cls`, or one
    `error` naming the key that does not fit and what it accepts (after `prefix`, e.g. the
    file it is in)."""
    try:
        return _build(cls, values, where)
    except _Invalid as exc:
        raise error(f"{prefix}{exc}") from None
