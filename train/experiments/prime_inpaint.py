"""prime-inpaint: PRIME's fully spiking VAE with pruned random memristive weights for
image inpainting, with its early stop (Wang et al., arXiv 2407.18625; inpainting code
adapted from FSVAE).

MNIST (the shipped 5,000-image sample, or IDX files) resized to 32 x 32 in [-1, 1];
the 8 x 8 centre is blacked out (-1) and the network, trained to return the whole
image, fills it in over 16 time steps (``models.spiking.SpikingVAE``, every step on
one chip). Three versions, as in ``prime-nmnist`` (the edge-pruning study's
training loop, chips and Monte Carlo, reused through its ``Task``):

1. ``software``: trained float weights (digital);
2. ``programmed``: those weights written onto noisy cells (Monte Carlo over chips);
3. ``pruned``: top-50 % score masks on the random pairs of ``prime_40nm_random``
   (scores and the digital read-out gain / offset trained), on ``n_train_chips``
   chips, each read ``n_reads`` times.

Quality inside the hole: PSNR (images mapped to [0, 1]) and SSIM (scikit-image,
on the hole and its one-pixel border); an Inception-style score, exp(E KL(p(y|x) ||
p(y))), from a digit classifier trained here on the clean images (10 is the most a
10-class score can give; the clean test images set the reference). Early stop
(``models.spiking.reconstruction_stop``): m_t = sum |x_t - x_{t-1}| / 100, stop when
m_t < m_{t-1} < m_{t-2} and m_t < 0.2.

Loss: mean squared error of the image after T steps plus ``kl_weight`` x the
Bernoulli latent's KL to Bernoulli(1/2) per step (FSVAE's MMD to its learned
autoregressive prior is not rebuilt: see the README).

Energy per inference as ``prime-nmnist`` (array reads scaled by each layer's input
activity and the steps used; the A100 computes every MAC of the same steps).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from skimage.metrics import structural_similarity

from analog import cost, presets
from models.chip import program_chip
from models.cnn import SmallCNN
from models.spiking import VAE_CELLS, SpikingVAE, reconstruction_stop
from train import data, report, study
from train.config import config, field
from train.data import Dataset
from train.experiments import edge_pruning as ep
from train.experiments import prime_nmnist as pn
from train.loop import inception_score, train_classifier

DESCRIPTION = ("PRIME: spiking VAE on pruned random RRAM for digit inpainting: PSNR / SSIM in the hole, "
               "Inception-style score, early stop, energy vs GPU")

PAPER_ENERGY_RATIO = 62.50  # inpainting, abstract
PAPER_LOAD_SAVED = 0.125    # inpainting (the notes' digest of the abstract: 77.0 % and 12.5 %)
HOLE = slice(12, 20)        # PRIME's corruption x[:, :, 12:20, 12:20] = -1


@config
class Config(pn.PrimeConfig):
    dataset: str = field("mnist_sample", choices=("mnist_sample", "mnist_idx"))
    data_dir: str | None = field(None, kind="path")
    steps: int = field(16, lo=4)
    width: int = field(32, lo=1)  # channels of every conv (FSVAE: 32)
    latent: int = field(128, lo=1)
    kl_weight: float = field(1e-5, lo=0.0)  # 1e-3 (KL and MSE per pixel on a par) collapsed the posterior: mean image
    stop_threshold: float = field(0.2, lo=0.0, lo_open=True)  # PRIME's reconstruction-change threshold
    epochs: int = field(30, lo=1)
    batch_size: int = field(64, lo=1)
    n_train_chips: int = field(2, lo=1)
    n_chips: int = field(100, lo=1)
    n_reads: int = field(200, lo=1)
    chunk_size: int = field(4, lo=1)
    classifier_epochs: int = field(8, lo=1)

    @classmethod
    def quick(cls) -> "Config":
        """Width 16, 4 epochs on 1,500 images (batch 32), one chip, 200 test images, 4 programmed chips, 4 reads."""
        return cls(width=16, epochs=4, batch_size=32, train_images=1500, test_images=200, n_train_chips=1,
                   n_chips=4, n_reads=4,
                   chunk_size=2, prog_noise_us=(5.32,), read_noise_levels=(0.02,), classifier_epochs=3,
                   energy_images=8)


# ---------------------------------------------------------------------------- data
def corrupt(images: np.ndarray) -> np.ndarray:
    """The images with PRIME's 8 x 8 centre hole set to black (-1)."""
    masked = np.array(images, copy=True)
    masked[:, HOLE, HOLE, :] = -1.0
    return masked


