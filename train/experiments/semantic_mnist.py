"""semantic-mnist: the semantic-memory dynamic network on handwritten digits (Zhang et
al., arXiv 2407.08990: ResNet on MNIST, 48.1 % less computation, 77.6 % less energy).

A small ResNet on ternary CIM (``models.semantic.TernaryResNet``: a 3x3 stem and one
basic block per stage, widths ``widths``, stride 2 between stages) with a CAM exit
after every stage but the last, whose feature is the stage's output averaged over a
``pool_grid`` x ``pool_grid`` grid; the study is ``train.experiments.semantic``. The
embedded default is the 5,000-image MNIST sample; the real MNIST with ``--set
dataset=mnist_idx --set data_dir=PATH`` (the four IDX files).
"""

from __future__ import annotations

from pathlib import Path

from train import data
from train.config import config, field
from train.experiments.semantic import SemanticConfig, SemanticTask, run_study, splits
from models.semantic import TernaryResNet

DESCRIPTION = "semantic-memory dynamic ResNet: ternary CIM stages, CAM early exit on MNIST: accuracy, MACs, energy"
PAPER_COMPUTE_SAVED = 0.481
PAPER_ENERGY_SAVED = 0.776


@config
class Config(SemanticConfig):
    dataset: str = field("mnist_sample", choices=("mnist_sample", "mnist_idx"))
    data_dir: str | None = field(None, kind="path")
    widths: tuple[int, ...] = field((16, 32, 64), lo=1, min_len=2)
    blocks: int = field(1, lo=1)
    pool_grid: int = field(2, lo=1)
    valid_fraction: float = field(0.2, lo=0.0, hi=1.0, lo_open=True, hi_open=True)  # 800 of the sample's 4,000

    @classmethod
    def quick(cls) -> "Config":
        """Widths 8/16/32, 15 epochs on the MNIST sample (3,200 training, 800 validation, 1,000 test images),
        16 chips."""
        return cls(widths=(8, 16, 32), epochs=15, n_chips=16)


def task(cfg: Config, n_classes: int) -> SemanticTask:
    network = lambda spec, transform: TernaryResNet(cfg.widths, n_classes, cfg.blocks, cfg.pool_grid, spec, transform)
    return SemanticTask("semantic-mnist", network, n_classes, PAPER_COMPUTE_SAVED, PAPER_ENERGY_SAVED, (0.3, 1.0))


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed, flatten=False)
    split = splits(cfg, ds.x_train, ds.y_train, ds.x_test, ds.y_test, seed)
    return run_study(task(cfg, ds.n_classes), cfg, split, ds.name, Path(out_dir), seed)
