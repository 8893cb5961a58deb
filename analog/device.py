"""Resistive-memory cell populations: programming, reading, drift, faults, forming.

All conductances are in siemens (S), times in seconds (s). Every function is
pure, jit-compatible and takes its PRNG key first where it is stochastic:

* ``program(key, g_target, spec)``: write a whole array once (programming key:
  write noise, discrete levels, device-to-device spread, stuck-at faults).
* ``drift_exponent(key, g, spec)``: the per-device drift exponents, drawn once
  at programming (so call it with the programming key).
* ``drift(g, t, spec, nu=None)``: deterministic power-law drift to time ``t``.
* ``read(key, g, spec, t=0.)``: one noisy read (fresh read key per read).
* forming (the random conductances of random-weight networks) is in
  ``analog.forming``: ``random_conductance``, ``random_pair``.
* ``program_verify(key, g_target, spec, tol, max_pulses)``: closed-loop
  write-and-verify (pulse until a read is within ``tol`` of the target).

Noise model (sigmas add in quadrature, ``g_r = g / g_max``)::

    programming:  sigma_p(g) = sqrt(prog_sigma^2 + (g_max * poly(prog_poly, g_r))^2)
                  then g <- g (1 + n), n ~ N(0, prog_sigma_rel^2) truncated at prog_rel_limit
    read:         sigma_r(g) = sqrt(read_sigma^2 + (read_sigma_rel g)^2 + (q_1f(g, t) g)^2)
    1/f read:     q_1f = min(read_1f_q / max(g_r^read_1f_exp, 1e-3), 0.2)
                         * sqrt(ln((t + t0 + t_read) / (2 t_read)))
    drift:        g(t) = g(t0) * ((t + t0) / t0)^(-nu)   (t counted from t0 after programming)
    1/f amplitude q_1f is set by the programmed conductance g(t0), the noise by the
                  drifted one: sigma_1f = q_1f(g(t0), t) g(t)  (aihwkit pcm.py)
    exponent:     nu ~ N(mu(g), sd(g)),  mu = clip(drift_nu + drift_nu_slope ln g_r, *drift_nu_bounds)
                                         sd = clip(drift_nu_std + drift_nu_std_slope ln g_r, *drift_nu_std_bounds)

The 1/f and state-dependent terms reproduce the phase-change model of IBM
aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019; Joshi et al.,
Nat. Commun. 2020); with their coefficients at zero the model is the plain
Gaussian RRAM model of NeuroSim / MemTorch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from analog import noise
from analog.spec import check_finite, check_pair, check_range, is_concrete, spec, static

__all__ = [
    "RRAM",
    "G_LRS",
    "G_HRS",
    "TAOX_FORMED_MEAN",
    "TAOX_FORMED_STD",
    "PRIME_PAIR_STD",
    "has_read_noise",
    "has_program_noise",
    "has_forming_randomness",
    "has_drift",
    "program",
    "read",
    "read_sigma",
    "program_sigma",
    "relative_write_noise",
    "drift",
    "drift_exponent",
    "program_verify",
    "quantize_levels",
    "clip_to_window",
]

_INF = math.inf

# The two states of a binary (SET / RESET) TaOx cell, used by the ternary-weight
# pairs and the CAM cells. [assumed] LRS 60 uS / HRS 2 uS: representative of the
# 40 nm TaOx macro's window (LRS ~ 50-100 uS, HRS ~ 1-2 uS; the 20-80 uS
# programmed window and the N(34, 5.3) uS forming statistics below). The
# semantic-memory paper's exact LRS/HRS values are not public in code.
G_LRS = 60e-6   # S
G_HRS = 2e-6    # S
# Post-forming conductance of the 40 nm TaOx 1T1R macro: DEPLM code
# (``utility/utils.py::cond2weight``: mu = 34.05538 uS, sigma = 5.32269 uS, sparsity 0.5).
TAOX_FORMED_MEAN = 34.06e-6  # S
TAOX_FORMED_STD = 5.32e-6    # S
PRIME_PAIR_STD = 6.352e-6    # S, std of a pair's difference in PRIME's code


@spec
class RRAM:
    """A population of resistive-memory cells (all conductances in siemens).

    Window and levels:
        g_min, g_max: programmable conductance window (S).
        levels: number of programmable levels spread evenly over the window;
            None = continuous, 2 = binary (HRS/LRS), 3 = ternary, n.
        clip_window: clip programmed and read conductances to [g_min, g_max]
            (True) or only to >= 0 (False, as aihwkit does).
    Programming (fixed once a chip is written):
        prog_sigma: state-independent write-noise std (S).
        prog_sigma_rel: relative write noise: a cell programmed to g holds g (1 + n),
            n ~ N(0, prog_sigma_rel^2) (dimensionless); 0 = none.
        prog_rel_limit: truncation of n: a draw with |n| >= limit is replaced by
            U(-limit, limit) (the diffusion solver's noise-aware training model); None = untruncated.
        prog_poly: coefficients c_k of a state-dependent write-noise std
            g_max * sum_k c_k (g/g_max)^k (dimensionless); () = none.
        d2d_sigma: device-to-device spread of each cell's window, relative
            (a cell programmed to g lands at g_min + (g - g_min)(1 + d2d_sigma xi)).
        stuck_low_prob, stuck_high_prob: probability a cell is stuck at
            g_min / g_max whatever it is programmed to.
    Reading (fresh at every read):
        read_sigma: additive read-noise std (S).
        read_sigma_rel: multiplicative read-noise std (fraction of g).
        read_1f_q, read_1f_exp, t_read: 1/f read noise (aihwkit PCM: 0.0088,
            0.65, 250e-9 s); read_1f_q = 0 switches it off.
    Drift (power law after programming, t counted from t0):
        t0: time of the first read after programming (s).
        drift_nu, drift_nu_slope, drift_nu_bounds: mean exponent
            clip(drift_nu + drift_nu_slope ln(g/g_max), *bounds).
        drift_nu_std, drift_nu_std_slope, drift_nu_std_bounds: its per-device spread.
    Forming and RESET (random-weight networks; None = not a random source):
        form_mean, form_std: post-forming (SET) conductance N(mean, std) (S),
            form_mean inside the window.
        unformed_prob: fraction of cells that stay unformed at g_unformed (S).
        reset_mean, reset_std: conductance N(mean, std) (S) of a formed cell after
            a RESET pulse (a pruned edge); reset_mean inside the window and below
            form_mean. Unformed cells stay at g_unformed.
    """

    g_min: float = 0.0
    g_max: float = 100e-6
    levels: int | None = static(None)
    clip_window: bool = static(False)
    prog_sigma: float = 0.0
    prog_sigma_rel: float = 0.0
    prog_rel_limit: float | None = None
    prog_poly: tuple = ()
    d2d_sigma: float = 0.0
    stuck_low_prob: float = 0.0
    stuck_high_prob: float = 0.0
    read_sigma: float = 0.0
    read_sigma_rel: float = 0.0
    read_1f_q: float = 0.0
    read_1f_exp: float = 0.65
    t_read: float = 250e-9
    t0: float = 20.0
    drift_nu: float = 0.0
    drift_nu_slope: float = 0.0
    drift_nu_bounds: tuple = (0.0, 1.0)
    drift_nu_std: float = 0.0
    drift_nu_std_slope: float = 0.0
    drift_nu_std_bounds: tuple = (0.0, 1.0)
    form_mean: float | None = None
    form_std: float = 0.0
    unformed_prob: float = 0.0
    g_unformed: float = 0.0
    reset_mean: float | None = None
    reset_std: float = 0.0

    def validate(self):
        check_range(self, "g_min", 0.0)
        check_range(self, "g_max", 0.0, lo_open=True)
        if is_concrete(self.g_min) and is_concrete(self.g_max):
            if not np.all(np.asarray(self.g_max) > np.asarray(self.g_min)):
                raise ValueError(
                    f"RRAM.g_max = {self.g_max!r} is invalid: allowed values above g_min = {self.g_min!r}"
                )
        check_range(self, "levels", 2, None, integer=True, allow_none=True)
        for name in ("prog_sigma", "prog_sigma_rel", "d2d_sigma", "read_sigma", "read_sigma_rel", "read_1f_q",
                     "form_std", "reset_std"):
            check_range(self, name, 0.0)
        check_range(self, "prog_rel_limit", 0.0, lo_open=True, allow_none=True)
        self._validate_forming()
        for name in ("stuck_low_prob", "stuck_high_prob", "unformed_prob"):
            check_range(self, name, 0.0, 1.0)
        check_range(self, "t_read", 0.0, lo_open=True)
        check_range(self, "t0", 0.0, lo_open=True)
        check_range(self, "read_1f_exp", 0.0)
        check_range(self, "drift_nu", -1.0, 1.0)
        check_range(self, "drift_nu_std", -1.0, 1.0)
        check_range(self, "drift_nu_slope", None, None)
        check_range(self, "drift_nu_std_slope", None, None)
        check_range(self, "prog_poly", None, None)
        for name in ("drift_nu_bounds", "drift_nu_std_bounds"):
            check_pair(self, name, 0.0, 1.0)
        p_low, p_high = self.stuck_low_prob, self.stuck_high_prob
        if is_concrete(p_low) and is_concrete(p_high) and np.any(np.asarray(p_low) + np.asarray(p_high) > 1.0):
            raise ValueError(
                f"RRAM.stuck_high_prob = {p_high!r} is invalid: allowed stuck_low_prob + "
                f"stuck_high_prob <= 1 (stuck_low_prob = {p_low!r})"
            )

    def _validate_forming(self):
        """Forming and RESET states inside the window, RESET below the formed state."""
        window = (self.g_min, self.g_max)
        concrete = all(is_concrete(v) for v in window)
        hi = self.g_max if concrete else None
        lo = self.g_min if concrete else 0.0
        check_range(self, "g_unformed", 0.0, hi)
        check_range(self, "form_mean", lo, hi, allow_none=True)
        check_range(self, "reset_mean", lo, hi, allow_none=True)
        if self.reset_mean is not None:
            if self.form_mean is None:
                raise ValueError(f"RRAM.reset_mean = {self.reset_mean!r} is invalid: a RESET state "
                                 "needs a formed state (set form_mean)")
            if is_concrete(self.reset_mean) and is_concrete(self.form_mean) and not self.reset_mean < self.form_mean:
                raise ValueError(f"RRAM.reset_mean = {self.reset_mean!r} is invalid: allowed values "
                                 f"below form_mean = {self.form_mean!r} (RESET is the high-resistance state)")

    @property
    def window(self):
        """Width of the programmable window, g_max - g_min (S)."""
        return self.g_max - self.g_min

    # ----------------------------------------------------------------- presets
    def ideal(self) -> "RRAM":
        """The same window with every non-ideality off (continuous levels, no noise,
        no drift, no faults, no d2d spread; forming and RESET stay as specified:
        for a random-weight network they are the chip, not a non-ideality)."""
        return self.replace(
            levels=None, prog_sigma=0.0, prog_sigma_rel=0.0, prog_poly=(), d2d_sigma=0.0, stuck_low_prob=0.0,
            stuck_high_prob=0.0, read_sigma=0.0, read_sigma_rel=0.0, read_1f_q=0.0,
            drift_nu=0.0, drift_nu_slope=0.0, drift_nu_bounds=(0.0, 1.0), drift_nu_std=0.0,
            drift_nu_std_slope=0.0, drift_nu_std_bounds=(0.0, 1.0),
        )

    @classmethod
    def taox_40nm_random(cls, read_sigma_rel: float = 0.02, reset_mean: float = G_HRS,
                         reset_std: float = 0.5e-6) -> "RRAM":
        """40 nm TaOx 1T1R 256 Kb macro used as a *random* conductance source.

        Post-forming conductance N(34.06 uS, 5.32 uS) per cell with half the cells
        left unformed (~0 S): the statistics in the DEPLM code
        (``utility/utils.py::cond2weight``, mu = 34.05538 uS, sigma = 5.32269 uS,
        sparsity 0.5), the measured 40 nm macro of the random-weight papers.
        Read noise 2 % multiplicative (``run_seg.sh``: noise = 0.02).
        RESET state [assumed] N(2 uS, 0.5 uS): the HRS of the binary cell (``G_HRS``);
        the edge-pruning code reads measured RESET tensors that are not public.
        """
        return cls(
            g_min=0.0, g_max=100e-6, form_mean=TAOX_FORMED_MEAN, form_std=TAOX_FORMED_STD,
            unformed_prob=0.5, g_unformed=0.0, read_sigma_rel=read_sigma_rel,
            reset_mean=reset_mean, reset_std=reset_std,
        )

    @classmethod
    def prime_random(cls, read_sigma_rel: float = 0.02) -> "RRAM":
        """The random source of PRIME's code: every cell formed (none left unformed),
        N(34.06 uS, 4.49 uS), so a pair's difference is N(0, 6.35 uS), the
        ``W ~ N(0, 6.352)`` "normal distribution similar to rram" of
        ``Classification/layer.py``; 2 % read noise (its ``0.02 W N(0, 1)`` test
        noise). RESET state [assumed] as ``taox_40nm_random``."""
        return cls(
            g_min=0.0, g_max=100e-6, form_mean=TAOX_FORMED_MEAN, form_std=PRIME_PAIR_STD / 2 ** 0.5,
            unformed_prob=0.0, g_unformed=0.0, read_sigma_rel=read_sigma_rel, reset_mean=G_HRS, reset_std=0.5e-6,
        )

    @classmethod
    def analog_20_80(cls, prog_sigma: float = 2e-6, read_sigma_rel: float = 0.0) -> "RRAM":
        """Programmed analogue window 20-80 uS with 50 uS meaning weight zero.

        Linear weight-to-conductance map in [20, 80] uS and additive programming
        noise N(0, sigma) clamped to the window, sigma swept 1-10 uS in the
        source (MrLinNing/RMAdaptiveMachine ``rram_eval_basic_learn_full.py``).
        Use it with ``CrossbarSpec(mapping="offset")`` for the 50 uS zero.
        """
        return cls(g_min=20e-6, g_max=80e-6, clip_window=True, prog_sigma=prog_sigma,
                   read_sigma_rel=read_sigma_rel)

    @classmethod
    def binary_lrs_hrs(cls, g_hrs: float = G_HRS, g_lrs: float = G_LRS,
                       prog_sigma: float = 3e-6, read_sigma_rel: float = 0.02) -> "RRAM":
        """Two-state (HRS/LRS) cells; as a differential pair they store ternary weights
        {-1, 0, +1} = (HRS, LRS), (HRS, HRS), (LRS, HRS).

        HRS / LRS from ``G_HRS`` / ``G_LRS`` (see there) with a [assumed] 3 uS state
        spread. Override as needed.
        """
        return cls(g_min=g_hrs, g_max=g_lrs, levels=2, prog_sigma=prog_sigma,
                   read_sigma_rel=read_sigma_rel)

    @classmethod
    def pcm_aihwkit(cls, g_max: float = 25e-6) -> "RRAM":
        """IBM aihwkit's phase-change statistical inference model (``PCMLikeNoiseModel``).

        Source: aihwkit ``src/aihwkit/inference/noise/pcm.py`` (Nandakumar et al.,
        ICECS 2019; Joshi et al., Nat. Commun. 2020), fitted at g_max = 25 uS:
        programming std (0.26348 + 1.9650 g_r - 1.1731 g_r^2) uS, drift exponent
        mean clip(-0.0155 ln g_r + 0.0244, 0.049, 0.1) and std
        clip(-0.0125 ln g_r - 0.0059, 0.008, 0.045), 1/f read noise
        Q_s = min(0.0088 / g_r^0.65, 0.2), t0 = 20 s, t_read = 250 ns. Pair it
        with ``CrossbarSpec(drift_compensation=True)`` for aihwkit's global drift
        compensation.
        """
        ref = 25e-6  # aihwkit's fit reference: sigma coefficients are in uS at g_max = 25 uS
        scale = 1e-6 / ref  # coefficient in uS -> fraction of g_max (the fit scales with g_max/25)
        return cls(
            g_min=0.0, g_max=g_max,
            prog_poly=(0.26348 * scale, 1.9650 * scale, -1.1731 * scale),
            read_1f_q=0.0088, read_1f_exp=0.65, t_read=250e-9, t0=20.0,
            drift_nu=0.0244, drift_nu_slope=-0.0155, drift_nu_bounds=(0.049, 0.1),
            drift_nu_std=-0.0059, drift_nu_std_slope=-0.0125, drift_nu_std_bounds=(0.008, 0.045),
        )


# --------------------------------------------------------------------- helpers
def _all_zero(*values) -> bool:
    """True when every value is a concrete zero (a traced value counts as non-zero)."""
    flat = [v for value in values for v in (value if isinstance(value, tuple) else (value,))]
    return all(is_concrete(v) and not np.any(np.asarray(v)) for v in flat)


def has_read_noise(spec: RRAM) -> bool:
    """Static check: can a read of these cells be noisy? (False only for concrete zeros.)"""
    return not _all_zero(spec.read_sigma, spec.read_sigma_rel, spec.read_1f_q)


def has_program_noise(spec: RRAM) -> bool:
    """Static check: does programming these cells draw random numbers that matter?"""
    nu_std_off = _all_zero(spec.drift_nu_std, spec.drift_nu_std_slope, spec.drift_nu_std_bounds[0])
    return not (_all_zero(spec.prog_sigma, spec.prog_sigma_rel, spec.prog_poly, spec.d2d_sigma,
                          spec.stuck_low_prob, spec.stuck_high_prob) and nu_std_off)


def has_forming_randomness(spec: RRAM) -> bool:
    """Static check: does forming (or RESET) draw random numbers that matter? False for a
    spec without a formed state and for concrete zero spreads with all-or-none forming.

    For a random-weight network this *is* programming randomness: the program key
    chooses the chip."""
    if spec.form_mean is None:
        return False
    p = spec.unformed_prob
    all_or_none = is_concrete(p) and float(np.asarray(p)) in (0.0, 1.0)
    return not (_all_zero(spec.form_std, spec.reset_std) and all_or_none)


def has_drift(spec: RRAM) -> bool:
    """Static check: can conductances drift? (False only for concrete zero exponents.)"""
    return not _all_zero(spec.drift_nu, spec.drift_nu_slope, spec.drift_nu_bounds[0], spec.drift_nu_std,
                         spec.drift_nu_std_slope, spec.drift_nu_std_bounds[0])


def _polyval(coeffs: tuple, x: jax.Array) -> jax.Array:
    out = jnp.zeros_like(x)
    for k, c in enumerate(coeffs):
        out = out + c * x**k
    return out


def _relative(g: jax.Array, spec: RRAM) -> jax.Array:
    return jnp.maximum(g / spec.g_max, 1e-7)


def _clip(g: jax.Array, spec: RRAM) -> jax.Array:
    if spec.clip_window:
        return jnp.clip(g, spec.g_min, spec.g_max)
    return jnp.maximum(g, 0.0)


def clip_to_window(g: jax.Array, spec: RRAM) -> jax.Array:
    """``g`` (S) clipped to [g_min, g_max], with gradient 1 on the closed window (and a
    float rounding beyond it) and 0 outside: ``jnp.clip`` halves or drops it at the
    edges, where every cell of a binary or ternary weight is written."""
    slack = 1e-5 * (spec.g_max - spec.g_min)
    inside = (g >= spec.g_min - slack) & (g <= spec.g_max + slack)
    straight = jnp.where(inside, g - jax.lax.stop_gradient(g), 0.0)  # 0 forward, gradient 1 inside
    return jax.lax.stop_gradient(jnp.clip(g, spec.g_min, spec.g_max)) + straight


def quantize_levels(g: jax.Array, spec: RRAM) -> jax.Array:
    """Round ``g`` (S) to the nearest of ``spec.levels`` evenly spaced levels in the window.

    Identity when ``spec.levels`` is None. The gradient passes straight through.
    """
    if spec.levels is None:
        return g
    step = (spec.g_max - spec.g_min) / (spec.levels - 1)
    k = jnp.clip(jnp.round((g - spec.g_min) / step), 0, spec.levels - 1)
    q = spec.g_min + k * step
    return g + jax.lax.stop_gradient(q - g)


def program_sigma(g: jax.Array, spec: RRAM) -> jax.Array:
    """Programming-noise std (S) for cells programmed to ``g`` (S), any shape."""
    state = spec.g_max * _polyval(spec.prog_poly, g / spec.g_max)
    return jnp.sqrt(spec.prog_sigma**2 + state**2)


def program(key: jax.Array, g_target: jax.Array, spec: RRAM) -> jax.Array:
    """Write conductances ``g_target`` (S, any shape) once; returns what the cells hold (S).

    Targets are clipped to the window (a cell cannot be written beyond it),
    rounded to the spec's levels, spread device to device, perturbed by write
    noise, clipped (see ``RRAM.clip_window``) and finally overridden by stuck-at
    faults. Gradients pass straight through the level rounding, so this can be
    used in hardware-aware training.
    """
    noise.check_key(key)
    check_finite("g_target", g_target)
    # Draws whose spec fields are concrete zeros are skipped at trace time: an
    # ideal or simple spec then compiles (and runs) without those random streams.
    k_d2d, k_noise, k_fault = noise.split(key, 3) if has_program_noise(spec) else (key,) * 3
    g = quantize_levels(clip_to_window(g_target, spec), spec)
    if not _all_zero(spec.d2d_sigma):
        spread = 1.0 + spec.d2d_sigma * noise.normal(k_d2d, g.shape, g.dtype)
        g = spec.g_min + (g - spec.g_min) * spread
    if not _all_zero(spec.prog_sigma, spec.prog_poly):
        g = g + program_sigma(g, spec) * noise.normal(k_noise, g.shape, g.dtype)
    if not _all_zero(spec.prog_sigma_rel):
        g = g * (1.0 + relative_write_noise(noise.fold_in(k_noise, 1), g.shape, spec, g.dtype))
    g = _clip(g, spec)
    if not _all_zero(spec.stuck_low_prob, spec.stuck_high_prob):
        g = stuck_at(k_fault, g, spec)
    return g


def relative_write_noise(key: jax.Array, shape: tuple[int, ...], spec: RRAM, dtype=jnp.float32) -> jax.Array:
    """The relative write error n of ``shape`` (a cell written to g holds g (1 + n)):
    N(0, prog_sigma_rel^2), each draw with |n| >= prog_rel_limit replaced by a uniform draw
    on (-limit, limit) (no truncation when the limit is None)."""
    k_normal, k_uniform = noise.split(key)
    n = spec.prog_sigma_rel * noise.normal(k_normal, shape, dtype)
    if spec.prog_rel_limit is None:
        return n
    limit = spec.prog_rel_limit
    return jnp.where(jnp.abs(n) < limit, n, limit * (2.0 * noise.uniform(k_uniform, shape, dtype) - 1.0))


def stuck_at(key: jax.Array, g: jax.Array, spec: RRAM) -> jax.Array:
    """Override a random fraction of cells with g_min (stuck low) or g_max (stuck high)."""
    u = noise.uniform(key, g.shape, g.dtype)
    g = jnp.where(u < spec.stuck_low_prob, spec.g_min, g)
    return jnp.where(u > 1.0 - spec.stuck_high_prob, spec.g_max, g)


def read_sigma(g: jax.Array, spec: RRAM, t: float | jax.Array = 0.0,
               g_prog: jax.Array | None = None) -> jax.Array:
    """Read-noise std (S) of cells holding ``g`` (S) when read ``t`` s after t0.

    ``g_prog``: the conductance the cells were programmed to (S, before drift); it
    sets the 1/f amplitude, as in aihwkit's PCM model. None = ``g`` (no drift).
    """
    if _all_zero(spec.read_1f_q):  # no 1/f term: skip it at trace time (compile cost)
        return jnp.sqrt(spec.read_sigma**2 + (spec.read_sigma_rel * g) ** 2)
    g_ref = g if g_prog is None else g_prog
    q = spec.read_1f_q / jnp.maximum(_relative(jnp.abs(g_ref), spec) ** spec.read_1f_exp, 1e-3)
    q = jnp.minimum(q, 0.2) * jnp.sqrt(jnp.log((t + spec.t0 + spec.t_read) / (2.0 * spec.t_read)))
    rel = jnp.sqrt(spec.read_sigma_rel**2 + q**2)
    return jnp.sqrt(spec.read_sigma**2 + (rel * g) ** 2)


def read(key: jax.Array, g: jax.Array, spec: RRAM, t: float | jax.Array = 0.0,
         g_prog: jax.Array | None = None) -> jax.Array:
    """One read of cells holding ``g`` (S): ``max(g + read_sigma(g) * N(0, 1), 0)``.

    A read fluctuates around the state the cell holds: the programming window
    bounds what can be written, not what a read returns, so only a conductance
    below 0 S is impossible (the output-referred read path of ``crossbar`` has the
    same statistics whenever that clip is rare). ``g_prog``: the programmed
    conductance before drift (see ``read_sigma``).
    """
    draw = noise.normal(key, g.shape, g.dtype)
    return jnp.maximum(g + read_sigma(g, spec, t, g_prog) * draw, 0.0)


def drift_exponent(key: jax.Array, g: jax.Array, spec: RRAM) -> jax.Array:
    """Per-device drift exponents nu (dimensionless, shape of ``g``), drawn at programming.

    Use the programming key: a chip's exponents are fixed once it is written.
    """
    log_gr = jnp.log(_relative(g, spec))
    mean = jnp.clip(spec.drift_nu + spec.drift_nu_slope * log_gr, *spec.drift_nu_bounds)
    std = jnp.clip(spec.drift_nu_std + spec.drift_nu_std_slope * log_gr, *spec.drift_nu_std_bounds)
    if _all_zero(spec.drift_nu_std, spec.drift_nu_std_slope, spec.drift_nu_std_bounds[0]):
        return jnp.abs(mean)
    nu = mean + std * noise.normal(key, g.shape, g.dtype)
    # aihwkit takes |nu|; a negative draw would mean conductance growth.
    return jnp.abs(nu)


def drift(g: jax.Array, t: float | jax.Array, spec: RRAM, nu: jax.Array | None = None) -> jax.Array:
    """Conductance (S) ``t`` seconds after the first read at t0: ``g ((t + t0) / t0)^(-nu)``.

    ``nu`` is the per-device exponent from ``drift_exponent``; None uses the
    state-dependent mean exponent (no device-to-device spread).
    """
    if nu is None:
        log_gr = jnp.log(_relative(g, spec))
        nu = jnp.clip(spec.drift_nu + spec.drift_nu_slope * log_gr, *spec.drift_nu_bounds)
    t = jnp.maximum(jnp.asarray(t, g.dtype), 0.0)
    return g * ((t + spec.t0) / spec.t0) ** (-nu)


def program_verify(key: jax.Array, g_target: jax.Array, spec: RRAM, tol, max_pulses: int = 20):
    """Write-and-verify, as the 40 nm macros program: pulse, read, repeat until the
    read is within ``tol`` of the target or ``max_pulses`` pulses are spent.

    g_target: conductances (S), any shape; clipped to the window and rounded to the
        levels, as in ``program``.
    tol: acceptance band (S), scalar or broadcastable; the verify read carries the
        spec's read noise, so a cell can be accepted slightly outside it.
    max_pulses: static bound on write pulses per cell (>= 1).
    Each pulse lands at the target plus fresh write noise (``program_sigma``);
    the verify loop adapts the pulse to each device, so the device-to-device gain
    spread (``d2d_sigma``) is what it removes and is not applied. Stuck cells
    hold their fault value and take every pulse unless it is within ``tol``.
    Returns ``(g, pulses)``: the conductances left (S) and the pulses each cell took
    (float, 1..max_pulses). Straight-through: the gradient of g is that of the target.
    """
    noise.check_key(key)
    check_finite("g_target", g_target)
    if not isinstance(max_pulses, int) or isinstance(max_pulses, bool) or max_pulses < 1:
        raise ValueError(f"max_pulses = {max_pulses!r} is invalid: allowed an integer >= 1")
    if is_concrete(tol) and not np.all(np.asarray(tol) >= 0):
        raise ValueError(f"tol = {tol!r} is invalid: allowed a conductance >= 0 (S)")
    goal = quantize_levels(clip_to_window(g_target, spec), spec)
    target = jax.lax.stop_gradient(goal)
    k_write, k_verify, k_fault = noise.split(key, 3)
    stuck = None
    if not _all_zero(spec.stuck_low_prob, spec.stuck_high_prob):
        stuck = stuck_at(k_fault, jnp.full_like(target, jnp.nan), spec)

    def write(i):
        g = target
        if not _all_zero(spec.prog_sigma, spec.prog_poly):
            g = g + program_sigma(target, spec) * noise.normal(noise.fold_in(k_write, i), g.shape, g.dtype)
        g = _clip(g, spec)
        return g if stuck is None else jnp.where(jnp.isnan(stuck), g, stuck)

    def accepted(i, g):
        seen = read(noise.fold_in(k_verify, i), g, spec) if has_read_noise(spec) else g
        return jnp.abs(seen - target) <= tol

    def body(carry):
        i, g, done, pulses = carry
        g_new = write(i)
        g = jnp.where(done, g, g_new)
        pulses = pulses + jnp.where(done, 0.0, 1.0)
        return i + 1, g, done | accepted(i, g), pulses

    def more(carry):
        i, _, done, _ = carry
        return (i < max_pulses) & ~jnp.all(done)

    g0 = write(0)
    init = (jnp.ones((), jnp.int32), g0, accepted(0, g0), jnp.ones_like(target))
    _, g, _, pulses = jax.lax.while_loop(more, body, init)
    return goal + jax.lax.stop_gradient(g - goal), pulses
