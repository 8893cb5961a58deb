"""Monte Carlo robustness studies: one metric, many chips, one vmap.

A study evaluates ``metric(key, *args)`` -- e.g. the test accuracy of a model
programmed with the chip key ``key`` -- for every chip key::

    keys = chip_keys(0, 1000)                                  # (1000, 2) uint32
    acc = evaluate(metric, keys, params, x_test, y_test)       # (1000,) numpy
    summarize(acc)                                             # {"mean": ..., "ci_low": ...}

How it runs (DESIGN.md, convention 4): chips are processed in chunks of
``chunk_size`` (rounded up to a multiple of the device count). Each chunk is one
call of ``jit(vmap(metric))``, compiled once per (metric, mesh, shapes) and
reused: the last chunk is padded with copies of the last key and the padding is
dropped afterwards. The chunk's keys are sharded over a 1-D mesh of
``jax.devices()`` along the chip axis (``NamedSharding(mesh, P("chips"))``);
the other arguments are replicated.

Determinism: chip ``i`` is a function of key ``i`` and the arguments only, so
its random draws (programming and read noise) are bit-identical whatever the
chunk size or device count; a 100-chip study is the first 100 chips of a
1000-chip one. What can differ is the last bit of float reductions inside the
metric: XLA compiles a different program for each per-device batch size
(chunk / devices) and picks the vectorisation of a reduction by its operand's
shape (on CPU; cuBLAS picks kernels by batch size on GPU), so e.g. a mean over
1000 values may round differently for batches of 4 and of 32. Float values
therefore agree to a few ulp (tests use rtol 2e-6); discrete metrics such as
accuracies are exact. Forcing bit-identity would mean giving up the vmap.

Multi-host: after ``jax.distributed.initialize()`` the same call works
unchanged. ``jax.devices()`` then names every process's devices, so the mesh is
global; every process must call ``evaluate`` with the same keys and arguments
(SPMD). Inputs are placed with ``jax.make_array_from_callback`` (each process
supplies its own shards of the identical host data) and per-chip results are
gathered on every process with ``multihost_utils.process_allgather``. This
path is not tested here (no multi-host machine); the multi-device path is,
with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from scipy import stats
from tqdm.auto import tqdm

__all__ = ["chip_keys", "evaluate", "sweep", "summarize"]

AXIS = "chips"


def chip_keys(seed_or_key, n_chips: int) -> jax.Array:
    """One program key per chip: key ``i`` is ``fold_in(base, i)``.

    seed_or_key: an int seed (base ``jax.random.PRNGKey(seed)``) or a key, raw
        uint32 (2,) or typed scalar.
    Returns (n_chips, 2) uint32 raw keys, or (n_chips,) typed keys for a typed
    base key. Key ``i`` does not depend on ``n_chips``: a 100-chip study is the
    first 100 chips of a 1000-chip one.
    """
    if isinstance(n_chips, bool) or not isinstance(n_chips, (int, np.integer)) or n_chips < 1:
        raise ValueError(f"n_chips = {n_chips!r} is invalid: allowed integers >= 1")
    if isinstance(seed_or_key, (int, np.integer)) and not isinstance(seed_or_key, bool):
        base = jax.random.PRNGKey(int(seed_or_key))
    elif isinstance(seed_or_key, (jax.Array, np.ndarray)) and _is_single_key(seed_or_key):
        base = seed_or_key
    else:
        raise ValueError(f"seed_or_key = {seed_or_key!r} is invalid: allowed an int seed or one jax.random key")
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(n_chips, dtype=jnp.uint32))


def _is_typed(keys) -> bool:
    return jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)


def _is_single_key(k) -> bool:
    return k.shape == () if _is_typed(k) else (k.shape == (2,) and k.dtype == np.uint32)


@functools.lru_cache(maxsize=64)
def _compiled(metric: Callable, mesh: Mesh, impl: str | None) -> Callable:
    """jit(vmap(metric)) over raw key data (chunk, ...) -> pytree with leading chunk axis."""

    def batched(key_data, args, kwargs):
        keys = key_data if impl is None else jax.random.wrap_key_data(key_data, impl=impl)
        return jax.vmap(lambda k: metric(k, *args, **kwargs))(keys)

    return jax.jit(batched, out_shardings=NamedSharding(mesh, P(AXIS)))


def _put(x, sharding: NamedSharding):
    """Place ``x`` with ``sharding``; multi-host: every process holds the same host copy."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _fetch(tree, count: int):
    """Per-chip results of one chunk on the host, padding dropped."""
    if jax.process_count() > 1:
        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda a: np.asarray(a)[:count], tree)


