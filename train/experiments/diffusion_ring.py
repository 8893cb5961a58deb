"""diffusion-ring: unconditional score diffusion of a 2-D ring, solved on an analogue in-memory
neural-SDE solver (Yang, Chen et al., arXiv 2404.05648: software-level quality, 64.8x faster
generation and 5.2x less energy than digital hardware).

Data: ``n_train`` points at radius N(0.7, 0.04) (``train.data.diffusion2d.ring``, the public
code's set). The study (``train.experiments.diffusion``) trains the 2-14-14-2 score network
noise-aware, samples it digitally (software baseline) and on ``n_chips`` simulated chips with
the op-amp integrators, and projects latency and energy against a GPU.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from train import report, study
from train.config import config, field
from train.data.diffusion2d import ring
from train.experiments import diffusion
from train.experiments.diffusion import DiffusionConfig

DESCRIPTION = "unconditional score diffusion of a 2-D ring on an analogue neural-SDE solver: KL, chips, speed, energy"
PAPER_SPEEDUP = 64.8
PAPER_ENERGY = 5.2
SOURCE = "arXiv 2404.05648 v1 abstract"


@config
class Config(DiffusionConfig):
    n_train: int = field(10_000, lo=10)
    radius: float = field(0.7, lo=0.0, lo_open=True)
    radius_std: float = field(0.04, lo=0.0, lo_open=True)
    n_reference: int = field(50_000, lo=100)  # data points the KL compares against
    epochs: int = field(3000, lo=1)
    n_samples: int = field(2000, lo=10)

    @classmethod
    def quick(cls) -> "Config":
        """1,000 epochs (about 20,000 steps), 1,000 samples per chip, 1,000 chips."""
        return cls(epochs=1000, n_samples=1000)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = ring(cfg.n_train, cfg.radius, cfg.radius_std, seed)
    model = diffusion.score_model(cfg)
    params, history = diffusion.train_score(model, cfg, data, None, seed, out_dir / "ckpt")
    problem = diffusion.Problem(
        x1=jax.random.normal(jax.random.PRNGKey(seed + 1), (cfg.n_samples, 2)), labels=None,
        references=jnp.asarray(ring(cfg.n_reference, cfg.radius, cfg.radius_std, seed + 2))[None],
        fresh=jnp.asarray(ring(cfg.n_samples, cfg.radius, cfg.radius_std, seed + 3))[None], names=("ring",))
    metrics, samples = diffusion.generation_study(cfg, model, params, problem, seed)
    metrics["loss/final"] = float(history[-1]["loss"])
    steps = {"match": metrics["steps/match"], "reference": float(cfg.reference_steps)}
    metrics.update(diffusion.projected_costs(cfg, model, params, problem.x1, None, None, steps))
    _plots(out_dir, cfg, problem, samples, metrics)
    return study.write(out_dir, "diffusion-ring: unconditional score diffusion on an analogue solver", cfg, seed,
                       metrics, _headlines(metrics), _sections(out_dir, cfg, metrics))


def _plots(out_dir: Path, cfg: Config, problem, samples, m: dict) -> None:
    shown = 1000
    report.scatter_plot(out_dir / "samples.png", {
        "data": np.asarray(problem.fresh[0][:shown]),
        f"software ({cfg.reference_steps} digital steps)": samples["software"][:shown],
        "analogue solver (median chip)": samples["analog_median_chip"][:shown]}, "x", "y",
        "the ring: data, software and analogue samples")
    diffusion.study_plots(out_dir, cfg, m, samples, "histogram KL (nats)")


def _headlines(m: dict) -> list[study.Headline]:
    return [study.Headline("the analogue solver generates at software quality (KL within 2x of software)",
                           "kl/analog/median", m["kl/analog/median"], (0.0, 2.0 * m["kl/software"]),
                           software=m["kl/software"], spread=(m["kl/analog/q05"], m["kl/analog/q95"]),
                           source="issue 21 acceptance; abstract: 'equivalent generative quality'")
            ] + study.cost_headlines(m, PAPER_SPEEDUP, PAPER_ENERGY, SOURCE)


def _sections(out_dir: Path, cfg: Config, m: dict) -> list[tuple[str, str]]:
    both = lambda name: [f"`kl/{name}`", m[f"kl/{name}"], m[f"kl1d/{name}"]]
    rows = [["data floor: fresh data points", *both("data_floor")],
            [f"software baseline: ideal network, {cfg.reference_steps} digital Euler steps", *both("software")],
            ["analogue solver, ideal limit (ideal crossbar and integrator)", *both("analog_ideal")],
            [f"analogue solver, {cfg.n_chips} chips, median [5-95 %]", "`kl/analog/median`",
             f"{m['kl/analog/median']:.4g} [{m['kl/analog/q05']:.4g}, {m['kl/analog/q95']:.4g}]",
             f"{m['kl1d/analog/median']:.4g} [{m['kl1d/analog/q05']:.4g}, {m['kl1d/analog/q95']:.4g}]"]]
    rows += [[f"digital sampler, {n} steps", *both(f"digital/steps{n}")] for n in sorted(cfg.step_grid)]
    found = "" if m["steps/match_found"] else " (none of the grid matched: the grid's largest)"
    setup = (f"KL(generated || data), {cfg.n_samples} samples against {cfg.n_reference} data points: `kl` (the "
             f"headline) on a 2-D histogram ({cfg.bins} x {cfg.bins} bins on [-{cfg.extent:g}, {cfg.extent:g}]^2, "
             f"smoothing 1e-4; the public code scores the ring on a 2-D histogram too), `kl1d` in the code's "
             f"`cal_KL` form (one histogram of every coordinate, {cfg.marginal_bins} bins on "
             f"[-{cfg.marginal_extent:g}, {cfg.marginal_extent:g}], smoothing 1e-10), too coarse to see how far "
             f"samples stray from the ring's radius. Both add one bin for points outside "
             f"the range. Process: "
             f"{'probability-flow ODE' if cfg.process == 'ode' else 'reverse SDE'} "
             f"(`--set process=sde` for the other), {cfg.sde.upper()} SDE beta {cfg.beta0:g} -> {cfg.beta1:g} trained, "
             f"x {cfg.sample_scale:g} at sampling (the public code's scale), from N(0, I) at t = 1 to "
             f"t = {cfg.t_end:g}. "
             f"Score network 2-{cfg.hidden}-{cfg.hidden}-2 on `{cfg.score_device}` without converters, "
             f"{'noise-aware' if cfg.noise_aware else 'ideal'} training for {cfg.epochs} epochs (final loss "
             f"{m['loss/final']:.4g}); integrator `{cfg.integrator_device}`, read noise held {cfg.read_hold:g} s. "
             f"The digital sampler needs {m['steps/match']:.0f} Euler steps to match the analogue median chip{found}; "
             f"the jitted software sampler took {m['time/digital_sampler_s']:.3g} s of wall time for "
             f"{cfg.n_samples} samples x {cfg.reference_steps} steps on this machine's CPU (load average "
             f"{m['time/load_average']:.1f}).")
    table = report.markdown_table(["sampler", "metric", "KL, 2-D (nats)", "KL, code's cal_KL form (nats)"], rows)
    return [("Generation quality", table + "\n\n" + setup),
            ("The device knob: write error", diffusion.write_error_section(out_dir, cfg, m)),
            ("Projected cost of one sample", diffusion.cost_section(cfg, m)),
            ("Plots", "`samples.png` (data, software and median-chip samples), `kl_vs_steps.png` (the digital "
                      "sampler's quality against its steps, the analogue median as a line), `chips.png` (KL over "
                      "chips), `write_error.png` (KL against the write error).")]
