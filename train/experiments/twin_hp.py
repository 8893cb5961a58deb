"""twin-hp: a memristive neural-ODE digital twin of the HP memristor (Chen, Yang et al., arXiv
2406.08343: extrapolates the device's nonlinear dynamics; 4.2x projected speed-up and 41.4x
lower energy than digital hardware).

The device (``train.data.hp_memristor``: Biolek window, MemTorch's HP parameters) is driven
by sines and triangles at ``amplitudes`` and ``frequency`` from several initial states; the
twin ``dx/dt = f_theta(x, v(t))`` (``models.node.MLPField``: the state x = w / D and the
drive voltage in, one MLP on crossbars) learns it from those windows (``train.experiments.twin``).
Held out: the training drives from new initial states over the training horizon (``interp``)
and the extrapolation set over ``extrap_factor`` x that horizon: unseen frequencies and
amplitudes (inside the trained amplitude range) of both waveforms, and random pulse trains,
a waveform never seen in training (``extrap``). The current is read from the state through
the device's memristance, ``i = v / R(x)``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from analog import memristor
from models.node import MLPField
from train import report, study
from train.config import config, field
from train.data.hp_memristor import HP_TWIN_DEVICE, Waveform, hp_traces
from train.experiments import twin
from train.experiments.twin import TwinConfig

DESCRIPTION = "memristive neural-ODE digital twin of the HP memristor: extrapolation, chips, projected speed and energy"
PAPER_SPEEDUP = 4.2
PAPER_ENERGY = 41.4
SOURCE = "arXiv 2406.08343 v1 abstract"


@config
class Config(TwinConfig):
    amplitudes: tuple[float, ...] = field((0.6, 0.9, 1.2), lo=0.0, lo_open=True, min_len=1)  # V, training drives
    frequency: float = field(1.0, lo=0.0, lo_open=True)  # Hz, training drives
    starts: tuple[float, ...] = field((0.1, 0.35, 0.6), lo=0.0, hi=1.0, min_len=1)  # training x0 = w / D
    t_train: float = field(2.0, lo=0.0, lo_open=True)  # s, training horizon
    save_step: float = field(0.05, lo=0.0, lo_open=True)  # s
    extrap_factor: int = field(4, lo=1)  # extrapolation horizon / training horizon
    bounded: bool = field(True)  # the twin's state absorbed at the film's edges 0 and 1 (the integrator's rails)
    warm_start_epochs: int = field(300, lo=0)
    curriculum: tuple[int, ...] = field((4, 8, 16), lo=1, min_len=1)
    epochs: int = field(150, lo=1)
    hwa_epochs: int = field(40, lo=0)

    @classmethod
    def quick(cls) -> "Config":
        """Hidden 32 x 32; 200 epochs of derivative matching, windows of 4 and 16 save steps x 100 epochs,
        30 hardware-aware epochs; 1,000 chips."""
        return cls(warm_start_epochs=200, curriculum=(4, 16), epochs=100, hwa_epochs=30)


def _waves(cfg: Config) -> dict[str, list[Waveform]]:
    train = [Waveform(kind, sign * a, cfg.frequency, x0) for kind in ("sine", "triangle") for a in cfg.amplitudes
             for sign in (1, -1) for x0 in cfg.starts]
    lo, hi = min(cfg.amplitudes), max(cfg.amplitudes)
    mid = 0.5 * (lo + hi)
    valid = [Waveform(kind, a, cfg.frequency, 0.25) for kind in ("sine", "triangle") for a in (lo, hi)]
    interp = [Waveform(kind, a, cfg.frequency, x0) for kind in ("sine", "triangle") for a in cfg.amplitudes
              for x0 in (0.2, 0.45)]
    f = cfg.frequency
    extrap = [Waveform("sine", mid, 0.6 * f, 0.4), Waveform("sine", 0.5 * (lo + mid), 1.5 * f, 0.2),
              Waveform("triangle", 0.5 * (mid + hi), 0.75 * f, 0.3), Waveform("pulses", mid, f, 0.4, seed=1),
              Waveform("pulses", 0.5 * (mid + hi), 0.5 * f, 0.3, seed=2)]
    return {"train": train, "valid": valid, "interp": interp, "extrap": extrap}


def _label(w: Waveform) -> str:
    return f"{w.kind} {w.amplitude:.2g} V {w.frequency:.2g} Hz"


def _set(cfg: Config, waves, t_end: float) -> tuple[np.ndarray, np.ndarray, twin.Drives, dict]:
    data = hp_traces(waves, t_end, int(round(t_end / cfg.save_step)) + 1, cache_dir=cfg.cache_dir)
    drives = twin.Drives(jnp.asarray(data["grid"]), jnp.asarray(data["v_grid"]))
    return data["x"][..., None], data["t"], drives, data


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    waves = _waves(cfg)
    t_extrap = cfg.t_train * cfg.extrap_factor
    sets = {name: _set(cfg, w, t_extrap if name == "extrap" else cfg.t_train) for name, w in waves.items()}
    model = MLPField(1, cfg.hidden, twin.field_spec(cfg), cfg.activation, bounds=(0.0, 1.0) if cfg.bounded else None)
    x_train, ts_train, drives_train, _ = sets["train"]
    trained = twin.train_twin(model, cfg, x_train, ts_train, drives_train, sets["valid"][:3], out_dir, seed)
    params, chip_params = trained.software, trained.chip

    metrics, preds = {}, {}
    for name in ("interp", "extrap"):
        x, ts, drives, _ = sets[name]
        preds[name], evals = twin.forecast_digital(model, params, x[:, 0], ts, drives, cfg.rtol)
        metrics[f"nrmse/{name}"] = float(twin.nrmse(preds[name], x))
    x, ts, drives, data = sets["extrap"]
    for k, w in enumerate(waves["extrap"]):
        metrics[f"nrmse/extrap/{w.kind}{k}"] = float(twin.nrmse(preds["extrap"][k], x[k]))
    ispec = twin.integrator_spec(cfg)
    ideal = twin.forecast_analog(jax.random.PRNGKey(seed), model.clone(spec=model.spec.ideal()), params, x[:, 0],
                                 ts, ispec.ideal(), drives)
    metrics["nrmse/extrap_analog_ideal"] = float(twin.nrmse(ideal, x))

    def chip_metric(key):
        xs = twin.forecast_analog(key, model, chip_params, jnp.asarray(x[:, 0]), jnp.asarray(ts), ispec, drives)
        return {"nrmse": twin.nrmse(xs, x), "first": xs[0, :, 0], "pulses": xs[3, :, 0]}

    chips = twin.chip_study(chip_metric, cfg, seed, "analogue twin chips")
    metrics.update(study.chip_summary("nrmse/extrap_analog", chips["nrmse"]))
    evaluations = float(np.mean(np.asarray(evals)))
    _, _, cost_metrics = twin.projected_costs(model, chip_params, jnp.asarray(x[0, 0]), jnp.asarray(ts),
                                              twin.drive_of(drives, 0), ispec, evaluations, cfg.field_device)
    metrics.update(cost_metrics)
    _plots(out_dir, waves["extrap"], data, preds["extrap"], chips, metrics)
    return study.write(out_dir, "twin-hp: neural-ODE digital twin of the HP memristor", cfg, seed, metrics,
                       _headlines(metrics), _sections(cfg, waves, metrics, ispec, t_extrap))


def _current(x, v):
    return np.asarray(memristor.current(v, np.clip(x, 0.0, 1.0) * HP_TWIN_DEVICE.d, HP_TWIN_DEVICE))


def _plots(out_dir: Path, waves, data, pred, chips, metrics) -> None:
    t, v, x = data["t"], data["v"], data["x"]
    median_chip = int(np.argsort(chips["nrmse"])[len(chips["nrmse"]) // 2])
    analog = {0: chips["first"][median_chip], 3: chips["pulses"][median_chip]}
    states, loops = {}, {}
    for k, w in enumerate(waves):
        states[_label(w)] = {"truth": (t, x[k]), "digital twin": (t, np.asarray(pred[k, :, 0]))}
        loops[_label(w)] = {"truth": (v[k], 1e3 * data["i"][k]),
                            "digital twin": (v[k], 1e3 * _current(np.asarray(pred[k, :, 0]), v[k]))}
        if k in analog:
            states[_label(w)]["analogue twin (median chip)"] = (t, analog[k])
            loops[_label(w)]["analogue twin (median chip)"] = (v[k], 1e3 * _current(analog[k], v[k]))
    report.panel_plot(out_dir / "states.png", states, "time (s)", "state w / D",
                      "held-out drives: truth and twins (4x the training horizon)")
    report.panel_plot(out_dir / "iv_loops.png", loops, "voltage (V)", "current (mA)", "pinched I-V loops")
    report.histogram(out_dir / "chips.png", {"analogue twin": chips["nrmse"]}, "NRMSE on the extrapolation set",
                     vlines={"digital twin": metrics["nrmse/extrap"]})


def _headlines(m: dict) -> list[study.Headline]:
    spread = (m["nrmse/extrap_analog/q05"], m["nrmse/extrap_analog/q95"])
    return [
        study.Headline("digital twin extrapolates the HP memristor (unseen drives, 4x horizon)", "nrmse/extrap",
                       m["nrmse/extrap"], (0.0, 0.1), source="issue 20 acceptance: NRMSE < 0.1"),
        study.Headline("the analogue twin on noisy chips stays within an acceptable error",
                       "nrmse/extrap_analog/median", m["nrmse/extrap_analog/median"], (0.0, 0.1),
                       software=m["nrmse/extrap"], spread=spread, source="abstract: 'acceptable error margin'"),
    ] + study.cost_headlines(m, PAPER_SPEEDUP, PAPER_ENERGY, SOURCE)


def _sections(cfg: Config, waves, m: dict, ispec, t_extrap: float) -> list[tuple[str, str]]:
    rows = [[name, f"`nrmse/{name}`", m[f"nrmse/{name}"]] for name in ("interp", "extrap")]
    rows += [[_label(w), f"`nrmse/extrap/{w.kind}{k}`", m[f"nrmse/extrap/{w.kind}{k}"]]
             for k, w in enumerate(waves["extrap"])]
    rows += [["analogue twin, ideal limit (ideal crossbar and integrator)", "`nrmse/extrap_analog_ideal`",
              m["nrmse/extrap_analog_ideal"]],
             [f"analogue twin, {cfg.n_chips} chips, median [5-95 %]", "`nrmse/extrap_analog/median`",
              f"{m['nrmse/extrap_analog/median']:.4g} [{m['nrmse/extrap_analog/q05']:.4g}, "
              f"{m['nrmse/extrap_analog/q95']:.4g}]"]]
    train = ", ".join(sorted({_label(w) for w in waves["train"]}))
    setup = (f"Training drives: {train}, from x0 in {list(cfg.starts)}, {cfg.t_train:g} s each, saved every "
             f"{cfg.save_step:g} s; software twin: {cfg.warm_start_epochs} epochs of derivative matching, then "
             f"multiple shooting with windows of {list(cfg.curriculum)} save steps in turn, {cfg.epochs} epochs "
             f"each; chip twin: {cfg.hwa_epochs} more epochs hardware-aware (a fresh chip per step). "
             f"The state is bounded to the film, [0, 1], with absorbing edges (on the integrator: its rails). "
             f"Extrapolation: {t_extrap:g} s "
             f"({cfg.extrap_factor}x the training horizon); amplitudes lie inside the trained range "
             f"[{min(cfg.amplitudes):g}, {max(cfg.amplitudes):g}] V, frequencies and the pulse waveform do not. "
             f"NRMSE = RMS error of x = w / D over the set / the set's std of x. Field chip `{cfg.field_device}` "
             f"without converters; integrator `{cfg.integrator_device}` with read noise held {cfg.read_hold:g} s.")
    return [("Twin error", report.markdown_table(["set", "metric", "NRMSE"], rows) + "\n\n" + setup),
            ("Projected cost of one extrapolation solve",
             twin.cost_section(m, ispec, t_extrap, cfg.integrator_device)),
            ("Plots", "`states.png` (state against time), `iv_loops.png` (pinched hysteresis), `chips.png` "
                      "(NRMSE across chips).")]
