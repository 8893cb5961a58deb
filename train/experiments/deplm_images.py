"""deplm-images: DEPLM's random resistive-memory point network on images as point
sets (Wang et al., arXiv 2312.09262; Fashion-MNIST in the paper).

Every pixel becomes a point (x, y, 0) carrying its intensity
(``train.data.points.image_points``; the ``n_points`` brightest when set), and the
PointNet++ of ``train.experiments.deplm`` classifies the set: a fully trained one
beside the random one (frozen formed conductances of the TaOx preset, batch norm,
scalars and read-out trained by gradient on several chips, and in closed form on
fresh chips). Real Fashion-MNIST with ``--set dataset=fashion_mnist_idx --set
data_dir=PATH`` (the four IDX files); the embedded default is the 5,000-image
MNIST sample (so the default run is MNIST: results.md names the data).
The paper's settings (``run_image.sh``): SA1 512 centres, radius 0.15, 32
neighbours; SA2 128 centres, radius 0.2, 64 neighbours; widths 128/256/2048
divided by 2.5; 300 epochs, lr 0.005.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from train import data
from train.config import config, field
from train.data.points import image_points
from train.experiments.deplm import DeplmConfig, classification_splits, classification_task, run_study

DESCRIPTION = "DEPLM: random RRAM point network on images as pixel point sets: accuracy, training cost, energy"
PAPER_ENERGY_RATIO = 15.79  # Fashion-MNIST, abstract
PAPER_COST_REDUCTION = 0.8561


@config
class Config(DeplmConfig):
    dataset: str = field("mnist_sample", choices=("mnist_sample", "fashion_mnist_idx", "mnist_idx"))
    data_dir: str | None = field(None, kind="path")
    n_points: int | None = field(None, lo=1)  # keep the brightest pixels (None: all 784)
    centres: tuple[int, ...] = field((512, 128), lo=1, min_len=1)
    radii: tuple[float, ...] = field((0.15, 0.2), lo=0.0, lo_open=True, min_len=1)
    neighbours: tuple[int, ...] = field((32, 64), lo=1, min_len=1)
    widths: tuple[int, ...] = field((51, 102, 819), lo=1, min_len=2)
    epochs: int = field(300, lo=1)
    lr: float = field(5e-3, lo=0.0, lo_open=True)

    @classmethod
    def quick(cls) -> "Config":
        """The 256 brightest pixels, SA 64 / 16 centres, widths 32/64/512; 2,000 training and 400 test images,
        6 epochs (lr 0.01); 2 chips x 16 reads, 4 fresh chips for the closed-form read-out."""
        return cls(n_points=256, centres=(64, 16), radii=(0.15, 0.3), neighbours=(16, 32), widths=(32, 64, 512),
                   epochs=6, lr=1e-2, batch_size=32, train_samples=2000, test_samples=400, n_train_chips=2, n_reads=16,
                   n_chips=4, eval_batch=100)


def load(cfg: Config, seed: int) -> data.Dataset:
    """The images as point sets (n, P, 4)."""
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed, flatten=False)
    return dataclasses.replace(ds, x_train=image_points(ds.x_train[:cfg.train_samples], cfg.n_points),
                               y_train=ds.y_train[:cfg.train_samples],
                               x_test=image_points(ds.x_test[:cfg.test_samples], cfg.n_points),
                               y_test=ds.y_test[:cfg.test_samples])


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = load(cfg, seed)
    task = classification_task(cfg, "deplm-images", ds.n_classes, PAPER_ENERGY_RATIO, PAPER_COST_REDUCTION)
    return run_study(task, cfg, classification_splits(cfg, ds, seed), ds.name, Path(out_dir), seed)
