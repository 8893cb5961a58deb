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

DVS128 Gesture (Amir et al. 2017; 11 classes, ``GESTURES``) has an emulator and a
loader; both give event point sets (``train.data.points.event_points``: xyz = x, y,
t scaled to (-0.5, 0.5), feature = polarity -1/+1), DEPLM's PointNet++ input.

``gesture_events`` renders a subject's moving forearms (thick bright segments with
a round hand, on a dark background) on a sensor of ``GESTURE_SENSOR`` = 64 x 64
pixels by default (DVS128 is 128 x 128, ``DVS128_SENSOR``; 64 x 64 is about three
times faster and keeps the shapes), one frame every ``GESTURE_STEP_US`` = 10 ms
over a ``GESTURE_US`` = 1 s window, through ``events_from_frames`` (each event's
time then spread uniformly over the step that made it) plus background noise. The subject faces the sensor, so
their right arm is on the image's left; "clockwise" is as the sensor sees it (y
down). Every sample draws its own position (+-8% of the sensor), size (+-15%),
amplitude (+-20%), speed (0.8-1.25x) and phase; "other" moves both hands along
random smooth tracks. Static statistics (where the events fall) tell most classes
apart but not clockwise from counter-clockwise: that takes the events' order in time.

The release (``DvsGesture/``) holds AEDAT 3.1 recordings ``userNN_<lighting>.aedat``,
each with ``userNN_<lighting>_labels.csv`` (``class,startTime_usec,endTime_usec``,
classes 1 .. 11), and the lists ``trials_to_train.txt`` / ``trials_to_test.txt``. An
AEDAT 3.1 file is ASCII header lines starting with '#' (the first '#!AER-DAT3.1',
the last '#!END-HEADER\r\n'), then packets: a 28-byte little-endian header (int16
eventType, int16 eventSource, int32 eventSize, eventTSOffset, eventTSOverflow,
eventCapacity, eventNumber, eventValid) and eventNumber * eventSize bytes. Polarity
events (eventType 1, 8 bytes) are uint32 data (bit 0 valid, bit 1 polarity, bits
2-16 y, bits 17-31 x) and a uint32 time stamp (us; the full time is eventTSOverflow
<< 31 | time stamp); invalid events and other types are skipped. Addresses are kept
as recorded: DVS128 (jAER's convention) counts y from the bottom row, so a frame
drawn with row = y is upside down; nothing here flips it. ``load_dvs_gesture`` cuts
``windows_per_gesture`` windows of ``window_us`` (default one of 0.5 s, centred on the
gesture) spread evenly over each labelled gesture, each clipped to the gesture's
own span, with times counted from the window's start; an empty window is a
DataError.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from .cache import cached
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
        chunks.append(noise_events(rng, log.shape[1:], times_us[0], times_us[-1], noise_hz))
    events = np.concatenate(chunks) if chunks else np.zeros(0, EVENT_DTYPE)
    return events[np.argsort(events["t"], kind="stable")]


def noise_events(rng: np.random.Generator, shape: tuple[int, int], start_us: float, end_us: float,
                 noise_hz: float) -> np.ndarray:
    """Background-activity events (unsorted) on a sensor of ``shape`` (H, W): a Poisson
    number at ``noise_hz`` per pixel per second over [start_us, end_us], each at a
    uniform pixel, time and polarity."""
    duration_s = (end_us - start_us) * 1e-6
    count = rng.poisson(noise_hz * duration_s * (shape[0] * shape[1]))
    return _events(rng.integers(0, shape[1], count), rng.integers(0, shape[0], count),
                   rng.uniform(start_us, end_us, count).astype(np.int64), rng.random(count) < 0.5)


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
        return _saccade_frames_many(rng, xs[..., 0], n_frames, split_by, duration, noise_hz)

    return Dataset(frames(images.x_train, "time"), images.y_train, frames(images.x_test, "number"), images.y_test,
                   name="event_mnist_sample", n_classes=10)


def _saccade_frames_many(rng: np.random.Generator, images: np.ndarray, n_frames: int, split_by: str,
                         duration_us: float | None, noise_hz: float, chunk: int = 256) -> np.ndarray:
    """``np.stack([to_frames(saccade_events(rng, x, noise_hz=noise_hz), n_frames, split_by=split_by,
    duration_us=duration_us) for x in images])`` bit for bit (the same events, the same
    draws of ``rng`` in the same order), with the pixel model run on ``chunk`` images at
    once: about 20x faster than one image at a time."""
    out = [_saccade_frames_chunk(rng, images[i:i + chunk], n_frames, split_by, duration_us, noise_hz)
           for i in range(0, len(images), chunk)]
    return np.concatenate(out) if out else np.zeros((0, n_frames) + SENSOR + (2,), np.float32)


def _saccade_frames_chunk(rng, images, n_frames, split_by, duration_us, noise_hz, threshold=THRESHOLD,
                          refractory_us=1000.0, steps_per_saccade=20, eps=0.1):
    if split_by not in ("time", "number"):
        raise ValueError(f"to_frames: split_by = {split_by!r} is invalid: allowed 'time', 'number'")
    n_images = len(images)
    # saccade_frames of every image at once (the same shifts along the image axis: none)
    h, w = images.shape[1:]
    pad_y, pad_x = SENSOR[0] - h, SENSOR[1] - w
    canvas = np.pad(np.asarray(images, np.float64),
                    ((0, 0), (pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)))
    canvas = np.roll(canvas, (-2, -2), axis=(1, 2))
    offsets = [np.array(SACCADES[0])]
    for start, end in zip(SACCADES[:-1], SACCADES[1:]):
        for k in range(1, steps_per_saccade + 1):
            offsets.append(np.array(start) + (np.array(end) - np.array(start)) * k / steps_per_saccade)
    times = (np.arange(len(offsets)) * (SACCADE_US / steps_per_saccade)).astype(np.int64)
    shifted = lambda o: ndimage.shift(canvas, (0.0, o[0], o[1]), order=1, mode="constant")
    # events_from_frames, every image at once; events in each image's own order (steps, then row-major)
    reference = np.log(eps + shifted(offsets[0]))
    last = np.full(reference.shape, -np.inf)
    parts = []
    for t, offset in zip(times[1:], offsets[1:]):
        level = np.log(eps + shifted(offset))
        crossed = np.trunc((level - reference) / threshold).astype(int)
        fire = (crossed != 0) & (t - last >= refractory_us)
        image, rows, cols = np.nonzero(fire)
        c = crossed[image, rows, cols]
        n = np.abs(c)
        parts.append((np.repeat(image, n), np.repeat(cols, n), np.repeat(rows, n), np.full(n.sum(), t, np.int64),
                      np.repeat(c > 0, n)))
        reference[fire] += crossed[fire] * threshold
        last[fire] = t
    noise = [_events(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))] * n_images
    if noise_hz > 0:  # drawn image after image, as one image at a time draws them
        noise = [noise_events(rng, SENSOR, times[0], times[-1], noise_hz) for _ in range(n_images)]
    image = np.concatenate([p[0] for p in parts] + [np.full(len(e), i) for i, e in enumerate(noise)])
    x = np.concatenate([p[1] for p in parts] + [e["x"].astype(np.int64) for e in noise])
    y = np.concatenate([p[2] for p in parts] + [e["y"].astype(np.int64) for e in noise])
    t = np.concatenate([p[3] for p in parts] + [e["t"] for e in noise])
    p = np.concatenate([p[4] for p in parts] + [e["p"].astype(bool) for e in noise])
    source = np.concatenate([np.zeros(sum(len(q[0]) for q in parts), np.int8)] + [np.ones(len(e), np.int8) for e in noise])
    # each image's events in time order, ties kept in order of emission (a stable sort per image)
    order = np.lexsort((np.arange(len(t)), source, t, image))
    image, x, y, t, p = image[order], x[order], y[order], t[order], p[order]
    counts = np.bincount(image, minlength=n_images)
    frames = np.zeros((n_images, n_frames) + SENSOR + (2,), np.float32)
    if split_by == "time":
        if duration_us is not None:
            end = np.full(n_images, float(duration_us))
        else:
            end = np.full(n_images, -np.inf)
            np.maximum.at(end, image, t.astype(np.float64))
            end = end + 1
        index = np.minimum((t * n_frames / end[image]).astype(int), n_frames - 1)
    else:
        rank = np.arange(len(t)) - np.repeat(np.cumsum(counts) - counts, counts)
        index = rank * n_frames // counts[image]
    keep = (y < SENSOR[0]) & (x < SENSOR[1]) & (index >= 0)
    np.add.at(frames, (image[keep], index[keep], y[keep], x[keep], p[keep].astype(int)), 1.0)
    return frames


