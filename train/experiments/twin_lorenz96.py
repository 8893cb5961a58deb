"""twin-lorenz96: the memristive neural-ODE twin scaled to Lorenz-96 (Chen, Yang et al., arXiv
2406.08343: 12.6x projected speed-up and 189.7x lower energy than digital hardware).

Trajectories on the chaotic attractor (``train.data.lorenz96``, F = ``forcing``, ``dim``
sites), standardised by the training set's mean and std; the twin is a cyclic stencil field
(``models.node.StencilField``: ``dz_i/dt = g(z_{i-2}, z_{i-1}, z_i, z_{i+1})``, one small MLP,
a physical copy of its arrays per site) trained on short windows (``train.experiments.twin``)
and run as a forecast from the test trajectories' first states over ``t_test``. The valid
prediction time is the first time the RMS error over the sites exceeds ``vpt_threshold``
attractor standard deviations, in Lyapunov times (1 / the leading exponent the generator
estimates).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from models.node import StencilField
from train import report, study
from train.config import config, field
from train.data.lorenz96 import make_lorenz96
from train.experiments import twin
from train.experiments.twin import TwinConfig

DESCRIPTION = "memristive neural-ODE twin of Lorenz-96: valid prediction time on chips, projected speed and energy"
PAPER_SPEEDUP = 12.6
PAPER_ENERGY = 189.7
SOURCE = "arXiv 2406.08343 v1 abstract"


@config
class Config(TwinConfig):
    dim: int = field(40, lo=4)
    forcing: float = field(8.0, lo=0.0)  # F; chaotic above about 5
    n_train: int = field(32, lo=1)  # trajectories of t_train each
    n_valid: int = field(4, lo=1)   # held-out trajectories for the best epoch (first t_valid of them)
    n_test: int = field(8, lo=1)    # forecasts from independent states on the attractor
    t_train: float = field(5.0, lo=0.0, lo_open=True)
    t_valid: float = field(1.0, lo=0.0, lo_open=True)
    t_test: float = field(5.0, lo=0.0, lo_open=True)
    dt: float = field(0.05, lo=0.0, lo_open=True)  # save step (model time)
    window_stride: int = field(2, lo=1)  # save steps between training windows
    vpt_threshold: float = field(0.5, lo=0.0, lo_open=True)  # RMS error / attractor std
    copies: bool = field(True)  # one copy of the stencil's arrays per site
    curriculum: tuple[int, ...] = field((2, 4, 8), lo=1, min_len=1)
    hidden: tuple[int, ...] = field((32, 32), lo=1, min_len=1)
    warm_start_epochs: int = field(100, lo=0)
    epochs: int = field(20, lo=1)
    hwa_epochs: int = field(10, lo=0)
    lr: float = field(1e-2, lo=0.0, lo_open=True)

    @classmethod
    def quick(cls) -> "Config":
        """40 sites, 16 training trajectories of 5 time units; 60 epochs of derivative matching, windows of 2
        and 4 save steps x 5 epochs, 5 hardware-aware epochs; 1,000 chips."""
        return cls(n_train=16, warm_start_epochs=60, curriculum=(2, 4), epochs=5, hwa_epochs=5)


def valid_time(pred, true, ts, threshold: float):
    """First time (model units) the RMS error over the last axis exceeds ``threshold``; the
    horizon ts[-1] if it never does. pred, true: (..., T, n) standardised; returns (...)."""
    error = jnp.sqrt(jnp.mean((pred - true) ** 2, axis=-1))
    over = error > threshold
    index = jnp.where(over.any(-1), jnp.argmax(over, -1), len(ts) - 1)
    return jnp.asarray(ts)[index]


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = make_lorenz96(seed, cfg.dim, cfg.n_train + cfg.n_valid, cfg.n_test, cfg.t_train, cfg.t_test, cfg.dt,
                         cfg.forcing, cache_dir=cfg.cache_dir)
    mean, std, lyapunov = float(data["train"].mean()), float(data["train"].std()), float(data["lyapunov"])
    z = (data["train"] - mean) / std
    z_train, z_valid = z[:cfg.n_train], z[cfg.n_train:, :int(round(cfg.t_valid / cfg.dt)) + 1]
    z_test, ts = jnp.asarray((data["test"] - mean) / std), jnp.asarray(data["t_test"])
    model = StencilField(cfg.hidden, twin.field_spec(cfg), cfg.activation, copies=cfg.copies)
    trained = twin.train_twin(model, cfg, z_train, data["t_train"], None,
                              (z_valid, data["t_train"][:z_valid.shape[1]], None), out_dir, seed,
                              stride=cfg.window_stride)
    params, chip_params = trained.software, trained.chip
    pred, evals = twin.forecast_digital(model, params, z_test[:, 0], ts, None, cfg.rtol)
    vpt = valid_time(pred, z_test, ts, cfg.vpt_threshold)
    metrics = {"lyapunov/exponent": lyapunov, "valid_time/digital": float(jnp.median(vpt)),
               "valid_time_lyapunov/digital": float(jnp.median(vpt)) * lyapunov,
               "nrmse/one_lyapunov_time/digital": _nrmse_until(pred, z_test, ts, 1.0 / lyapunov)}
    ispec = twin.integrator_spec(cfg)
    ideal = twin.forecast_analog(jax.random.PRNGKey(seed), model.clone(spec=model.spec.ideal()), params,
                                 z_test[:, 0], ts, ispec.ideal())
    metrics["valid_time_lyapunov/analog_ideal"] = float(jnp.median(valid_time(ideal, z_test, ts, cfg.vpt_threshold))
                                                        ) * lyapunov

    def chip_metric(key):
        xs = twin.forecast_analog(key, model, chip_params, z_test[:, 0], ts, ispec)
        return {"vpt": jnp.median(valid_time(xs, z_test, ts, cfg.vpt_threshold)) * lyapunov,
                "error": jnp.sqrt(jnp.mean((xs - z_test) ** 2, axis=-1)).mean(0), "first": xs[0]}

    chips = twin.chip_study(chip_metric, cfg, seed, "analogue twin chips")
    metrics.update(study.chip_summary("valid_time_lyapunov/analog", chips["vpt"]))
    _, _, cost_metrics = twin.projected_costs(model, chip_params, z_test[0, 0], ts, None, ispec,
                                              float(np.mean(np.asarray(evals))), cfg.field_device)
    metrics.update(cost_metrics)
    _plots(out_dir, np.asarray(ts) * lyapunov, np.asarray(z_test), np.asarray(pred), chips, cfg.vpt_threshold)
    return study.write(out_dir, "twin-lorenz96: neural-ODE digital twin of Lorenz-96", cfg, seed, metrics,
                       _headlines(metrics), _sections(cfg, metrics, ispec))


def _nrmse_until(pred, true, ts, horizon: float) -> float:
    """The NRMSE of the forecasts over model times up to ``horizon``."""
    keep = np.asarray(ts) <= horizon
    return float(twin.nrmse(pred[:, keep], true[:, keep]))


def _plots(out_dir: Path, t_lyap, z_test, pred, chips, threshold: float) -> None:
    digital_error = np.sqrt(np.mean((pred - z_test) ** 2, axis=-1)).mean(0)
    every = max(1, len(t_lyap) // 25)
    report.band_plot(out_dir / "error_horizon.png", t_lyap[::every],
                     {"analogue twin (chips)": np.asarray(chips["error"]).T[::every],
                      "digital twin": digital_error[::every, None]},
                     "forecast horizon (Lyapunov times)", "RMS error / attractor std",
                     f"valid while below {threshold:g}")
    median_chip = int(np.argsort(chips["vpt"])[len(chips["vpt"]) // 2])
    report.space_time(out_dir / "space_time.png", {"truth": z_test[0], "digital twin": pred[0],
                                                   "analogue twin (median chip)": chips["first"][median_chip]},
                      t_lyap, "time (Lyapunov times)", "site", "standardised x")
    report.histogram(out_dir / "chips.png", {"analogue twin": chips["vpt"]}, "valid prediction time (Lyapunov times)")


def _headlines(m: dict) -> list[study.Headline]:
    spread = (m["valid_time_lyapunov/analog/q05"], m["valid_time_lyapunov/analog/q95"])
    inf = float("inf")
    return [
        study.Headline("the digital twin forecasts Lorenz-96 for at least one Lyapunov time",
                       "valid_time_lyapunov/digital", m["valid_time_lyapunov/digital"], (1.0, inf),
                       source="issue 20 acceptance", unit="LT"),
        study.Headline("the analogue twin on noisy chips forecasts for at least one Lyapunov time",
                       "valid_time_lyapunov/analog/median", m["valid_time_lyapunov/analog/median"], (1.0, inf),
                       software=m["valid_time_lyapunov/digital"], spread=spread, unit="LT"),
    ] + study.cost_headlines(m, PAPER_SPEEDUP, PAPER_ENERGY, SOURCE)


def _sections(cfg: Config, m: dict, ispec) -> list[tuple[str, str]]:
    rows = [["leading Lyapunov exponent (generator)", "`lyapunov/exponent`",
             f"{m['lyapunov/exponent']:.3g} / time unit"],
            ["digital twin", "`valid_time_lyapunov/digital`", f"{m['valid_time_lyapunov/digital']:.3g} LT"],
            ["analogue twin, ideal limit", "`valid_time_lyapunov/analog_ideal`",
             f"{m['valid_time_lyapunov/analog_ideal']:.3g} LT"],
            [f"analogue twin, {cfg.n_chips} chips, median [5-95 %]", "`valid_time_lyapunov/analog/median`",
             f"{m['valid_time_lyapunov/analog/median']:.3g} [{m['valid_time_lyapunov/analog/q05']:.3g}, "
             f"{m['valid_time_lyapunov/analog/q95']:.3g}] LT"],
            ["digital twin NRMSE over the first Lyapunov time", "`nrmse/one_lyapunov_time/digital`",
             f"{m['nrmse/one_lyapunov_time/digital']:.3g}"]]
    setup = (f"Lorenz-96 with {cfg.dim} sites, F = {cfg.forcing:g}; {cfg.n_train} training trajectories of "
             f"{cfg.t_train:g} time units saved every {cfg.dt:g}, windows of {list(cfg.curriculum)} save steps "
             f"(every {cfg.window_stride}th start) in turn, {cfg.epochs} epochs each after {cfg.warm_start_epochs} "
             f"epochs of derivative matching; chip twin: {cfg.hwa_epochs} more epochs hardware-aware; "
             f"{cfg.n_test} forecasts of {cfg.t_test:g} time units from independent states. Valid prediction time: "
             f"the first time the RMS error over the sites exceeds {cfg.vpt_threshold:g} attractor std (median over "
             f"the forecasts; per chip, then over chips). Stencil copies per site = {cfg.copies}. Field chip "
             f"`{cfg.field_device}` without converters; integrator `{cfg.integrator_device}` with read noise held "
             f"{cfg.read_hold:g} s.")
    return [("Forecast skill", report.markdown_table(["quantity", "metric", "value"], rows) + "\n\n" + setup),
            ("Projected cost of one forecast",
             twin.cost_section(m, ispec, cfg.t_test, cfg.integrator_device)),
            ("Plots", "`error_horizon.png` (error against horizon), `space_time.png` (truth, digital and analogue "
                      "twin), `chips.png` (valid time across chips).")]
