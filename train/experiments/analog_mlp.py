"""analog-mlp: how much accuracy survives the devices, and does hardware-aware training help?

An MLP (digits: 64-128-10; MNIST sample: 784-256-10) is trained digitally and
hardware-aware (a fresh simulated chip, i.e. programming and read noise, at every
step), then programmed onto >= 1,000 simulated chips per point:

* a sweep of programming noise (0-10 % of the 20-80 uS conductance window, 2 %
  read noise, 8-bit DAC and ADC), and
* aihwkit's phase-change model from 1 s to 1 year after programming, with and
  without global drift compensation.

It reports accuracy distributions, the ideal-limit check, and the projected
energy and latency per inference on an RRAM macro against GPU / CPU baselines.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, presets
from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from models.mlp import AnalogMLP
from train import data, montecarlo, report
from train.config import check_positive
from train.loop import accuracy, train_classifier

DESCRIPTION = "MLP on digits / MNIST: accuracy vs device noise and PCM drift, digital vs hardware-aware training"

PROGRAMMED = "rram_20_80"  # the programmed-weight preset (analog.presets)
PCM = "pcm_aihwkit"


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "digits"
    data_dir: str | None = None
    hidden: int = 0  # 0 = the dataset's default (digits 128, MNIST 256)
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 3e-3
    hwa_prog_noise: float = 0.05  # programming noise in training, fraction of the window
    read_noise: float = 0.02  # relative read noise, training and evaluation
    noise_levels: tuple[float, ...] = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.10)
    times: tuple[float, ...] = (1.0, 3600.0, 86400.0, 2592000.0, 31536000.0)
    n_chips: int = 1000
    chunk_size: int = 250
    dac_bits: int = 8
    adc_bits: int = 8
    adc_fullscale: float = 8.0
    ckpt_every: int = 10

    def validate(self):
        if self.dataset not in data.DATASETS:
            raise ValueError(f"dataset = {self.dataset!r}: allowed {sorted(data.DATASETS)}")
        check_positive(self, ("epochs", "batch_size", "n_chips", "chunk_size", "dac_bits", "adc_bits",
                              "ckpt_every"))
        if not all(0.0 <= v <= 0.5 for v in self.noise_levels + (self.hwa_prog_noise,)):
            raise ValueError("noise_levels and hwa_prog_noise are fractions of the window in [0, 0.5]")
        if not all(t > 0 for t in self.times):
            raise ValueError("times (s since programming) must be > 0")

    def __post_init__(self):
        self.validate()

    @classmethod
    def quick(cls) -> "Config":
        return cls(epochs=20, times=(31536000.0,), noise_levels=(0.0, 0.05, 0.10))


def programmed_spec(cfg: Config, prog_noise=0.0) -> CrossbarSpec:
    """The 20-80 uS RRAM macro with the config's converters; ``prog_noise``: programming
    noise std as a fraction of the conductance window."""
    base = presets.spec(PROGRAMMED, role="programmed")
    return base.with_device(prog_sigma=prog_noise * base.device.window, read_sigma_rel=cfg.read_noise).replace(
        dac=DAC(cfg.dac_bits), adc=ADC(cfg.adc_bits, cfg.adc_fullscale))


def pcm_spec(cfg: Config, t, compensate: bool) -> CrossbarSpec:
    """aihwkit's PCM model read ``t`` s after programming (the config's converters)."""
    return presets.spec(PCM, role="programmed").replace(
        dac=DAC(cfg.dac_bits), adc=ADC(cfg.adc_bits, cfg.adc_fullscale), drift_compensation=compensate,
        t_inference=t)


def chip_accuracy(hidden: int, n_out: int, spec_fn, x, y):
    """metric(key, params, setting) -> accuracy of one chip programmed with ``key``."""

    def metric(key, params, setting):
        model = AnalogMLP((hidden,), n_out, spec=spec_fn(setting))
        rngs = {"program": key, "read": jax.random.fold_in(key, 1)}
        return accuracy(model.apply({"params": params}, x, rngs=rngs), y)

    return metric


def sweep(metric, keys, params, settings, cfg, desc):
    """Per-chip values at each setting: leaves (len(settings), n_chips)."""
    return montecarlo.sweep(metric, keys, {"setting": [float(v) for v in settings]}, params,
                            chunk_size=cfg.chunk_size, desc=desc)


def energy_per_inference(params, hidden, n_in, n_out, cfg) -> dict[str, float]:
    """Counted operations of one inference priced on the 40 nm macro and on GPU / CPU."""
    model = AnalogMLP((hidden,), n_out, spec=programmed_spec(cfg).ideal().replace(dac=DAC(cfg.dac_bits, bit_serial=True)))
    _, state = model.apply({"params": params}, jnp.zeros((1, n_in)), mutable=["cost"])
    counts = cost.collect(state["cost"])
    macro = cost.MacroCosts.rram_40nm()
    gpu = cost.compare(counts, macro, cost.DigitalCosts.gpu())
    cpu = cost.compare(counts, macro, cost.DigitalCosts.cpu())
    return {
        "energy_analog_j": gpu["analog_energy_j"], "latency_analog_s": gpu["analog_latency_s"],
        "energy_gpu_j": gpu["digital_energy_j"], "latency_gpu_s": gpu["digital_latency_s"],
        "energy_cpu_j": cpu["digital_energy_j"], "latency_cpu_s": cpu["digital_latency_s"],
        "energy_ratio_vs_gpu": gpu["energy_ratio"], "latency_ratio_vs_gpu": gpu["latency_ratio"],
        "energy_ratio_vs_cpu": cpu["energy_ratio"], "latency_ratio_vs_cpu": cpu["latency_ratio"],
    }


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    out_dir = Path(out_dir)
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed)
    n_in, n_out = ds.x_train.shape[1], ds.n_classes
    hidden = cfg.hidden or (128 if n_in <= 64 else 256)
    x_test, y_test = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    common = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                  seed=seed, ckpt_every=cfg.ckpt_every)
    digital_model = AnalogMLP((hidden,), n_out, spec=programmed_spec(cfg).ideal())
    hwa_model = AnalogMLP((hidden,), n_out, spec=programmed_spec(cfg, cfg.hwa_prog_noise))
    trained = {
        "digital": train_classifier(digital_model, ds.x_train, ds.y_train, noisy=False,
                                    ckpt_dir=out_dir / "ckpt_digital", desc="digital training", **common),
        "hwa": train_classifier(hwa_model, ds.x_train, ds.y_train, noisy=True,
                                ckpt_dir=out_dir / "ckpt_hwa", desc="hardware-aware training", **common),
    }
    acc_digital = float(accuracy(digital_model.apply({"params": trained["digital"]}, x_test), y_test))
    ideal_model = AnalogMLP((hidden,), n_out, spec=programmed_spec(cfg, 0.05).ideal())
    acc_ideal = float(accuracy(ideal_model.apply({"params": trained["digital"]}, x_test), y_test))

    keys = montecarlo.chip_keys(seed, cfg.n_chips)
    prog_metric = chip_accuracy(hidden, n_out, lambda s: programmed_spec(cfg, s), x_test, y_test)
    noise = {mode: sweep(prog_metric, keys, p, cfg.noise_levels, cfg, f"{mode} noise")
             for mode, p in trained.items()}
    drift = {}
    without = chip_accuracy(hidden, n_out, lambda t: pcm_spec(cfg, t, False), x_test, y_test)
    with_comp = chip_accuracy(hidden, n_out, lambda t: pcm_spec(cfg, t, True), x_test, y_test)
    both = lambda key, params, setting: {False: without(key, params, setting), True: with_comp(key, params, setting)}
    for mode, p in trained.items():  # one compile; each chip read with and without compensation
        values = sweep(both, keys, p, cfg.times, cfg, f"{mode} PCM")
        for compensate in (False, True):
            drift[(mode, compensate)] = values[compensate]
    energy = energy_per_inference(trained["digital"], hidden, n_in, n_out, cfg)

    metrics = _metrics(cfg, acc_digital, acc_ideal, noise, drift, energy)
    _write_outputs(out_dir, cfg, seed, ds.name, hidden, metrics, noise, drift, energy)
    return metrics


def _metrics(cfg, acc_digital, acc_ideal, noise, drift, energy) -> dict[str, float]:
    metrics = {"acc_digital": acc_digital, "acc_ideal_analog": acc_ideal, **energy}
    for mode, values in noise.items():
        for level, per_chip in zip(cfg.noise_levels, values):
            summary = montecarlo.summarize(per_chip)
            for stat in ("median", "q05", "q95", "mean"):
                metrics[f"acc_{mode}_{stat}_at_noise{level:g}"] = summary[stat]
    label = {"digital": "plain", "hwa": "hwa"}
    for mode in noise:
        metrics[f"acc_{label[mode]}_median_at_max_noise"] = float(np.median(noise[mode][-1]))
    for (mode, compensate), values in drift.items():
        tag = "comp" if compensate else "nocomp"
        for t, per_chip in zip(cfg.times, values):
            metrics[f"acc_{mode}_pcm_{tag}_median_at_t{t:g}"] = float(np.median(per_chip))
    metrics["n_chips"] = float(cfg.n_chips)
    return metrics


def _write_outputs(out_dir, cfg, seed, dataset, hidden, metrics, noise, drift, energy):
    out_dir.mkdir(parents=True, exist_ok=True)
    report.write_metrics(out_dir, metrics, cfg, seed)
    levels = 100 * np.asarray(cfg.noise_levels)
    report.band_plot(out_dir / "accuracy_vs_noise.png", levels,
                     {"digital training": noise["digital"], "hardware-aware training": noise["hwa"]},
                     "programming noise (% of 20-80 uS window)", "test accuracy",
                     f"{dataset}: {cfg.n_chips} chips per point (median, 5-95 %)")
    days = np.asarray(cfg.times) / 86400.0
    report.band_plot(out_dir / "accuracy_vs_time.png", days,
                     {f"{m}{', drift comp.' if c else ''}": v for (m, c), v in drift.items()},
                     "time since programming (days)", "test accuracy",
                     f"{dataset}: PCM (aihwkit model), {cfg.n_chips} chips", logx=True)
    noise_rows = [
        [f"{lv:g} %", *(f"{np.median(noise[m][i]):.4f} [{np.quantile(noise[m][i], 0.05):.3f}, "
                        f"{np.quantile(noise[m][i], 0.95):.3f}]" for m in ("digital", "hwa"))]
        for i, lv in enumerate(levels)
    ]
    time_rows = [
        [f"{t:g} s", *(f"{np.median(drift[key][i]):.4f}" for key in sorted(drift))]
        for i, t in enumerate(cfg.times)
    ]
    energy_rows = [
        ["analogue RRAM macro (40 nm, projected)", f"{energy['energy_analog_j']:.3g}", f"{energy['latency_analog_s']:.3g}", "1"],
        ["GPU (A100, same MACs)", f"{energy['energy_gpu_j']:.3g}", f"{energy['latency_gpu_s']:.3g}",
         f"{energy['energy_ratio_vs_gpu']:.3g}"],
        ["CPU (desktop x86, same MACs)", f"{energy['energy_cpu_j']:.3g}", f"{energy['latency_cpu_s']:.3g}",
         f"{energy['energy_ratio_vs_cpu']:.3g}"],
    ]
    sections = [
        ("Setup", f"Dataset `{dataset}`, MLP with {hidden} hidden units; {cfg.n_chips} simulated chips per point; "
                  f"seed {seed}. Software baseline (digital MLP): **{metrics['acc_digital']:.4f}**; the same "
                  f"weights on an ideal analogue chip: **{metrics['acc_ideal_analog']:.4f}** (must be equal)."),
        ("Accuracy vs programming noise (median [5 %, 95 %])",
         report.markdown_table(["noise (% window)", "digital training", "hardware-aware training"], noise_rows)),
        ("Accuracy vs time on PCM (median)",
         report.markdown_table(["t"] + [f"{m}{' +comp' if c else ''}" for m, c in sorted(drift)], time_rows)),
        ("Projected energy and latency per inference (counted operations x per-op costs, analog/cost.py)",
         report.markdown_table(["platform", "energy (J)", "latency (s)", "energy ratio vs analogue"], energy_rows)),
    ]
    report.write_results(out_dir, "analog-mlp", sections)
