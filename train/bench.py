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


def run_analog(out_dir: Path, quick: bool = False) -> dict:
    """The analogue-core benchmark; writes ``bench_analog.json`` to ``out_dir``."""
    sizes = (512,) if quick else (512, 2048)
    rows = mvm_benchmark(sizes=sizes, repeats=10 if quick else 30)
    print(f"noisy analogue MVM vs plain x @ w on {jax.devices()[0].platform} "
          f"({len(jax.devices())} device(s))")
    print_table(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"mvm": rows, "platform": jax.devices()[0].platform}
    (out_dir / "bench_analog.json").write_text(json.dumps(result, indent=2))
    return result


BENCHMARKS = {"analog": (run_analog, "noisy analogue MVM vs plain matmul (512 and 2048, batch 1/64/1024)")}
