"""Shuffled mini-batches, deterministic by a jax.random key."""

from __future__ import annotations

from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np


def _check(x, y, batch_size: int) -> int:
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} samples but y has {y.shape[0]}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive int")
    return n


def shuffled_batches(key: jax.Array, arrays: tuple, batch_size: int) -> tuple[jax.Array, ...]:
    """One epoch of ``arrays`` (each (n, ...)) as stacked batches (n_batches, batch_size, ...),
    one permutation for all of them; the n % batch_size left over are dropped.
    Jit-friendly with ``batch_size`` static."""
    n = arrays[0].shape[0]
    n_batches = n // batch_size
    if n_batches == 0:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} samples")
    idx = jax.random.permutation(key, n)[: n_batches * batch_size]
    return tuple(jnp.take(jnp.asarray(a), idx, axis=0).reshape(n_batches, batch_size, *a.shape[1:]) for a in arrays)


def epoch_batches(key: jax.Array, x, y, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """One epoch as stacked batches, for `lax.scan` over the leading axis.

    x: (n, ...), y: (n, ...). Returns xb (n_batches, batch_size, ...) and
    yb (n_batches, batch_size, ...), n_batches = n // batch_size, drawn from a
    permutation of the samples: each sample appears at most once; the
    n % batch_size left over differ from key to key. Jit-friendly with
    `batch_size` static (e.g. `jax.jit(epoch_batches, static_argnames="batch_size")`).
    """
    _check(x, y, batch_size)
    return shuffled_batches(key, (x, y), batch_size)


def batches(
    key: jax.Array, x, y, batch_size: int, drop_remainder: bool = True
) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Yield one epoch of shuffled (x, y) batches as jnp arrays.

    x: (n, ...), y: (n, ...); each batch is (batch_size, ...). With
    `drop_remainder=False` the last batch holds the n % batch_size left over
    (a new shape: a jitted step recompiles for it). Use a fresh key per epoch,
    e.g. `jax.random.fold_in(key, epoch)`.
    """
    n = _check(x, y, batch_size)
    if drop_remainder and n < batch_size:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} samples (drop_remainder=True)")
    perm = np.asarray(jax.random.permutation(key, n))
    stop = n - n % batch_size if drop_remainder else n
    x, y = np.asarray(x), np.asarray(y)
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]
        yield jnp.asarray(x[idx]), jnp.asarray(y[idx])
