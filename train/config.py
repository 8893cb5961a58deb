"""Typed experiment configs and ``--set key=value`` overrides.

An experiment's config is a ``@config`` class: a frozen dataclass whose fields
have plain types (bool, int, float, str, tuples of them, or Optional of these).
Every field says what it allows with ``field(default, lo=, hi=, choices=,
min_len=, kind=)``: a range for numbers (and for each element of a tuple of
numbers), a minimum length for tuples, choices for names, ``kind="path"`` for a
file or directory (checked when it is read). ``@config`` checks them on
construction, then runs ``validate(self)`` for what spans fields, all raising
``ValueError`` in the house format of ``analog.spec`` ("Config.field = value is
invalid: allowed ..."). ``apply_overrides`` turns command-line strings into those
types and raises ``ConfigError`` with a message naming the key and the allowed
values; the CLI turns that into exit status 2.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from analog.spec import check_choice, check_range


class ConfigError(ValueError):
    """A user mistake in a config override: the CLI prints it and exits with status 2."""


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What a config field allows (see ``field``)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    choices: tuple | None = None
    min_len: int | None = None
    kind: str | None = None  # "path": a file or directory, "text": free text
    optional: bool = False

    def check(self, obj: Any, name: str) -> None:
        value = getattr(obj, name)
        if value is None:
            if not self.optional:
                raise ValueError(f"{type(obj).__name__}.{name} = None is invalid: allowed a value")
            return
        if isinstance(value, tuple) and self.min_len is not None and len(value) < self.min_len:
            raise ValueError(f"{type(obj).__name__}.{name} = {value!r} is invalid: allowed at least "
                             f"{self.min_len} value(s)")
        if self.choices is not None:
            check_choice(obj, name, self.choices)
        elif self.lo is not None or self.hi is not None or self.integer:
            check_range(obj, name, self.lo, self.hi, lo_open=self.lo_open, hi_open=self.hi_open, integer=self.integer)


def field(default: Any, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
          hi_open: bool = False, integer: bool | None = None, choices: typing.Iterable | None = None,
          min_len: int | None = None, kind: str | None = None) -> Any:
    """A config field and what it allows: numbers in ``[lo, hi]`` (open ends with
    ``lo_open`` / ``hi_open``; ``integer`` defaults to the default's type), one of
    ``choices``, tuples of at least ``min_len`` values (each element checked), or
    ``kind="path"`` / ``"text"`` for strings checked where they are used. A default
    of None makes the field optional; a bool default allows True and False."""
    if isinstance(default, bool) and choices is None:
        choices = (True, False)
    example = default[0] if isinstance(default, tuple) and default else default
    if integer is None:
        integer = isinstance(example, int) and not isinstance(example, bool)
    allowed = Allowed(lo, hi, lo_open, hi_open, integer, None if choices is None else tuple(choices),
                      min_len, kind, default is None)
    return dataclasses.field(default=default, metadata={"allowed": allowed})


def allowed(cls_or_obj, name: str) -> Allowed | None:
    """The ``Allowed`` of a config field (None for a field declared without ``field``)."""
    return next(f.metadata.get("allowed") for f in dataclasses.fields(cls_or_obj) if f.name == name)


def config(cls):
    """Make ``cls`` an experiment config: a frozen dataclass that checks every field's
    ``Allowed`` and then runs ``validate(self)`` (if defined), on construction and on
    every ``dataclasses.replace``."""
    validate = getattr(cls, "validate", None)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if "allowed" in f.metadata:
                f.metadata["allowed"].check(self, f.name)
        if validate is not None:
            validate(self)

    cls.__post_init__ = __post_init__
    return dataclasses.dataclass(frozen=True)(cls)


def check_positive(config: Any, names: typing.Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first field in ``names`` that is not an integer >= 1."""
    for name in names:
        check_range(config, name, 1, integer=True)


def check_above_zero(config: Any, names: typing.Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first field in ``names`` that is not a finite
    number > 0 (rates, step sizes, tolerances; NaN fails too)."""
    for name in names:
        check_range(config, name, 0.0, lo_open=True)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_scalar(text: str, kind: type, key: str) -> Any:
    text = text.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"--set {key}={text!r}: expected a boolean (true/false)")
    if kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text!r}: expected {kind.__name__}") from None
        return value
    if kind is str:
        return text
    raise ConfigError(f"--set {key}: fields of type {kind} cannot be set from the command line")


def parse_value(text: str, annotation: Any, key: str) -> Any:
    """Convert ``text`` to ``annotation`` (bool, int, float, str, tuple[...] or X | None)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], key)
    if origin is tuple:
        items = [t for t in text.split(",") if t.strip()]
        kind = args[0] if args else str
        return tuple(_parse_scalar(t, kind, key) for t in items)
    return _parse_scalar(text, annotation, key)


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """A copy of ``config`` with ``["key=value", ...]`` applied, type-checked and validated."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in fields:
            raise ConfigError(f"--set {key}: unknown key; allowed keys: {', '.join(sorted(fields))}")
        changes[key] = parse_value(text, hints[key], key)
    try:
        return dataclasses.replace(config, **changes)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def as_dict(config: Any) -> dict:
    """The config as a JSON-ready dict."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