def load(cfg: Config, seed: int) -> tuple[Dataset, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """(inpainting data set: x = corrupted, y = clean images (n, 32, 32, 1) in [-1, 1],
    a random ``valid_fraction`` of the training images as validation, cut to the
    config's sizes; the judge's training data: every clean training image outside the
    validation split with its digit label, uncut; the digit labels of the test images)."""
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed, flatten=False)
    resize = lambda x: np.asarray(jax.image.resize(jnp.asarray(x), (len(x), 32, 32, 1), "bilinear")) * 2.0 - 1.0
    clean, clean_test = resize(ds.x_train), resize(ds.x_test)
    order = np.random.default_rng(seed).permutation(len(clean))
    n_valid = max(1, round(cfg.valid_fraction * len(clean)))
    valid, train = order[:n_valid], order[n_valid:]
    judge = (clean[train], ds.y_train[train])
    train = train[:cfg.train_images] if cfg.train_images else train
    test = slice(0, cfg.test_images or None)
    images = Dataset(corrupt(clean[train]), clean[train], corrupt(clean_test[test]), clean_test[test],
                     name=f"{ds.name}_32_hole8", n_classes=10, x_valid=corrupt(clean[valid]), y_valid=clean[valid])
    return images, judge, ds.y_test[test]


# ---------------------------------------------------------------------------- the task
def psnr_hole(images: jax.Array, truth: jax.Array) -> jax.Array:
    """Mean PSNR (dB) inside the hole, images (B, 32, 32, 1) in [-1, 1] mapped to [0, 1]."""
    error = ((images - truth) / 2.0)[:, HOLE, HOLE, :]
    mse = jnp.mean(error ** 2, axis=(1, 2, 3))
    return jnp.mean(10.0 * jnp.log10(1.0 / jnp.maximum(mse, 1e-10)))


@functools.lru_cache(maxsize=8)
def make_task(cfg: Config) -> ep.Task:
    """The edge-pruning study's ``Task``: the network maps corrupted to whole images;
    scores: PSNR in the hole after T steps and at the early stop, steps used."""
    def model(kind, spec, limit_flips):
        return SpikingVAE(kind=kind, spec=spec, keep=cfg.keep, limit_flips=limit_flips, steps=cfg.steps,
                          width=cfg.width, latent=cfg.latent)

    def score(outputs, truth):
        images = outputs[0]
        used, stopped = reconstruction_stop(images, cfg.stop_threshold)
        return {"psnr_hole": psnr_hole(images[-1], truth), "psnr_hole_early_stop": psnr_hole(stopped, truth),
                "steps": jnp.mean(used.astype(images.dtype))}

    def loss(outputs, truth):
        images, kl, _ = outputs
        return jnp.mean((images[-1] - truth) ** 2) + cfg.kl_weight * jnp.mean(kl)

    return ep.Task("prime-inpaint", "psnr_hole", model, score=score, loss=loss,
                   extra_metrics=("psnr_hole_early_stop", "steps"), source=pn.SOURCE,
                   trainable=("scores", "gain", "offset", "scale", "bias"))  # digital: read-out and tdBN


# ---------------------------------------------------------------------------- the digit classifier
def train_judge(cfg, images, digits, seed: int, out_dir: Path):
    """The classifier, trained on clean training images (n, 32, 32, 1) with their digits:
    ``images -> probabilities (B, 10)``."""
    model = SmallCNN(10)
    params = train_classifier(model, jnp.asarray(images), jnp.asarray(digits), epochs=cfg.classifier_epochs,
                              batch_size=64, learning_rate=1e-3, seed=seed, ckpt_dir=out_dir / "ckpt_judge",
                              desc="digit classifier")
    return jax.jit(lambda x: jax.nn.softmax(model.apply({"params": params}, x)))


# ---------------------------------------------------------------------------- quality of one read
def ssim_hole(images, truth) -> float:
    """Mean SSIM over images of the hole and its one-pixel border (10 x 10, 7 x 7 windows), in [0, 1] units."""
    box = slice(HOLE.start - 1, HOLE.stop + 1)
    pairs = zip(np.asarray(images)[:, box, box, 0], np.asarray(truth)[:, box, box, 0])
    return float(np.mean([structural_similarity((a + 1) / 2, (b + 1) / 2, data_range=1.0) for a, b in pairs]))