# --- DVS128 Gesture: an emulator and the real release's AEDAT 3.1 files -----------------------------------------

GESTURES = ("hand clap", "right hand wave", "left hand wave", "right arm clockwise", "right arm counter-clockwise",
            "left arm clockwise", "left arm counter-clockwise", "arm roll", "air drums", "air guitar", "other")
GESTURE_SENSOR = (64, 64)  # the emulator's default rows, columns (DVS128 is 128 x 128: pass sensor=DVS128_SENSOR)
DVS128_SENSOR = (128, 128)
GESTURE_US = 1_000_000  # the emulator's window
GESTURE_STEP_US = 10_000  # its frame step: the hands move about a pixel per step at most
GESTURE_NOISE_HZ = 0.3  # background events per pixel per second


class _Pose:
    """One sample's subject: chest ``c`` (x, y sensor fractions, y down), size ``s``,
    amplitude ``a`` and phase ``phase``, drawn from ``rng``; ``omega`` draws a speed."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.c = 0.5 + rng.uniform(-0.08, 0.08, 2)
        self.s, self.a, self.phase = rng.uniform(0.85, 1.15), rng.uniform(0.8, 1.2), rng.uniform(0, 2 * np.pi)

    def at(self, dx, dy):
        """The point (dx, dy) subject sizes from the chest."""
        return self.c + self.s * np.array([dx, dy])

    def omega(self, hz: float) -> float:
        """An angular speed (rad/s) about ``hz``, 0.8-1.25x."""
        return 2 * np.pi * hz * self.rng.uniform(0.8, 1.25)


SIDES = (-1.0, 1.0)  # the subject's right, left arm: the image's left, right


def _track(u, x, y):
    """A track (T, 2) of x and y (scalars or (T,) arrays at times u)."""
    return np.stack(np.broadcast_arrays(x, y, u)[:2], 1)


def _circle(u, centre, radius, omega, phase):
    return _track(u, centre[0] + radius * np.cos(omega * u + phase), centre[1] + radius * np.sin(omega * u + phase))


def _clap(p: _Pose, u):  # the hands meet and part at chest height
    gap = 0.03 + 0.06 * p.a * (1 + np.cos(p.omega(2.0) * u + p.phase))
    return [(p.at(0.16 * k, 0.1), _track(u, p.c[0] + k * p.s * gap, p.c[1])) for k in SIDES]


def _wave(p: _Pose, u, k):  # the upright forearm swings about its elbow
    swing = 0.6 * p.a * np.sin(p.omega(2.0) * u + p.phase)
    elbow = p.at(0.2 * k, 0.0)
    return [(elbow, _track(u, elbow[0] + 0.18 * p.s * np.sin(swing), elbow[1] - 0.18 * p.s * np.cos(swing)))]


def _arm_circle(p: _Pose, u, k, turn):  # the whole arm circles; turn +1: clockwise on the image (y down)
    return [(p.at(0.15 * k, -0.15), _circle(u, p.at(0.2 * k, -0.05), 0.14 * p.s * p.a, turn * p.omega(1.2), p.phase))]


def _arm_roll(p: _Pose, u):  # the forearms roll about each other in front of the chest
    omega = p.omega(2.0)
    return [(p.at(0.17 * k, 0.12), _circle(u, p.at(0.0, 0.02), 0.06 * p.s * p.a, omega, p.phase + (k > 0) * np.pi))
            for k in SIDES]


def _air_drums(p: _Pose, u):  # the hands beat up and down in turn
    omega = p.omega(2.5)
    beat = [0.12 + 0.07 * p.a * np.sin(omega * u + p.phase + (k > 0) * np.pi) for k in SIDES]
    return [(p.at(0.2 * k, 0.05), _track(u, p.at(0.1 * k, 0)[0], p.c[1] + p.s * b)) for k, b in zip(SIDES, beat)]


def _air_guitar(p: _Pose, u):  # the right hand strums fast, the left slides slowly along the neck
    strum = _track(u, p.at(-0.06, 0)[0], p.c[1] + p.s * (0.12 + 0.05 * p.a * np.sin(p.omega(4.0) * u + p.phase)))
    slide = _track(u, p.c[0] + p.s * (0.27 + 0.04 * np.sin(p.omega(0.8) * u)), p.at(0, -0.06)[1])
    return [(p.at(-0.2, 0.05), strum), (p.at(0.12, 0.05), slide)]


def _other(p: _Pose, u):  # both hands wander along random smooth tracks
    return [(p.at(0.2 * k, 0.1), p.at(0.12 * k, 0.0) + _wander(p.rng, u, p.s)) for k in SIDES]


_GESTURE_TRACKS = (_clap, lambda p, u: _wave(p, u, -1.0), lambda p, u: _wave(p, u, 1.0),
                   lambda p, u: _arm_circle(p, u, -1.0, 1.0), lambda p, u: _arm_circle(p, u, -1.0, -1.0),
                   lambda p, u: _arm_circle(p, u, 1.0, 1.0), lambda p, u: _arm_circle(p, u, 1.0, -1.0),
                   _arm_roll, _air_drums, _air_guitar, _other)


def _gesture_limbs(rng: np.random.Generator, label: int, u: np.ndarray):
    """The moving forearms of gesture ``label`` at times ``u`` (T,) s: a list of
    (elbow, hand) tracks (T, 2) in sensor fractions, x right and y down, for a
    subject facing the sensor (their right arm on the image's left)."""
    return [(np.broadcast_to(elbow, (len(u), 2)), hand) for elbow, hand in _GESTURE_TRACKS[label](_Pose(rng), u)]


def _wander(rng, u, s):
    """A random smooth track (T, 2): two sinusoids of random frequency per axis."""
    hz = rng.uniform(0.4, 3.0, (2, 2))
    amp = s * rng.uniform(0.02, 0.08, (2, 2))
    phase = rng.uniform(0, 2 * np.pi, (2, 2))
    return np.sum(amp * np.sin(2 * np.pi * hz * u[:, None, None] + phase), axis=2)


def _render_limbs(limbs, shape, width_px: float, brightness: float) -> np.ndarray:
    """Frames (T, H, W) float32 of bright thick forearm segments (``width_px`` thick,
    a one-pixel linear edge) with a round hand at each end on a dark background;
    each limb is drawn only inside the box its track sweeps."""
    h, w = shape
    frames = np.zeros((len(limbs[0][0]), h, w), np.float32)
    for elbow, hand in limbs:
        a, b = elbow * (w, h), hand * (w, h)
        lo = np.maximum(np.floor(np.minimum(a, b).min(0) - width_px - 1), 0).astype(int)
        hi = np.minimum(np.ceil(np.maximum(a, b).max(0) + width_px + 1), (w, h)).astype(int)
        if np.any(hi <= lo):
            continue
        ys, xs = (np.mgrid[lo[1]:hi[1], lo[0]:hi[0]] + 0.5).astype(np.float32)
        box = frames[:, lo[1]:hi[1], lo[0]:hi[0]]
        box[...] = np.maximum(box, _limb_intensity(xs, ys, a, b, width_px))
    return brightness * frames


def _limb_intensity(xs, ys, a, b, width_px):
    """Intensity (T, h, w) in [0, 1] of the segment a -> b (T, 2) px at pixel centres xs, ys."""
    a = a.astype(np.float32)[:, :, None, None]
    d = b.astype(np.float32)[:, :, None, None] - a
    px, py = xs - a[:, 0], ys - a[:, 1]
    along = np.clip((px * d[:, 0] + py * d[:, 1]) / np.maximum(d[:, 0] ** 2 + d[:, 1] ** 2, 1e-6), 0, 1)
    dist = np.hypot(px - along * d[:, 0], py - along * d[:, 1]) - width_px / 2
    palm = np.hypot(px - d[:, 0], py - d[:, 1]) - width_px
    return np.clip(0.5 - np.minimum(dist, palm), 0, 1)


def gesture_events(rng: np.random.Generator, label: int, sensor: tuple[int, int] = GESTURE_SENSOR,
                   duration_us: int = GESTURE_US, step_us: int = GESTURE_STEP_US, noise_hz: float = GESTURE_NOISE_HZ,
                   threshold: float = THRESHOLD, refractory_us: float = 1000.0) -> np.ndarray:
    """DVS128-Gesture-like events (EVENT_DTYPE, time-sorted, t in [0, duration_us])
    of gesture ``label`` (index into ``GESTURES``) on a ``sensor`` (H, W): the
    moving forearms (``_gesture_limbs``: class-specific periodic tracks with random
    phase, speed, amplitude, size and position) rendered every ``step_us`` through
    ``events_from_frames``; each event's time is spread uniformly over the step
    that made it, and background noise is added at ``noise_hz`` per pixel."""
    if not 0 <= label < len(GESTURES):
        raise ValueError(f"gesture_events: label = {label!r} is invalid: allowed 0 .. {len(GESTURES) - 1}")
    times = np.arange(0, duration_us + 1, step_us, dtype=np.int64)
    limbs = _gesture_limbs(rng, label, times * 1e-6)
    frames = _render_limbs(limbs, sensor, 0.045 * min(sensor), 0.8)
    out = events_from_frames(rng, frames, times, threshold, refractory_us)
    out["t"] -= rng.integers(0, step_us, len(out))
    out = np.concatenate([out, noise_events(rng, sensor, 0, duration_us, noise_hz)])
    return out[np.argsort(out["t"], kind="stable")]


def load_gesture_sample(seed: int = 0, n_train: int = 440, n_test: int = 220, n_points: int = 1024,
                        sensor: tuple[int, int] = GESTURE_SENSOR, duration_us: int = GESTURE_US,
                        noise_hz: float = GESTURE_NOISE_HZ, cache_dir=None) -> Dataset:
    """The gesture emulator's stand-in for DVS128 Gesture: ``n_train`` + ``n_test``
    windows (classes balanced, shuffled) of ``gesture_events`` as event point sets
    (n, n_points, 4) float32 (``points.event_points`` over the window), labels int32
    0 .. 10; deterministic by ``seed``; cached under ``cache_dir`` when given."""
    args = {"version": 1, "seed": seed, "n_train": n_train, "n_test": n_test, "n_points": n_points,
            "sensor": list(sensor), "duration_us": duration_us, "noise_hz": noise_hz}
    arrays = cached(cache_dir, "gesture_sample", args, lambda: _gesture_arrays(args))
    return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                   name="gesture_sample", n_classes=len(GESTURES))


