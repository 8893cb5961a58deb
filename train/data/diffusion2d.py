"""The diffusion experiments' embedded data: a 2-D ring of points and rendered letters.

* ``ring(n, radius, std, seed)``: points (n, 2) at radius ~ N(radius, std) and angle
  ~ U(0, 2 pi): the public code's unconditional data set (radius N(0.7, 0.04)).
* ``render_letters(n_per_class, letters, size, seed)``: hand-drawn-like capitals (the paper's
  conditional classes are EMNIST's H, K and U; EMNIST cannot be downloaded here, so the
  project renders them): each letter is a set of strokes (line segments; U's bowl a
  polyline arc) in the unit square, drawn anti-aliased at ``size`` x ``size`` pixels with
  a random stroke width, scale, slant, rotation and shift per image. Intensities in
  [0, 1], ink = 1. ``load_letters`` wraps them in a ``Dataset``.
"""

from __future__ import annotations

import numpy as np

from .dataset import DataError, Dataset

__all__ = ["ring", "render_letters", "load_letters", "LETTER_STROKES"]


def ring(n: int, radius: float = 0.7, std: float = 0.04, seed: int = 0) -> np.ndarray:
    """``n`` points (n, 2) float32 on a noisy ring: radius ~ N(radius, std), angle ~ U(0, 2 pi)."""
    if n < 1:
        raise DataError(f"ring: n = {n} is invalid: allowed >= 1")
    rng = np.random.default_rng(seed)
    r = rng.normal(radius, std, n)
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], 1).astype(np.float32)


def _arc(cx, cy, r, a0, a1, pieces=6):
    a = np.linspace(a0, a1, pieces + 1)
    pts = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)
    return [(tuple(p), tuple(q)) for p, q in zip(pts[:-1], pts[1:])]


# Strokes in a unit square (x right, y up), as segments ((x0, y0), (x1, y1)).
LETTER_STROKES = {
    "H": [((0.2, 0.1), (0.2, 0.9)), ((0.8, 0.1), (0.8, 0.9)), ((0.2, 0.5), (0.8, 0.5))],
    "K": [((0.25, 0.1), (0.25, 0.9)), ((0.25, 0.45), (0.8, 0.9)), ((0.4, 0.58), (0.8, 0.1))],
    "U": [((0.2, 0.9), (0.2, 0.4)), ((0.8, 0.9), (0.8, 0.4))] + _arc(0.5, 0.4, 0.3, np.pi, 2 * np.pi),
    "L": [((0.25, 0.1), (0.25, 0.9)), ((0.25, 0.1), (0.8, 0.1))],
    "T": [((0.15, 0.9), (0.85, 0.9)), ((0.5, 0.9), (0.5, 0.1))],
    "X": [((0.2, 0.1), (0.8, 0.9)), ((0.2, 0.9), (0.8, 0.1))],
}


def _segment_distance(px, py, a, b):
    """Distance of points (px, py) to the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


def _draw(strokes, size: int, rng: np.random.Generator) -> np.ndarray:
    width = rng.uniform(0.09, 0.16)  # stroke width, fraction of the image
    scale = rng.uniform(0.8, 1.0)
    slant, angle = rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)  # shear, rotation (rad)
    shift = rng.uniform(-0.06, 0.06, 2)
    c, s = np.cos(angle), np.sin(angle)
    transform = np.array([[c, -s], [s, c]]) @ np.array([[1.0, slant], [0.0, 1.0]]) * scale

    def place(p):
        q = transform @ (np.asarray(p) - 0.5) + 0.5 + shift
        return float(q[0]), float(q[1])

    centres = (np.arange(size) + 0.5) / size
    px, py = np.meshgrid(centres, centres[::-1])  # row 0 is the top (y = 1)
    d = np.min([_segment_distance(px, py, place(a), place(b)) for a, b in strokes], axis=0)
    return np.clip(0.5 + (width / 2 - d) * size, 0.0, 1.0)  # one-pixel anti-aliased edge


def render_letters(n_per_class: int, letters: str = "HKU", size: int = 12, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` images of each letter: images (n, size, size) float32 in [0, 1], labels (n,)
    int32 (the letter's index in ``letters``), classes interleaved."""
    unknown = [ch for ch in letters if ch not in LETTER_STROKES]
    if unknown or not letters:
        raise DataError(f"render_letters: letters = {letters!r} is invalid: allowed letters of "
                        f"{''.join(LETTER_STROKES)}")
    if n_per_class < 1 or size < 4:
        raise DataError(f"render_letters: n_per_class = {n_per_class}, size = {size} are invalid: allowed >= 1, >= 4")
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(letters)), n_per_class).astype(np.int32)
    images = np.stack([_draw(LETTER_STROKES[letters[k]], size, rng) for k in labels]).astype(np.float32)
    return images, labels


def load_letters(n_train: int = 600, n_test: int = 200, letters: str = "HKU", size: int = 12,
                 seed: int = 0) -> Dataset:
    """Rendered letters as a ``Dataset`` (images (n, size, size, 1); training and test sets
    drawn from different seeds)."""
    x_train, y_train = render_letters(n_train, letters, size, seed)
    x_test, y_test = render_letters(n_test, letters, size, seed + 10_000)
    return Dataset(x_train[..., None], y_train, x_test[..., None], y_test, name="letters", n_classes=len(letters))
