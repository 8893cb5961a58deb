"""Reader for the IDX format of MNIST and Fashion-MNIST (plain or gzip).

Format: 2 zero bytes, a type byte, a dims byte, then `dims` big-endian uint32
sizes, then the data, big-endian, in C order.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import DataError, Dataset, format_images

# type byte -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# The four standard files; each may also be spelt with ".idx" and/or end in ".gz".
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file into a numpy array of its own shape and (native-endian) dtype.

    gzip is detected by the file's magic bytes, whatever its extension. Raises
    ValueError naming the file on a bad magic number, an unknown type byte, a
    truncated file or a size that does not match the header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip stream ({e})") from e

    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(raw)} bytes, header needs 4)")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: bad IDX magic number {raw[:4].hex()} (must start with two zero bytes)"
        )
    type_byte, ndim = raw[2], raw[3]
    if type_byte not in IDX_DTYPES:
        allowed = ", ".join(f"0x{t:02X}" for t in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX type byte 0x{type_byte:02X} (allowed: {allowed})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")

    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, needs {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_byte]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        kind = "truncated IDX file" if got < expected else "IDX file longer than its header says"
        raise DataError(
            f"{path}: {kind}: header shape {shape} of {dtype.name} needs {expected} data bytes, "
            f"file has {got}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(data_dir: Path, stem: str) -> Path | None:
    names = (stem, stem.replace("-idx", ".idx"))
    for name in names:
        for suffix in ("", ".gz"):
            p = data_dir / (name + suffix)
            if p.is_file():
                return p
    return None


def load_mnist_idx(
    data_dir: str | os.PathLike,
    seed: int = 0,
    flatten: bool = True,
    name: str = "mnist_idx",
) -> Dataset:
    """Load MNIST or Fashion-MNIST from the four standard IDX files in `data_dir`.

    Expects train-images-idx3-ubyte, train-labels-idx1-ubyte,
    t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz; the
    "train-images.idx3-ubyte" spelling is accepted too). Uses the files' own
    train/test split and order, so `seed` is unused (kept for a uniform
    signature). Images are uint8 (n, H, W) -> float32 in [0, 1], shaped
    (n, H*W) if `flatten` else (n, H, W, 1); labels int32 in 0..9.

    Raises FileNotFoundError listing the expected and present files, and
    ValueError (naming the file) on malformed contents or mismatched counts.
    """
    del seed
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{name}: data directory {data_dir} does not exist")
    paths = {key: _find(data_dir, stem) for key, stem in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        present = sorted(p.name for p in data_dir.iterdir())
        shown = ", ".join(present[:20]) + (f", ... ({len(present)} in all)" if len(present) > 20 else "")
        raise FileNotFoundError(
            f"{name}: missing {', '.join(missing)} in {data_dir} "
            f"(expected {', '.join(MNIST_FILES.values())}, each optionally .gz); "
            f"directory holds: {shown or 'nothing'}"
        )

    parts = []
    for split in ("train", "test"):
        img_path, lbl_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(
                f"{img_path}: expected uint8 images of shape (n, H, W), got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1:
            raise DataError(f"{lbl_path}: expected labels of shape (n,), got {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{img_path} holds {images.shape[0]} images but {lbl_path} holds {labels.shape[0]} labels"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DataError(
                f"{lbl_path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}"
            )
        parts += [format_images(images, 255.0, flatten), labels.astype(np.int32)]

    if parts[0].shape[1:] != parts[2].shape[1:]:
        raise DataError(
            f"{paths['train_images']} and {paths['test_images']} have different image shapes: "
            f"{parts[0].shape[1:]} vs {parts[2].shape[1:]}"
        )
    return Dataset(*parts, name=name, n_classes=10)
