"""Typed experiment configs and ``--set key=value`` overrides.

An experiment's config is a ``@config`` class: a frozen dataclass whose fields
have plain types (bool, int, float, str, tuples of them, or Optional of these)
and that validates itself on construction with ``validate(self)``, raising
``ValueError`` in the house format of ``analog.spec`` ("Config.field = value is
invalid: allowed ..."; ``check_range`` / ``check_choice`` / ``check_positive`` /
``check_above_zero``). ``apply_overrides`` turns command-line strings into those
types and raises ``ConfigError`` with a message naming the key and the allowed
values; the CLI turns that into exit status 2.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from analog.spec import check_choice, check_range  # noqa: F401  (re-exported for configs)


class ConfigError(ValueError):
    """A user mistake in a config override: the CLI prints it and exits with status 2."""


def config(cls):
    """Make ``cls`` an experiment config: a frozen dataclass that runs ``validate(self)``
    (if defined) on construction and on every ``dataclasses.replace``."""
    validate = getattr(cls, "validate", None)

    def __post_init__(self):
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
