"""Retinal vessel segmentation: the DRIVE format and a synthetic fundus set.

DRIVE (Staal et al. 2004) holds ``training/`` and ``test/`` folders, each with
``images/NN_{training,test}.tif`` (RGB fundus photographs), ``1st_manual/NN_manual1.gif``
(vessel masks) and ``mask/NN_{training,test}_mask.gif`` (the field of view, FOV).
Both sets go through one pre-processing (``preprocess``): luminance, standardised
inside the FOV, CLAHE (scikit-image), gamma 1.2, scaled to [0, 1].

A Dataset for segmentation holds ``x`` (n, H, W, 1) float32 and ``y`` (n, H, W)
int32: 1 vessel, 0 background, -1 outside the FOV (never scored, never trained on).

``synthetic_fundus`` draws fundus-like RGB images with exact vessel masks:
branching vessel trees grown from an optic disc (random-walk centre lines, widths
shrinking at every branch), darker in green than in red, with varying contrast, on
an orange background with uneven illumination, low-frequency texture and pixel
noise, inside a circular FOV.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from .dataset import DataError, Dataset

OUTSIDE = -1  # label outside the field of view


# ---------------------------------------------------------------------------- pre-processing
def preprocess(rgb: np.ndarray, fov: np.ndarray, gamma: float = 1.2) -> np.ndarray:
    """(H, W, 3) RGB in [0, 1] or [0, 255] and (H, W) bool FOV -> (H, W) float32 in
    [0, 1]: luminance, standardised inside the FOV, CLAHE, gamma, 0 outside the FOV."""
    from skimage import exposure

    rgb = np.asarray(rgb, np.float64)
    gray = rgb @ np.array([0.299, 0.587, 0.114]) / (255.0 if rgb.max() > 1.0 else 1.0)
    inside = gray[fov]
    z = (gray - inside.mean()) / (inside.std() + 1e-8)
    z = np.clip((z - z[fov].min()) / (np.ptp(z[fov]) + 1e-8), 0.0, 1.0)
    out = exposure.equalize_adapthist(z, kernel_size=max(8, min(z.shape) // 8)) ** gamma
    return np.where(fov, out, 0.0).astype(np.float32)


def segmentation_set(images, vessels, fovs, name: str, n_train: int) -> Dataset:
    """Dataset from (n, H, W) pre-processed images, vessel masks and FOVs; the first
    ``n_train`` images train, the rest test."""
    x = np.asarray(images, np.float32)[..., None]
    y = np.where(np.asarray(fovs, bool), np.asarray(vessels, bool).astype(np.int32), OUTSIDE).astype(np.int32)
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], name=name, n_classes=2)


# ---------------------------------------------------------------------------- DRIVE
def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except OSError as e:
        raise DataError(f"{path}: not a readable image ({e})") from e


def _drive_split(root: Path, split: str):
    folder = root / split
    images = sorted((folder / "images").glob("*.tif"))
    if not images:
        raise DataError(f"DRIVE: no images in {str(folder / 'images')!r} (expected NN_{split}.tif)")
    out = []
    for path in images:
        number = path.name.split("_")[0]
        manual, fov = folder / "1st_manual" / f"{number}_manual1.gif", folder / "mask" / f"{number}_{split}_mask.gif"
        for needed in (manual, fov):
            if not needed.is_file():
                raise DataError(f"DRIVE: {str(needed)!r} is missing (the vessel mask or FOV of {path.name})")
        fov_mask = _read_image(fov) > 0
        fov_mask = fov_mask if fov_mask.ndim == 2 else fov_mask[..., 0]
        out.append((preprocess(_read_image(path)[..., :3], fov_mask), _read_image(manual) > 0, fov_mask))
    return out


def load_drive(data_dir: str | os.PathLike, multiple: int = 16) -> Dataset:
    """DRIVE from ``data_dir`` (holding ``training/`` and ``test/``): 20 + 20 images,
    pre-processed, zero-padded (label -1) to a multiple of ``multiple`` pixels."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"DRIVE folder {str(root)!r} does not exist")
    train, test = _drive_split(root, "training"), _drive_split(root, "test")
    images, vessels, fovs = (np.stack(parts) for parts in zip(*(train + test)))
    h, w = images.shape[1:]
    pad = ((0, 0), (0, -h % multiple), (0, -w % multiple))
    return segmentation_set(np.pad(images, pad), np.pad(vessels, pad), np.pad(fovs, pad), "drive", len(train))


# ---------------------------------------------------------------------------- synthetic fundus
def _vessel_segments(rng: np.random.Generator, size: int, disc: np.ndarray, radius: float) -> list[tuple]:
    """Centre-line segments (x0, y0, x1, y1, width px, contrast) of a vessel tree."""
    centre = np.array([size / 2, size / 2])
    step = size / 40
    stack = [(disc.copy(), a, size * rng.uniform(0.022, 0.032), rng.uniform(0.5, 1.0))
             for a in rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, int(rng.integers(4, 7)), endpoint=False)]
    segments = []
    while stack and len(segments) < 4000:
        point, angle, width, contrast = stack.pop()
        for _ in range(int(rng.integers(6, 18))):
            angle += rng.normal(0.0, 0.22)
            nxt = point + step * np.array([np.cos(angle), np.sin(angle)])
            if np.linalg.norm(nxt - centre) > radius:
                break
            segments.append((*point, *nxt, width, contrast))
            point = nxt
        if width * 0.78 >= 1.0:
            for side in (-1.0, 1.0):
                if side > 0 and rng.random() < 0.35:
                    continue  # a vessel ends or continues without a second branch
                stack.append((point.copy(), angle + side * rng.uniform(0.35, 0.9), width * rng.uniform(0.7, 0.85),
                              contrast * rng.uniform(0.8, 1.0)))
    return segments