def _gesture_arrays(args: dict) -> dict[str, np.ndarray]:
    from .points import event_points  # here, not at the top: points imports this module

    rng = np.random.default_rng(args["seed"])
    out = {}
    for part in ("train", "test"):
        n = args[f"n_{part}"]
        y = rng.permutation(np.arange(n) % len(GESTURES)).astype(np.int32)
        x = [event_points(gesture_events(rng, int(label), tuple(args["sensor"]), args["duration_us"],
                                         noise_hz=args["noise_hz"]), args["n_points"], tuple(args["sensor"]),
                          args["duration_us"], rng) for label in y]
        out[f"x_{part}"], out[f"y_{part}"] = np.stack(x) if n else np.zeros((0, args["n_points"], 4), np.float32), y
    return out


AEDAT_MAGIC = b"#!AER-DAT3"
AEDAT_END_HEADER = b"#!END-HEADER\r\n"
AEDAT_PACKET = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                         ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
AEDAT_POLARITY = 1  # eventType of polarity events (8 bytes: data, timestamp)
DVS_GESTURE_WINDOW_US = 500_000


def read_aedat(path: str | os.PathLike) -> np.ndarray:
    """The valid polarity events (EVENT_DTYPE, time-sorted, t in us since the
    recording's clock start) of one AEDAT 3.1 file (see the DVS128 Gesture section of
    the module docstring); other event types are skipped. Raises DataError naming
    the file on a missing header end or a truncated packet."""
    if not Path(path).is_file():
        raise DataError(f"{path}: AEDAT file does not exist")
    raw = Path(path).read_bytes()
    if not raw.startswith(AEDAT_MAGIC):
        raise DataError(f"{path}: not an AEDAT 3 file (it should start with {AEDAT_MAGIC.decode()!r})")
    end = raw.find(AEDAT_END_HEADER)
    if end < 0:
        raise DataError(f"{path}: AEDAT header has no '#!END-HEADER' line")
    chunks, pos = [], end + len(AEDAT_END_HEADER)
    while pos < len(raw):
        if pos + AEDAT_PACKET.itemsize > len(raw):
            raise DataError(f"{path}: truncated AEDAT packet header at byte {pos}")
        head = np.frombuffer(raw, AEDAT_PACKET, 1, pos)[0]
        body, pos = pos + AEDAT_PACKET.itemsize, pos + AEDAT_PACKET.itemsize + int(head["number"]) * int(head["size"])
        if pos > len(raw) or head["number"] < 0 or head["size"] < 0:
            raise DataError(f"{path}: truncated AEDAT packet at byte {body - AEDAT_PACKET.itemsize}: "
                            f"{head['number']} events of {head['size']} bytes, {len(raw) - body} bytes left")
        if head["type"] == AEDAT_POLARITY:
            chunks.append(_polarity_packet(path, raw, body, head))
    out = np.concatenate(chunks) if chunks else np.zeros(0, EVENT_DTYPE)
    return out[np.argsort(out["t"], kind="stable")]


