"""compile: map SqueezeNet 1.1, MobileNetV3-small and ResNet-18 onto budgets of RRAM crossbars.

Reproduces the RRAM-aware compiler of the RRAM-NAS seed (partition, duplicate,
pack on 128 x 128 crossbars; 64 x 64 input, depth-wise split 5, 8 samples
streamed) and compares three strategies (``analog.compiler.mapping``):
``reference`` (bottleneck LP, first fit in a random order), ``greedy``
(latency MILP, conflict-aware packing, fill) and ``search`` (BRKGA over the
placement order). For each network it reports the fewest crossbars without
duplication and, per budget, utilisation and speed-up over the ISAAC-like
mapping (one copy per layer, one crossbar per piece) and over the packed
mapping without duplication on the same budget.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from analog.compiler import CompilerSpec, Mapping, check_placement, compile
from models import cnn
from models.trace import trace
from train import report, study  # report chooses the backend (Agg, or a notebook's inline one)
from train.config import config, field

import matplotlib.pyplot as plt  # noqa: E402  after train.report

DESCRIPTION = "RRAM edge compiler: crossbar budget sweeps (utilisation, speed-up) for SqueezeNet, MobileNetV3-small, ResNet-18"

MODELS = cnn.RNC_NETWORKS
# The RNC abstract's claims: > 80 % utilisation and > 6x over an ISAAC-like mapping across budgets;
# and the reference code's fewest crossbars without duplication (run here, notes h.8).
_PAPER = {"utilisation": 0.80, "speedup": 6.0}
_REFERENCE_MIN_CROSSBARS = {"squeezenet": 47, "mobilenetv3_small": 111, "resnet18": 685}


@config
class Config:
    networks: tuple[str, ...] = field(("squeezenet", "mobilenetv3_small", "resnet18"), choices=MODELS, min_len=1)
    squeezenet_budgets: tuple[int, ...] = field((47, 60, 80, 100, 150, 200), lo=1, min_len=1)
    mobilenetv3_small_budgets: tuple[int, ...] = field((111, 130, 168, 200, 249, 300, 400), lo=1, min_len=1)
    resnet18_budgets: tuple[int, ...] = field((700, 850, 1000, 1400), lo=1, min_len=1)
    image_size: int = field(64, lo=1)
    num_classes: int = field(10, lo=1)
    depthwise_split: int = field(5, lo=1)
    samples: int = field(8, lo=1)
    reference_seed: int = field(123, lo=0)
    search_population: int = field(24, lo=1)
    search_generations: int = field(15, lo=1)
    search_networks: tuple[str, ...] = field(("squeezenet", "mobilenetv3_small"), choices=MODELS, min_len=0)

    def budgets(self, network: str) -> tuple[int, ...]:
        return getattr(self, f"{network}_budgets")

    @classmethod
    def quick(cls) -> "Config":
        return cls(networks=("squeezenet", "mobilenetv3_small"),
                   squeezenet_budgets=(60, 100, 150), mobilenetv3_small_budgets=(130, 249, 400),
                   search_population=12, search_generations=6)


def compiler_spec(cfg: Config) -> CompilerSpec:
    return CompilerSpec(depthwise_split=cfg.depthwise_split, samples=cfg.samples)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _check(mapping: Mapping) -> Mapping:
    problems = check_placement(mapping.pieces, mapping.placement, mapping.spec)
    if problems:
        raise AssertionError(f"invalid mapping: {problems[:3]}")
    return mapping


def sweep_network(name: str, cfg: Config) -> dict:
    """All mappings of one network: {"nodup": {strategy: Mapping}, budget: {...}, "seconds": {...}}."""
    spec = compiler_spec(cfg)
    network = trace(MODELS[name](num_classes=cfg.num_classes),
                    (cfg.image_size, cfg.image_size, 3), name=name)
    search = {"population": cfg.search_population, "generations": cfg.search_generations}
    strategies = ["reference", "greedy"] + (["search"] if name in cfg.search_networks else [])
    out, seconds = {"network": network, "nodup": {}}, {}
    for strategy in strategies:
        seed = cfg.reference_seed if strategy == "reference" else 0
        out["nodup"][strategy] = _check(compile(network, None, spec, strategy, seed=seed,
                                                search_options=search))
    for budget in cfg.budgets(name):
        row = {}
        for strategy in ("reference", "greedy"):
            seed = cfg.reference_seed if strategy == "reference" else 0
            mapping, dt = _timed(compile, network, budget, spec, strategy, seed=seed)
            row[strategy] = _check(mapping)
            seconds.setdefault(strategy, []).append(dt)
        row["nodup"] = _check(compile(network, budget, spec, "greedy", duplicate_layers=False))
        out[budget] = row
    if name in cfg.search_networks:     # the search at the middle budget
        budget = cfg.budgets(name)[len(cfg.budgets(name)) // 2]
        out["search_budget"] = budget
        out[budget]["search"] = _check(compile(network, budget, spec, "search", search_options=search))
    out["seconds"] = {k: float(np.mean(v)) for k, v in seconds.items()}
    return out


def _metrics(name: str, result: dict) -> dict[str, float]:
    nodup = result["nodup"]
    best = min(nodup.values(), key=lambda m: m.n_crossbars)
    metrics = {f"{name}/pieces_nodup": len(best.pieces),
               f"{name}/min_crossbars_nodup": best.n_crossbars,
               f"{name}/utilisation_nodup": best.utilisation}
    for strategy, mapping in nodup.items():
        metrics[f"{name}/{strategy}/min_crossbars_nodup"] = mapping.n_crossbars
    for budget in [k for k in result if isinstance(k, int) and not isinstance(k, bool)]:
        row = result[budget]
        for strategy in ("greedy", "reference", "search"):
            if strategy not in row:
                continue
            m = row[strategy]
            prefix = f"{name}/budget{budget}" + ("" if strategy == "greedy" else f"/{strategy}")
            metrics.update({f"{prefix}/speedup_vs_isaac": m.speedup_vs_isaac,
                            f"{prefix}/speedup_vs_nodup": row["nodup"].latency_s / m.latency_s,
                            f"{prefix}/utilisation": m.utilisation,
                            f"{prefix}/crossbars": m.n_crossbars,
                            f"{prefix}/pieces": len(m.pieces),
                            f"{prefix}/latency_us": 1e6 * m.latency_s})
    for strategy, seconds in result["seconds"].items():
        metrics[f"{name}/{strategy}/compile_seconds"] = seconds
    budgets = [k for k in result if isinstance(k, int) and not isinstance(k, bool)]
    metrics[f"{name}/utilisation/max"] = max(result[b]["greedy"].utilisation for b in budgets)
    metrics[f"{name}/speedup_vs_isaac/max"] = max(result[b]["greedy"].speedup_vs_isaac for b in budgets)
    return metrics


def _table(name: str, result: dict) -> str:
    rows = []
    for budget in [k for k in result if isinstance(k, int) and not isinstance(k, bool)]:
        row = result[budget]
        for strategy in ("reference", "greedy", "search"):
            if strategy in row:
                m = row[strategy]
                rows.append([budget, strategy, len(m.pieces), m.n_crossbars, m.utilisation,
                             1e6 * m.latency_s, m.speedup_vs_isaac,
                             row["nodup"].latency_s / m.latency_s, int(m.copies.max())])
    header = ["budget", "strategy", "pieces", "crossbars used", "utilisation", "latency (us)",
              "speed-up vs ISAAC-like", "speed-up vs no-dup", "max copies"]
    nodup = result["nodup"]
    lines = [f"ISAAC-like (one crossbar per piece): {len(nodup['greedy'].pieces)} crossbars, "
             f"{1e6 * nodup['greedy'].isaac_latency_s:.1f} us for {nodup['greedy'].spec.samples} samples.",
             "Fewest crossbars without duplication: "
             + ", ".join(f"{s} {m.n_crossbars} ({m.utilisation:.1%})" for s, m in nodup.items()) + ".",
             "", report.markdown_table(header, rows)]
    return "\n".join(lines)


def plot_mapping(mapping: Mapping, path: Path, columns: int = 12) -> Path:
    """Crossbars as squares in a grid, pieces as rectangles coloured by layer."""
    n = mapping.placement.crossbar.max() + 1
    rows = -(-n // columns)
    size, gap = mapping.spec.xbar_cols, 0.15 * mapping.spec.xbar_cols
    fig, ax = plt.subplots(figsize=(columns * 0.8, rows * 0.8 + 0.6), dpi=120)
    cmap = plt.get_cmap("turbo")
    n_layers = len(mapping.network.layers)
    for k in range(n):
        x0, y0 = (k % columns) * (size + gap), -(k // columns) * (size + gap)
        ax.add_patch(plt.Rectangle((x0, y0 - size), size, size, fill=False, lw=0.6, ec="0.4"))
    p, pl = mapping.pieces, mapping.placement
    for i in range(len(p)):
        k = pl.crossbar[i]
        x0, y0 = (k % columns) * (size + gap), -(k // columns) * (size + gap)
        ax.add_patch(plt.Rectangle((x0 + pl.col[i], y0 - pl.row[i] - p.rows[i]), p.cols[i], p.rows[i],
                                   color=cmap(p.layer[i] / max(1, n_layers - 1)), lw=0.2, ec="k"))
    ax.set_xlim(-gap, columns * (size + gap))
    ax.set_ylim(-rows * (size + gap), gap)
    ax.set_aspect("equal")
    ax.axis("off")
    budget = f"budget {mapping.budget}" if mapping.budget else "fewest crossbars"
    ax.set_title(f"{mapping.network.name}: {len(p)} pieces on {mapping.n_crossbars} crossbars "
                 f"({budget}, utilisation {mapping.utilisation:.0%}); colour = layer", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plots(out_dir: Path, results: dict) -> None:
    for metric, ylabel, fname, hlines in (
            ("utilisation", "utilisation of the budget", "utilisation.png", {"80 %": 0.8}),
            ("speedup_vs_isaac", "speed-up over ISAAC-like", "speedup.png", {"1x": 1.0, "6x": 6.0})):
        curves = {}
        for name, result in results.items():
            budgets = [k for k in result if isinstance(k, int) and not isinstance(k, bool)]
            for strategy in ("greedy", "reference"):
                values = [getattr(result[b][strategy], metric) for b in budgets]
                curves[f"{name} {strategy}"] = (budgets, values)
        report.line_plot(out_dir / fname, curves, "crossbar budget", ylabel,
                         logy=metric == "speedup_vs_isaac", hlines=hlines)


def headlines(cfg: Config, m: dict) -> list[study.Headline]:
    """Per network: utilisation above 80 % and speed-up above 6x at some budget (RNC
    abstract), and no more crossbars than the reference code without duplication."""
    rows = []
    for name in cfg.networks:
        rows.append(study.Headline(f"{name}: > 80 % utilisation of a budget", f"{name}/utilisation/max",
                                   m[f"{name}/utilisation/max"], (_PAPER["utilisation"], 1.0),
                                   paper=_PAPER["utilisation"], source="RNC abstract"))
        rows.append(study.Headline(f"{name}: > 6x faster than ISAAC-like", f"{name}/speedup_vs_isaac/max",
                                   m[f"{name}/speedup_vs_isaac/max"], (_PAPER["speedup"], np.inf),
                                   paper=_PAPER["speedup"], source="RNC abstract", unit="x"))
        reference = _REFERENCE_MIN_CROSSBARS[name]
        rows.append(study.Headline(f"{name}: fewest crossbars without duplication <= the reference's",
                                   f"{name}/min_crossbars_nodup", m[f"{name}/min_crossbars_nodup"], (1, reference),
                                   paper=reference, source="RNC reference code, run (notes h.8)"))
    return rows


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, metrics, sections = {}, {}, []
    for name in tqdm(cfg.networks, desc="compile: networks", leave=False):
        results[name] = sweep_network(name, cfg)
        metrics.update(_metrics(name, results[name]))
        sections.append((name, _table(name, results[name])))
    _plots(out_dir, results)
    first = cfg.networks[0]
    budget = results[first].get("search_budget", cfg.budgets(first)[0])
    plot_mapping(results[first][budget]["greedy"], out_dir / f"mapping_{first}_budget{budget}.png")
    plot_mapping(results[first]["nodup"]["greedy"], out_dir / f"mapping_{first}_nodup.png")
    return study.write(out_dir, "RRAM edge compiler: crossbar budgets", cfg, seed, metrics,
                       headlines(cfg, metrics), sections)
