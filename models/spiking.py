"""Spiking networks on the analogue arrays: leaky integrate-and-fire (LIF) cells, the
non-spiking output integrator, and input-aware early stop (PRIME, Wang et al.,
arXiv 2407.18625; facts from its public code, bo-wang-up/PRIME).

LIF per time step (``lif_step``), with membrane u and last spikes s:

    u <- u (1 - s)            hard reset where the cell spiked
    u <- u (1 - decay)        leak (decay 0.8: 20 % of the membrane is kept)
    u <- u + I_t              the array's output current for this step
    u <- LeakyReLU_0.1(u)
    s <- H(u - V_th)          straight through a rectangular surrogate of
                              half-width 0.5 (``spike``)

The output layer integrates without spiking (``integrate_step``: u <- LeakyReLU(u +
I_t)); the prediction is the mean of its membrane over the steps.

``SpikingStep`` is one time step of a network whose synapses are any array layers
(masked random, random or programmed) and ``run_steps`` scans it over time with
``models.layers.scan_time``, so every step reads the one chip the layers
programmed (fresh read noise per step). ``early_stop`` is a pure function of the
per-step outputs: one pass of the network gives every threshold's accuracy and
steps (``early_stop_curve``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog.crossbar import CrossbarSpec
from models.layers import KindLayers, scan_time

__all__ = ["spike", "lif_step", "integrate_step", "SpikingStep", "zero_carry", "run_steps", "early_stop",
           "early_stop_curve", "NMNISTNet"]

DECAY = 0.8
LEAK_SLOPE = 0.1
SURROGATE_WIDTH = 0.5


@jax.custom_jvp
def spike(v: jax.Array) -> jax.Array:
    """Heaviside H(v) (1.0 where v > 0); its derivative is the rectangle
    1 / (2 w) on |v| < w, w = ``SURROGATE_WIDTH``."""
    return (v > 0).astype(v.dtype)


@spike.defjvp
def _spike_jvp(primals, tangents):
    (v,), (dv,) = primals, tangents
    box = (jnp.abs(v) < SURROGATE_WIDTH).astype(v.dtype) / (2.0 * SURROGATE_WIDTH)
    return spike(v), box * dv


def lif_step(u: jax.Array, s: jax.Array, current: jax.Array, threshold: float, decay: float = DECAY,
             slope: float = LEAK_SLOPE) -> tuple[jax.Array, jax.Array]:
    """One LIF step: (membrane, spikes) after ``current`` (all the same shape)."""
    u = u * (1.0 - s) * (1.0 - decay) + current
    u = jnp.where(u >= 0, u, slope * u)
    return u, spike(u - threshold)


def integrate_step(u: jax.Array, current: jax.Array, slope: float = LEAK_SLOPE) -> jax.Array:
    """The output integrator: u <- LeakyReLU(u + current)."""
    u = u + current
    return jnp.where(u >= 0, u, slope * u)


class SpikingStep(nn.Module):
    """One time step of a feed-forward spiking network.

    ``layers`` are makers ``() -> module`` of the synapses in order (classes or
    ``functools.partial`` of them, e.g. ``KindLayers.conv_maker``: a module created
    outside the step would live outside the scan), the last one
    feeds the output integrator); ``thresholds`` one V_th per spiking layer (PRIME:
    0.2 conv, 0.5 dense); ``between`` optional functions applied to each spiking
    layer's spikes before the next synapse (pooling, flattening). Carry: a tuple
    (membranes, spikes) per spiking layer plus the output membrane. ``__call__(carry,
    x_t)`` -> (carry, (output membrane, spike counts per layer)); ``zero_carry``
    builds the carry at t = 0.
    """

    layers: Sequence[Callable[[], nn.Module]]
    thresholds: Sequence[float]
    between: Sequence[Callable[[jax.Array], jax.Array]] = ()

    @nn.compact
    def __call__(self, carry, x):
        if len(self.layers) != len(self.thresholds) + 1:
            raise ValueError(f"SpikingStep: {len(self.layers)} layers need {len(self.layers) - 1} thresholds "
                             f"(one per spiking layer), got {len(self.thresholds)}")
        cells, out = carry
        new_cells, counts = [], []
        for i, (make, threshold) in enumerate(zip(self.layers[:-1], self.thresholds)):
            u, s = lif_step(*cells[i], make()(x), threshold)
            new_cells.append((u, s))
            counts.append(jnp.sum(s))
            x = self.between[i](s) if i < len(self.between) else s
        out = integrate_step(out, self.layers[-1]()(x))
        return (tuple(new_cells), out), (out, jnp.stack(counts) if counts else jnp.zeros((0,)))


def zero_carry(batch: int, cell_shapes: Sequence[tuple[int, ...]], n_outputs: int, dtype=jnp.float32):
    """The carry of ``SpikingStep`` at t = 0: zero membranes and spikes of each
    spiking layer (``cell_shapes``: one output shape per layer, without the batch)
    and a zero output membrane (batch, n_outputs)."""
    zeros = lambda shape: jnp.zeros((batch,) + tuple(shape), dtype)
    return tuple((zeros(shape), zeros(shape)) for shape in cell_shapes), zeros((n_outputs,))


def run_steps(step: type, inputs: jax.Array, init_carry, **step_kwargs):
    """Scan ``step`` (a ``SpikingStep`` subclass or partial, as a class) over the
    leading time axis of ``inputs`` (T, B, ...), reading one chip at every step.
    Returns (outputs (T, B, C), spike counts (T, n_spiking_layers))."""
    scanned = scan_time(step)(**step_kwargs, name="steps")
    _, (outputs, counts) = scanned(init_carry, inputs)
    return outputs, counts


def early_stop(outputs: jax.Array, threshold: float, temperature: float = 2.0) -> tuple[jax.Array, jax.Array]:
    """Input-aware early stop over per-step outputs (T, B, C): at step t the running
    mean of the outputs, p = softmax(mean / temperature); stop at the first step
    where max p > ``threshold`` (else at T). Returns (steps used (B,) in 1..T,
    predictions (B,) read at the stopping step)."""
    steps = outputs.shape[0]
    running = jnp.cumsum(outputs, axis=0) / jnp.arange(1, steps + 1, dtype=outputs.dtype)[:, None, None]
    confident = jnp.max(jax.nn.softmax(running / temperature, axis=-1), axis=-1) > threshold  # (T, B)
    confident = confident.at[-1].set(True)  # the last step always answers
    stop = jnp.argmax(confident, axis=0)  # first confident step
    prediction = jnp.argmax(jnp.take_along_axis(running, stop[None, :, None], axis=0)[0], axis=-1)
    return stop + 1, prediction


def early_stop_curve(outputs: jax.Array, labels: jax.Array, thresholds: jax.Array, temperature: float = 2.0):
    """Accuracy and mean steps used at each early-stop threshold, from one pass:
    outputs (T, B, C), labels (B,), thresholds (K,) -> (accuracy (K,), mean steps (K,))."""
    def at(threshold):
        used, prediction = early_stop(outputs, threshold, temperature)
        return jnp.mean(prediction == labels), jnp.mean(used.astype(outputs.dtype))
    return jax.vmap(at)(jnp.asarray(thresholds, outputs.dtype))


def _avg_pool(s: jax.Array) -> jax.Array:
    return nn.avg_pool(s, (2, 2), (2, 2))


def _pool_flatten(s: jax.Array) -> jax.Array:
    pooled = _avg_pool(s)
    return pooled.reshape((pooled.shape[0], -1))


class NMNISTNet(KindLayers):
    """PRIME's N-MNIST network: event frames (B, T, 34, 34, 2) -> conv 2-12 k5 pad 1,
    LIF (V_th 0.2), avg-pool 2, conv 12-64 k5, LIF (0.2), avg-pool 2, dense 2304-10 into
    the output integrator; T steps in one scan on one chip. Returns the per-step
    outputs (T, B, 10) (the prediction is their mean; ``early_stop`` reads them) and
    spike counts (T, 2).

    kind "pruned": masks on random pairs at PRIME's scale (``weight_per_siemens`` 1e4,
    i.e. 0.01 per uS); "weights": trained kernels on programmed arrays.
    """

    kind: str = "pruned"
    spec: CrossbarSpec = CrossbarSpec()
    keep: float = 0.5
    limit_flips: bool = False
    weight_per_siemens: float | None = 1e4
    widths: tuple[int, int] = (12, 64)
    thresholds: tuple[float, float] = (0.2, 0.2)
    n_classes: int = 10

    @nn.compact
    def __call__(self, frames: jax.Array, train: bool = False):
        self._check()
        if frames.ndim != 5 or frames.shape[2:] != (34, 34, 2):
            raise ValueError(f"NMNISTNet: frames have shape {frames.shape}: expected (batch, T, 34, 34, 2)")
        c1, c2 = self.widths
        # makers, not modules: each layer is created inside the scanned step, where it lives
        layers = (self.conv_maker(c1, (5, 5), padding=((1, 1), (1, 1))), self.conv_maker(c2, (5, 5)),
                  self.dense_maker(self.n_classes))
        carry = zero_carry(frames.shape[0], ((32, 32, c1), (12, 12, c2)), self.n_classes, frames.dtype)
        return run_steps(SpikingStep, jnp.swapaxes(frames, 0, 1), carry, layers=layers,
                         thresholds=self.thresholds, between=(_avg_pool, _pool_flatten))
