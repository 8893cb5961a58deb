"""Edge-popup training on random chips: the reprogramming-limit schedule and the
mask accounting of ``models.layers``' limited masks (the ``"mask"`` collection).

    extra = limit_extra(epochs)
    fit(..., collections with "mask" mutable, callbacks=(limit_schedule(0.01, 0.007, 15),), extra=extra)
    mask_flips_total(state.collections)        # flips per run, every one a reprogramming

The limit starts at ``start`` (``set_limit`` after ``init``) and steps down by
``(start - stop) / steps`` each time the monitored validation metric improves,
never below ``stop`` (the edge-pruning paper: 0.01 -> 0.007 over 15 improvements
on Fashion-MNIST). Everything the schedule needs lives in the train state, so a
resumed run stays exact.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from models.layers import MASK, PULSES_PER_FLIP

__all__ = ["mask_layers", "set_limit", "mask_flips_total", "kept_fraction", "mask_pulses", "flips_extra",
           "record_flips", "limit_extra", "limit_schedule"]


def _named(tree: Any, name: str, fn: Callable) -> Any:
    """``tree`` with ``fn`` applied to every leaf whose last path key is ``name``."""
    def visit(path, leaf):
        return fn(leaf) if str(getattr(path[-1], "key", "")) == name else leaf
    return jax.tree_util.tree_map_with_path(visit, tree)


def mask_layers(collections: dict) -> list[dict]:
    """Every limited-mask layer's variables (``bits``, ``scores``, ``limit``, ``flips``)."""
    found = []

    def walk(node):
        if isinstance(node, dict) or hasattr(node, "items"):
            if "bits" in node:
                found.append(dict(node))
            else:
                for child in node.values():
                    walk(child)

    walk(collections.get(MASK, {}))
    return found


def set_limit(collections: dict, value) -> dict:
    """``collections`` with every mask layer's relative limit set to ``value``
    (a scalar, or per run (R,) for vmapped runs)."""
    if not mask_layers(collections):
        raise ValueError("no limited masks in the 'mask' collection: build the masked layers with limit_flips=True")
    masks = _named(collections[MASK], "limit",
                   lambda leaf: jnp.broadcast_to(jnp.asarray(value, leaf.dtype), leaf.shape))
    return {**collections, MASK: masks}


def mask_flips_total(collections: dict) -> jax.Array:
    """Mask bits flipped since ``init``, summed over layers (per run with a run axis)."""
    return sum(layer["flips"] for layer in mask_layers(collections))


def _per_run_sum(values: jax.Array, like: jax.Array) -> jax.Array:
    """Sum of ``values`` over every axis but the leading run axes of ``like`` (a flips leaf)."""
    return jnp.sum(values.reshape(like.shape + (-1,)), axis=-1)


def kept_fraction(collections: dict) -> jax.Array:
    """Fraction of edges whose stored mask bit is 1, over all layers (per run)."""
    layers = mask_layers(collections)
    kept = sum(_per_run_sum(layer["bits"], layer["flips"]) for layer in layers)
    total = sum(layer["bits"].size // max(1, layer["flips"].size) for layer in layers)
    return kept / total


def mask_pulses(collections: dict, keep: float) -> jax.Array:
    """Write pulses the masks cost on the formed chip: the RESET of every pair pruned
    at the start (``n - round(keep n)`` of each layer's n edges, as ``topk_mask``) and every flip
    since, each ``PULSES_PER_FLIP`` pulses (per run with a run axis)."""
    layers = mask_layers(collections)
    sizes = [layer["bits"].size // max(1, layer["flips"].size) for layer in layers]
    initial = sum(n - max(1, round(keep * n)) for n in sizes)  # the complement of topk_mask's count
    return PULSES_PER_FLIP * (initial + mask_flips_total(collections))


def flips_extra(epochs: int) -> dict:
    """The initial ``fit(extra=...)`` entry of ``record_flips``: (epochs,) zeros."""
    return {"flips": jnp.zeros((epochs,), jnp.float32)}


def record_flips(epoch, state, metrics):
    """A ``fit`` callback: the running flip total after ``epoch`` into ``state.extra["flips"]``
    (per run with a run axis), for flips-per-epoch plots; resumes exactly."""
    total = mask_flips_total(state.collections)
    return state.replace(extra={**state.extra, "flips": state.extra["flips"].at[..., epoch - 1].set(total)})


def limit_extra() -> dict:
    """The initial ``fit(extra=...)`` of ``limit_schedule``: no best value yet."""
    return {"best": jnp.asarray(-jnp.inf, jnp.float32)}


def limit_schedule(start: float, stop: float, steps: int, monitor: str = "acc") -> Callable:
    """A ``fit`` callback: each epoch whose validation ``monitor`` beats the best so
    far lowers every mask layer's limit by ``(start - stop) / steps``, down to
    ``stop``; ``state.extra`` must start as ``limit_extra()``."""
    if not 0.0 <= stop <= start:
        raise ValueError(f"limit schedule start = {start!r}, stop = {stop!r} is invalid: allowed 0 <= stop <= start")
    if steps < 1:
        raise ValueError(f"limit schedule steps = {steps!r} is invalid: allowed >= 1")
    decrement = (start - stop) / steps

    def callback(epoch, state, metrics):
        if monitor not in metrics:
            return None
        value = jnp.asarray(np.asarray(metrics[monitor], np.float32))
        improved = value > state.extra["best"]

        def lower(limit):
            step = jnp.reshape(improved, improved.shape + (1,) * (limit.ndim - improved.ndim))
            return jnp.where(step, jnp.maximum(stop, limit - decrement), limit)

        masks = _named(state.collections[MASK], "limit", lower)
        extra = {**state.extra, "best": jnp.where(improved, value, state.extra["best"])}
        return state.replace(collections={**state.collections, MASK: masks}, extra=extra)

    return callback
