"""Event cameras: an emulator of the N-MNIST recording, an N-MNIST file loader, and
frames for spiking networks.

An event is (x, y, t, p): pixel column and row, time (microseconds), polarity (1 ON:
the log intensity rose by the contrast threshold; 0 OFF: it fell). ``EVENT_DTYPE``
is the structured array every function here takes and returns.

``events_from_frames`` is the pixel model: each pixel keeps the log intensity of its
last event; when the current log intensity differs by at least the contrast
threshold C, the pixel emits one event per crossed level (ON or OFF) and moves its
reference by as many levels, unless it fired within the refractory period;
background-activity noise adds random events at a rate per pixel.

``saccade_events`` is the N-MNIST recipe (Orchard et al. 2015): the image, padded to
34 x 34, is moved along three saccades (a triangle of a few pixels, 100 ms each)
in front of the sensor; a static image makes no events once the motion ends.

N-MNIST's own files (``Train/<digit>/*.bin``, ``Test/<digit>/*.bin``) hold 5 bytes
per event: x, y, then the polarity in the top bit and a 23-bit microsecond time
stamp; a y of 240 marks a time-stamp overflow (2**13 us added to later events).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from .dataset import DataError, Dataset

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
SENSOR = (34, 34)  # N-MNIST's rows, columns
SACCADES = ((0.0, 0.0), (2.0, 4.0), (4.0, 0.0), (0.0, 0.0))  # (dy, dx) px corners of the three saccades
SACCADE_US = 100_000
OVERFLOW_Y = 240
OVERFLOW_US = 2 ** 13


THRESHOLD = 0.3  # log-intensity contrast: ~4,500 events per MNIST digit, N-MNIST's order (~1,500 per saccade)


def events_from_frames(rng: np.random.Generator, frames: np.ndarray, times_us: np.ndarray,
                       threshold: float = THRESHOLD, refractory_us: float = 1000.0, noise_hz: float = 0.0,
                       eps: float = 0.1) -> np.ndarray:
    """Events of a sensor watching ``frames`` (T, H, W) of intensity in [0, 1] at
    ``times_us`` (T,); the first frame sets every pixel's reference. ``threshold``:
    contrast C in log intensity; ``noise_hz``: background events per pixel per second."""
    frames = np.asarray(frames, np.float64)
    if frames.ndim != 3 or len(times_us) != len(frames):
        raise ValueError(f"events_from_frames: frames {frames.shape} and times {np.shape(times_us)}: expected "
                         "(T, H, W) and (T,)")
    log = np.log(eps + frames)
    reference = log[0].copy()
    last = np.full(log.shape[1:], -np.inf)
    chunks = []
    for t, level in zip(times_us[1:], log[1:]):
        crossed = np.trunc((level - reference) / threshold).astype(int)
        fire = (crossed != 0) & (t - last >= refractory_us)
        rows, cols = np.nonzero(fire)
        n = np.abs(crossed[rows, cols])
        chunks.append(_events(np.repeat(cols, n), np.repeat(rows, n), t, np.repeat(crossed[rows, cols] > 0, n)))
        reference[fire] += crossed[fire] * threshold
        last[fire] = t
    if noise_hz > 0:
        duration_s = (times_us[-1] - times_us[0]) * 1e-6
        count = rng.poisson(noise_hz * duration_s * log[0].size)
        chunks.append(_events(rng.integers(0, log.shape[2], count), rng.integers(0, log.shape[1], count),
                              rng.uniform(times_us[0], times_us[-1], count).astype(np.int64), rng.random(count) < 0.5))
    events = np.concatenate(chunks) if chunks else np.zeros(0, EVENT_DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


def _events(x, y, t, p) -> np.ndarray:
    out = np.zeros(len(x), EVENT_DTYPE)
    out["x"], out["y"], out["t"], out["p"] = x, y, t, p
    return out


def saccade_frames(image: np.ndarray, steps_per_saccade: int = 20, hold_steps: int = 0):
    """The image (H, W) in [0, 1], centred on the 34 x 34 sensor, moved along
    ``SACCADES`` (bilinear sub-pixel shifts) then held still for ``hold_steps``:
    (frames (T, 34, 34), times (T,) us)."""
    h, w = image.shape
    pad_y, pad_x = SENSOR[0] - h, SENSOR[1] - w
    if pad_y < 0 or pad_x < 0:
        raise ValueError(f"saccade_frames: image {image.shape} is larger than the {SENSOR} sensor")
    canvas = np.pad(np.asarray(image, np.float64), ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)))
    canvas = np.roll(canvas, (-2, -2), axis=(0, 1))  # the triangle spans +4 px: start it up-left
    offsets = [np.array(SACCADES[0])]
    for start, end in zip(SACCADES[:-1], SACCADES[1:]):
        for k in range(1, steps_per_saccade + 1):
            offsets.append(np.array(start) + (np.array(end) - np.array(start)) * k / steps_per_saccade)
    offsets += [offsets[-1]] * hold_steps
    frames = np.stack([ndimage.shift(canvas, o, order=1, mode="constant") for o in offsets])
    times = np.arange(len(frames)) * (SACCADE_US / steps_per_saccade)
    return frames, times.astype(np.int64)


def saccade_events(rng: np.random.Generator, image: np.ndarray, threshold: float = THRESHOLD,
                   refractory_us: float = 1000.0, noise_hz: float = 0.2, steps_per_saccade: int = 20) -> np.ndarray:
    """N-MNIST-style events of one image (H, W) in [0, 1] (see the module docstring)."""
    frames, times = saccade_frames(image, steps_per_saccade)
    return events_from_frames(rng, frames, times, threshold, refractory_us, noise_hz)


def to_frames(events: np.ndarray, n_frames: int, shape: tuple[int, int] = SENSOR, split_by: str = "time",
              duration_us: float | None = None) -> np.ndarray:
    """Event counts binned into ``n_frames`` frames (n_frames, H, W, 2) float32, channel
    0 OFF and 1 ON: ``split_by="time"`` equal time windows over [0, duration_us]
    (default: the last event's time), ``"number"`` equal numbers of events."""
    if split_by not in ("time", "number"):
        raise ValueError(f"to_frames: split_by = {split_by!r} is invalid: allowed 'time', 'number'")
    frames = np.zeros((n_frames,) + tuple(shape) + (2,), np.float32)
    if len(events) == 0:
        return frames
    if split_by == "time":
        end = float(duration_us if duration_us is not None else events["t"].max() + 1)
        index = np.minimum((events["t"] * n_frames / end).astype(int), n_frames - 1)
    else:
        index = np.arange(len(events)) * n_frames // len(events)
    keep = (events["y"] < shape[0]) & (events["x"] < shape[1]) & (index >= 0)
    np.add.at(frames, (index[keep], events["y"][keep], events["x"][keep], events["p"][keep].astype(int)), 1.0)
    return frames


def read_nmnist_bin(path: str | os.PathLike) -> np.ndarray:
    """Events of one N-MNIST ``.bin`` file (see the module docstring)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events")
    raw = raw.reshape(-1, 5).astype(np.int64)
    t = ((raw[:, 2] & 127) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = raw[:, 1] == OVERFLOW_Y
    t = t + OVERFLOW_US * np.cumsum(overflow)
    kept = ~overflow
    return _events(raw[kept, 0], raw[kept, 1], t[kept], raw[kept, 2] >> 7)


def _nmnist_split(folder: Path, n_frames: int, split_by: str):
    files = sorted(folder.glob("[0-9]/*.bin"))
    if not files:
        raise DataError(f"N-MNIST: no .bin files in {str(folder)!r}/<digit>/ (expected Train/0/00002.bin ...)")
    x = np.stack([to_frames(read_nmnist_bin(f), n_frames, split_by=split_by) for f in files])
    return x, np.array([int(f.parent.name) for f in files], np.int32)


def load_nmnist(data_dir: str | os.PathLike, n_frames: int = 10) -> Dataset:
    """N-MNIST from ``data_dir`` (``Train/`` and ``Test/``) as frames (n, n_frames, 34, 34, 2):
    training binned by time, test by event number (PRIME's spikingjelly settings)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"N-MNIST folder {str(root)!r} does not exist")
    x_train, y_train = _nmnist_split(root / "Train", n_frames, "time")
    x_test, y_test = _nmnist_split(root / "Test", n_frames, "number")
    return Dataset(x_train, y_train, x_test, y_test, name="nmnist", n_classes=10)


def load_event_mnist_sample(seed: int = 0, n_frames: int = 10, noise_hz: float = 0.2) -> Dataset:
    """The shipped 5,000-image MNIST sample through ``saccade_events`` (the embedded
    stand-in for N-MNIST): frames (n, n_frames, 34, 34, 2), training binned by time,
    test by event number, split as ``load_mnist_sample``; deterministic by ``seed``."""
    from .images import load_mnist_sample

    images = load_mnist_sample(seed=seed, flatten=False)
    rng = np.random.default_rng(seed)

    def frames(xs, split_by):
        duration = 3 * SACCADE_US if split_by == "time" else None
        return np.stack([to_frames(saccade_events(rng, x[..., 0], noise_hz=noise_hz), n_frames, split_by=split_by,
                                   duration_us=duration) for x in xs])

    return Dataset(frames(images.x_train, "time"), images.y_train, frames(images.x_test, "number"), images.y_test,
                   name="event_mnist_sample", n_classes=10)