def _polarity_packet(path, raw: bytes, offset: int, head) -> np.ndarray:
    if head["size"] != 8:
        raise DataError(f"{path}: polarity packet with {head['size']}-byte events (AEDAT 3.1 has 8)")
    words = np.frombuffer(raw, "<u4", 2 * int(head["number"]), offset).reshape(-1, 2).astype(np.int64)
    words = words[(words[:, 0] & 1) == 1]
    t = (int(head["ts_overflow"]) << 31) | (words[:, 1] & 0x7FFFFFFF)
    return _events((words[:, 0] >> 17) & 0x7FFF, (words[:, 0] >> 2) & 0x7FFF, t, (words[:, 0] >> 1) & 1)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"DVS128 Gesture: {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_gesture_labels(path: str | os.PathLike) -> np.ndarray:
    """The labelled gestures of one recording's ``*_labels.csv`` (header
    ``class,startTime_usec,endTime_usec``, classes 1 .. 11): int64 (k, 3) rows of
    (class 0 .. 10, start us, end us)."""
    path = Path(path)
    rows = _read_lines(path)[1:]
    try:
        table = np.array([[int(v) for v in row.split(",")] for row in rows], np.int64).reshape(-1, 3)
    except ValueError as e:
        raise DataError(f"{path}: expected rows of 'class,startTime_usec,endTime_usec' integers ({e})") from e
    if table.size and (table[:, 0].min() < 1 or table[:, 0].max() > len(GESTURES)):
        raise DataError(f"{path}: classes must lie in 1 .. {len(GESTURES)}, found {table[:, 0].min()} .. "
                        f"{table[:, 0].max()}")
    if np.any(table[:, 2] <= table[:, 1]):
        raise DataError(f"{path}: a gesture ends before it starts")
    return table - np.array([1, 0, 0])


