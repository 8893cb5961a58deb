"""Point sets from images and event streams (the inputs of a PointNet++; DEPLM feeds
its random-memristor PointNet++ both kinds): one home for the conversions and their
inverses.

A point set is a float32 array (..., N, 4): columns 0-2 the point's xyz, column 3
its one feature. Coordinates are pixel centres scaled to the unit square centred on
zero: ``(x + 0.5) / W - 0.5`` and ``(y + 0.5) / H - 0.5`` for column x and row y of
an H x W picture, so every coordinate lies in (-0.5, 0.5).

* Pixels (``image_points``): z = 0, feature = intensity in [0, 1] (DEPLM's pixel
  points: intensity, x, y). All pixels in row-major order, or the ``n_points``
  brightest (ties: the lower row-major index first), kept in row-major order.
* Events (``event_points``): z = ``t / duration_us - 0.5`` with t in microseconds
  from the window's start (callers shift the stream there), feature = polarity as
  -1 (OFF) or +1 (ON): zero-mean, and no point reads as "absent". A stream with
  more than ``n_points`` events keeps a uniform random subset (by ``rng``) in time
  order; a shorter one is padded by repeating it from its first event: the points
  are the events in order, then events 0, 1, ... again until ``n_points`` are filled.

The inverses ``points_image`` and ``points_events`` undo these: pixels exactly, and
events' x, y, p exactly and t to the nearest microsecond: t is written as a float32
in [-0.5, 0.5], whose rounding error is at most ``duration_us * 2**-25`` us, so
rounding recovers t exactly for any window shorter than 2**24 us (16.7 s).
"""

from __future__ import annotations

import numpy as np

from .events import EVENT_DTYPE

TIME_ROUNDING = 2.0 ** -25  # |error| of a float32 time coordinate, in units of the window's duration


def _centres(index: np.ndarray, size: int) -> np.ndarray:
    return (index + 0.5) / size - 0.5


def _index(coord: np.ndarray, size: int) -> np.ndarray:
    return np.rint((np.asarray(coord, np.float64) + 0.5) * size - 0.5).astype(np.int64)


def image_points(images: np.ndarray, n_points: int | None = None) -> np.ndarray:
    """Pixel point sets (n, P, 4) float32 of ``images`` (n, H, W) or (n, H, W, 1) in
    [0, 1]: P = H*W (``n_points=None``, every pixel) or the ``n_points`` brightest;
    see the module docstring for the columns."""
    images = np.asarray(images, np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"image_points: images {images.shape}: expected (n, H, W) or (n, H, W, 1)")
    n, h, w = images.shape
    if n_points is not None and not 0 < n_points <= h * w:
        raise ValueError(f"image_points: n_points = {n_points!r} is invalid: allowed 1 .. {h * w} (H*W)")
    flat = images.reshape(n, h * w)
    keep = np.broadcast_to(np.arange(h * w), (n, h * w))
    if n_points is not None:
        keep = np.sort(np.argsort(-flat, axis=1, kind="stable")[:, :n_points], axis=1)
    rows, cols = np.divmod(keep, w)
    out = np.zeros(keep.shape + (4,), np.float32)
    out[..., 0], out[..., 1] = _centres(cols, w), _centres(rows, h)
    out[..., 3] = np.take_along_axis(flat, keep, axis=1)
    return out


def points_image(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Images (n, H, W) float32 of pixel point sets (n, P, 4) on an H x W grid
    (``shape``): each point's feature at its pixel, zero where no point lies (the
    exact inverse of ``image_points``)."""
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 4:
        raise ValueError(f"points_image: points {points.shape}: expected (n, P, 4)")
    h, w = shape
    rows, cols = _index(points[..., 1], h), _index(points[..., 0], w)
    if rows.size and (rows.min() < 0 or rows.max() >= h or cols.min() < 0 or cols.max() >= w):
        raise ValueError(f"points_image: points lie outside the {h} x {w} grid")
    out = np.zeros((len(points), h, w), np.float32)
    out[np.arange(len(points))[:, None], rows, cols] = points[..., 3]
    return out


def _choose(rng: np.random.Generator | None, n_events: int, n_points: int) -> np.ndarray:
    if n_events >= n_points:
        if n_events == n_points:
            return np.arange(n_events)
        if rng is None:
            raise ValueError(f"event_points: {n_events} events > n_points = {n_points}: pass rng to subsample")
        return np.sort(rng.choice(n_events, n_points, replace=False))
    return np.arange(n_points) % n_events


def event_points(events: np.ndarray, n_points: int, sensor: tuple[int, int], duration_us: float | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Event point set (n_points, 4) float32 of ``events`` (EVENT_DTYPE, time-sorted,
    t in us from the window's start) on a ``sensor`` of (H, W) pixels over a window
    of ``duration_us`` (None: the last event's t + 1, as ``to_frames``); ``rng``
    picks the subset when there are more events than ``n_points`` (module docstring)."""
    if len(events) == 0:
        raise ValueError("event_points: no events to make points of")
    h, w = sensor
    if events["x"].min() < 0 or events["x"].max() >= w or events["y"].min() < 0 or events["y"].max() >= h:
        raise ValueError(f"event_points: events lie outside the {h} x {w} sensor")
    duration = float(duration_us if duration_us is not None else events["t"].max() + 1)
    if events["t"].min() < 0 or events["t"].max() > duration:
        raise ValueError(f"event_points: event times {events['t'].min()} .. {events['t'].max()} us lie outside "
                         f"the window [0, {duration:g}] us")
    chosen = events[_choose(rng, len(events), n_points)]
    out = np.empty((n_points, 4), np.float32)
    out[:, 0], out[:, 1] = _centres(chosen["x"], w), _centres(chosen["y"], h)
    out[:, 2] = chosen["t"] / duration - 0.5
    out[:, 3] = np.where(chosen["p"] > 0, 1.0, -1.0)
    return out


def points_events(points: np.ndarray, sensor: tuple[int, int], duration_us: float) -> np.ndarray:
    """Events (EVENT_DTYPE, one per point, in the points' order) of an event point
    set (N, 4) on a ``sensor`` of (H, W) pixels over ``duration_us``: the inverse of
    ``event_points`` (t to the nearest us; see the module docstring)."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[-1] != 4:
        raise ValueError(f"points_events: points {points.shape}: expected (N, 4)")
    h, w = sensor
    out = np.zeros(len(points), EVENT_DTYPE)
    out["x"], out["y"] = _index(points[:, 0], w), _index(points[:, 1], h)
    out["t"] = np.rint((points[:, 2].astype(np.float64) + 0.5) * float(duration_us))
    out["p"] = points[:, 3] > 0
    return out
