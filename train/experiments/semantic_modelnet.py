"""semantic-modelnet: the semantic-memory dynamic network on 3-D point clouds (Zhang et
al., arXiv 2407.08990: PointNet++ on ModelNet, 15.9 % less computation, 93.3 % less
energy).

PointNet++ (single scale) on ternary CIM (``models.semantic.DynamicPointNet``: set
abstraction with ternary 1x1 layers, the last stage grouping the whole cloud) with a
CAM exit after every stage but the last (its features max-pooled over the centres);
the study is ``train.experiments.semantic``. The embedded default is the synthetic
ModelNet-like set (``train.data.modelnet``: sphere, box, cylinder, cone, torus,
table, chair, lamp); the real ModelNet10/40 with ``--set dataset=modelnet --set
data_dir=PATH`` (its ``<class>/{train,test}/*.off`` folders).
"""

from __future__ import annotations

from pathlib import Path

from train.config import config, field
from train.data import load_modelnet, load_synthetic_modelnet
from train.experiments.deplm import DeplmConfig, stages
from train.experiments.semantic import SemanticConfig, SemanticTask, run_study, splits
from models.semantic import DynamicPointNet

DESCRIPTION = "semantic-memory dynamic PointNet++: ternary CIM stages, CAM early exit on ModelNet-like clouds"
PAPER_COMPUTE_SAVED = 0.159
PAPER_ENERGY_SAVED = 0.933


@config
class Config(SemanticConfig):
    dataset: str = field("synthetic_modelnet", choices=("synthetic_modelnet", "modelnet"))
    data_dir: str | None = field(None, kind="path")
    n_points: int = field(1024, lo=8)
    n_train: int = field(2048, lo=8)  # synthetic shapes (the real set has its own)
    n_test: int = field(512, lo=8)
    centres: tuple[int, ...] = field((256, 64), lo=1, min_len=1)
    radii: tuple[float, ...] = field((0.2, 0.4), lo=0.0, lo_open=True, min_len=1)
    neighbours: tuple[int, ...] = field((32, 32), lo=1, min_len=1)
    widths: tuple[int, ...] = field((64, 128, 256), lo=1, min_len=2)  # per stage, then the group-all stage
    epochs: int = field(40, lo=1)
    batch_size: int = field(32, lo=1)
    eval_batch: int = field(64, lo=1)

    validate = DeplmConfig.validate  # one value per sampled stage (``models.pointnet.sa_stages``)

    @classmethod
    def quick(cls) -> "Config":
        """256 points, SA 64 / 16 centres (16 neighbours), widths 32/64/128; 768 training and 256 test shapes,
        8 epochs, 16 chips."""
        return cls(n_points=256, n_train=768, n_test=256, centres=(64, 16), radii=(0.25, 0.5), neighbours=(16, 16),
                   widths=(32, 64, 128), epochs=8, n_chips=16)


def task(cfg: Config, n_classes: int) -> SemanticTask:
    network = lambda spec, transform: DynamicPointNet(stages(cfg), n_classes, spec, transform)
    return SemanticTask("semantic-modelnet", network, n_classes, PAPER_COMPUTE_SAVED, PAPER_ENERGY_SAVED, (0.059, 1.0))


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    if cfg.dataset == "modelnet":
        ds = load_modelnet(cfg.data_dir, cfg.n_points, seed)
    else:
        ds = load_synthetic_modelnet(seed, cfg.n_train, cfg.n_test, cfg.n_points)
    split = splits(cfg, ds.x_train, ds.y_train, ds.x_test, ds.y_test, seed)
    return run_study(task(cfg, ds.n_classes), cfg, split, ds.name, Path(out_dir), seed)