def _gesture_windows(path: Path, events: np.ndarray, labels: np.ndarray, window_us: int, per_gesture: int):
    """(events shifted to the window's start, label) of ``per_gesture`` windows of
    ``window_us`` per labelled gesture, centred at (2k + 1) / (2 per_gesture) of its
    span (one: the middle), each clipped to the gesture."""
    for label, start, end in labels:
        for k in range(per_gesture):
            centre = start + (end - start) * (2 * k + 1) // (2 * per_gesture)
            lo, hi = max(start, centre - window_us // 2), min(end, centre - window_us // 2 + window_us)
            part = events[np.searchsorted(events["t"], lo):np.searchsorted(events["t"], hi)].copy()
            if len(part) == 0:
                raise DataError(f"{path}: no events in the window {lo} .. {hi} us of gesture {label + 1}")
            part["t"] -= lo
            yield part, int(label)


def _dvs_split(root: Path, listing: str, n_points: int, window_us: int, per_gesture: int, rng):
    from .points import event_points  # here, not at the top: points imports this module

    x, y = [], []
    for name in _read_lines(root / listing):
        aedat = root / name
        if not aedat.is_file():
            raise DataError(f"DVS128 Gesture: {aedat} (listed in {root / listing}) does not exist")
        labels = read_gesture_labels(root / f"{aedat.stem}_labels.csv")
        for part, label in _gesture_windows(aedat, read_aedat(aedat), labels, window_us, per_gesture):
            x.append(event_points(part, n_points, DVS128_SENSOR, window_us, rng))
            y.append(label)
    return np.stack(x) if x else np.zeros((0, n_points, 4), np.float32), np.array(y, np.int32)


def load_dvs_gesture(data_dir: str | os.PathLike, n_points: int = 1024, window_us: int = DVS_GESTURE_WINDOW_US,
                     windows_per_gesture: int = 1, seed: int = 0) -> Dataset:
    """DVS128 Gesture from its release folder ``data_dir`` (``DvsGesture/`` or its
    parent): the recordings listed in ``trials_to_train.txt`` / ``trials_to_test.txt``,
    ``windows_per_gesture`` windows of ``window_us`` per labelled gesture (module
    docstring) as event point sets (n, n_points, 4) float32 on the 128 x 128 sensor,
    labels int32 0 .. 10; the subsets of points are deterministic by ``seed``."""
    root = Path(data_dir)
    if (root / "DvsGesture").is_dir():
        root = root / "DvsGesture"
    if not root.is_dir():
        raise DataError(f"DVS128 Gesture folder {str(root)!r} does not exist")
    if window_us <= 0 or windows_per_gesture < 1:
        raise DataError(f"DVS128 Gesture: window_us = {window_us!r} and windows_per_gesture = "
                        f"{windows_per_gesture!r} must be positive")
    rng = np.random.default_rng(seed)
    x_train, y_train = _dvs_split(root, "trials_to_train.txt", n_points, window_us, windows_per_gesture, rng)
    x_test, y_test = _dvs_split(root, "trials_to_test.txt", n_points, window_us, windows_per_gesture, rng)
    return Dataset(x_train, y_train, x_test, y_test, name="dvs_gesture", n_classes=len(GESTURES))