def quality(images, stopped, truth, digits, judge) -> dict:
    """PSNR / SSIM in the hole and the Inception-style score, after T steps and at the early stop."""
    out = {}
    for name, x in (("", images), ("_early_stop", stopped)):
        out[f"psnr_hole{name}"] = float(psnr_hole(jnp.asarray(x), jnp.asarray(truth)))
        out[f"ssim_hole{name}"] = ssim_hole(x, truth)
        probs = judge(jnp.asarray(x))
        out[f"inception_score{name}"] = float(inception_score(probs))
        out[f"judge_acc{name}"] = float(np.mean(np.argmax(np.asarray(probs), -1) == digits))
    return out


def read_images(task, cfg, variables, chips, x, seed, kind="pruned"):
    """Images per step (T, B, ...) and spike counts (T, 7) of one read of one chip."""
    spec = ep.random_spec(cfg) if kind == "pruned" else ep.programmed_spec(cfg)
    model = task.model(kind, spec, cfg.limit_flips)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 23)
    images, _, counts = jax.jit(lambda v, x: model.apply(v, x, rngs={"read": key, "program": key}))(
        {**variables, "chip": chips} if chips is not None else variables, x)
    return np.asarray(images), np.asarray(counts)


def activities(cfg, x, spike_counts) -> dict:
    """Input activity of each synapse layer: the image's drive for the first (mean
    |x|: an analogue current), each LIF layer's spike rate (and the latent's) after."""
    cells = [int(np.prod(shape)) for shape in VAE_CELLS(cfg.width)]
    per_layer = cells[:3] + [cfg.latent] + cells[3:]  # counts: LIF 0-2, latent, LIF 3-5
    rates = np.asarray(spike_counts, np.float64).mean(0) / (len(x) * np.asarray(per_layer))
    return {"input": float(np.mean(np.abs(np.asarray(x)))), **{f"layer{i}": float(r) for i, r in enumerate(rates)}}


def energies(task, cfg, pruned_first, chip_key, x, activity: dict, steps_used: float) -> dict:
    """Per-inference energy of the pruned VAE (``prime_nmnist`` accounting): layer i's
    array reads scaled by its input's activity and by steps used / T."""
    model = task.model("pruned", ep.random_spec(cfg), cfg.limit_flips)
    stages = pn.stage_counts(model, pruned_first, x[:cfg.energy_images], chip_key)
    # synapse order in the step: conv 0-2 (inputs: image, LIF 0, LIF 1), dense 0 (LIF 2), dense 1 (latent),
    # conv 3-4 (LIF 3, LIF 4), conv 5 (LIF 5)
    inputs = {"MaskedRandomConv_0": "input", "MaskedRandomConv_1": "layer0", "MaskedRandomConv_2": "layer1",
              "MaskedRandomDense_0": "layer2", "MaskedRandomDense_1": "layer3", "MaskedRandomConv_3": "layer4",
              "MaskedRandomConv_4": "layer5", "MaskedRandomConv_5": "layer6"}
    return pn.price(cfg, stages, {stage: activity[name] for stage, name in inputs.items()}, steps_used / cfg.steps)


