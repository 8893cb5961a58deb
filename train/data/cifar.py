"""CIFAR-10 from the official python-pickle release ("cifar-10-batches-py")."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: (n, 32, 32, 3) uint8 images (HWC) and (n,) int32 labels."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    try:
        raw, labels = batch[b"data"], batch[b"labels"]
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 batch (needs b'data' and b'labels')") from e
    raw, labels = np.asarray(raw), np.asarray(labels, dtype=np.int32)
    if raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3072 or len(labels) != len(raw):
        raise DataError(f"{path}: expected uint8 data (n, 3072) and n labels, "
                         f"got {raw.dtype} {raw.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 0..9")
    # rows are 1024 red, 1024 green, 1024 blue values, each plane row-major 32 x 32
    return raw.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar10(data_dir: str | os.PathLike, flatten: bool = False) -> Dataset:
    """CIFAR-10 from ``data_dir`` (the ``cifar-10-batches-py`` folder, or its parent).

    Returns x float32 in [0, 1], (n, 32, 32, 3) (or (n, 3072) if ``flatten``),
    labels int32 0..9, the release's own split (50,000 / 10,000). Raises
    FileNotFoundError naming the missing files.
    """
    data_dir = Path(data_dir)
    if (data_dir / "cifar-10-batches-py").is_dir():
        data_dir = data_dir / "cifar-10-batches-py"
    missing = [name for name in TRAIN_FILES + (TEST_FILE,) if not (data_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"cifar10: missing {', '.join(missing)} in {data_dir} "
                                "(expected the python-pickle release, cifar-10-batches-py)")
    train = [_read_batch(data_dir / name) for name in TRAIN_FILES]
    x_test, y_test = _read_batch(data_dir / TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    scale = lambda x: (x.astype(np.float32) / 255.0).reshape((len(x), -1) if flatten else x.shape)
    return Dataset(scale(x_train), y_train, scale(x_test), y_test, name="cifar10", n_classes=10)
