"""The analogue score-diffusion study (Yang, Chen et al., arXiv 2404.05648; code
yangjc97/memristor-sde-diffusion), shared by ``diffusion-ring`` and ``diffusion-letters``.

1. A score network ``s_theta(x, t[, class])`` (``models.score.ScoreMLP``: 2-14-14-2, fixed
   random Fourier time embedding added to both hidden layers, output x 5) on crossbars of the
   ``score_device`` preset without converters in the loop (the integrators' voltages drive the
   rows). Noise-aware training: denoising score matching on the VP SDE (``models.sde``) with a
   fresh chip at every step (``fit(rng="fresh_chip")``: the preset's write error, N(0, 10 %)
   truncated at 20 % for ``rram_180nm_sde``, i.e. the public code's ``W (1 + n)``), plus
   ``saturation_weight`` x the hidden activations' excess over 1.5; Adam on a cosine schedule,
   weight decay, gradient clipping.
2. Software baseline: the same network on an ideal crossbar, sampled digitally with diffrax
   (``reference_steps`` fixed Euler steps of the probability-flow ODE, the public code's
   ``euler_ode``; ``process="sde"``: Euler-Maruyama on the reverse SDE), from N(0, I) at t = 1
   with the schedule scaled by ``sample_scale`` (the code's sampling-time scale) to ``t_end``.
3. The analogue solver: the network programmed once per chip, the same reverse process on the
   op-amp integrators (``models.sde.sample_analog``: model time runs backwards while the
   hardware runs forwards, one model time unit per tau, read noise held ``read_hold``,
   integrator leak and noise), Monte Carlo over ``n_chips`` chips; the ideal limit as a check.
4. Quality is the histogram KL divergence (``train.loop.histogram_kl``) of ``n_samples``
   generated points against a large data sample, beside the KL of ``n_samples`` fresh data
   points (the finite-sample floor): ``kl/...`` on a 2-D histogram (the headline; the public
   code scores the ring on a 2-D histogram too, ``calDistance``) and ``kl1d/...`` in the code's
   ``cal_KL`` form (one 1-D histogram of every coordinate, 50 bins on [-4, 4]).
   The digital sampler's KL against its step count gives the
   steps it needs to match the analogue solver's median chip; the projected cost of one sample
   on the analogue solver (span x tau, conducting cells, integrators, I/O converters) is set
   against a GPU running those steps (``analog.cost``; per-layer launch overhead on and off).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, presets
from analog.integrator import IntegratorSpec
from models.chip import FieldArgs, program_chip, solve_counts
from models.node import analog_field, physical_times
from models.score import ScoreMLP, saturation_penalty
from models.sde import SDES, ReverseField, dsm_loss, field_variables, sample_analog, sample_digital
from train import montecarlo, report, study
from train.config import config, field
from train.fit import fit, make_optimizer, steps_per_epoch
from train.loop import histogram_kl

__all__ = ["DiffusionConfig", "Problem", "score_model", "reverse_field", "train_score", "software_samples",
           "chip_samples", "generation_study", "projected_costs", "cost_section", "study_plots", "write_error_section"]


@config
class DiffusionConfig:
    """Shared fields of the diffusion experiments."""

    score_device: str = field("rram_180nm_sde", choices=presets.names("programmed"))
    integrator_device: str = field("opamp_rc", choices=presets.names("integrator"))
    read_hold: float = field(1e-5, lo=0.0, lo_open=True)  # s: read noise held this long (and the step)
    tau: float | None = field(None, lo=0.0, lo_open=True)  # s: the integrators' RC time constant (None: the preset's)
    sde: str = field("vp", choices=("vp", "subvp"))
    beta0: float = field(0.001, lo=0.0, lo_open=True)
    beta1: float = field(0.5, lo=0.0, lo_open=True)
    sample_scale: float = field(2.0, lo=0.0, lo_open=True)  # the schedule x this at sampling (public code)
    process: str = field("ode", choices=("ode", "sde"))  # probability-flow ODE or reverse SDE
    t_end: float = field(1e-3, lo=0.0, hi=1.0, lo_open=True, hi_open=True)  # model time the solve stops at
    hidden: int = field(14, lo=2)
    amp: float = field(5.0, lo=0.0, lo_open=True)
    noise_aware: bool = field(True)  # train with a fresh chip per step (else ideal training)
    saturation_weight: float = field(1e-7, lo=0.0)
    epochs: int = field(1000, lo=1)
    batch_size: int = field(512, lo=1)
    lr: float = field(2e-3, lo=0.0, lo_open=True)
    weight_decay: float = field(3e-5, lo=0.0)
    clip_norm: float = field(0.1, lo=0.0, lo_open=True)
    n_samples: int = field(1000, lo=10)  # generated per chip (and per class)
    reference_steps: int = field(1000, lo=1)  # the software baseline's Euler steps
    step_grid: tuple[int, ...] = field((2, 5, 10, 20, 50, 100, 200, 500), lo=1, min_len=1)
    bins: int = field(24, lo=2)  # the headline KL on a 2-D histogram: bins per axis
    extent: float = field(1.2, lo=0.0, lo_open=True)  # ... over [-extent, extent]^2
    marginal_bins: int = field(50, lo=2)  # kl1d, the public code's cal_KL: 1-D histogram bins
    marginal_extent: float = field(4.0, lo=0.0, lo_open=True)  # ... over [-extent, extent]
    n_chips: int = field(1000, lo=1)
    chip_chunk: int = field(50, lo=1)
    write_errors: tuple[float, ...] = field((0.02, 0.05), lo=0.0, min_len=0)  # the knob's sweep: relative write error
    sweep_chips: int = field(100, lo=1)  # chips per write-error point


def score_spec(cfg: DiffusionConfig):
    """The score preset with its converters removed (no DAC / ADC inside the loop)."""
    return presets.spec(cfg.score_device, role="programmed").replace(dac=None, adc=None)


def score_model(cfg: DiffusionConfig, n_classes: int = 0) -> ScoreMLP:
    return ScoreMLP(2, cfg.hidden, spec=score_spec(cfg), amp=cfg.amp, n_classes=n_classes)


def training_sde(cfg: DiffusionConfig):
    return SDES[cfg.sde](cfg.beta0, cfg.beta1)


def reverse_field(model: ScoreMLP, cfg: DiffusionConfig, guidance: float | None = None) -> ReverseField:
    """The reverse process's drift around ``model`` with the sampling-time schedule."""
    return ReverseField(model, training_sde(cfg).scaled(cfg.sample_scale), cfg.process == "ode", guidance)


