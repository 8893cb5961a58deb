"""What a run leaves behind: ``metrics.json``, ``results.md`` and PNG plots.

Plot kinds, one function each, shared by every experiment: ``band_plot``
(median and 5-95 % band per curve), ``line_plot``, ``histogram``, ``bar_plot``
(grouped bars), ``heatmap`` (rows x columns, annotated), ``scatter_plot`` (with an
optional Pareto front), ``image_grid`` (reconstructions beside truth). Each takes
the output path first and returns it; axis labels carry units.
"""

from __future__ import annotations

import json
import math
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import matplotlib

if "inline" not in str(matplotlib.rcParams["backend"]):  # a notebook keeps its inline figures
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from train.config import as_dict  # noqa: E402

_PACKAGES = ("jax", "jaxlib", "flax", "optax", "diffrax", "numpy", "memristax")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` if it has changes), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _number(value: Any) -> float:
    value = float(np.asarray(value))
    return value if math.isfinite(value) else float("nan")


def write_metrics(out_dir: Path, metrics: dict[str, Any], config: Any, seed: int,
                  extra: dict[str, Any] | None = None) -> Path:
    """Write ``metrics.json``: flat metric names to numbers, plus config, seed, versions,
    commit and any ``extra`` entries (e.g. the headline rows of ``train.study``)."""
    payload = {
        "metrics": {name: _number(value) for name, value in sorted(metrics.items())},
        **(extra or {}),
        "config": as_dict(config),
        "seed": seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats printed with 4 significant digits."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(out_dir: Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write ``results.md``: a title and (heading, markdown body) sections."""
    text = [f"# {title}", ""]
    for heading, body in sections:
        text += [f"## {heading}", "", body, ""]
    path = Path(out_dir) / "results.md"
    path.write_text("\n".join(text))
    return path


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend: bool = True) -> Path:
    """Label, grid, legend, save and close a figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def band_plot(path: Path, x, curves: dict[str, np.ndarray], xlabel: str, ylabel: str,
              title: str = "", logx: bool = False) -> Path:
    """Median line and 5-95 % band per curve; ``curves[name]`` is (len(x), n_chips)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for name, values in curves.items():
        values = np.asarray(values)
        median = np.median(values, axis=1)
        lo, hi = np.quantile(values, [0.05, 0.95], axis=1)
        (line,) = ax.plot(x, median, marker="o", label=name)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2)
    if logx:
        ax.set_xscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title)


def line_plot(path: Path, curves: dict[str, tuple], xlabel: str, ylabel: str, title: str = "",
              logy: bool = False, hlines: dict[str, float] | None = None, logx: bool = False) -> Path:
    """One marked line per curve, ``curves[name] = (x, y)``; dashed reference lines
    ``hlines[label] = y``; ``logx`` / ``logy`` put that axis on a log scale."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for name, (x, y) in curves.items():
        ax.plot(x, y, marker="o", label=name)
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="0.4", ls="--", lw=0.8, label=label)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title)


def histogram(path: Path, samples: dict[str, np.ndarray], xlabel: str, ylabel: str = "chips", title: str = "",
              bins: int = 30, logx: bool = False, logy: bool = False, vlines: dict[str, float] | None = None) -> Path:
    """Overlaid histograms, one per ``samples[name]`` (1-D), shared bins; dashed
    reference lines ``vlines[label] = x``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    values = [np.asarray(v, np.float64).ravel() for v in samples.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(1)
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if logx:
        lo = max(lo, finite[finite > 0].min() if np.any(finite > 0) else 1e-12)
        edges = np.geomspace(lo, max(hi, lo * 1.0001), bins + 1)
        ax.set_xscale("log")
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for name, v in zip(samples, values):
        ax.hist(v[np.isfinite(v)], bins=edges, alpha=0.5, label=name)
    for label, x in (vlines or {}).items():
        ax.axvline(x, color="0.3", ls="--", lw=0.8, label=label)
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title)


def bar_plot(path: Path, groups: Sequence[str], series: dict[str, Sequence[float]], ylabel: str,
             title: str = "", errors: dict[str, Sequence[float]] | None = None, logy: bool = False,
             hlines: dict[str, float] | None = None) -> Path:
    """Grouped bars: one group per label in ``groups``, one bar per series
    (``series[name][i]`` for group i), optional error bars ``errors[name]``."""
    fig, ax = plt.subplots(figsize=(max(5.5, 0.9 * len(groups) * max(1, len(series)) * 0.5), 3.8), dpi=120)
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series.items()):
        err = None if errors is None or name not in errors else errors[name]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, yerr=err, label=name, capsize=2)
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="0.3", ls="--", lw=0.8, label=label)
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, path, "", ylabel, title)


def heatmap(path: Path, values: np.ndarray, rows: Sequence[str], columns: Sequence[str], label: str,
            title: str = "", fmt: str = "{:.3g}", cmap: str = "viridis", marks: np.ndarray | None = None,
            mark: str = "×", vmin: float | None = None, vmax: float | None = None) -> Path:
    """A rows x columns grid of ``values`` (e.g. systems x device presets), each cell
    annotated (``mark`` appended where the boolean grid ``marks`` is set); NaN cells
    are left blank."""
    values = np.asarray(values, np.float64)
    if values.shape != (len(rows), len(columns)):
        raise ValueError(f"values has shape {values.shape}: expected ({len(rows)}, {len(columns)})")
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(columns), 1.0 + 0.45 * len(rows)), dpi=120)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, label=label)
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            text = fmt.format(v) + (mark if marks is not None and marks[i, j] else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if v < middle else "black")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    """Lay out, save and close a figure."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pareto_front(points: np.ndarray, sort_by: int = 0) -> np.ndarray:
    """The distinct points (n, 2) no other point beats in both coordinates (both
    maximised), sorted by coordinate ``sort_by``."""
    points = np.unique(np.asarray(points, np.float64).reshape(-1, 2), axis=0)
    keep = [not np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1)) for p in points]
    front = points[np.array(keep, dtype=bool)] if len(points) else points
    return front[np.argsort(front[:, sort_by])]


def scatter_plot(path: Path, clouds: dict[str, np.ndarray], xlabel: str, ylabel: str, title: str = "",
                 front: bool = False, marked: dict[str, tuple[float, float]] | None = None,
                 logx: bool = False, logy: bool = False) -> Path:
    """Scatter of point clouds ``clouds[name]`` (n, 2); ``front`` draws each cloud's
    Pareto front (both axes maximised); ``marked[label] = (x, y)`` stars a point."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=120)
    for name, points in clouds.items():
        points = np.asarray(points, np.float64).reshape(-1, 2)
        (dots,) = ax.plot(points[:, 0], points[:, 1], "o", ms=3, alpha=0.5, label=name)
        if front and len(points):
            f = pareto_front(points)
            ax.plot(f[:, 0], f[:, 1], "-", color=dots.get_color(), lw=1.2)
    for label, (x, y) in (marked or {}).items():
        ax.plot([x], [y], "*", ms=11, label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title)


def image_grid(path: Path, images: dict[str, Sequence[np.ndarray]], title: str = "", cmap: str = "gray",
               vmin: float | None = None, vmax: float | None = None) -> Path:
    """A grid of images, one row per entry of ``images`` (e.g. "truth", "software",
    "chip"), one column per sample; 2-D arrays use ``cmap`` (shared ``vmin``/``vmax``),
    (H, W, 3) arrays are shown as RGB."""
    names = list(images)
    cols = max(len(images[n]) for n in names)
    fig, axes = plt.subplots(len(names), cols, figsize=(1.6 * cols + 0.8, 1.6 * len(names) + 0.4), dpi=120,
                             squeeze=False)
    for i, name in enumerate(names):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(images[name]):
                image = np.asarray(images[name][j])
                ax.imshow(image, cmap=None if image.ndim == 3 else cmap, vmin=vmin, vmax=vmax)
            else:
                ax.axis("off")
        axes[i, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def panel_plot(path: Path, panels: dict[str, dict[str, tuple]], xlabel: str, ylabel: str, title: str = "",
               columns: int = 2) -> Path:
    """Small multiples: one axes per ``panels[name]``, each with lines ``{curve: (x, y)}``
    (no markers: trajectories, loops); a curve name keeps its colour and style in every
    panel ("truth" solid black, the others dashed in the colour cycle)."""
    names = list(panels)
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.9 * rows), dpi=120, squeeze=False)
    styles: dict[str, dict] = {}
    for ax, name in zip(axes.ravel(), names):
        for curve, (x, y) in panels[name].items():
            if curve not in styles:
                styles[curve] = ({"color": "k", "lw": 1.6} if curve == "truth" else
                                 {"color": f"C{len(styles)}", "lw": 1.2, "ls": "--"})
            ax.plot(x, y, label=curve, **styles[curve])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def space_time(path: Path, fields: dict[str, np.ndarray], t, xlabel: str = "time", ylabel: str = "site",
               label: str = "", title: str = "", cmap: str = "RdBu_r") -> Path:
    """Stacked space-time images ``fields[name]`` (T, n) against times ``t`` (T,), one shared
    colour scale (symmetric about 0) and colour bar."""
    names = list(fields)
    values = [np.asarray(fields[n], np.float64) for n in names]
    limit = max(float(np.nanmax(np.abs(v))) for v in values) or 1.0
    fig, axes = plt.subplots(len(names), 1, figsize=(7.0, 1.6 * len(names) + 0.6), dpi=120, squeeze=False,
                             sharex=True, layout="constrained")
    t = np.asarray(t)
    for ax, name, v in zip(axes[:, 0], names, values):
        image = ax.imshow(v.T, aspect="auto", origin="lower", cmap=cmap, vmin=-limit, vmax=limit,
                          extent=(t[0], t[-1], -0.5, v.shape[1] - 0.5))
        ax.set_ylabel(f"{name}\n{ylabel}", fontsize=8)
    axes[-1, 0].set_xlabel(xlabel)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label=label, shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    plt.close(fig)
    return path