# ---------------------------------------------------------------------------- the run
def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    out_dir = Path(out_dir)
    task = make_task(cfg)
    ds, judge_data, y_test = load(cfg, seed)
    x_test, truth = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    judge = train_judge(cfg, *judge_data, seed, out_dir)
    software = ep.train_software(task, cfg, ds, seed, out_dir)
    pruned, chip_keys, _ = ep.train_pruned(task, cfg, ds, seed, out_dir)

    default = ep.default_noise_us(cfg)
    levels = tuple(sorted(set(cfg.prog_noise_us) | {default}))
    preset_read = float(ep.programmed_spec(cfg).device.read_sigma_rel)
    prog = ep.programmed_scores(task, cfg, software, x_test, truth, seed, [(p, preset_read) for p in levels],
                                "programmed chips")
    random_read = float(ep.random_spec(cfg).device.read_sigma_rel)
    read_levels = tuple(sorted(set(cfg.read_noise_levels) | {random_read}))
    own = ep.pruned_scores(task, cfg, pruned, chip_keys, x_test, truth, seed, read_levels)

    ideal = task.model("weights", ep.programmed_spec(cfg).ideal(), False)
    soft_images = np.asarray(jax.jit(lambda v, x: ideal.apply(v, x)[0])(software, x_test))
    chips = ep.program_pruned(task, cfg)(pruned, chip_keys, x_test[:1])
    first = jax.tree.map(lambda a: a[0], pruned)
    images, counts = read_images(task, cfg, first, jax.tree.map(lambda a: a[0], chips), x_test, seed)
    prog_chip = jax.jit(lambda v, k: program_chip(task.model("weights", ep.programmed_spec(cfg), False), v, k,
                                                     x_test[:1]))(software, jax.random.PRNGKey(seed + 29))
    prog_images, _ = read_images(task, cfg, software, prog_chip, x_test, seed, kind="weights")

    m = {"study/programmed_chips": float(cfg.n_chips), "study/train_chips": float(cfg.n_train_chips),
         "study/reads": float(cfg.n_reads), "study/steps": float(cfg.steps), "noise/default_prog_us": default}
    digits = np.asarray(y_test)
    m["inception_score/truth"] = float(inception_score(judge(truth)))
    m["judge_acc/truth"] = float(np.mean(np.argmax(np.asarray(judge(truth)), -1) == digits))
    m["inception_score/corrupted"] = float(inception_score(judge(x_test)))
    m["psnr_hole/corrupted"] = float(psnr_hole(x_test, truth))
    stop = lambda ims: reconstruction_stop(jnp.asarray(ims), cfg.stop_threshold)
    for name, ims in (("software", soft_images), ("pruned", images), ("programmed_one_chip", prog_images)):
        used, stopped = stop(ims)
        q = quality(ims[-1], np.asarray(stopped), truth, digits, judge)
        m.update({f"{k}/{name}": v for k, v in q.items()})
        m[f"steps/{name}_one_read"] = float(np.mean(np.asarray(used)))
    stats = ("median", "q05", "q95")
    for name in task.metrics:
        m.update(study.chip_summary(f"{name}/programmed", prog[name][levels.index(default)], stats))
        m.update(study.chip_summary(f"{name}/pruned/chips", own[name][read_levels.index(random_read)].mean(1), stats))
        for r, scores in zip(read_levels, own[name]):
            m.update(study.chip_summary(f"{name}/pruned/read{r:g}", scores.reshape(-1), stats))
    used_soft, _ = stop(soft_images)
    m["steps/software"] = float(np.mean(np.asarray(used_soft)))
    m["load_saved/pruned"] = 1.0 - m["steps/pruned/chips/median"] / cfg.steps
    m["load_saved/software"] = 1.0 - m["steps/software"] / cfg.steps
    activity = activities(cfg, x_test, counts)
    m.update({f"activity/{k}": v for k, v in activity.items()})
    m.update(energies(task, cfg, first, chip_keys[0], x_test, activity, m["steps/pruned/chips/median"]))
    write(cfg, seed, ds.name, out_dir, m, np.asarray(x_test), soft_images[-1], images[-1], np.asarray(stop(images)[1]),
          np.asarray(truth), own, read_levels)
    return m


def headlines(cfg, m: dict) -> list[study.Headline]:
    return [
        study.Headline("pruned random spiking VAE inpaints as well as software (PSNR in the hole, dB, one read; "
                       "band: within 1 dB)", "psnr_hole/pruned", m["psnr_hole/pruned"],
                       (m["psnr_hole/software"] - 1.0, np.inf), software=m["psnr_hole/software"],
                       spread=(m["psnr_hole/pruned/chips/q05"], m["psnr_hole/pruned/chips/q95"]), unit="dB",
                       source=pn.SOURCE),
        study.Headline("Inception-style score of the pruned network's inpaintings comparable to software "
                       "(band: within 10 %)", "inception_score/pruned", m["inception_score/pruned"],
                       (0.9 * m["inception_score/software"], np.inf), software=m["inception_score/software"],
                       source="abstract: Inception Score comparable to software"),
        study.Headline("early stop keeps the inpainting (PSNR in the hole at the stop, within 0.5 dB of all T "
                       "steps)", "psnr_hole_early_stop/pruned", m["psnr_hole_early_stop/pruned"],
                       (m["psnr_hole/pruned"] - 0.5, np.inf), software=m["psnr_hole_early_stop/software"],
                       unit="dB", source=pn.SOURCE),
        study.Headline(f"computational load saved by early stop (1 - mean steps / {cfg.steps})", "load_saved/pruned",
                       m["load_saved/pruned"], (0.0, 1.0), paper=PAPER_LOAD_SAVED, software=m["load_saved/software"],
                       source="abstract: 12.5 % for inpainting (band: > 0)"),
        study.Headline("energy efficiency vs an A100 running the same SNN for the same steps (per inference, "
                       "projected)", "energy/ratio_vs_gpu", m["energy/ratio_vs_gpu"], (1.0, np.inf),
                       paper=PAPER_ENERGY_RATIO, source="abstract: 62.50x (inpainting; band: > 1)"),
    ]


