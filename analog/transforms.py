"""Kernel transforms: what a float kernel becomes before it is programmed on a chip.

A transform is a frozen spec that maps a kernel to the kernel the hardware holds
(same shape; output channels on the last axis, as in ``nn.Dense`` and
``nn.Conv``). ``models.layers.AnalogDense`` / ``AnalogConv`` apply one through
``kernel_transform=`` before programming, so one mechanism serves:

* ``Ternary``: ternary weight networks (Li et al. 2016, TWN threshold rule
  ``delta = 0.7 mean|w|``) for LRS/HRS pairs: values ``{-a, 0, +a}`` per channel.
* ``Levels``: hardware-aware quantization to the weights a pair of multi-level
  cells can hold: ``2 L - 1`` values ``k w_max / (L - 1)`` for L levels per cell.
* ``LowRank``: the best rank-r approximation ``U V`` of the kernel matrix
  (truncated SVD), the compression of the CIM neural field.
* ``Prune``: magnitude pruning, per weight or per output channel (structured).
* ``Compose``: several in order, e.g. ``Compose((LowRank(8), Levels(8)))``.

Quantizing transforms (Ternary, Levels, LowRank) pass the gradient straight
through; ``Prune`` passes it to the kept weights only. All are pure and
jit-compatible.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from analog import converters
from analog.device import RRAM
from analog.spec import check_range, spec, static

__all__ = ["Ternary", "Levels", "LowRank", "Prune", "Compose"]


def _as_matrix(kernel: jax.Array) -> jax.Array:
    """(..., n_out) -> (prod(...), n_out)."""
    return kernel.reshape((-1, kernel.shape[-1]))


@spec
class Ternary:
    """TWN ternarisation: ``alpha * sign(w) * (|w| > threshold mean|w|)``.

    threshold: fraction of mean |w| below which a weight is zero (0.7 in TWN).
    per_channel: one threshold and alpha per output channel (last axis), else per tensor.
    On binary (LRS/HRS) cells per-channel alphas need one full swing per column:
    ``CrossbarSpec(weight_scale="column")`` (the ``ternary_lrs_hrs`` preset).
    """

    threshold: float = 0.7
    per_channel: bool = static(True)

    def validate(self):
        check_range(self, "threshold", 0.0)

    def __call__(self, kernel: jax.Array) -> jax.Array:
        return converters.ternarize(kernel, self.threshold, axis=-1 if self.per_channel else None)


@spec
class Levels:
    """Symmetric uniform quantization to the weights a differential pair of
    ``levels``-level cells holds: ``k w_max / (levels - 1)``, k = -(levels-1)..levels-1.

    levels: conductance levels per cell (>= 2; 2 = binary cells, ternary weights).
    per_channel: w_max per output channel (last axis), else per tensor.
    """

    levels: int = static(16)
    per_channel: bool = static(False)

    def validate(self):
        check_range(self, "levels", 2, None, integer=True)

    @classmethod
    def of_device(cls, device: RRAM, per_channel: bool = False) -> "Levels":
        """The levels of ``device`` (which must have discrete levels)."""
        if device.levels is None:
            raise ValueError("Levels.of_device: RRAM.levels is None (continuous cells have no levels)")
        return cls(levels=device.levels, per_channel=per_channel)

    def __call__(self, kernel: jax.Array) -> jax.Array:
        return converters.quantize_steps(kernel, self.levels - 1, axis=-1 if self.per_channel else None)


@spec
class LowRank:
    """The best rank-``rank`` approximation (Frobenius, truncated SVD) of the kernel
    as a (prod(leading dims), n_out) matrix; straight-through gradient."""

    rank: int = static(8)

    def validate(self):
        check_range(self, "rank", 1, None, integer=True)

    def __call__(self, kernel: jax.Array) -> jax.Array:
        m = _as_matrix(kernel)
        r = min(self.rank, *m.shape)
        u, s, vt = jnp.linalg.svd(jax.lax.stop_gradient(m), full_matrices=False)
        approx = (u[:, :r] * s[:r]) @ vt[:r]
        return converters.ste(kernel, approx.reshape(kernel.shape))


@spec
class Prune:
    """Magnitude pruning: zero the ``fraction`` of weights with the smallest |w|
    (``structured=True``: of output channels with the smallest L2 norm).

    Kept weights keep their value and gradient; pruned ones are 0 with zero gradient.
    Ties at the threshold are kept, so at least ``1 - fraction`` survive.
    """

    fraction: float = 0.5
    structured: bool = static(False)

    def validate(self):
        check_range(self, "fraction", 0.0, 1.0, hi_open=True)

    def __call__(self, kernel: jax.Array) -> jax.Array:
        score = jnp.linalg.norm(_as_matrix(kernel), axis=0) if self.structured else jnp.abs(kernel)
        flat = jnp.sort(score.reshape(-1))
        n_pruned = math.floor(self.fraction * flat.size)
        if n_pruned == 0:
            return kernel
        threshold = flat[n_pruned - 1]
        keep = jax.lax.stop_gradient(score > threshold)
        return kernel * keep


@spec
class Compose:
    """Apply ``transforms`` in order."""

    transforms: tuple = static(())

    def validate(self):
        if not all(callable(t) for t in self.transforms):
            raise ValueError(f"Compose.transforms = {self.transforms!r} is invalid: allowed a tuple of transforms")

    def __call__(self, kernel: jax.Array) -> jax.Array:
        for transform in self.transforms:
            kernel = transform(kernel)
        return kernel
