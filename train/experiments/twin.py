"""The continuous-time digital-twin study (Chen, Yang et al., arXiv 2406.08343), shared by
``twin-hp`` and ``twin-lorenz96``.

1. A neural ODE ``dx/dt = f_theta(x, u(t))`` (``models.node``) on programmed crossbars with
   no converter in the loop (the field preset's DAC and ADC removed: the integrators' output
   voltages drive the rows directly) is trained with diffrax in two phases (``train_twin``):
   in software, derivative matching (``warm_start_epochs``: the field fitted to the
   trajectories' central differences) and then multiple shooting (the training trajectories
   cut into windows that each start from the true state) with a horizon curriculum
   (``curriculum``: window lengths in save steps, in turn, each with Adam on a cosine
   schedule from ``lr``); then hardware-aware (``hwa_epochs`` of shooting with a fresh chip
   at every step, ``fit(rng="fresh_chip")``, programming noise only). Validation trajectories choose the
   best epoch of every stage.
2. The software network (ideal crossbar, diffrax Tsit5) is the digital twin and the
   software baseline.
3. The analogue twin: the hardware-aware network programmed once per chip (``models.chip.program_chip``),
   solved on the op-amp integrator preset (``analog.integrator``) with fresh read noise held
   for ``read_hold`` seconds, leak and integrator noise; Monte Carlo over ``n_chips`` chips.
   The ideal limit (ideal crossbar and integrator) is solved too, as a check.
4. Projected cost of one solve: the analogue integrator runs for span x tau seconds with the
   field's cells conducting and one integrator per state channel (``models.chip.solve_counts``,
   priced on the field preset's macro); a GPU doing the same solve runs the digital twin's
   measured function evaluations, each one kernel launch per layer plus its FLOPs
   (``analog.cost.DigitalCosts.gpu``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, memristor, presets
from analog.crossbar import CrossbarSpec
from analog.integrator import IntegratorSpec
from models import node
from models.chip import FieldArgs, program_chip, solve_counts
from models.node import ACTIVATIONS
from train import montecarlo, report, study
from train.config import config, field
from train.fit import fit, make_optimizer, steps_per_epoch

__all__ = ["TwinConfig", "Twin", "field_spec", "integrator_spec", "nrmse", "windows", "train_twin", "forecast_digital",
           "forecast_analog", "Drives", "drive_of", "chip_study", "projected_costs", "cost_section"]


@config
class TwinConfig:
    """Shared fields of the twin experiments (each adds its data fields)."""

    field_device: str = field("rram_20_80", choices=presets.names("programmed"))
    field_verify_tol: float | None = field(None, lo=0.0)  # S: write-and-verify band of the cells; None: open loop
    integrator_device: str = field("opamp_rc", choices=presets.names("integrator"))
    read_hold: float = field(1e-5, lo=0.0, lo_open=True)  # s: read noise held this long (and the step)
    hidden: tuple[int, ...] = field((32, 32), lo=1, min_len=1)
    activation: str = field("tanh", choices=tuple(ACTIVATIONS))
    hwa_epochs: int = field(20, lo=0)  # hardware-aware fine-tuning of the software twin for the chips (0: none)
    warm_start_epochs: int = field(100, lo=0)  # derivative matching before the shooting stages (0: none)
    curriculum: tuple[int, ...] = field((4, 8, 16), lo=1, min_len=1)  # window lengths (save steps), in turn
    epochs: int = field(20, lo=1)  # per curriculum stage
    batch_size: int = field(64, lo=1)
    lr: float = field(3e-3, lo=0.0, lo_open=True)
    rtol: float = field(1e-4, lo=0.0, lo_open=True)  # digital solver (training, twin, GPU baseline)
    n_chips: int = field(1000, lo=1)
    chip_chunk: int = field(250, lo=1)
    cache_dir: str | None = field(None, kind="path")  # where simulated data sets are cached (npz)


def field_spec(cfg: TwinConfig) -> CrossbarSpec:
    """The field preset with its converters removed (no DAC / ADC in the loop), its cells
    written with write-and-verify to ``field_verify_tol`` (S; None: the preset's open loop)."""
    return presets.spec(cfg.field_device, role="programmed").replace(dac=None, adc=None,
                                                                     verify_tol=cfg.field_verify_tol)


def integrator_spec(cfg: TwinConfig) -> IntegratorSpec:
    """The integrator preset, read noise held for ``read_hold`` s and stepped at it."""
    return presets.spec(cfg.integrator_device, role="integrator").replace(noise_hold=cfg.read_hold, dt=cfg.read_hold)


def nrmse(pred, true) -> jax.Array:
    """Root-mean-square error over every entry divided by the truth's standard deviation."""
    return jnp.sqrt(jnp.mean((pred - true) ** 2)) / jnp.std(true)


def windows(traj: np.ndarray, length: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multiple-shooting windows of trajectories ``traj`` (N, T, n): ``(x (M, length + 1, n),
    start (M,) save index of each window's first state, index (M,) its trajectory)``."""
    n_traj, steps = traj.shape[:2]
    if not 1 <= length < steps:
        raise ValueError(f"window length {length} is invalid: allowed 1 .. {steps - 1} (save steps)")
    starts = np.arange(0, steps - length, stride)
    x = np.stack([traj[:, s:s + length + 1] for s in starts], 1).reshape(-1, length + 1, *traj.shape[2:])
    start = np.tile(starts, n_traj)
    index = np.repeat(np.arange(n_traj), len(starts))
    return x.astype(np.float32), start.astype(np.int32), index.astype(np.int32)


class Drives(NamedTuple):
    """The sampled drives of N trajectories on one grid: ``grid`` (G,) model time, ``values`` (N, G) V."""

    grid: jax.Array
    values: jax.Array


def drive_of(drives: Drives | None, i):
    """Trajectory i's drive, linear between the samples (None: no drive)."""
    return None if drives is None else memristor.sampled_voltage(drives.grid, drives.values[i])


def forecast_digital(model, params, x0s, ts, drives=None, rtol: float = 1e-4):
    """The digital twin (``model`` on an ideal crossbar) from states ``x0s`` (N, n) at model times
    ``ts`` (T,): states (N, T, n) and the solver's function evaluations (N,)."""
    return jax.jit(functools.partial(_forecast, model, rtol=rtol))(params, x0s, jnp.asarray(ts), drives)


def _forecast(model, params, x0s, ts, drives, rtol):
    ideal = model.clone(spec=model.spec.ideal())

    def one(x0, i):
        sol = node.solve_digital(ideal, {"params": params}, x0, ts, drive_of(drives, i), rtol=rtol, max_steps=1 << 14)
        return sol.xs, sol.evaluations

    return jax.vmap(one)(x0s, jnp.arange(len(x0s)))


def forecast_analog(key, model, params, x0s, ts, ispec: IntegratorSpec, drives=None):
    """One chip (programmed from ``key``, read noise from ``fold_in(key, 1)``): the analogue twin's
    states (N, T, n) from ``x0s`` (N, n) at model times ``ts``."""
    chip = program_chip(model, {"params": params}, key, x0s[0], ts[0], drive_of(drives, 0))
    read = jax.random.fold_in(key, 1)

    def one(x0, i):
        return node.solve_analog(jax.random.fold_in(read, i), model, {"params": params, "chip": chip}, x0, ts,
                                 ispec, drive_of(drives, i))

    return jax.vmap(one)(x0s, jnp.arange(len(x0s)))


def chip_study(metric: Callable, cfg: TwinConfig, seed: int, desc: str) -> dict:
    """``metric(chip_key)`` over ``cfg.n_chips`` chips (numpy pytree, leading axis chips)."""
    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 7), cfg.n_chips)
    return montecarlo.evaluate(metric, keys, chunk_size=min(cfg.chip_chunk, cfg.n_chips), desc=desc)


class Twin(NamedTuple):
    """Trained twins: ``software`` (digital training, the software baseline and digital twin),
    ``chip`` (the software twin fine-tuned hardware-aware, for the chips; = software when
    hwa_epochs is 0), and the loss / validation curves per stage."""

    software: Any
    chip: Any
    curves: dict


def train_twin(model, cfg: TwinConfig, traj: np.ndarray, ts: np.ndarray, drives, valid: tuple, out_dir: Path,
               seed: int, stride: int = 1) -> Twin:
    """Train ``model`` on trajectories ``traj`` (N, T, n) saved at model times ``ts`` (T,).

    Software phase (ideal crossbar): derivative matching for ``warm_start_epochs``, then
    multiple shooting with the horizon curriculum, each stage keeping its best epoch by the
    digital twin's NRMSE over ``valid = (x (V, T', n), ts' (T',), drives')``. Hardware-aware
    phase: ``hwa_epochs`` of shooting on the last window length with a fresh chip at every step
    (``fit(rng="fresh_chip")``), its best epoch by the NRMSE on a fresh chip. Only programming
    noise is injected: on the integrator the read noise is refreshed every ``read_hold`` and
    averages out along the trajectory, whereas a read held for a whole adaptive solve would act
    as a second, much larger programming error.
    ``drives``: ``Drives`` of the N trajectories or None; ``stride``: save steps between window starts.
    """
    ideal = model.clone(spec=model.spec.ideal())
    key = jax.random.PRNGKey(seed)
    params = jax.jit(ideal.init)({"params": key}, jnp.asarray(traj[0, 0]), ts[0], drive_of(drives, 0))["params"]
    ts = jnp.asarray(ts)
    curves = {}
    if cfg.warm_start_epochs:
        params, curves["derivatives"] = _warm_start(ideal, cfg, params, traj, np.asarray(ts), drives, valid, out_dir,
                                                    seed)
    for stage, length in enumerate(cfg.curriculum):
        params, curves[f"window{length}"] = _shoot(ideal, cfg, params, traj, ts, drives, valid, length, stride,
                                                   cfg.epochs, "none", seed + stage, out_dir / "ckpt" / f"stage{stage}")
    software = params
    if cfg.hwa_epochs:
        held = model.clone(spec=model.spec.with_device(read_sigma_rel=0.0))
        params, curves["hardware_aware"] = _shoot(held, cfg, params, traj, ts, drives, valid, cfg.curriculum[-1],
                                                  stride, cfg.hwa_epochs, "fresh_chip", seed + 50,
                                                  out_dir / "ckpt" / "hardware_aware")
    return Twin(software, params, curves)


def _shoot(model, cfg: TwinConfig, params, traj, ts, drives, valid, length: int, stride: int, epochs: int,
           rng: str, seed: int, ckpt_dir: Path):
    """One multiple-shooting stage: windows of ``length`` save steps, Adam on a cosine schedule."""
    x, start, index = windows(traj, min(length, traj.shape[1] - 1), stride)
    offsets = ts[:x.shape[1]] - ts[0]
    batch = min(cfg.batch_size, len(x))
    optimizer = make_optimizer("adam", cfg.lr, schedule="cosine", total_steps=steps_per_epoch(len(x), batch) * epochs)
    x_val, ts_val, drives_val = valid
    result = fit(_loss(model, cfg.rtol), {"params": params}, optimizer, epochs=epochs, data=(x, start, index),
                 batch_size=batch, rng=rng, seed=seed, context=(ts, offsets, drives),
                 evaluate=_validation(model, cfg.rtol),
                 eval_data=(jnp.asarray(x_val), jnp.asarray(ts_val), drives_val),
                 monitor="nrmse", mode="min", ckpt_dir=ckpt_dir, desc=f"twin window {length} ({rng})")
    return result.variables["params"], result.history


def _warm_start(model, cfg: TwinConfig, params, traj, ts, drives, valid, out_dir: Path, seed: int):
    """Derivative matching: the field fitted to the trajectories' central-difference
    derivatives (second order in the save step), no solver; the multiple-shooting stages
    then start from it."""
    rate = np.gradient(traj, ts, axis=1)
    n_traj, steps = traj.shape[:2]
    data = (traj.reshape(n_traj * steps, *traj.shape[2:]), np.tile(ts, n_traj).astype(np.float32),
            np.repeat(np.arange(n_traj), steps).astype(np.int32), rate.reshape(n_traj * steps, *traj.shape[2:]))
    batch = min(cfg.batch_size, len(data[0]))
    optimizer = make_optimizer("adam", cfg.lr, schedule="cosine",
                               total_steps=steps_per_epoch(len(data[0]), batch) * cfg.warm_start_epochs)

    def loss(variables, batch_data, rngs, context):
        x, t, index, target = batch_data
        chip = {k: rngs[k] for k in ("program", "read") if k in rngs}
        out = jax.vmap(lambda xi, ti, i: model.apply(variables, xi, ti, drive_of(context, i), rngs=chip))(x, t, index)
        return jnp.mean((out - target) ** 2)

    x_val, ts_val, drives_val = valid
    result = fit(loss, {"params": params}, optimizer, epochs=cfg.warm_start_epochs, data=data, batch_size=batch,
                 seed=seed + 100, context=drives,
                 evaluate=_validation(model, cfg.rtol), eval_data=(jnp.asarray(x_val), jnp.asarray(ts_val), drives_val),
                 eval_every=max(1, cfg.warm_start_epochs // 5), monitor="nrmse", mode="min",
                 ckpt_dir=out_dir / "ckpt" / "derivatives", desc="twin derivatives")
    return result.variables["params"], result.history


def _loss(model, rtol):
    def loss(variables, batch, rngs, context):
        x, start, index = batch
        ts, offsets, drives = context
        chip = {k: rngs[k] for k in ("program", "read") if k in rngs}

        def one(xw, s, i):
            sol = node.solve_digital(model, variables, xw[0], ts[s] + offsets, drive_of(drives, i), chip, rtol=rtol,
                                     max_steps=1 << 12)
            return jnp.mean((sol.xs - xw) ** 2)

        return jnp.mean(jax.vmap(one)(x, start, index))
    return loss


def _validation(model, rtol):
    """NRMSE of free runs over the validation trajectories: the software twin on an ideal
    crossbar, a noisy model on the chip of ``rngs`` (one chip and read per validation)."""
    def evaluate(variables, rngs, eval_data):
        x, ts, drives = eval_data
        chip = {k: rngs[k] for k in ("program", "read") if k in rngs}

        def one(x0, i):
            sol = node.solve_digital(model, variables, x0, ts, drive_of(drives, i), chip, rtol=rtol,
                                     max_steps=1 << 14)
            return sol.xs

        return {"nrmse": nrmse(jax.vmap(one)(x[:, 0], jnp.arange(len(x))), x)}
    return evaluate


def projected_costs(model, params, x0, ts, drive, ispec: IntegratorSpec, evaluations: float, macro_name: str
                    ) -> tuple[dict, dict, dict]:
    """Counts and prices of one solve of the twin over model times ``ts`` from ``x0`` (n,).

    analogue: ``solve_counts`` of the field over ``ts * tau`` (cells conducting, integrators,
    I/O converters) on the field preset's macro; digital: ``evaluations`` x (FLOPs, kernel
    launches) of one evaluation on an A100. Returns (analogue counts, digital counts, metrics).
    """
    chip = program_chip(model, {"params": params}, jax.random.PRNGKey(0), x0, ts[0], drive)
    macro = study.conduction_macro(macro_name, model.spec, chip)
    analog = solve_counts(node.analog_field(model, ispec), FieldArgs({"params": params, "chip": chip}, None, drive), x0,
                          node.physical_times(ts, ispec), ispec, conduction="cells")
    per_eval = node.evaluation_counts(model, {"params": params}, x0, ts[0], drive)
    digital = {key: float(evaluations) * value for key, value in per_eval.items()}
    gpu = cost.DigitalCosts.gpu()
    a, d = cost.analog_cost(analog, macro), cost.digital_cost(digital, gpu)
    metrics = {"speedup_projected/gpu": d["latency_s"] / a["latency_s"],
               "energy_ratio_projected/gpu": d["energy_j"] / a["energy_j"],
               "latency/analog_s": a["latency_s"], "latency/gpu_s": d["latency_s"],
               "energy/analog_j": a["energy_j"], "energy/gpu_j": d["energy_j"],
               "energy/analog_conduction_j": a["energy_conduction_j"],
               "energy/analog_integrator_j": a["energy_integrator_j"],
               "energy/analog_converters_j": a["energy_dac_j"] + a["energy_adc_j"],
               "solver/evaluations": float(evaluations), "solver/flops_per_evaluation": per_eval["flops"],
               "solver/layers_per_evaluation": per_eval["layers"], "power/cell_w": macro.cell_w,
               "power/integrator_w": macro.integrator_w, "cells/conducting": analog["array_cell_seconds"] /
               analog["integrator_time"]}
    return analog, digital, {k: float(v) for k, v in metrics.items()}


def cost_section(metrics: dict, ispec: IntegratorSpec, span: float, integrator_name: str) -> str:
    """The cost assumptions and which one drives each ratio (results.md)."""
    gpu = cost.DigitalCosts.gpu()
    rows = [["analogue solve", f"{span:g} model time units x tau = {ispec.tau:g} s", metrics["latency/analog_s"],
             metrics["energy/analog_j"]],
            ["GPU solve (A100, fp32)", f"{metrics['solver/evaluations']:.0f} evaluations x "
             f"{metrics['solver/layers_per_evaluation']:.0f} launches x {gpu.layer_overhead_s:g} s + "
             f"{metrics['solver/flops_per_evaluation']:.0f} FLOPs each", metrics["latency/gpu_s"],
             metrics["energy/gpu_j"]]]
    table = report.markdown_table(["solve", "work", "latency (s)", "energy (J)"], rows)
    return (f"{table}\n\nAssumptions: one model time unit is one integrator time constant tau = {ispec.tau:g} s "
            f"[assumed, preset `{integrator_name}`]; every cell of the field's arrays conducts for the whole "
            f"solve at {metrics['power/cell_w']:.3g} W per cell (V_read^2 x the chip's mean conductance x activity "
            f"0.5 [assumed]), one integrator channel per state variable at {metrics['power/integrator_w']:.3g} W "
            f"[assumed], an ADC "
            f"conversion per saved state; the GPU runs the digital twin's measured Tsit5 evaluations at "
            f"{gpu.layer_overhead_s:g} s launch overhead per layer [assumed] and {gpu.energy_per_op_j:.3g} J per "
            f"FLOP (board power at throughput, launches amortised: the conservative side for the analogue twin).\n\n"
            f"What drives each ratio: the speed-up is the GPU's launch-bound latency (evaluations x layers x launch "
            f"overhead: {metrics['latency/gpu_s']:.3g} s) against span x tau ({metrics['latency/analog_s']:.3g} s), "
            f"so it scales with 1 / tau and with the solver's step count; the energy ratio is GPU FLOP energy "
            f"against cell conduction ({metrics['energy/analog_conduction_j']:.3g} J), integrators "
            f"({metrics['energy/analog_integrator_j']:.3g} J) and converters "
            f"({metrics['energy/analog_converters_j']:.3g} J) over the solve, so it scales with 1 / tau too and "
            f"with the cells' conductance and read voltage.")
