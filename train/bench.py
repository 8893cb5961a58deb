"""Benchmarks: speed reported as ratios against a baseline measured in the same run.

``python -m train bench analog`` times a noisy analogue MVM (programming noise
already applied; fresh read noise and an 8-bit ADC on every call) against a
plain ``x @ w`` of the same size, and prints a table and writes JSON.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp

from analog import crossbar
from analog.converters import ADC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM


def median_time(fn: Callable, *args, repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time (s) of ``fn(*args)`` after ``warmup`` calls (compilation excluded)."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mvm_benchmark(sizes=(512,), batches=(1, 64, 1024), repeats: int = 30) -> list[dict]:
    """Noisy analogue MVM against plain ``x @ w``; one row per (size, batch)."""
    spec = CrossbarSpec(device=RRAM(prog_sigma=2e-6, read_sigma_rel=0.02), adc=ADC(bits=8))
    plain = jax.jit(lambda x, w: x @ w)
    noisy = jax.jit(lambda key, arr, x: crossbar.mvm(key, arr, x, spec))
    rows = []
    for n in sizes:
        key = jax.random.PRNGKey(n)
        w = jax.random.normal(key, (n, n)) / jnp.sqrt(n)
        arr = crossbar.program(key, w, spec)
        for batch in batches:
            x = jax.random.normal(jax.random.fold_in(key, batch), (batch, n))
            t_plain = median_time(plain, x, w, repeats=repeats)
            t_noisy = median_time(noisy, key, arr, x, repeats=repeats)
            rows.append({"size": n, "batch": batch, "plain_ms": 1e3 * t_plain,
                         "noisy_ms": 1e3 * t_noisy, "ratio": t_noisy / t_plain})
    return rows


def print_table(rows: list[dict]) -> None:
    keys = list(rows[0])
    print(" | ".join(f"{k:>10}" for k in keys))
    for row in rows:
        print(" | ".join(f"{v:>10.3f}" if isinstance(v, float) else f"{v:>10}" for v in row.values()))


def montecarlo_benchmark(n_chips: int = 1000, n_loop: int = 50, n_memory: int = 10_000) -> dict:
    """analog-mlp on digits: chips/s of the vmapped, chunked Monte Carlo against a
    Python loop of jitted single-chip calls, and the peak RSS of an ``n_memory``-chip run."""
    import resource

    from models.mlp import AnalogMLP
    from train import data, montecarlo
    from train.experiments import analog_mlp

    cfg = analog_mlp.Config()
    ds = data.load("digits")
    x, y = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    model = AnalogMLP((128,), 10, spec=analog_mlp.programmed_spec(cfg).ideal())
    params = model.init(jax.random.PRNGKey(0), x[:1])["params"]
    metric = analog_mlp.chip_accuracy(128, 10, lambda s: analog_mlp.programmed_spec(cfg, s * 60e-6), x, y)
    sigma = jnp.float32(0.05)
    keys = montecarlo.chip_keys(0, n_chips)
    run = lambda k: montecarlo.evaluate(metric, k, params, sigma, chunk_size=250, progress=False)
    run(keys[:250])  # compile
    start = time.perf_counter()
    vmapped = run(keys)
    t_vmap = time.perf_counter() - start
    single = jax.jit(metric)
    single(keys[0], params, sigma).block_until_ready()
    start = time.perf_counter()
    looped = [float(single(k, params, sigma)) for k in keys[:n_loop]]
    t_loop = time.perf_counter() - start
    assert abs(sum(looped) / n_loop - float(vmapped[:n_loop].mean())) < 1e-6
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    run(montecarlo.chip_keys(1, n_memory))
    t_memory = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "chips_per_s_vmapped": n_chips / t_vmap,
        "chips_per_s_loop": n_loop / t_loop,
        "speedup_vmapped_vs_loop": (n_chips / t_vmap) / (n_loop / t_loop),
        f"seconds_{n_memory}_chips": t_memory,
        "peak_rss_mib_before": rss_before,
        f"peak_rss_mib_after_{n_memory}_chips": rss_after,
    }


def run_analog(out_dir: Path, quick: bool = False) -> dict:
    """The analogue-core benchmark; writes ``bench_analog.json`` to ``out_dir``."""
    sizes = (512,) if quick else (512, 2048)
    rows = mvm_benchmark(sizes=sizes, repeats=10 if quick else 30)
    print(f"noisy analogue MVM vs plain x @ w on {jax.devices()[0].platform} "
          f"({len(jax.devices())} device(s))")
    print_table(rows)
    mc = montecarlo_benchmark(n_chips=500 if quick else 1000, n_memory=2000 if quick else 10_000)
    print("Monte Carlo, analog-mlp on digits (8-bit DAC/ADC, 5 % programming noise):")
    for name, value in mc.items():
        print(f"  {name:<34} {value:10.2f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"mvm": rows, "montecarlo": mc, "platform": jax.devices()[0].platform}
    (out_dir / "bench_analog.json").write_text(json.dumps(result, indent=2))
    return result


def wall_time(fn: Callable, *args, repeats: int = 3, **kwargs) -> float:
    """Median wall time (s) of a plain-Python call ``fn(*args, **kwargs)`` after one warm-up."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compile_benchmark(cases=(("mobilenetv3_small", 168), ("squeezenet", 100)), repeats: int = 3) -> list[dict]:
    """Seconds to compile and evaluate a network at one budget: the greedy strategy
    against the reference strategy (bottleneck LP, random first fit) in the same run,
    and the share of it spent in the pipeline-latency evaluation."""
    from analog.compiler import compile, pipeline_latency
    from models.trace import trace
    from train.experiments.edge_compile import MODELS

    rows = []
    for name, budget in cases:
        network = trace(MODELS[name](num_classes=10), (64, 64, 3), name=name)
        greedy = wall_time(compile, network, budget, repeats=repeats)
        reference = wall_time(compile, network, budget, strategy="reference", seed=123, repeats=repeats)
        mapping = compile(network, budget)
        latency = wall_time(pipeline_latency, mapping.pieces, mapping.copies,
                            mapping.placement.crossbar, mapping.spec.samples, repeats=repeats)
        rows.append({"network": name, "budget": budget, "pieces": len(mapping.pieces),
                     "greedy_s": greedy, "reference_s": reference, "ratio": greedy / reference,
                     "latency_eval_ms": 1e3 * latency, "speedup_vs_isaac": mapping.speedup_vs_isaac})
    return rows


def run_compile(out_dir: Path, quick: bool = False) -> dict:
    """The edge-compiler benchmark; writes ``bench_compile.json`` to ``out_dir``."""
    rows = compile_benchmark(repeats=1 if quick else 3)
    print("compile + evaluate at one budget (s): greedy vs the reference strategy, same run")
    print_table(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench_compile.json").write_text(json.dumps(rows, indent=2))
    return {"compile": rows}


BENCHMARKS = {
    "analog": (run_analog, "noisy MVM vs plain matmul; Monte Carlo chips/s vs a Python loop; 10k-chip memory"),
    "compile": (run_compile, "edge compiler: seconds to compile MobileNetV3-small / SqueezeNet at one budget"),
}