def _draw_vessels(size: int, segments) -> tuple[np.ndarray, np.ndarray]:
    """(vessel mask (H, W) bool: pixel centre within width / 2 of a centre line,
    darkening (H, W) in [0, 1]: a Gaussian profile across each vessel)."""
    mask = np.zeros((size, size), bool)
    dark = np.zeros((size, size))
    for x0, y0, x1, y1, width, contrast in segments:
        half = width / 2
        lo_x, hi_x = int(max(0, min(x0, x1) - width - 1)), int(min(size, max(x0, x1) + width + 2))
        lo_y, hi_y = int(max(0, min(y0, y1) - width - 1)), int(min(size, max(y0, y1) + width + 2))
        if lo_x >= hi_x or lo_y >= hi_y:
            continue
        yy, xx = np.mgrid[lo_y:hi_y, lo_x:hi_x] + 0.5
        d = np.array([x1 - x0, y1 - y0])
        t = np.clip(((xx - x0) * d[0] + (yy - y0) * d[1]) / max(d @ d, 1e-9), 0.0, 1.0)
        dist = np.hypot(xx - (x0 + t * d[0]), yy - (y0 + t * d[1]))
        mask[lo_y:hi_y, lo_x:hi_x] |= dist <= half
        profile = contrast * np.exp(-0.5 * (dist / max(half * 0.8, 0.35)) ** 2)
        dark[lo_y:hi_y, lo_x:hi_x] = np.maximum(dark[lo_y:hi_y, lo_x:hi_x], profile)
    return mask, dark


def synthetic_fundus(rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic fundus: (RGB (H, W, 3) float in [0, 1], vessels (H, W) bool, FOV (H, W) bool)."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    centre, radius = size / 2, size * 0.47
    fov = np.hypot(xx - centre, yy - centre) <= radius
    side = rng.choice([-1.0, 1.0])
    disc = np.array([centre + side * radius * rng.uniform(0.25, 0.45), centre + rng.normal(0, radius * 0.08)])
    vessels, dark = _draw_vessels(size, _vessel_segments(rng, size, disc, radius))
    vessels &= fov
    gradient = rng.normal(0, 0.12, 2)
    light = (1.0 - 0.35 * (np.hypot(xx - centre, yy - centre) / radius) ** 2
             + gradient[0] * (xx - centre) / radius + gradient[1] * (yy - centre) / radius)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), size / 25)
    texture = 0.08 * texture / (texture.std() + 1e-9)
    optic = 0.5 * np.exp(-0.5 * (np.hypot(xx - disc[0], yy - disc[1]) / (size * 0.045)) ** 2)
    base = np.clip(light + texture, 0.1, 1.4)[..., None] * np.array([0.85, 0.42, 0.2])
    depth = rng.uniform(0.35, 0.6)  # vessel contrast of this image
    absorb = np.array([0.25, 1.0, 0.6])  # vessels are darkest in green
    rgb = base * (1.0 - depth * dark[..., None] * absorb) + optic[..., None] * np.array([0.15, 0.35, 0.25])
    rgb = rgb + rng.normal(0, 0.015, rgb.shape)
    return np.clip(np.where(fov[..., None], rgb, 0.0), 0.0, 1.0), vessels, fov


def load_synthetic_fundus(seed: int = 0, n_train: int = 20, n_test: int = 20, size: int = 128) -> Dataset:
    """``n_train`` + ``n_test`` synthetic fundus images of ``size`` px (DRIVE's 20 + 20),
    pre-processed as DRIVE; deterministic by ``seed``."""
    if size % 16:
        raise DataError(f"synthetic_fundus size = {size!r} is invalid: allowed a multiple of 16 (the U-Net's pooling)")
    rng = np.random.default_rng(seed)
    drawn = [synthetic_fundus(rng, size) for _ in range(n_train + n_test)]
    images = [preprocess(rgb, fov) for rgb, _, fov in drawn]
    return segmentation_set(images, [v for _, v, _ in drawn], [f for _, _, f in drawn], "synthetic_fundus", n_train)


def random_patches(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, n: int, size: int):
    """``n`` random (size x size) patches of images ``x`` (N, H, W, C) and labels ``y``
    (N, H, W) whose centres lie inside the FOV (label >= 0): (n, size, size, C), (n, size, size)."""
    if size > min(x.shape[1:3]):
        raise DataError(f"patch size {size} exceeds the images ({x.shape[1]} x {x.shape[2]})")
    half = size // 2
    inner = np.zeros(y.shape, bool)
    inner[:, half:y.shape[1] - size + half + 1, half:y.shape[2] - size + half + 1] = True
    where = np.argwhere((y >= 0) & inner)
    pick = where[rng.integers(0, len(where), n)]
    xs = np.stack([x[i, r - half:r - half + size, c - half:c - half + size] for i, r, c in pick])
    ys = np.stack([y[i, r - half:r - half + size, c - half:c - half + size] for i, r, c in pick])
    return xs, ys
