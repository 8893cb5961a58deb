"""What a run leaves behind: ``metrics.json``, ``results.md`` and PNG plots."""

from __future__ import annotations

import json
import math
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import matplotlib

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


def write_metrics(out_dir: Path, metrics: dict[str, Any], config: Any, seed: int) -> Path:
    """Write ``metrics.json``: flat metric names to numbers, plus config, seed, versions, commit."""
    payload = {
        "metrics": {name: _number(value) for name, value in sorted(metrics.items())},
        "config": as_dict(config),
        "seed": seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    path = Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
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


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label, grid, legend, save and close a figure."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


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
