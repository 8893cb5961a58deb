"""deplm-events: DEPLM's random resistive-memory point network on event-camera
gestures as point sets (Wang et al., arXiv 2312.09262; DVS128 Gesture in the paper).

Each gesture window's events become points (x, y, t) carrying their polarity
(``train.data.points.event_points``, ``n_points`` per window), and the PointNet++
of ``train.experiments.deplm`` classifies them: a fully trained one beside the
random one (frozen formed conductances of the TaOx preset; batch norm, scalars and
read-out trained by gradient on several chips, and in closed form on fresh chips).
The embedded default is the gesture emulator (``train.data.events.gesture_events``:
11 DVS128-Gesture-like classes of moving arms on a 64 x 64 sensor); the real DVS128
Gesture release with ``--set dataset=dvs_gesture --set data_dir=PATH``.
The paper's settings (``run_dvs.sh``): 1,024 events per window, SA1 256 centres,
radius 0.18, 32 neighbours; SA2 128 centres, radius 0.18 x 0.45, 64 neighbours;
widths 128/256/1219 divided by 2.38; 200 epochs, lr 0.01.
"""

from __future__ import annotations

from pathlib import Path

from train import data
from train.config import config, field
from train.data import events
from train.experiments.deplm import DeplmConfig, classification_splits, classification_task, run_study

DESCRIPTION = "DEPLM: random RRAM point network on event-camera gestures as (x, y, t) points: accuracy, cost, energy"
PAPER_ENERGY_RATIO = 21.04  # DVS128 Gesture, abstract
PAPER_COST_REDUCTION = 0.8946


@config
class Config(DeplmConfig):
    dataset: str = field("gesture_sample", choices=("gesture_sample", "dvs_gesture"))
    data_dir: str | None = field(None, kind="path")  # the DVS128 Gesture release (dataset=dvs_gesture)
    n_points: int = field(1024, lo=1)  # events per window
    n_train: int = field(1100, lo=1)   # emulated windows (dataset=gesture_sample)
    n_test: int = field(330, lo=1)

    @classmethod
    def quick(cls) -> "Config":
        """256 events per window, SA 64 / 16 centres, widths 32/64/512; 660 training and 220 test windows,
        16 epochs (lr 0.02); 2 chips x 16 reads, 4 fresh chips for the closed-form read-out."""
        return cls(n_points=256, n_train=660, n_test=220, centres=(64, 16), radii=(0.2, 0.4), neighbours=(16, 32),
                   widths=(32, 64, 512), epochs=16, lr=2e-2, batch_size=32, n_train_chips=2, n_reads=16, n_chips=4,
                   eval_batch=110)


def load(cfg: Config, seed: int) -> data.Dataset:
    """Gesture windows as event point sets (n, n_points, 4)."""
    if cfg.dataset == "dvs_gesture":
        if cfg.data_dir is None:
            raise data.DataError("dataset 'dvs_gesture' is read from disk: pass --set data_dir=PATH (DvsGesture/)")
        return events.load_dvs_gesture(cfg.data_dir, n_points=cfg.n_points, seed=seed)
    return events.load_gesture_sample(seed=seed, n_train=cfg.n_train, n_test=cfg.n_test, n_points=cfg.n_points)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = load(cfg, seed)
    task = classification_task(cfg, "deplm-events", ds.n_classes, PAPER_ENERGY_RATIO, PAPER_COST_REDUCTION)
    return run_study(task, cfg, classification_splits(cfg, ds, seed), ds.name, Path(out_dir), seed)
