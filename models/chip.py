"""Program once, read many: a model's chip as a variable collection, and the
adapter from a flax module on its chip to ``analog.integrator``.

A chip is programmed once and read many times (DESIGN, convention 7). Every
analog layer of ``models.layers`` keeps what it wrote in the ``"chip"``
collection: its programmed arrays (``analog.crossbar.ProgrammedArray``, one
per group), i.e. the conductances, drift exponents and write pulses::

    chip = program_chip(model, {"params": params}, chip_key, x)      # once
    for t in range(T):                                                 # or lax.scan / an ODE solve
        y = model.apply({"params": params, "chip": chip}, x, rngs={"read": keys[t]})

Every read of ``chip`` sees the same conductances with fresh read noise. A
Monte Carlo over chips vmaps ``program_chip`` over program keys and the apply
over the resulting chips. Gradients: the chip is data, not parameters, so no
gradient reaches the conductances; to train through programming noise on one
chip, apply without ``"chip"`` and with a fixed ``"program"`` key instead
(each layer re-programs the same chip deterministically at every call). A chip
holds what was programmed: train the parameters further and it is stale until
programmed again (masks of masked random layers included).

Inside a module, a time loop keeps one chip with ``models.layers.scan_time``
(``nn.scan`` without splitting ``"program"``, broadcasting ``"chip"``).

Continuous time: ``ModuleField(model)`` is the ``f(read_key, x, t, args)`` that
``analog.integrator.integrate`` takes, with ``args`` the variables (params and
chip) or a ``FieldArgs``; ``solve_counts`` gives the cost counts of such a
solve (integrator and array conduction time, converters at the I/O only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog import crossbar, integrator
from analog.cost import collect
from analog.integrator import IntegratorSpec
from models.layers import CHIP

__all__ = ["program_chip", "programming_counts", "chip_arrays", "FieldArgs", "ModuleField", "solve_counts"]


def _without_chip(variables: Any) -> dict:
    return {name: value for name, value in dict(variables).items() if name != CHIP}


def program_chip(model: nn.Module, variables: Any, key: jax.Array, *args, method=None, **kwargs) -> dict:
    """Program every analog layer of ``model`` once with program key ``key``; returns
    the ``"chip"`` collection (a pytree of programmed arrays; {} for an ideal model).

    variables: ``{"params": ...}`` (other collections such as batch statistics pass
        through; an old chip in it is ignored).
    args, method, kwargs: a call of the model that reaches every analog layer (e.g. one
        batch of inputs); read noise during it does not matter.
    vmap over ``key`` for a batch of chips.
    """
    rngs = {"program": key, "read": key}
    _, state = model.apply(_without_chip(variables), *args, rngs=rngs, mutable=[CHIP], method=method, **kwargs)
    return state.get(CHIP, {})


def chip_arrays(chip: Any) -> list[crossbar.ProgrammedArray]:
    """Every programmed array in a chip collection (any nesting)."""
    is_array = lambda node: isinstance(node, crossbar.ProgrammedArray)
    return [leaf for leaf in jax.tree_util.tree_leaves(chip, is_leaf=is_array) if is_array(leaf)]


def programming_counts(chip: Any) -> dict[str, Any]:
    """``{"programming_pulses": total}`` of a chip (for ``analog.cost``): every write
    pulse its arrays took (one per cell open loop, the verify count with
    ``CrossbarSpec.verify_tol``, forming and RESET pulses for random layers)."""
    return {"programming_pulses": sum(jnp.sum(arr.pulses) for arr in chip_arrays(chip))}


class FieldArgs(NamedTuple):
    """What ``ModuleField`` passes to the model at each evaluation.

    variables: ``{"params": ..., "chip": ...}``.
    program_key: a fixed chip key when ``variables`` has no chip (the layers then
        program the same chip at every evaluation, differentiably); None otherwise.
    inputs: an extra argument for the model (a drive signal's parameters, a class
        label, ...), passed after ``t``; None = none.
    """

    variables: Any
    program_key: jax.Array | None = None
    inputs: Any = None


class ModuleField(NamedTuple):
    """``f(read_key, x, t, args)`` for ``analog.integrator.integrate``: the vector
    field ``model.apply(variables, x, t[, inputs])`` (V, shape of x) read from the
    model's chip with the integrator's held read keys.

    ``args`` is a ``FieldArgs`` or just the variables. Hashable (the model is a
    flax module), so solves with the same model share one compilation.

    time_unit: wall-clock seconds per model time unit (None: the model sees the
    integrator's time in s). The model is called at model time ``t / time_unit``; with
    ``time_unit = IntegratorSpec.tau`` (``models.node.physical_times``) one model time
    unit is one RC time constant and the field's output is dx/dt in model units, since
    the integrator computes dx/du = f / tau.
    """

    model: nn.Module
    method: str | None = None
    time_unit: float | None = None

    def __call__(self, read_key, x, t, args):
        if self.time_unit is not None:
            t = t / self.time_unit
        args = args if isinstance(args, FieldArgs) else FieldArgs(args)
        rngs = {} if read_key is None else {"read": read_key}
        if args.program_key is not None:
            rngs["program"] = args.program_key
        extra = () if args.inputs is None else (args.inputs,)
        method = None if self.method is None else getattr(self.model, self.method)
        return self.model.apply(args.variables, x, t, *extra, rngs=rngs, method=method)


def _tiles_per_vector(cost_tree: Any) -> float:
    """Crossbar tiles one input vector drives, summed over layers (array_reads / array_cycles)."""
    if isinstance(cost_tree, Mapping):
        if "array_reads" in cost_tree:
            reads, cycles = (float(jnp.sum(jnp.asarray(cost_tree[k]))) for k in ("array_reads", "array_cycles"))
            return reads / cycles if cycles else 0.0
        return sum(_tiles_per_vector(child) for child in cost_tree.values())
    return 0.0


def solve_counts(field: ModuleField, args: Any, x0: jax.Array, ts: jax.Array,
                 spec: IntegratorSpec, conduction: str = "tiles") -> dict[str, float]:
    """Cost counts of one ``integrate`` of ``field`` from ``x0`` (V, (..., n)) over ``ts`` (s).

    The arrays conduct for the whole solve, the integrators run (``integrator_time``,
    ``integrator_channel_seconds``), and converters work at the I/O only: one DAC
    conversion per initial state value, one ADC conversion per saved state value.
    conduction: ``"tiles"``: ``array_tile_seconds`` = span x tiles the vector field
        drives (every cell of a touched tile conducts: the bound for a full tile);
        ``"cells"``: ``array_cell_seconds`` = span x cells the layers use (2 per weight:
        a differential pair; rows and columns a small layer leaves unused are not driven).
    A digital baseline needs explicit ``flops`` (``analog.cost.digital_cost``).
    """
    if conduction not in ("tiles", "cells"):
        raise ValueError(f"solve_counts: conduction = {conduction!r} is invalid: allowed 'tiles' or 'cells'")
    args = args if isinstance(args, FieldArgs) else FieldArgs(args)
    x0 = jnp.asarray(x0)
    one = x0.reshape((-1, x0.shape[-1]))[:1]
    rngs = {"read": jax.random.PRNGKey(0)}
    if args.program_key is not None:
        rngs["program"] = args.program_key
    extra = () if args.inputs is None else (args.inputs,)
    method = None if field.method is None else getattr(field.model, field.method)
    t0 = jnp.asarray(ts)[0] if field.time_unit is None else jnp.asarray(ts)[0] / field.time_unit
    variables = {name: value for name, value in dict(args.variables).items() if name != "cost"}
    _, state = field.model.apply(variables, one, t0, *extra, rngs=rngs,
                                 mutable=["cost"], method=method)
    cost_tree = jax.device_get(state.get("cost", {}))
    counts = integrator.op_counts(ts, x0.size, spec, array_tiles=_tiles_per_vector(cost_tree))
    if conduction == "cells":
        del counts["array_tile_seconds"]
        counts["array_cell_seconds"] = counts["integrator_time"] * 2.0 * collect(cost_tree).get("macs", 0.0)
    counts["dac_conversions"] = float(x0.size)
    counts["adc_conversions"] = float(x0.size * len(ts))
    return {k: float(v) for k, v in collect(counts).items()}
