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
from models.layers import SCAN_AXES, KindLayers, scan_time

__all__ = ["spike", "lif_step", "integrate_step", "SpikingStep", "zero_carry", "run_steps", "early_stop",
           "early_stop_curve", "NMNISTNet", "bernoulli_kl", "VAEStep", "SpikingVAE", "reconstruction_stop"]

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
    builds the carry at t = 0. Sows ``neuron_updates`` (every LIF cell and output
    neuron, once per step) into ``"cost"`` beside the synapses' array counts.
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
        updates = sum(u.size for u, _ in new_cells) + out.size  # every cell and output neuron, every step
        self.sow("cost", "neuron_updates", float(updates), init_fn=lambda: 0.0, reduce_fn=lambda a, b: a + b)
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
    spike counts (T, 2) (the outputs alone with ``outputs_only``).

    Spiking cells: (32, 32, c1) and (12, 12, c2) (``CELLS``).

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
    outputs_only: bool = False  # return the per-step outputs alone (a classifier for ``fit``'s losses)

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
        outputs, counts = run_steps(SpikingStep, jnp.swapaxes(frames, 0, 1), carry, layers=layers,
                                    thresholds=self.thresholds, between=(_avg_pool, _pool_flatten))
        return outputs if self.outputs_only else (outputs, counts)


# ---------------------------------------------------------------------------- inpainting: a spiking VAE
SAMPLE = "step"  # the rng stream of the VAE's latent draws (train.fit's per-step stream)


def _upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling of (B, H, W, C)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def bernoulli_kl(p: jax.Array, prior: float = 0.5, eps: float = 1e-6) -> jax.Array:
    """KL(Bernoulli(p) || Bernoulli(prior)) per element (nats)."""
    p = jnp.clip(p, eps, 1.0 - eps)
    return p * jnp.log(p / prior) + (1.0 - p) * jnp.log((1.0 - p) / (1.0 - prior))


def td_batch_norm(current: jax.Array, threshold: float, train: bool, name: str) -> jax.Array:
    """Threshold-dependent batch norm (tdBN, Zheng et al. 2021; FSVAE's and PRIME's
    VAE): per channel (last axis), normalise to zero mean and standard deviation
    ``threshold`` (alpha = 1), then a learnable scale and shift. Batch statistics
    in training (of this time step), running averages at inference, when the chip
    sees it as a per-channel affine of the array's current (digital, folded into
    the neuron's gain and threshold)."""
    bn = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
    return bn(current) * threshold


class VAEStep(nn.Module):
    """One time step of the fully spiking VAE (FSVAE's layout, PRIME's inpainting).

    Encoder: three stride-2 3x3 convs (``width`` channels) with LIF cells, a dense
    layer to ``latent`` Bernoulli spikes: p_t = sigmoid(I_t) of its current, z_t ~
    Bernoulli(p_t) (straight through) drawn from the ``SAMPLE`` rng stream (``"step"``:
    ``train.fit``'s stream for the loss's own sampling), else the mode 1[p_t > 1/2]
    (evaluation). Decoder: dense to 4 x 4 x width LIF cells, two nearest-upsample + 3x3 conv
    LIF stages, an upsample + conv to one channel into the output membrane (a plain
    sum of its currents, no LeakyReLU: the image needs both signs).
    ``makers``: (conv maker, dense maker) of ``KindLayers``. Returns (carry, (output
    membrane (B, 32, 32, 1), KL of the step's latent to Bernoulli(1/2) (B,), spike
    counts (6,))).
    """

    conv: Callable
    dense: Callable
    width: int = 32
    latent: int = 128
    threshold: float = 0.2
    norm: bool = True
    train: bool = False

    @nn.compact
    def __call__(self, carry, x):
        cells, out = carry
        w, new, counts = self.width, [], []

        def lif(i, current):
            if self.norm:  # tdBN: batch statistics of this step in training, running ones at inference
                current = td_batch_norm(current, self.threshold, self.train, name=f"norm{i}")
            u, s = lif_step(*cells[i], current, self.threshold)
            new.append((u, s))
            counts.append(jnp.sum(s))
            return s

        h = x
        for i in range(3):
            h = lif(i, self.conv(w, (3, 3), 2, ((1, 1), (1, 1)))()(h))
        p = jax.nn.sigmoid(self.dense(self.latent)()(h.reshape((h.shape[0], -1))))
        if self.has_rng(SAMPLE):
            draw = jax.random.bernoulli(self.make_rng(SAMPLE), p).astype(p.dtype)
        else:
            draw = (p > 0.5).astype(p.dtype)
        z = p + jax.lax.stop_gradient(draw - p)
        counts.append(jnp.sum(z))
        h = lif(3, self.dense(4 * 4 * w)()(z).reshape((-1, 4, 4, w)))
        for i in (4, 5):
            h = lif(i, self.conv(w, (3, 3), 1, ((1, 1), (1, 1)))()(_upsample(h)))
        out = out + self.conv(1, (3, 3), 1, ((1, 1), (1, 1)))()(_upsample(h))  # the output membrane: a plain sum
        updates = sum(u.size for u, _ in new) + out.size
        self.sow("cost", "neuron_updates", float(updates), init_fn=lambda: 0.0, reduce_fn=lambda a, b: a + b)
        kl = jnp.sum(bernoulli_kl(p), axis=-1)
        return (tuple(new), out), (out, kl, jnp.stack(counts))


