"""The `Dataset` container and the helpers every loader shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split


class DataError(ValueError):
    """A problem with data a user pointed at (missing or malformed files, an unknown
    data set or option): the CLI prints it on one line and exits with status 2."""


@dataclass(frozen=True)
class Dataset:
    """An image classification data set held in host memory as numpy arrays.

    Attributes:
      x_train: float32, (n_train, H*W) when flattened else (n_train, H, W, 1); values in [0, 1].
      y_train: int32, (n_train,); values in 0 .. n_classes-1.
      x_test:  float32, (n_test, ...) like x_train.
      y_test:  int32, (n_test,).
      name:    the name `load` knows it by, e.g. "digits".
      n_classes: number of classes.
      x_valid, y_valid: a validation split cut from the training images
        (``with_validation``; None when there is none). Thresholds, early stopping
        and hyper-parameters are chosen on it, never on test.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int
    x_valid: np.ndarray | None = None
    y_valid: np.ndarray | None = None

    def __post_init__(self):
        parts = [(self.x_train, self.y_train, "train"), (self.x_test, self.y_test, "test")]
        if (self.x_valid is None) != (self.y_valid is None):
            raise ValueError(f"Dataset {self.name!r}: x_valid and y_valid must both be given or both be None")
        if self.x_valid is not None:
            parts.append((self.x_valid, self.y_valid, "valid"))
        for x, y, part in parts:
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"Dataset {self.name!r}: {part} has {x.shape[0]} inputs but {y.shape[0]} labels"
                )

    def with_validation(self, fraction: float, seed: int = 0) -> "Dataset":
        """This data set with ``fraction`` of its training images moved to a stratified
        validation split, deterministic by ``seed``; the test split is untouched."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"valid_fraction = {fraction!r} is invalid: allowed (0, 1)")
        x_tr, x_va, y_tr, y_va = train_test_split(self.x_train, self.y_train, test_size=fraction,
                                                  random_state=seed,
                                                  stratify=self.y_train if self.y_train.ndim == 1 else None)
        return Dataset(x_tr, y_tr, self.x_test, self.y_test, self.name, self.n_classes, x_va, y_va)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (784,) or (28, 28, 1)."""
        return tuple(self.x_train.shape[1:])


def check_test_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} must lie in the open interval (0, 1)")


def format_images(images: np.ndarray, max_value: float, flatten: bool) -> np.ndarray:
    """(n, H, W) raw pixel values in [0, max_value] -> float32 in [0, 1],
    shaped (n, H*W) if `flatten` else (n, H, W, 1)."""
    x = np.asarray(images, dtype=np.float32) / np.float32(max_value)
    n = x.shape[0]
    return x.reshape(n, -1) if flatten else x.reshape(*x.shape, 1)


def split_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    name: str,
    n_classes: int,
    seed: int,
    test_fraction: float,
) -> Dataset:
    """Stratified train/test split, deterministic by `seed` (scikit-learn's
    `train_test_split`). `images`: (n, ...) float32; `labels`: (n,) int."""
    check_test_fraction(test_fraction)
    labels = np.asarray(labels, dtype=np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(x_tr, y_tr, x_te, y_te, name=name, n_classes=n_classes)