def _evaluate(metric, keys, args, kwargs, chunk_size, devices, bar):
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size = {chunk_size!r} is invalid: allowed integers >= 1")
    typed = _is_typed(keys)
    key_data = np.asarray(jax.random.key_data(keys) if typed else keys)
    if key_data.ndim < 2 or key_data.shape[0] < 1:
        raise ValueError(f"keys must have shape (n_chips, ...) with n_chips >= 1 (see chip_keys); got {keys.shape}")
    n = key_data.shape[0]
    mesh = Mesh(np.asarray(jax.devices() if devices is None else list(devices)), (AXIS,))
    chunk = math.ceil(min(chunk_size, n) / mesh.size) * mesh.size
    fn = _compiled(metric, mesh, str(jax.random.key_impl(keys)) if typed else None)
    sharded, replicated = NamedSharding(mesh, P(AXIS)), NamedSharding(mesh, P())
    args, kwargs = jax.tree.map(lambda a: _put(a, replicated), (args, kwargs))
    parts, pending = [], None
    for start in range(0, n, chunk):
        index = np.minimum(np.arange(start, start + chunk), n - 1)  # pad with the last key
        out = fn(_put(key_data[index], sharded), args, kwargs)  # dispatch, then fetch the previous chunk
        if pending is not None:
            parts.append(_fetch(*pending))
            bar.update(pending[1])
        pending = (out, min(chunk, n - start))
    parts.append(_fetch(*pending))
    bar.update(pending[1])
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def evaluate(metric: Callable, keys: jax.Array, *args, chunk_size: int = 256, devices=None,
             progress: bool = True, desc: str | None = None):
    """``metric(key, *args)`` for every chip key, vmapped, chunked and sharded.

    metric: one chip's value(s): a scalar or a pytree of arrays, a pure JAX function.
    keys: (n_chips, 2) raw or (n_chips,) typed keys (``chip_keys``).
    args: shared by all chips (parameters, test data, noise levels); replicated.
    chunk_size: chips per jit call (bounds memory); rounded up to a multiple of
        the device count, and down to ``n_chips`` when fewer.
    devices: devices of the 1-D mesh (default ``jax.devices()``, global under
        ``jax.distributed``).
    Returns the metric's pytree with every leaf as a numpy array (n_chips, *leaf
    shape); chip ``i``'s entry depends on key ``i`` and ``args`` only.
    """
    with tqdm(total=len(keys), desc=desc, unit="chip", disable=not progress) as bar:
        return _evaluate(metric, keys, args, {}, chunk_size, devices, bar)


def sweep(metric: Callable, keys: jax.Array, grid: Mapping[str, Sequence], *args, chunk_size: int = 256,
          devices=None, progress: bool = True, desc: str | None = None):
    """``evaluate`` at every point of a 1-D grid: ``metric(key, *args, name=value)``.

    grid: exactly one entry ``{name: values}`` (e.g. ``{"sigma": [1e-6, 2e-6]}``);
        the values share one shape and dtype, so one compilation serves all points.
    Returns the metric's pytree with leaves (n_points, n_chips, *leaf shape).
    """
    if not isinstance(grid, Mapping) or len(grid) != 1:
        raise ValueError(f"grid = {grid!r} is invalid: allowed a dict with exactly one entry {{name: values}}")
    (name, values), = grid.items()
    if len(values) < 1:
        raise ValueError(f"grid[{name!r}] is empty: allowed one or more values")
    results = []
    with tqdm(total=len(values) * len(keys), desc=desc or f"sweep {name}", unit="chip",
              disable=not progress) as bar:
        for value in values:
            bar.set_postfix({name: f"{float(np.asarray(value).ravel()[0]):g}"} if np.size(value) else {})
            results.append(_evaluate(metric, keys, args, {name: jnp.asarray(value)}, chunk_size, devices, bar))
    return jax.tree.map(lambda *xs: np.stack(xs), *results)


def _stats(x: np.ndarray, confidence: float) -> dict[str, float]:
    n = x.size
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if n > 1 else math.nan
    if n > 1 and std > 0:
        ci = stats.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    else:
        ci = (mean, mean) if n > 1 else (math.nan, math.nan)
    q05, median, q95 = np.quantile(x, [0.05, 0.5, 0.95])
    return {"n": float(n), "mean": mean, "std": std, "median": float(median), "q05": float(q05),
            "q95": float(q95), "min": float(np.min(x)), "max": float(np.max(x)),
            "ci_low": float(ci[0]), "ci_high": float(ci[1])}


def _path_name(entry) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def summarize(values, confidence: float = 0.95) -> dict[str, float]:
    """Statistics of per-chip values (n_chips,) -> flat dict of floats.

    Keys: n, mean, std (sample, ddof=1), median, q05, q95, min, max, and
    ci_low / ci_high: the Student-t ``confidence`` interval of the mean.
    A pytree of (n_chips, ...) leaves gives one set per leaf and per trailing
    index, named by path, e.g. ``"acc/mean"``, ``"per_class/3/q05"``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence!r} is invalid: allowed 0 < confidence < 1")
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(values)[0]:
        x = np.asarray(leaf, dtype=np.float64)
        name = "/".join(_path_name(p) for p in path)
        if x.ndim < 1 or x.shape[0] < 1:
            raise ValueError(f"values{'[' + name + ']' if name else ''} must have shape (n_chips, ...) "
                             f"with n_chips >= 1; got {x.shape}")
        for index in np.ndindex(x.shape[1:]):
            prefix = "/".join([name] * bool(name) + [str(i) for i in index])
            stats_ = _stats(x[(slice(None),) + index], confidence)
            out.update({f"{prefix}/{k}" if prefix else k: v for k, v in stats_.items()})
    return out