OFFSET_INIT = -1.0  # tanh(-1) = -0.76: MNIST's mean pixel in [-1, 1] is about -0.74
VAE_CELLS = lambda w: ((16, 16, w), (8, 8, w), (4, 4, w), (4, 4, w), (8, 8, w), (16, 16, w))


class SpikingVAE(KindLayers):
    """PRIME's inpainting network: a fully spiking VAE over ``steps`` time steps on one
    chip, images (B, 32, 32, 1) in [-1, 1] fed as a constant input current at every
    step (direct encoding). The image decoded after t steps is ``tanh(gain x u_t / t +
    offset)``, u_t the output membrane (the sum of the last layer's currents):
    ``gain``, ``offset`` are a digital read-out trained in both kinds like a batch
    norm (offset starts at ``OFFSET_INIT``, about MNIST's mean pixel in [-1, 1]).

    Returns (decoded images per step (T, B, 32, 32, 1), KL per step (T, B), spike
    counts (T, 7): six LIF layers and the latent). kind "pruned": masks on random
    pairs (LeCun-scaled, ``weight_per_siemens`` None); "weights": trained kernels.
    """

    kind: str = "pruned"
    spec: CrossbarSpec = CrossbarSpec()
    keep: float = 0.5
    limit_flips: bool = False
    weight_per_siemens: float | None = None
    steps: int = 16
    width: int = 32
    latent: int = 128
    threshold: float = 0.2
    norm: bool = True

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False):
        self._check()
        if images.ndim != 4 or images.shape[1:] != (32, 32, 1):
            raise ValueError(f"SpikingVAE: images have shape {images.shape}: expected (batch, 32, 32, 1)")
        batch = images.shape[0]
        carry = zero_carry(batch, VAE_CELLS(self.width), 1, images.dtype)
        carry = (carry[0], jnp.zeros((batch, 32, 32, 1), images.dtype))
        scanned = scan_time(VAEStep, split_rngs={SAMPLE: True},
                            variable_axes={**SCAN_AXES, "batch_stats": 0})  # running statistics per step
        xs = jnp.broadcast_to(images, (self.steps,) + images.shape)
        _, (out, kl, counts) = scanned(self.conv_maker, self.dense_maker, self.width, self.latent, self.threshold,
                                       self.norm, train, name="steps")(carry, xs)
        gain = self.param("gain", nn.initializers.ones, ())
        offset = self.param("offset", nn.initializers.constant(OFFSET_INIT), ())
        mean_current = out / jnp.arange(1, self.steps + 1, dtype=out.dtype)[:, None, None, None, None]
        return jnp.tanh(gain * mean_current + offset), kl, counts


def reconstruction_stop(images: jax.Array, threshold: float = 0.2, scale: float = 100.0):
    """PRIME's inpainting early stop over the images decoded after each step (T, B, ...):
    m_t = sum |x_t - x_{t-1}| / ``scale`` per image; stop at the first t with
    m_t < m_{t-1} < m_{t-2} and m_t < ``threshold`` (else at T). Returns (steps used
    (B,) in 1..T, the image at the stopping step (B, ...))."""
    steps = images.shape[0]
    change = jnp.sum(jnp.abs(jnp.diff(images, axis=0)).reshape(steps - 1, images.shape[1], -1), -1) / scale
    m = jnp.concatenate([jnp.full((1,) + change.shape[1:], jnp.inf, change.dtype), change])  # m_t, t = 0..T-1
    prev, prev2 = jnp.roll(m, 1, axis=0).at[0].set(jnp.inf), jnp.roll(m, 2, axis=0).at[:2].set(jnp.inf)
    settled = (m < prev) & (prev < prev2) & (m < threshold)
    settled = settled.at[:3].set(False).at[-1].set(True)  # three changes are needed; the last step answers
    stop = jnp.argmax(settled, axis=0)
    return stop + 1, jnp.take_along_axis(images, stop.reshape((1, -1) + (1,) * (images.ndim - 2)), axis=0)[0]
