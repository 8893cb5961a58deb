"""deplm-parts: DEPLM's random resistive-memory point network for part segmentation
(Wang et al., arXiv 2312.09262; ShapeNet part segmentation in the paper).

Every point (xyz and its normal) gets a part label: set abstraction down, feature
propagation back up (``models.pointnet.PartSegmenter``: random layers in both
directions for the random network), the shape's category one-hot joining at the
last propagation, a per-point classifier (trained). Scores follow the ShapeNet-part
protocol (``train.data.shapes``): logits restricted to the category's parts,
instance mIoU (the headline) and point accuracy. The embedded default is the
synthetic part-labelled shapes (``shapes.make_shapes``: 8 categories, 25 parts);
the real release with ``--set dataset=shapenet_part --set data_dir=PATH``.
The paper's settings (``run_seg.sh``): 2,048 points, SA1 512 centres, radius 0.1,
32 neighbours; SA2 128, radius 0.3, 64 neighbours; 5-bit inputs, 2 % read noise;
101 epochs, lr 0.02.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.pointnet import PartSegmenter
from train.config import config, field
from train.data import shapes
from train.experiments.deplm import DeplmConfig, PointTask, cut, run_study, stages
from train.loop import pixel_cross_entropy

DESCRIPTION = "DEPLM: random RRAM PointNet++ part segmentation of 3-D shapes: mIoU, training cost, energy"
PAPER_ENERGY_RATIO = 5.90  # ShapeNet part segmentation, abstract (6.78x in the journal version)
PAPER_COST_REDUCTION = 0.7012


@config
class Config(DeplmConfig):
    dataset: str = field("synthetic_parts", choices=("synthetic_parts", "shapenet_part"))
    data_dir: str | None = field(None, kind="path")  # shapenetcore_partanno_segmentation_benchmark_v0_normal
    n_points: int = field(2048, lo=1)
    n_train: int = field(2048, lo=1)  # synthetic shapes
    n_test: int = field(512, lo=1)
    input_bits: int = field(5, lo=1, hi=16)
    centres: tuple[int, ...] = field((512, 128), lo=1, min_len=1)
    radii: tuple[float, ...] = field((0.1, 0.3), lo=0.0, lo_open=True, min_len=1)
    neighbours: tuple[int, ...] = field((32, 64), lo=1, min_len=1)
    widths: tuple[int, ...] = field((40, 80, 234), lo=1, min_len=2)
    fp_features: tuple[int, ...] = field((80, 40, 117), lo=1, min_len=2)  # coarse to fine, one per stage
    epochs: int = field(101, lo=1)
    lr: float = field(2e-2, lo=0.0, lo_open=True)

    def validate(self):
        DeplmConfig.validate(self)
        if len(self.fp_features) != len(self.widths):
            raise ValueError(f"Config.fp_features = {self.fp_features} is invalid: allowed one width per stage "
                             f"({len(self.widths)})")

    @classmethod
    def quick(cls) -> "Config":
        """512 points, SA 128 / 32 centres, widths 32/64/128, propagation 64/64/256; 720 training and 160 test
        shapes, 6 epochs; 2 chips x 8 reads, 3 fresh chips for the closed-form read-out."""
        return cls(n_points=512, n_train=720, n_test=160, centres=(128, 32), radii=(0.2, 0.4), neighbours=(16, 32),
                   widths=(32, 64, 128), fp_features=(64, 64, 256), epochs=6, batch_size=16, n_train_chips=2,
                   n_reads=8, n_chips=3, eval_batch=40)


def make_task(cfg: Config, ds: shapes.PartDataset) -> PointTask:
    """Part segmentation on the config's stages: per-point cross-entropy; instance
    mIoU and point accuracy with the logits restricted to each category's parts."""
    ranges = ds.part_ranges

    def network(kind, spec):
        return PartSegmenter(stages(cfg), cfg.fp_features, ds.n_parts, ds.n_categories, kind=kind, spec=spec)

    def score(logits, batch):
        _, category, parts = batch
        pred = shapes.predict_parts(logits, category, ranges)
        return {"miou": shapes.instance_miou(pred, parts, category, ranges), "acc": (pred == parts).mean()}

    return PointTask("deplm-parts", "miou", network, pixel_cross_entropy, score, lambda batch: np.asarray(batch[-1]),
                     ds.n_parts, readout="classifier", paper_energy_ratio=PAPER_ENERGY_RATIO,
                     paper_cost_reduction=PAPER_COST_REDUCTION)


def load(cfg: Config, seed: int) -> shapes.PartDataset:
    if cfg.dataset == "shapenet_part":
        if cfg.data_dir is None:
            raise shapes.DataError("dataset 'shapenet_part' is read from disk: pass --set data_dir=PATH")
        return shapes.load_shapenet_part(cfg.data_dir, n_points=cfg.n_points, seed=seed)
    return shapes.load_synthetic_parts(seed=seed, n_train=cfg.n_train, n_test=cfg.n_test, n_points=cfg.n_points)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = load(cfg, seed)
    splits = cut(cfg, (ds.points_train, ds.category_train, ds.parts_train),
                 (ds.points_test, ds.category_test, ds.parts_test), seed, stratify=ds.category_train)
    return run_study(make_task(cfg, ds), cfg, splits, ds.name, Path(out_dir), seed)
