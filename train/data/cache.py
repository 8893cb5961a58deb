"""A versioned npz cache for simulated data sets (N-body, molecular dynamics, ...).

``cached(cache_dir, name, args, make)`` returns the arrays ``make()`` builds, read
from ``cache_dir/<name>_<hash of args>.npz`` when a file written with the same
``args`` exists; otherwise it calls ``make()`` and writes the file atomically (a
temporary file, then a rename). Put a version number in ``args`` and bump it
whenever the generator changes, so stale files are never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable

import numpy as np

__all__ = ["cached", "cache_path"]


def _key(args: dict) -> str:
    return json.dumps(args, sort_keys=True)


def cache_path(cache_dir: str | os.PathLike, name: str, args: dict) -> str:
    """``cache_dir/<name>_<16 hex digits of the args' hash>.npz``."""
    digest = hashlib.sha256(_key(args).encode()).hexdigest()[:16]
    return os.path.join(os.fspath(cache_dir), f"{name}_{digest}.npz")


def _load(path: str, args: dict) -> dict[str, np.ndarray] | None:
    if not os.path.isfile(path):
        return None
    with np.load(path) as f:
        if "args" not in f or str(f["args"]) != _key(args):
            return None
        return {k: f[k] for k in f.files if k != "args"}


def _save(path: str, arrays: dict[str, np.ndarray], args: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, args=_key(args), **arrays)
    os.replace(tmp, path)


def cached(cache_dir: str | os.PathLike | None, name: str, args: dict,
           make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of ``make()`` (a dict of numpy arrays), cached under ``cache_dir``
    (None: no cache) by ``name`` and the JSON-ready ``args`` that determine them."""
    if cache_dir is None:
        return make()
    path = cache_path(cache_dir, name, args)
    arrays = _load(path, args)
    if arrays is None:
        arrays = make()
        _save(path, arrays, args)
    return arrays