def write(cfg, seed, dataset, out_dir: Path, m, corrupted, software, pruned, pruned_stop, truth, own, read_levels):
    out_dir.mkdir(parents=True, exist_ok=True)
    n = min(8, len(truth))
    rows = {"corrupted": corrupted[:n], "software": software[:n], "pruned random": pruned[:n],
            "pruned, early stop": pruned_stop[:n], "truth": truth[:n]}
    report.image_grid(out_dir / "inpainting.png", {k: [(img[..., 0] + 1) / 2 for img in v] for k, v in rows.items()},
                      title=f"{dataset}: 8 x 8 centre hole", vmin=0.0, vmax=1.0)
    report.band_plot(out_dir / "psnr_vs_read_noise.png", 100 * np.asarray(read_levels),
                     {"pruned random VAE": np.stack([s.reshape(-1) for s in own["psnr_hole"]]),
                      "pruned, early stop": np.stack([s.reshape(-1) for s in own["psnr_hole_early_stop"]])},
                     "read noise (% of conductance)", "PSNR in the hole (dB)",
                     f"{dataset}: {cfg.n_train_chips} chips x {cfg.n_reads} reads")
    table = [[name, f"{m[f'psnr_hole/{key}']:.2f}", f"{m[f'psnr_hole_early_stop/{key}']:.2f}",
              f"{m[f'ssim_hole/{key}']:.3f}", f"{m[f'inception_score/{key}']:.3f}", f"{m[f'judge_acc/{key}']:.3f}"]
             for name, key in (("software (digital)", "software"), ("pruned random, one read", "pruned"),
                               ("programmed weights, one chip", "programmed_one_chip"))]
    cell = lambda key: f"{m[f'{key}/median']:.2f} [{m[f'{key}/q05']:.2f}, {m[f'{key}/q95']:.2f}]"
    noise_rows = [[f"{100 * r:g}", cell(f"psnr_hole/pruned/read{r:g}"), cell(f"psnr_hole_early_stop/pruned/read{r:g}"),
                   cell(f"steps/pruned/read{r:g}")] for r in read_levels]
    sections = [
        ("Setup", f"Data `{dataset}` (32 x 32 in [-1, 1], centre 8 x 8 set to -1); T = {cfg.steps}; width "
                  f"{cfg.width}, latent {cfg.latent}; random preset `{cfg.random_device}`; comparator "
                  f"`{cfg.programmed_device}`; keep {cfg.keep:g}; {cfg.epochs} epochs; {cfg.n_train_chips} chips x "
                  f"{cfg.n_reads} reads; {cfg.n_chips} programmed chips; early stop threshold "
                  f"{cfg.stop_threshold:g}; seed {seed}. Clean test images: Inception-style score "
                  f"{m['inception_score/truth']:.3f}, classifier accuracy {m['judge_acc/truth']:.3f}; corrupted: "
                  f"score {m['inception_score/corrupted']:.3f}, PSNR in the hole {m['psnr_hole/corrupted']:.2f} dB."),
        ("Inpainting quality", report.markdown_table(
            ["network", "PSNR hole (dB)", "PSNR hole, early stop", "SSIM hole", "Inception-style score",
             "classifier accuracy"], table)
         + f"\n\nProgrammed chips ({cfg.n_chips}): PSNR hole {cell('psnr_hole/programmed')} dB."),
        ("PSNR against read noise (every read of every trained chip)", report.markdown_table(
            ["read noise (%)", "PSNR hole (dB)", "early stop", "mean steps"], noise_rows)),
        ("Energy per inference (analog/cost.py; projected)", report.markdown_table(
            ["platform", "early stop (J)", f"all {cfg.steps} steps (J)"],
            [["analogue macro", m["energy/analog_j"], m["energy/analog_all_steps_j"]],
             ["A100, same SNN, dense", m["energy/gpu_j"], m["energy/gpu_all_steps_j"]],
             ["ratio", m["energy/ratio_vs_gpu"], m["energy/ratio_vs_gpu_all_steps"]]])),
    ]
    study.write(out_dir, "prime-inpaint", cfg, seed, m, headlines(cfg, m), sections)
