"""edge-pruning-drive: an edge-pruned random resistive-memory U-Net against trained
weights programmed onto the same noisy devices, retinal vessel segmentation (Li,
Wang et al., arXiv 2311.07164).

The paper's U-Net (``models.edge_pruning.UNet``: base 32, depth 4, 6-bit
activations) trained on random 64 x 64 patches centred in the field of view and
scored on whole test images: ROC-AUC and PR-AUC over the pixels inside the FOV
(``train.loop.roc_auc`` / ``average_precision``, equal to scikit-learn's). DRIVE
when its folder is given (``--set dataset=drive --set data_dir=PATH``); the
embedded default is the synthetic fundus set of ``train.data.fundus`` (results.md
names the data). See ``train.experiments.edge_pruning`` for the study.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.metrics import precision_recall_curve

from models.edge_pruning import UNet
from train import data, report, study
from train.config import config, field
from train.data.fundus import random_patches
from train.experiments.edge_pruning import (StudyConfig, Task, program_pruned, programmed_spec, random_spec,
                                            run_study)
from train.loop import average_precision, pixel_cross_entropy, roc_auc

DESCRIPTION = ("edge-pruned random RRAM U-Net vs trained weights programmed on noisy cells, retinal vessels: "
               "ROC-AUC, PR-AUC, chips, flips, energy")


def vessel_scores(logits: jax.Array, labels: jax.Array) -> dict:
    """PR-AUC and ROC-AUC of the vessel logit margin over the pixels inside the FOV
    (labels >= 0). logits (B, H, W, 2), labels (B, H, W)."""
    margin = logits[..., 1] - logits[..., 0]
    return {"pr_auc": average_precision(margin, labels), "roc_auc": roc_auc(margin, labels)}


@config
class Config(StudyConfig):
    """The paper's DRIVE recipe: 5,000 patches of 64 px, 60 epochs, batch 64, Adam 1e-4 for the
    trained weights, limiter 0.001 -> 0.0008 over 5 improvements."""

    dataset: str = field("synthetic_fundus", choices=("synthetic_fundus", "drive"))
    data_dir: str | None = field(None, kind="path")
    image_size: int = field(128, lo=16)  # synthetic images (px, a multiple of 16)
    n_patches: int = field(5000, lo=1)
    patch_size: int = field(64, lo=8)
    base: int = field(32, lo=1)  # U-Net channels
    depth: int = field(4, lo=1, hi=6)
    bits: int = field(6, lo=1, hi=16)
    epochs: int = field(60, lo=1)
    batch_size: int = field(64, lo=1)
    weight_lr: float = field(1e-4, lo=0.0, lo_open=True)
    limit_start: float = field(0.001, lo=0.0)
    limit_stop: float = field(0.0008, lo=0.0)
    limit_steps: int = field(5, lo=1)
    valid_fraction: float = field(0.15, lo=0.0, hi=0.5, lo_open=True)  # of the training images

    def validate(self):
        super().validate()
        if self.patch_size % 2 ** self.depth:
            raise ValueError(f"Config.patch_size = {self.patch_size!r} is invalid: allowed a multiple of "
                             f"2**depth = {2 ** self.depth}")

    @classmethod
    def quick(cls) -> "Config":
        """64 px images, 600 patches of 32 px, a base-8 depth-2 U-Net, 6 epochs, 2 chips trained,
        8 programmed chips per point, 8 reads per chip, 6 test images."""
        return cls(image_size=64, n_patches=600, patch_size=32, base=8, depth=2, epochs=6, batch_size=32,
                   weight_lr=1e-3, n_train_chips=2, n_chips=8, n_reads=8, chunk_size=2, test_images=6,
                   read_noise_levels=(0.02, 0.1), limit_steps=3)


def make_task(cfg: Config) -> Task:
    return Task("edge-pruning-drive", "pr_auc",
                lambda kind, spec, limit_flips: UNet(kind=kind, spec=spec, limit_flips=limit_flips, bits=cfg.bits,
                                                     base=cfg.base, depth=cfg.depth),
                score=vessel_scores, loss=pixel_cross_entropy, extra_metrics=("roc_auc",),
                paper_gain=0.098, paper_extra_gains=(0.02,), paper_energy_saving=0.998, plots=plots,
                source="arXiv 2311.07164: +9.8 % PR-AUC, +2 % ROC-AUC, 99.8 % better energy efficiency")


def patch_dataset(ds: data.Dataset, cfg: Config, seed: int) -> data.Dataset:
    """Training patches from the training images; validation and test stay whole images."""
    x, y = random_patches(np.random.default_rng(seed), ds.x_train, ds.y_train, cfg.n_patches, cfg.patch_size)
    cut = lambda a: a if not cfg.test_images else a[:cfg.test_images]
    return dataclasses.replace(ds, x_train=x, y_train=y, x_test=cut(ds.x_test), y_test=cut(ds.y_test))


def _load(cfg: Config, seed: int) -> data.Dataset:
    if cfg.dataset == "synthetic_fundus":
        ds = data.load_synthetic_fundus(seed=seed, size=cfg.image_size)
    else:
        ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed)
    return ds.with_validation(cfg.valid_fraction, seed)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    if cfg.dataset == "synthetic_fundus" and cfg.image_size % 16:
        raise ValueError(f"Config.image_size = {cfg.image_size!r} is invalid: allowed a multiple of 16")
    return run_study(make_task(cfg), cfg, patch_dataset(_load(cfg, seed), cfg, seed), Path(out_dir), seed)


# ---------------------------------------------------------------------------- plots
def _margin(logits) -> jax.Array:
    return logits[..., 1] - logits[..., 0]


def _margins(model, variables, x, key) -> np.ndarray:
    """(B, H, W) vessel logit margins of one read of the chip ``variables`` holds."""
    return np.asarray(jax.jit(lambda v, x: _margin(model.apply(v, x, rngs=study.chip_rngs(key), train=False)))(
        variables, x))


def plots(task, cfg, out_dir, ds, software, pruned, chip_keys):
    """The predicted vessel maps of the first test images beside the truth, and the
    PR curves inside the FOV (software; programmed at the preset's noise, one chip;
    pruned, chip 0, one read)."""
    x, y = jnp.asarray(ds.x_test), np.asarray(ds.y_test)
    key = jax.random.fold_in(jax.random.PRNGKey(0), 19)
    ideal = task.model("weights", programmed_spec(cfg).ideal(), False)
    on_chips = {**pruned, "chip": program_pruned(task, cfg)(pruned, chip_keys, x[:1])}
    maps = {"software": _margins(ideal, software, x, key),
            "programmed weights": _margins(task.model("weights", programmed_spec(cfg), False), software, x, key),
            "edge-pruned random": _margins(task.model("pruned", random_spec(cfg), True),
                                           jax.tree.map(lambda a: a[0], on_chips), x, chip_keys[0])}
    inside = y >= 0
    curves = {}
    for name, margin in maps.items():
        precision, recall, _ = precision_recall_curve(y[inside], margin[inside])
        curves[name] = (recall, precision)
    report.line_plot(out_dir / "pr_curve.png", curves, "recall", "precision",
                     f"{ds.name}: vessel pixels inside the FOV", logy=False)
    shown = range(min(3, len(y)))
    probability = lambda m, i: np.where(inside[i], 1.0 / (1.0 + np.exp(-m[i])), 0.0)
    report.image_grid(out_dir / "vessel_map.png",
                      {"image": [np.asarray(ds.x_test[i, ..., 0]) for i in shown],
                       "truth": [(y[i] == 1).astype(float) for i in shown],
                       **{name: [probability(m, i) for i in shown] for name, m in maps.items()}},
                      f"{ds.name}: test images, vessel probability", vmin=0.0, vmax=1.0)
