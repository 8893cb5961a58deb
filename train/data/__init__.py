"""Data: embedded image sets, real-format (IDX) loaders and batching.

    from train import data
    ds = data.load("digits", seed=0)              # Dataset of numpy arrays
    xb, yb = data.epoch_batches(key, ds.x_train, ds.y_train, 64)   # scan over axis 0
"""

from __future__ import annotations

import os

from .batching import batches, epoch_batches, shuffled_batches
from .cifar import load_cifar10
from .dataset import DataError, Dataset
from .idx import load_mnist_idx, read_idx
from .events import load_dvs_gesture, load_event_mnist_sample, load_gesture_sample, load_nmnist
from .fundus import load_drive, load_synthetic_fundus
from .images import load_digits, load_mnist_sample
from .modelnet import load_modelnet, load_synthetic_modelnet
from .shapes import PartDataset, load_shapenet_part, load_synthetic_parts, load_synthetic_shapes
from .speech import load_fsdd, load_spoken_digits

EMBEDDED = ("digits", "mnist_sample", "spoken_digits", "synthetic_fundus", "event_mnist_sample", "gesture_sample",
            "synthetic_shapes", "synthetic_modelnet")
ON_DISK = ("mnist_idx", "fashion_mnist_idx", "cifar10", "fsdd", "drive", "nmnist", "dvs_gesture", "modelnet")
DATASETS = EMBEDDED + ON_DISK


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    flatten: bool = True,
    valid_fraction: float = 0.0,
) -> Dataset:
    """Load a data set by name (one of `DATASETS`).

    "digits" and "mnist_sample" ship with installed packages, "spoken_digits" and
    "synthetic_fundus" with this one (made offline / generated); they take no
    `data_dir`. "mnist_idx" and "fashion_mnist_idx" read the four standard IDX
    files from `data_dir`, "cifar10" the python-pickle release, "fsdd" a folder of
    Free Spoken Digit Dataset wav files, "drive" the DRIVE retinal-vessel release
    (vessel segmentation: labels are per-pixel masks, -1 outside the field of view),
    "nmnist" N-MNIST's event files and "event_mnist_sample" the MNIST sample through
    the event-camera emulator (``train.data.events``; frames (n, T, 34, 34, 2)).
    Point sets (n, N, 3 + C): "gesture_sample" (the gesture emulator) and
    "dvs_gesture" (DVS128 Gesture's AEDAT files) as event points, "synthetic_shapes"
    and "synthetic_modelnet" (``train.data.shapes`` / ``train.data.modelnet``, xyz + normals,
    labels the category; "modelnet" reads ModelNet10/40's OFF meshes; part segmentation:
    ``load_synthetic_parts`` / ``load_shapenet_part``, a ``PartDataset``). See the
    individual loaders for shapes and ranges. `valid_fraction` > 0 moves that
    fraction of the training images to a validation split (`Dataset.with_validation`).
    """
    ds = _load(name, data_dir, seed, flatten)
    return ds.with_validation(valid_fraction, seed) if valid_fraction else ds


def _load(name, data_dir, seed, flatten) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; allowed: {', '.join(DATASETS)}")
    if name in ON_DISK:
        if data_dir is None:
            raise DataError(f"data set {name!r} is read from disk: pass data_dir (--set data_dir=PATH)")
        if name == "cifar10":
            return load_cifar10(data_dir, flatten=flatten)
        if name == "fsdd":
            return load_fsdd(data_dir)
        if name == "drive":
            return load_drive(data_dir)
        if name == "nmnist":
            return load_nmnist(data_dir)
        if name == "dvs_gesture":
            return load_dvs_gesture(data_dir)
        if name == "modelnet":
            return load_modelnet(data_dir, seed=seed)
        return load_mnist_idx(data_dir, seed=seed, flatten=flatten, name=name)
    if data_dir is not None:
        raise DataError(
            f"data set {name!r} is embedded and takes no data_dir; "
            f"on-disk data sets are: {', '.join(ON_DISK)}"
        )
    if name == "spoken_digits":
        return load_spoken_digits()
    if name == "synthetic_fundus":
        return load_synthetic_fundus(seed=seed)
    if name == "event_mnist_sample":
        return load_event_mnist_sample(seed=seed)
    if name == "gesture_sample":
        return load_gesture_sample(seed=seed)
    if name == "synthetic_shapes":
        return load_synthetic_shapes(seed=seed)
    if name == "synthetic_modelnet":
        return load_synthetic_modelnet(seed=seed)
    loader = load_digits if name == "digits" else load_mnist_sample
    return loader(seed=seed, flatten=flatten)


__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "batches",
    "epoch_batches",
    "load",
    "load_cifar10",
    "load_digits",
    "load_drive",
    "load_dvs_gesture",
    "load_gesture_sample",
    "load_shapenet_part",
    "load_synthetic_parts",
    "load_synthetic_shapes",
    "load_modelnet",
    "load_synthetic_modelnet",
    "PartDataset",
    "load_event_mnist_sample",
    "load_nmnist",
    "load_fsdd",
    "load_spoken_digits",
    "load_synthetic_fundus",
    "load_mnist_idx",
    "load_mnist_sample",
    "read_idx",
    "shuffled_batches",
]
