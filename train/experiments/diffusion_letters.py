"""diffusion-letters: class-conditional score diffusion in a VAE's 2-D latent, solved on an
analogue in-memory neural-SDE solver (Yang, Chen et al., arXiv 2404.05648: software-level
quality, 156.5x faster generation and 4.1x less energy for conditional generation).

Data: the letters H, K, U (the paper's EMNIST classes), rendered by the project
(``train.data.diffusion2d.render_letters``, 12 x 12). A small conv VAE (``models.vae``, digital)
maps them to a 2-D latent with one prior mean per class; its posterior means, scaled by
``latent_scale`` (the public code's 1/8), are the diffusion's data. The score network takes a
one-hot class embedding too and learns the unconditional score with 10 % label dropout
(classifier-free guidance; ``guidance`` 1 = the conditional score, the public code's w = 0).
Quality: KL per class in the latent; decoded samples judged by a digit-style classifier
(``models.cnn.SmallCNN``) trained on the rendered letters.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from models.cnn import SmallCNN
from models.vae import LatentVAE, class_prior_means, vae_loss
from train import report, study
from train.config import config, field
from train.data.diffusion2d import render_letters
from train.experiments import diffusion
from train.experiments.diffusion import DiffusionConfig
from train.fit import fit, make_optimizer
from train.loop import train_classifier

DESCRIPTION = "class-conditional score diffusion of letters in a VAE latent on an analogue neural-SDE solver"
PAPER_SPEEDUP = 156.5
PAPER_ENERGY = 4.1
SOURCE = "arXiv 2404.05648 v1 abstract"


@config
class Config(DiffusionConfig):
    letters: str = field("HKU", kind="text")
    train_per_class: int = field(2000, lo=10)
    test_per_class: int = field(1000, lo=10)
    image_size: int = field(12, lo=4)
    vae_epochs: int = field(60, lo=1)
    classifier_epochs: int = field(10, lo=1)
    latent_scale: float = field(0.125, lo=0.0, lo_open=True)  # diffusion data = VAE posterior mean x this
    guidance: float = field(1.0, lo=0.0)  # classifier-free guidance weight (1: the conditional score)
    label_dropout: float = field(0.1, lo=0.0, hi=1.0)
    sample_scale: float = field(1.5, lo=0.0, lo_open=True)
    epochs: int = field(1000, lo=1)
    n_samples: int = field(500, lo=10)

    @classmethod
    def quick(cls) -> "Config":
        """Score network 400 epochs (about 4,600 steps), VAE 30 epochs, 300 samples per class and chip, 1,000 chips."""
        return cls(epochs=400, vae_epochs=30, n_samples=300, test_per_class=300)


def train_vae(cfg: Config, images, labels, seed: int, out_dir: Path):
    """The letters VAE (digital), prior N(mu_class, I); returns (model, params)."""
    if cfg.image_size % 4:
        raise ValueError(f"image_size = {cfg.image_size} is invalid: allowed multiples of 4 (the VAE halves it twice)")
    model = LatentVAE((cfg.image_size, cfg.image_size))
    means = class_prior_means(len(cfg.letters))
    params = jax.jit(model.init)(jax.random.PRNGKey(seed), jnp.asarray(images[:2]), jax.random.PRNGKey(0))["params"]

    def loss(variables, batch, rngs, context):
        x, y = batch
        logits, mean, log_var = model.apply(variables, x, rngs["step"])
        return vae_loss(logits, x, mean, log_var, means[y])

    result = fit(loss, {"params": params}, make_optimizer("adam", 2e-3, schedule="cosine",
                                                          total_steps=cfg.vae_epochs * (len(images) // 128)),
                 epochs=cfg.vae_epochs, data=(images, labels), batch_size=128, seed=seed + 11, restore_best=False,
                 ckpt_dir=out_dir / "ckpt_vae", desc="letters VAE")
    return model, result.variables["params"]


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_classes = len(cfg.letters)
    x_train, y_train = render_letters(cfg.train_per_class, cfg.letters, cfg.image_size, seed)
    x_test, y_test = render_letters(cfg.test_per_class, cfg.letters, cfg.image_size, seed + 10_000)
    x_train, x_test = x_train[..., None], x_test[..., None]
    vae, vae_params = train_vae(cfg, x_train, y_train, seed, out_dir)
    encode = jax.jit(lambda x: vae.apply({"params": vae_params}, x, method=LatentVAE.encode)[0] * cfg.latent_scale)
    decode = jax.jit(lambda z: jax.nn.sigmoid(vae.apply({"params": vae_params}, z / cfg.latent_scale,
                                                        method=LatentVAE.decode)))
    judge = SmallCNN(n_classes)
    judge_params = train_classifier(judge, jnp.asarray(x_train), jnp.asarray(y_train), epochs=cfg.classifier_epochs,
                                    batch_size=64, learning_rate=1e-3, seed=seed + 12, ckpt_dir=out_dir / "ckpt_judge",
                                    desc="letter classifier")
    classify = lambda images: jnp.argmax(judge.apply({"params": judge_params}, images), -1)
    latents, test_latents = np.asarray(encode(x_train)), np.asarray(encode(x_test))

    model = diffusion.score_model(cfg, n_classes)
    params, history = diffusion.train_score(model, cfg, latents, y_train, seed, out_dir / "ckpt",
                                            cfg.label_dropout)
    by_class = lambda z, y, n: jnp.asarray(np.stack([z[y == c][:n] for c in range(n_classes)]))
    labels = jnp.repeat(jnp.arange(n_classes), cfg.n_samples)
    problem = diffusion.Problem(
        x1=jax.random.normal(jax.random.PRNGKey(seed + 1), (n_classes * cfg.n_samples, 2)), labels=labels,
        references=by_class(latents, y_train, cfg.train_per_class),
        fresh=by_class(test_latents, y_test, cfg.n_samples), names=tuple(cfg.letters))

    def accuracy(samples):
        return {"cond_accuracy": jnp.mean(classify(decode(samples)) == labels)}

    metrics, samples = diffusion.generation_study(cfg, model, params, problem, seed, cfg.guidance, accuracy)
    metrics["loss/final"] = float(history[-1]["loss"])
    metrics["cond_accuracy/test_images"] = float(jnp.mean(classify(jnp.asarray(x_test)) == y_test))
    metrics["cond_accuracy/reconstructions"] = float(jnp.mean(classify(decode(jnp.asarray(test_latents))) == y_test))
    for k, name in enumerate(cfg.letters):
        metrics[f"kl_per_class/{name}"] = metrics[f"kl/analog/{name}/median"]
    metrics["kl_per_class/mean"] = metrics["kl/analog/median"]
    steps = {"match": metrics["steps/match"], "reference": float(cfg.reference_steps)}
    metrics.update(diffusion.projected_costs(cfg, model, params, problem.x1, labels, cfg.guidance, steps))
    _plots(out_dir, cfg, problem, samples, decode, metrics)
    return study.write(out_dir, "diffusion-letters: conditional score diffusion on an analogue solver", cfg, seed,
                       metrics, _headlines(metrics), _sections(out_dir, cfg, metrics))


def _plots(out_dir: Path, cfg: Config, problem, samples, decode, m: dict) -> None:
    n = cfg.n_samples
    clouds = {}
    for k, name in enumerate(cfg.letters):
        clouds[f"{name}: data"] = np.asarray(problem.fresh[k])
        clouds[f"{name}: analogue"] = samples["analog_median_chip"][k * n:(k + 1) * n]
    report.scatter_plot(out_dir / "latents.png", clouds, "latent 1", "latent 2",
                        "VAE latent: held-out letters and the analogue solver's samples (median chip)")
    shown = 8
    rows = {}
    for name, key in (("software", "software"), ("analogue", "analog_median_chip")):
        for k, letter in enumerate(cfg.letters):
            images = np.asarray(decode(jnp.asarray(samples[key][k * n:k * n + shown])))[..., 0]
            rows[f"{letter}, {name}"] = list(images)
    report.image_grid(out_dir / "letters.png", rows, "decoded samples per class")
    diffusion.study_plots(out_dir, cfg, m, samples, "KL per class, mean (nats)")


def _headlines(m: dict) -> list[study.Headline]:
    return [study.Headline("the analogue solver generates each class at software quality (mean KL within 2x)",
                           "kl_per_class/mean", m["kl_per_class/mean"], (0.0, 2.0 * m["kl/software"]),
                           software=m["kl/software"], spread=(m["kl/analog/q05"], m["kl/analog/q95"]),
                           source="abstract: 'equivalent generative quality'"),
            study.Headline("decoded analogue samples are read as their class (within 5 points of software)",
                           "cond_accuracy/analog/median", m["cond_accuracy/analog/median"],
                           (m["cond_accuracy/software"] - 0.05, 1.0),
                           software=m["cond_accuracy/software"],
                           spread=(m["cond_accuracy/analog/q05"], m["cond_accuracy/analog/q95"]),
                           source="[inferred] from 'equivalent generative quality'"),
            ] + study.cost_headlines(m, PAPER_SPEEDUP, PAPER_ENERGY, SOURCE)


def _sections(out_dir: Path, cfg: Config, m: dict) -> list[tuple[str, str]]:
    both = lambda name: [f"`kl/{name}`", m[f"kl/{name}"], m[f"kl1d/{name}"]]
    rows = [["data floor: held-out letters' latents", *both("data_floor"), "-"],
            [f"software baseline: ideal network, {cfg.reference_steps} digital Euler steps", *both("software"),
             m["cond_accuracy/software"]],
            ["analogue solver, ideal limit", *both("analog_ideal"), m["cond_accuracy/analog_ideal"]],
            [f"analogue solver, {cfg.n_chips} chips, median [5-95 %]", "`kl/analog/median`",
             f"{m['kl/analog/median']:.4g} [{m['kl/analog/q05']:.4g}, {m['kl/analog/q95']:.4g}]",
             f"{m['kl1d/analog/median']:.4g}", f"{m['cond_accuracy/analog/median']:.4g}"]]
    rows += [[f"digital sampler, {n} steps", *both(f"digital/steps{n}"), m[f"cond_accuracy/digital/steps{n}"]]
             for n in sorted(cfg.step_grid)]
    per_class = report.markdown_table(["class", "software KL", "analogue KL (median chip)"],
                                      [[name, m[f"kl/software/{name}"], m[f"kl_per_class/{name}"]]
                                       for name in cfg.letters])
    found = "" if m["steps/match_found"] else " (none of the grid matched: the grid's largest)"
    setup = (f"Letters {', '.join(cfg.letters)} rendered at {cfg.image_size} x {cfg.image_size} "
             f"({cfg.train_per_class} per class for training, {cfg.test_per_class} held out); VAE latent 2-D with "
             f"prior "
             f"means on a circle of radius 4, diffusion data = posterior means x {cfg.latent_scale:g}. The classifier "
             f"reads {m['cond_accuracy/test_images']:.3f} of the held-out images and "
             f"{m['cond_accuracy/reconstructions']:.3f} of their VAE reconstructions right (the ceiling for decoded "
             f"samples). KL per class as in diffusion-ring (`kl`: 2-D, the headline; `kl1d`: the public code's "
             f"`cal_KL` form), {cfg.n_samples} samples per class against the class's training latents, averaged "
             f"over the classes. Guidance "
             f"weight {cfg.guidance:g} (1: the conditional score), label dropout {cfg.label_dropout:g}; "
             f"{'probability-flow ODE' if cfg.process == 'ode' else 'reverse SDE'}, schedule x {cfg.sample_scale:g} at "
             f"sampling. The digital sampler needs {m['steps/match']:.0f} Euler steps to match the analogue median "
             f"chip{found}; the jitted software sampler took {m['time/digital_sampler_s']:.3g} s for all classes' "
             f"samples x {cfg.reference_steps} steps on this CPU (load average {m['time/load_average']:.1f}).")
    return [("Generation quality", report.markdown_table(["sampler", "metric", "KL per class, 2-D",
                                                          "KL per class, code's cal_KL form",
                                                          "class accuracy of decoded samples"],
                                                         rows)
             + "\n\n" + per_class + "\n\n" + setup),
            ("The device knob: write error", diffusion.write_error_section(out_dir, cfg, m)),
            ("Projected cost of one sample", diffusion.cost_section(cfg, m)),
            ("Plots", "`latents.png` (held-out latents and the median chip's samples), `letters.png` (decoded "
                      "samples), `kl_vs_steps.png`, `chips.png`, `write_error.png` (KL against the write error).")]
