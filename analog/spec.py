"""Frozen, validated hardware specs registered as JAX pytrees.

Every hardware setting in memristax is a ``@spec`` dataclass: immutable, a pytree
(so a spec can be passed through ``jit`` and even ``vmap``-ed over, e.g. to sweep
a noise level), and checked on construction. Fields marked ``static()`` (bit
widths, tile sizes, mode strings) are pytree metadata, so ``jit`` specialises on
them; every other field is a pytree leaf.

Validation runs when a spec is constructed, on every concrete value: Python and
NumPy numbers, NumPy arrays and concrete JAX arrays alike (every element of an
array is checked), so ``RRAM(prog_sigma=jnp.array(-1e-6))`` fails as
``RRAM(prog_sigma=-1e-6)`` does. A string, None (unless the field allows it) or
another non-number where a number belongs fails too. Only genuinely traced
values (inside ``jit`` / ``vmap``) are skipped, and when JAX (or equinox) rebuilds
a spec from traced or stand-in leaves, ``__init__`` is bypassed altogether.

A traced sweep is checked where its values are concrete: build the spec once
with the whole array of values, ``RRAM(prog_sigma=jnp.array([1e-6, 5e-6]))``,
which validates every element, then ``vmap`` over the values (or over specs
built inside the vmap) knowing they are valid.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, TypeVar

import jax
import numpy as np

T = TypeVar("T")

__all__ = ["spec", "static", "check_range", "check_choice", "check_pair", "check_finite", "is_concrete", "is_traced"]


def static(default: Any = dataclasses.MISSING, **kwargs) -> Any:
    """A spec field that is pytree metadata (hashable, jit-static): bits, sizes, modes."""
    return dataclasses.field(default=default, metadata={"static": True}, **kwargs)


def is_concrete(value: Any) -> bool:
    """True for a Python or NumPy number, a NumPy array or a concrete JAX array;
    False for tracers (inside jit / vmap) and for anything that is not a number."""
    if isinstance(value, (bool, np.bool_, numbers.Number, np.ndarray, np.generic)):
        return True
    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)


def is_traced(value: Any) -> bool:
    """True for a JAX tracer (a value inside jit / vmap / grad)."""
    return isinstance(value, jax.core.Tracer)


def _fail(cls_name: str, field: str, value: Any, allowed: str) -> None:
    raise ValueError(f"{cls_name}.{field} = {value!r} is invalid: allowed {allowed}")


def check_range(
    obj: Any,
    field: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_none: bool = False,
    integer: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``field`` if ``obj.field`` is outside ``[lo, hi]``.

    Works on scalars and on tuples / arrays (every element is checked). Traced
    values are skipped (see module docstring).
    """
    value = getattr(obj, field)
    name = type(obj).__name__
    if value is None:
        if not allow_none:
            _fail(name, field, value, "a number, not None")
        return
    values = value if isinstance(value, (tuple, list)) else [value]
    lo_txt = "-inf" if lo is None else f"{lo:g}"
    hi_txt = "inf" if hi is None else f"{hi:g}"
    allowed = f"{'(' if lo_open else '['}{lo_txt}, {hi_txt}{')' if hi_open else ']'}"
    if integer:
        allowed = "an integer in " + allowed
    for v in values:
        if is_traced(v):
            continue
        if not is_concrete(v) or isinstance(v, (bool, np.bool_)):
            _fail(name, field, value, allowed + " (a number)")
        arr = np.asarray(v)
        if not (np.issubdtype(arr.dtype, np.number)) or np.issubdtype(arr.dtype, np.complexfloating):
            _fail(name, field, value, allowed + " (a real number)")
        if integer and not np.issubdtype(arr.dtype, np.integer):
            _fail(name, field, value, allowed)
        if not np.all(np.isfinite(arr)):
            _fail(name, field, value, allowed + " (finite)")
        if lo is not None and np.any(arr <= lo if lo_open else arr < lo):
            _fail(name, field, value, allowed)
        if hi is not None and np.any(arr >= hi if hi_open else arr > hi):
            _fail(name, field, value, allowed)


def check_pair(obj: Any, field: str, lo: float | None = None, hi: float | None = None) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``obj.field`` is a ``(low, high)``
    pair of numbers in ``[lo, hi]`` with ``low <= high``."""
    value = getattr(obj, field)
    name = type(obj).__name__
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        _fail(name, field, value, "a (low, high) pair")
    check_range(obj, field, lo, hi)
    low, high = value
    if is_concrete(low) and is_concrete(high) and not np.all(np.asarray(low) <= np.asarray(high)):
        _fail(name, field, value, "a (low, high) pair with low <= high")


def check_finite(name: str, x: Any) -> None:
    """Raise ``ValueError`` if the concrete array ``x`` holds NaN or inf (an argument
    called ``name``). Traced values are skipped: under ``jit``, wrap the function with
    ``jax.experimental.checkify.checkify(f, errors=checkify.float_checks)`` to find
    where a NaN is made (see the README's "Errors" section)."""
    if is_traced(x) or not is_concrete(x):
        return
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or inf) of {a.size}: allowed finite numbers")


def check_choice(obj: Any, field: str, choices: tuple) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``obj.field`` is one of ``choices``
    (for a tuple or list field: unless every element is)."""
    value = getattr(obj, field)
    values = value if isinstance(value, (tuple, list)) else (value,)
    if any(v not in choices for v in values):
        _fail(type(obj).__name__, field, value, f"one of {choices}")


def spec(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass, a JAX pytree, and give it ``replace``.

    ``cls`` may define ``validate(self)``; it runs after construction.
    """
    validate: Callable | None = getattr(cls, "validate", None)

    def __post_init__(self):
        if validate is not None:
            validate(self)

    cls.__post_init__ = __post_init__
    cls = dataclasses.dataclass(frozen=True)(cls)

    def replace(self, **changes):
        """Copy of this spec with ``changes`` applied (and validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no field(s) {sorted(unknown)}; "
                f"fields are {[f.name for f in dataclasses.fields(self)]}"
            )
        return dataclasses.replace(self, **changes)

    cls.replace = replace
    return _register(cls)


def _register(cls):
    """Register ``cls`` as a pytree whose unflattening skips ``__init__`` (and so validation):
    JAX and equinox rebuild specs with tracers or stand-in leaves (None, object())."""
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten_with_keys(obj):
        children = [(jax.tree_util.GetAttrKey(name), getattr(obj, name)) for name in data]
        return children, tuple(getattr(obj, name) for name in meta)

    def flatten(obj):
        return [getattr(obj, name) for name in data], tuple(getattr(obj, name) for name in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(meta, aux):
            object.__setattr__(obj, name, value)
        for name, value in zip(data, children):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
