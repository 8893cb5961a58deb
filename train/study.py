"""The experiment face, written once: chip rngs, chip summaries, energy tables,
headline rows, and the two files every run writes.

Metric names are slash paths, most general first: ``acc/hwa/noise0.05/median``,
``mse/egnn/n5``, ``energy/analog_j``, ``energy_ratio/gpu``. A statistic over
chips is the last part (``.../median``, ``.../q05``).

A ``Headline`` is one claim of the paper, stated as a row: the metric, this
run's value with its Monte Carlo spread, the software baseline, the paper's
figure and its source, and the band inside which the claim counts as
reproduced. ``write(...)`` prints the headline table first in ``results.md``
and stores the rows in ``metrics.json`` under ``"headlines"`` (fixed keys, see
``Headline.row``), so ``python -m train reproduce`` can gather every system
without knowing any of them. Whether a claim holds is computed from the
numbers (``Headline.reproduced``), never written as prose.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, presets
from models.chip import chip_arrays
from train import montecarlo, report

__all__ = ["chip_rngs", "chip_summary", "energy_table", "Headline", "headline_table", "write",
           "HEADLINE_KEYS", "verdict", "conduction_macro", "cost_headlines"]

HEADLINE_KEYS = ("claim", "metric", "value", "spread_low", "spread_high", "software", "paper", "source",
                 "band_low", "band_high", "unit", "reproduced")


def chip_rngs(key: jax.Array) -> dict[str, jax.Array]:
    """``{"program": key, "read": fold_in(key, 1)}``: one chip key for one apply."""
    return {"program": key, "read": jax.random.fold_in(key, 1)}


def chip_summary(prefix: str, per_chip, stats: Sequence[str] = ("mean", "std", "median", "q05", "q95")) -> dict:
    """Metrics ``{prefix/stat: value}`` of per-chip values (n_chips,) (``montecarlo.summarize``)."""
    summary = montecarlo.summarize(np.asarray(per_chip))
    return {f"{prefix}/{stat}": summary[stat] for stat in stats}


def energy_table(counts: dict, macro: cost.MacroCosts | None = None,
                 baselines: Sequence[cost.DigitalCosts] | None = None, prefix: str = "") -> tuple[dict, str]:
    """Counted operations priced on ``macro`` (default the 40 nm RRAM macro) against
    digital ``baselines`` (default A100 GPU and desktop CPU).

    Returns metrics ``{prefix}energy/analog_j``, ``latency/analog_s``,
    ``energy/<platform>_j``, ``latency/<platform>_s``, ``energy_ratio/<platform>``,
    ``latency_ratio/<platform>`` (ratios > 1: the analogue macro wins), and a
    markdown table of them.
    """
    macro = cost.MacroCosts.rram_40nm() if macro is None else macro
    baselines = (cost.DigitalCosts.gpu(), cost.DigitalCosts.cpu()) if baselines is None else baselines
    analog = cost.analog_cost(counts, macro)
    metrics = {f"{prefix}energy/analog_j": analog["energy_j"], f"{prefix}latency/analog_s": analog["latency_s"]}
    rows = [[f"analogue ({macro.name}, projected)", analog["energy_j"], analog["latency_s"], 1.0, 1.0]]
    for platform in baselines:
        c = cost.compare(counts, macro, platform)
        name = platform.name
        metrics.update({f"{prefix}energy/{name}_j": c["digital_energy_j"],
                        f"{prefix}latency/{name}_s": c["digital_latency_s"],
                        f"{prefix}energy_ratio/{name}": c["energy_ratio"],
                        f"{prefix}latency_ratio/{name}": c["latency_ratio"]})
        rows.append([f"{name} (same work)", c["digital_energy_j"], c["digital_latency_s"], c["energy_ratio"],
                     c["latency_ratio"]])
    table = report.markdown_table(["platform", "energy (J)", "latency (s)", "energy ratio vs analogue",
                                   "latency ratio vs analogue"], rows)
    return {k: float(v) for k, v in metrics.items()}, table


@dataclasses.dataclass(frozen=True)
class Headline:
    """One claim as a row (see the module doc). ``band = (low, high)``: the claim is
    reproduced when ``low <= value <= high`` (use -inf / inf for one side); None
    values mean "not available" (no software baseline, no figure in the paper)."""

    claim: str
    metric: str
    value: float
    band: tuple[float, float]
    paper: float | None = None
    source: str = ""
    software: float | None = None
    spread: tuple[float, float] | None = None
    unit: str = ""

    def __post_init__(self):
        low, high = self.band
        if not low <= high:
            raise ValueError(f"Headline {self.metric!r}: band = {self.band!r} is invalid: allowed low <= high")

    @property
    def reproduced(self) -> bool | None:
        """Whether the value lies in the band; None when the value is not a number."""
        value = float(self.value)
        if not math.isfinite(value):
            return None
        return bool(self.band[0] <= value <= self.band[1])

    def row(self) -> dict[str, Any]:
        """The fixed machine-readable shape (``HEADLINE_KEYS``) stored in metrics.json."""
        spread = self.spread or (None, None)
        return {"claim": self.claim, "metric": self.metric, "value": _number(self.value),
                "spread_low": _number(spread[0]), "spread_high": _number(spread[1]),
                "software": _number(self.software), "paper": _number(self.paper), "source": self.source,
                "band_low": _number(self.band[0]), "band_high": _number(self.band[1]), "unit": self.unit,
                "reproduced": self.reproduced}


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(np.asarray(value))
    return value if math.isfinite(value) else (None if math.isnan(value) else value)


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}{(' ' + unit) if unit else ''}"


def verdict(reproduced: bool | None) -> str:
    """The table word for a computed verdict."""
    return {True: "yes", False: "no", None: "n/a"}[reproduced]


def headline_table(headlines: Sequence[Headline]) -> str:
    """The markdown headline table: claim, metric, this run [spread], software, paper
    (source), band, reproduced (computed)."""
    rows = []
    for h in headlines:
        run = _fmt(float(h.value), h.unit)
        if h.spread is not None:
            run += f" [{_fmt(h.spread[0])}, {_fmt(h.spread[1])}]"
        paper = _fmt(h.paper, h.unit) + (f" ({h.source})" if h.source else "")
        rows.append([h.claim, f"`{h.metric}`", run, _fmt(h.software, h.unit), paper,
                     f"[{_fmt(h.band[0])}, {_fmt(h.band[1])}]", verdict(h.reproduced)])
    return report.markdown_table(["claim", "metric", "this run [5-95 %]", "software", "paper", "band",
                                  "reproduced"], rows)


def write(out_dir: Path, title: str, config: Any, seed: int, metrics: dict, headlines: Sequence[Headline],
          sections: Sequence[tuple[str, str]]) -> dict:
    """Write ``metrics.json`` (metrics, headline rows, config, seed, versions, commit)
    and ``results.md`` (the headline table first, then ``sections``). Every headline's
    metric must be one of ``metrics``. Returns ``metrics``."""
    missing = [h.metric for h in headlines if h.metric not in metrics]
    if missing:
        raise ValueError(f"headline metric(s) {missing} are not in the metrics")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report.write_metrics(out_dir, metrics, config, seed, extra={"headlines": [h.row() for h in headlines]})
    summary = sum(h.reproduced is True for h in headlines)
    intro = f"{summary} of {len(headlines)} headline claims reproduced within their bands (computed from the metrics)."
    report.write_results(out_dir, title, [("Headline results", intro + "\n\n" + headline_table(headlines)),
                                          *sections])
    return metrics


def read_headlines(out_dir: Path) -> list[dict]:
    """The headline rows of a finished run (``metrics.json``)."""
    return json.loads((Path(out_dir) / "metrics.json").read_text())["headlines"]


# ---------------------------------------------------------------- continuous-time solvers (twin, diffusion)
def conduction_macro(preset_name: str, spec, chip) -> cost.MacroCosts:
    """A continuous-time solve's macro: preset ``preset_name``'s (the 40 nm one when it has none) with
    ``cell_w`` from this chip's cells (``spec``: its CrossbarSpec, for the read voltage): V_read^2 x their mean
    conductance x activity 0.5 [assumed: the mean square input voltage over V_read^2]."""
    macro = presets.get(preset_name).macro or cost.MacroCosts.rram_40nm()
    cells = [jnp.concatenate([a.g_pos.ravel(), a.g_neg.ravel()]) for a in chip_arrays(chip)]
    g_mean = float(jnp.mean(jnp.concatenate(cells)))
    return macro.replace(cell_w=cost.array_power(spec.v_read, g_mean, 1, 1, activity=0.5))


def cost_headlines(m: dict, paper_speedup: float, paper_energy: float, source: str) -> list[Headline]:
    """The two projected-cost headline rows, each reproduced within a factor 2 of the paper's figure."""
    return [Headline("projected speed-up of the analogue solve over a GPU", "speedup_projected/gpu",
                     m["speedup_projected/gpu"], (paper_speedup / 2, paper_speedup * 2), paper=paper_speedup,
                     source=source, unit="x"),
            Headline("projected energy ratio GPU / analogue", "energy_ratio_projected/gpu",
                     m["energy_ratio_projected/gpu"], (paper_energy / 2, paper_energy * 2), paper=paper_energy,
                     source=source, unit="x")]