def integrator_spec(cfg: DiffusionConfig) -> IntegratorSpec:
    """The integrator preset (its tau replaced by ``cfg.tau`` when set), read noise held ``read_hold`` s;
    the solver steps at the hold, or at tau / 100 when that is shorter (one model time unit in 100
    steps at least)."""
    spec = presets.spec(cfg.integrator_device, role="integrator")
    tau = spec.tau if cfg.tau is None else cfg.tau
    return spec.replace(tau=tau, noise_hold=cfg.read_hold, dt=min(cfg.read_hold, tau / 100))


def train_score(model: ScoreMLP, cfg: DiffusionConfig, x: np.ndarray, labels: np.ndarray | None, seed: int,
                ckpt_dir: Path, label_dropout: float = 0.1):
    """Denoising score matching of ``model`` on points ``x`` (n, 2) (with class ``labels`` (n,):
    each replaced by the null class -1 with probability ``label_dropout``, for classifier-free
    guidance). Returns (params, history)."""
    ideal = model.clone(spec=model.spec.ideal())
    trained = model if cfg.noise_aware else ideal
    y = np.zeros(len(x), np.int32) if labels is None else np.asarray(labels, np.int32)
    init_label = None if labels is None else jnp.asarray(y[:2])
    params = jax.jit(ideal.init)({"params": jax.random.PRNGKey(seed)}, jnp.asarray(x[:2]), jnp.ones(2),
                                 init_label)["params"]
    sde = training_sde(cfg)

    def loss(variables, batch, rngs, context):
        x0, y0 = batch
        chip = {k: rngs[k] for k in ("program", "read") if k in rngs}
        k_drop, k_dsm = jax.random.split(rngs["step"])
        label = None if labels is None else jnp.where(jax.random.uniform(k_drop, y0.shape) < label_dropout, -1, y0)
        penalties = []

        def score_fn(xt, t):
            out, state = trained.apply(variables, xt, t, label, rngs=chip, mutable=["losses"])
            penalties.append(saturation_penalty(state["losses"]))
            return out

        value = dsm_loss(score_fn, sde, k_dsm, x0)
        return value + cfg.saturation_weight * penalties[0]

    batch = min(cfg.batch_size, len(x))
    optimizer = make_optimizer("adam", cfg.lr, schedule="cosine", weight_decay=cfg.weight_decay,
                               clip_norm=cfg.clip_norm, total_steps=steps_per_epoch(len(x), batch) * cfg.epochs)
    result = fit(loss, {"params": params}, optimizer, epochs=cfg.epochs, data=(np.asarray(x, np.float32), y),
                 batch_size=batch, rng="fresh_chip" if cfg.noise_aware else "none", seed=seed, restore_best=False,
                 ckpt_dir=ckpt_dir, ckpt_every=max(1, cfg.epochs // 10), desc="score network")
    return result.variables["params"], result.history


def software_samples(cfg: DiffusionConfig, model: ScoreMLP, params, x1, labels, steps: int, key,
                     guidance: float | None = None) -> jax.Array:
    """The software baseline: the ideal network sampled digitally in ``steps`` Euler steps from x1 (N, 2)."""
    field = reverse_field(model.clone(spec=model.spec.ideal()), cfg, guidance)
    return sample_digital(key, field, field_variables({"params": params}), x1, steps, cfg.t_end, labels).x


def chip_samples(key, cfg: DiffusionConfig, model: ScoreMLP, params, x1, labels, ispec: IntegratorSpec,
                 guidance: float | None = None) -> jax.Array:
    """One chip (programmed from ``key``, read from ``fold_in(key, 1)``): the analogue solver's
    samples (N, 2) from x1 (N, 2) (labels (N,) or None)."""
    field = reverse_field(model, cfg, guidance)
    variables = field_variables({"params": params})
    chip = program_chip(field, variables, key, x1[:1], 1.0, None if labels is None else labels[:1])
    xs = sample_analog(jax.random.fold_in(key, 1), field, {**variables, "chip": chip}, x1, ispec, cfg.t_end, labels)
    return xs[-1]


class Problem(NamedTuple):
    """What one experiment generates: ``x1`` (C N, 2) prior draws at t = 1, ``labels`` (C N,)
    class-major (None: unconditional, C = 1), ``references`` (C, M, 2) data points per class for
    the KL, ``fresh`` (C, N, 2) data points not in the references (the KL floor), ``names`` (C,)."""

    x1: jax.Array
    labels: jax.Array | None
    references: jax.Array
    fresh: jax.Array
    names: tuple[str, ...]


def class_kl(cfg: DiffusionConfig, samples, references) -> dict:
    """Histogram KLs per class (C,) of samples (C N, 2) against references (C, M, 2): ``"kl"`` on a
    2-D histogram (``bins`` per axis on [-extent, extent]^2, eps 1e-4: where in the plane the
    points lie) and ``"kl1d"`` in the public code's ``cal_KL`` form (one 1-D histogram of all
    coordinates, ``marginal_bins`` on [-marginal_extent, marginal_extent], eps 1e-10: coarse,
    blind to how the two coordinates pair up)."""
    per_class = samples.reshape(references.shape[0], -1, 2)
    joint = lambda s, r: histogram_kl(s, r, cfg.bins, cfg.extent, 1e-4)
    marginal = lambda s, r: histogram_kl(s, r, cfg.marginal_bins, cfg.marginal_extent, 1e-10, marginal=True)
    return {"kl": jax.vmap(joint)(per_class, references), "kl1d": jax.vmap(marginal)(per_class, references)}


def generation_study(cfg: DiffusionConfig, model: ScoreMLP, params, problem: Problem, seed: int,
                     guidance: float | None = None, extra_metric=None) -> tuple[dict, dict]:
    """Software baseline, digital step curve, ideal analogue limit, the chips' Monte Carlo and
    the chips at the relative write errors of ``cfg.write_errors`` (the device knob).

    extra_metric: ``f(samples (C N, 2)) -> {name: scalar}`` evaluated on every sample set
    (e.g. the decoded letters' class accuracy). Returns (metrics, samples for the plots).
    """
    key = jax.random.PRNGKey(seed)
    x1, labels, refs = problem.x1, problem.labels, problem.references
    extra = extra_metric or (lambda samples: {})
    metrics, samples = {}, {}

    def record(name: str, x):
        kls = jax.device_get(class_kl(cfg, x, refs))
        for form, kl in kls.items():
            metrics[f"{form}/{name}"] = float(kl.mean())
        for k, value in jax.device_get(extra(x)).items():
            metrics[f"{k}/{name}"] = float(value)
        return kls["kl"]

    for form, kl in class_kl(cfg, problem.fresh.reshape(-1, 2), refs).items():
        metrics[f"{form}/data_floor"] = float(jnp.mean(kl))
    samples["software"] = software_samples(cfg, model, params, x1, labels, cfg.reference_steps, key, guidance)
    software_kl = record("software", samples["software"])
    for name, value in zip(problem.names, software_kl):
        metrics[f"kl/software/{name}"] = float(value)
    start = time.perf_counter()
    jax.block_until_ready(software_samples(cfg, model, params, x1, labels, cfg.reference_steps, key, guidance))
    metrics["time/digital_sampler_s"] = time.perf_counter() - start
    metrics["time/load_average"] = os.getloadavg()[0]  # the machine's 1-minute load while it was timed
    for steps in cfg.step_grid:
        record(f"digital/steps{steps}", software_samples(cfg, model, params, x1, labels, steps, key, guidance))
    ispec = integrator_spec(cfg)
    ideal = model.clone(spec=model.spec.ideal())
    samples["analog_ideal"] = chip_samples(key, cfg, ideal, params, x1, labels, ispec.ideal(), guidance)
    record("analog_ideal", samples["analog_ideal"])

    def chip_metric(chip_key):
        x = chip_samples(chip_key, cfg, model, params, x1, labels, ispec, guidance)
        kls = class_kl(cfg, x, refs)
        return {"kl": jnp.mean(kls["kl"]), "kl_class": kls["kl"], "kl1d": jnp.mean(kls["kl1d"]), "samples": x,
                **extra(x)}

    keys = montecarlo.chip_keys(jax.random.fold_in(key, 7), cfg.n_chips)
    chips = montecarlo.evaluate(chip_metric, keys, chunk_size=min(cfg.chip_chunk, cfg.n_chips),
                                desc="analogue solver chips")
    metrics.update(study.chip_summary("kl/analog", chips["kl"]))
    metrics.update(study.chip_summary("kl1d/analog", chips["kl1d"]))
    for k, name in enumerate(problem.names):
        metrics[f"kl/analog/{name}/median"] = float(np.median(chips["kl_class"][:, k]))
    for k in chips:
        if k not in ("kl", "kl_class", "kl1d", "samples"):
            metrics.update(study.chip_summary(f"{k}/analog", chips[k]))
    for error in cfg.write_errors:
        noisier = model.clone(spec=model.spec.with_device(prog_sigma_rel=error))
        kl = montecarlo.evaluate(lambda k: jnp.mean(class_kl(cfg, chip_samples(k, cfg, noisier, params, x1, labels,
                                                                                ispec, guidance), refs)["kl"]),
                                 keys[:cfg.sweep_chips], chunk_size=min(cfg.chip_chunk, cfg.sweep_chips),
                                 desc=f"write error {error:g}")
        metrics[f"kl/analog/write_error{error:g}/median"] = float(np.median(kl))
    metrics["device/write_error"] = float(model.spec.device.prog_sigma_rel)
    median_chip = int(np.argsort(chips["kl"])[len(chips["kl"]) // 2])
    samples["analog_median_chip"] = chips["samples"][median_chip]
    samples["chips_kl"] = chips["kl"]
    _steps_to_match(cfg, metrics)
    return metrics, jax.device_get(samples)


def _steps_to_match(cfg: DiffusionConfig, metrics: dict) -> None:
    """The fewest digital steps of the grid whose KL is at most the analogue median chip's
    (``steps/match``; ``steps/match_found`` 0 when none is: then the grid's largest)."""
    target = metrics["kl/analog/median"]
    grid = sorted(cfg.step_grid)
    matched = [n for n in grid if metrics[f"kl/digital/steps{n}"] <= target]
    metrics["steps/match"] = float(matched[0] if matched else grid[-1])
    metrics["steps/match_found"] = float(bool(matched))


def projected_costs(cfg: DiffusionConfig, model: ScoreMLP, params, x1, labels, guidance: float | None,
                    steps: dict[str, float]) -> dict:
    """Projected latency and energy of one sample: the analogue solve (span 1 - t_end model
    time units x tau, the cells of the score network conducting, one integrator per state
    channel, a DAC conversion per initial value and an ADC conversion per output value) against
    a GPU running ``steps[name]`` Euler steps (each one evaluation of the network: its XLA
    FLOPs and one kernel launch per weight matrix), with and without the launch overhead."""
    ispec = integrator_spec(cfg)
    field = reverse_field(model, cfg, guidance)
    variables = field_variables({"params": params})
    label = None if labels is None else labels[:1]
    chip = program_chip(field, variables, jax.random.PRNGKey(0), x1[:1], 1.0, label)
    macro = study.conduction_macro(cfg.score_device, model.spec, chip)
    ts = physical_times(jnp.linspace(1.0, cfg.t_end, 2), ispec)
    analog = solve_counts(analog_field(field, ispec), FieldArgs({**variables, "chip": chip}, None, label), x1[:1], ts,
                          ispec, conduction="cells")
    a = cost.analog_cost(analog, macro)
    ideal_field = field.clone(score=model.clone(spec=model.spec.ideal()))
    flops = cost.compiled_flops(lambda x: ideal_field.apply(variables, x, 0.5, label), x1[:1])
    layers = float(sum(getattr(p[-1], "key", None) == "kernel" and "class_" not in str(p)
                       for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]))
    if guidance is not None and guidance not in (0.0, 1.0) and labels is not None:
        layers *= 2  # guided: the conditional and the unconditional score each step
    gpu = cost.DigitalCosts.gpu()
    metrics = {"latency/analog_s": a["latency_s"], "energy/analog_j": a["energy_j"],
               "energy/analog_conduction_j": a["energy_conduction_j"],
               "energy/analog_integrator_j": a["energy_integrator_j"],
               "energy/analog_converters_j": a["energy_dac_j"] + a["energy_adc_j"],
               "solver/flops_per_evaluation": flops, "solver/layers_per_evaluation": layers,
               "power/cell_w": macro.cell_w, "power/integrator_w": macro.integrator_w,
               "cells/conducting": analog["array_cell_seconds"] / analog["integrator_time"]}
    for name, n in steps.items():
        counts = {"flops": n * flops, "layers": n * layers}
        d = cost.digital_cost(counts, gpu)
        d_free = cost.digital_cost(counts, gpu.replace(layer_overhead_s=0.0))
        suffix = "" if name == "match" else f"_{name}"
        metrics.update({f"latency/gpu{suffix}_s": d["latency_s"], f"energy/gpu{suffix}_j": d["energy_j"],
                        f"speedup_projected/gpu{suffix}": d["latency_s"] / a["latency_s"],
                        f"speedup_projected/gpu{suffix}_no_launch": d_free["latency_s"] / a["latency_s"],
                        f"energy_ratio_projected/gpu{suffix}": d["energy_j"] / a["energy_j"]})
    return {k: float(v) for k, v in metrics.items()}


def study_plots(out_dir: Path, cfg: DiffusionConfig, m: dict, samples: dict, ylabel: str) -> None:
    """``kl_vs_steps.png`` (the digital sampler's KL against its steps, the chips' median and the
    software baseline as lines) and ``chips.png`` (KL over chips)."""
    grid = sorted(cfg.step_grid)
    lines = {"analogue solver (median chip)": m["kl/analog/median"], "software baseline": m["kl/software"],
             "data floor": m["kl/data_floor"]}
    curve = {"digital sampler": (grid, [m[f"kl/digital/steps{n}"] for n in grid])}
    report.line_plot(out_dir / "kl_vs_steps.png", curve,
                     "digital Euler steps", ylabel, "quality against digital steps", hlines=lines, logx=True, logy=True)
    report.histogram(out_dir / "chips.png", {"analogue solver": samples["chips_kl"]}, ylabel,
                     vlines={"software": m["kl/software"], "data floor": m["kl/data_floor"]})


def write_error_section(out_dir: Path, cfg: DiffusionConfig, m: dict) -> str:
    """The knob: the chips' median KL against the relative write error (a table and
    ``write_error.png``); the preset's own error is the main Monte Carlo."""
    points = sorted([(e, m[f"kl/analog/write_error{e:g}/median"]) for e in cfg.write_errors] +
                    [(m["device/write_error"], m["kl/analog/median"])])
    report.line_plot(out_dir / "write_error.png", {"analogue solver (median chip)": tuple(zip(*points))},
                     "relative write error (std)", "KL (nats)", "quality against the device's write error",
                     hlines={"software": m["kl/software"], "2x software": 2 * m["kl/software"]})
    main = f"`{cfg.score_device}` (main study, {cfg.n_chips} chips)"
    rows = [[f"{e:g}", main if e == m["device/write_error"] else f"{cfg.sweep_chips} chips", kl,
             "yes" if kl <= 2 * m["kl/software"] else "no"] for e, kl in points]
    return (report.markdown_table(["write error", "chips", "KL, median chip", "within 2x of software"], rows) +
            f"\n\nThe score network was trained noise-aware at the preset's error; the other rows program the same "
            f"weights with a different relative write error (`RRAM.prog_sigma_rel`, truncated at "
            f"{presets.spec(cfg.score_device).device.prog_rel_limit}), e.g. what write-and-verify would reach.")


def cost_section(cfg: DiffusionConfig, m: dict) -> str:
    """The cost table and what drives each ratio (results.md)."""
    ispec = integrator_spec(cfg)
    gpu = cost.DigitalCosts.gpu()
    span = 1.0 - cfg.t_end
    rows = [["analogue solve", f"{span:g} model time units x tau = {ispec.tau:g} s", m["latency/analog_s"],
             m["energy/analog_j"]]]
    for name, label in (("", "steps to match the analogue median chip"), ("_reference", "the software baseline's")):
        steps = m["steps/match"] if not name else cfg.reference_steps
        rows.append([f"GPU (A100, fp32), {steps:.0f} Euler steps ({label})",
                     f"x {m['solver/layers_per_evaluation']:.0f} launches x {gpu.layer_overhead_s:g} s + "
                     f"{m['solver/flops_per_evaluation']:.0f} FLOPs each", m[f"latency/gpu{name}_s"],
                     m[f"energy/gpu{name}_j"]])
    table = report.markdown_table(["one sample", "work", "latency (s)", "energy (J)"], rows)
    ratios = report.markdown_table(
        ["GPU steps", "speed-up (with launch overhead)", "speed-up (without)", "energy ratio"],
        [[f"{m['steps/match']:.0f} (match)", m["speedup_projected/gpu"], m["speedup_projected/gpu_no_launch"],
          m["energy_ratio_projected/gpu"]],
         [f"{cfg.reference_steps} (software baseline)", m["speedup_projected/gpu_reference"],
          m["speedup_projected/gpu_reference_no_launch"], m["energy_ratio_projected/gpu_reference"]]])
    return (f"{table}\n\n{ratios}\n\nWhat drives each ratio: the network is tiny "
            f"({m['solver/flops_per_evaluation']:.0f} FLOPs per evaluation), so the GPU is launch-bound: its latency "
            f"is steps x {m['solver/layers_per_evaluation']:.0f} layers x {gpu.layer_overhead_s:g} s [assumed], and "
            f"without "
            f"that overhead the speed-up collapses to the no-launch column (FLOPs at {gpu.utilisation:g} of peak). The "
            f"analogue latency is the span x tau = {m['latency/analog_s']:.3g} s (preset `{cfg.integrator_device}`, "
            f"tau {ispec.tau:g} s [assumed]), so both ratios scale with 1 / tau. Energy: GPU FLOP energy at throughput "
            f"({gpu.energy_per_op_j:.3g} J per FLOP, launches amortised: the conservative side for the analogue "
            f"solver) "
            f"against {m['cells/conducting']:.0f} cells conducting at {m['power/cell_w']:.3g} W each "
            f"({m['energy/analog_conduction_j']:.3g} J), two integrators ({m['energy/analog_integrator_j']:.3g} J) and "
            f"the I/O converters ({m['energy/analog_converters_j']:.3g} J). One sample at batch 1, the edge setting of "
            f"the paper; a GPU batch of B samples shares its launches, dividing its per-sample latency by up to B.")
