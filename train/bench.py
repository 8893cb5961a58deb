"""Benchmarks: speed reported as ratios against a baseline measured in the same run.

``python -m train bench analog`` times a noisy analogue MVM (programming noise
already applied; fresh read noise and an 8-bit ADC on every call) against a
plain ``x @ w`` of the same size, a 100-step time loop on a chip programmed once
against programming at every step, and prints a table and writes JSON.
``python -m train bench hegnn`` times HEGNN's forward pass and training step
against EGNN's (and a Clebsch-Gordan TFN baseline) on the same graphs.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import jraph

from analog import crossbar
from analog.converters import ADC, DAC
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from models import graph


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


def time_loop_benchmark(steps: int = 100, size: int = 512, batch: int = 1, repeats: int = 10) -> dict:
    """A ``steps``-step time loop (``lax.scan``) of one noisy ``size`` x ``size`` AnalogDense:
    reading a chip programmed once against programming a chip at every step (what a
    layer called inside a time loop without a chip did before), as a ratio."""
    from models.chip import program_chip
    from models.layers import AnalogDense

    spec = CrossbarSpec(device=RRAM(prog_sigma=2e-6, read_sigma_rel=0.02), adc=ADC(bits=8))
    layer = AnalogDense(size, spec=spec, use_bias=False)
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (batch, size))
    variables = layer.init({"params": key}, x)
    keys = jax.random.split(key, steps)
    # variables are arguments, not constants of the compiled loops (XLA would constant-fold them)
    once = jax.jit(lambda v, chip, ks: jax.lax.scan(
        lambda c, k: (c, layer.apply({**v, "chip": chip}, x, rngs={"read": k})), None, ks)[1])
    every = jax.jit(lambda v, ks: jax.lax.scan(
        lambda c, k: (c, layer.apply(v, x, rngs={"program": k, "read": k})), None, ks)[1])
    program = jax.jit(lambda v, k: program_chip(layer, v, k, x))
    chip = program(variables, key)
    t_once = median_time(once, variables, chip, keys, repeats=repeats)
    t_every = median_time(every, variables, keys, repeats=repeats)
    t_program = median_time(program, variables, key, repeats=repeats)
    return {"steps": steps, "size": size, "batch": batch, "programmed_once_ms": 1e3 * t_once,
            "program_once_ms": 1e3 * t_program, "programmed_every_step_ms": 1e3 * t_every,
            "ratio_every_step_vs_once": t_every / t_once}


def noisy_compile_benchmark(n_chips: int = 32) -> dict:
    """Seconds to compile a vmapped Monte Carlo of a noisy 40-16-3 MLP on 16-row tiles
    (three row tiles, so a per-tile ADC) with 8-bit DAC and ADC, against the same
    network without converters (one contraction per layer), in the same run."""
    from models.mlp import AnalogMLP

    device = RRAM.analog_20_80(prog_sigma=2e-6, read_sigma_rel=0.02)
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 40))
    keys = jax.random.split(jax.random.PRNGKey(1), n_chips)

    def seconds(spec):
        model = AnalogMLP((16,), 3, spec=spec)
        params = model.init({"params": jax.random.PRNGKey(0)}, x)["params"]
        metric = lambda k, p: jnp.mean(model.apply({"params": p}, x, rngs={"program": k, "read": k}))
        lowered = jax.jit(jax.vmap(metric, in_axes=(0, None))).lower(keys, params)
        start = time.perf_counter()
        lowered.compile()
        return time.perf_counter() - start

    plain = seconds(CrossbarSpec(device=device, tile_rows=16))
    converted = seconds(CrossbarSpec(device=device, tile_rows=16, dac=DAC(8), adc=ADC(8)))
    return {"compile_s_converters": converted, "compile_s_no_converters": plain, "ratio": converted / plain}


def print_table(rows: list[dict]) -> None:
    keys = list(rows[0])
    print(" | ".join(f"{k:>10}" for k in keys))
    for row in rows:
        print(" | ".join(f"{v:>10.3f}" if isinstance(v, float) else f"{v:>10}" for v in row.values()))


def montecarlo_benchmark(n_chips: int = 1000, n_loop: int = 50, n_memory: int = 10_000) -> dict:
    """A 64-128-10 MLP on digits (the analog-mlp study's chip): chips/s of the vmapped,
    chunked Monte Carlo against a Python loop of jitted single-chip calls, and the peak
    RSS of an ``n_memory``-chip run. The ``rram_20_80`` preset at 5 % programming noise."""
    import resource

    from analog import presets
    from models.mlp import AnalogMLP
    from train import data, montecarlo, study
    from train.loop import accuracy

    ds = data.load("digits")
    x, y = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    base = presets.spec("rram_20_80", role="programmed")
    model = AnalogMLP((128,), 10, spec=base.ideal())
    params = model.init(jax.random.PRNGKey(0), x[:1])["params"]

    def metric(key, params, prog_noise):
        spec = base.with_device(prog_sigma=prog_noise * base.device.window)
        logits = AnalogMLP((128,), 10, spec=spec).apply({"params": params}, x, rngs=study.chip_rngs(key))
        return accuracy(logits, y)

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
    loop = time_loop_benchmark(repeats=5 if quick else 10)
    print(f"{loop['steps']}-step time loop, {loop['size']} x {loop['size']} noisy layer, batch {loop['batch']}: "
          f"chip programmed once {loop['programmed_once_ms']:.2f} ms (+ {loop['program_once_ms']:.2f} ms to "
          f"program it), programmed at every step {loop['programmed_every_step_ms']:.2f} ms: "
          f"{loop['ratio_every_step_vs_once']:.1f}x")
    compile_row = noisy_compile_benchmark()
    print(f"compile a vmapped Monte Carlo of a noisy 40-16-3 MLP on 16-row tiles: with 8-bit DAC/ADC "
          f"{compile_row['compile_s_converters']:.1f} s, without {compile_row['compile_s_no_converters']:.1f} s "
          f"({compile_row['ratio']:.1f}x)")
    mc = montecarlo_benchmark(n_chips=500 if quick else 1000, n_memory=2000 if quick else 10_000)
    print("Monte Carlo, a 64-128-10 MLP on digits (rram_20_80: 8-bit DAC/ADC, 5 % programming noise):")
    for name, value in mc.items():
        print(f"  {name:<34} {value:10.2f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"mvm": rows, "time_loop": loop, "compile": compile_row, "montecarlo": mc,
              "platform": jax.devices()[0].platform}
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
    from models.cnn import RNC_NETWORKS
    from models.trace import trace

    rows = []
    for name, budget in cases:
        network = trace(RNC_NETWORKS[name](num_classes=10), (64, 64, 3), name=name)
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


def _nbody_batch(key: jax.Array, n_bodies: int, n_graphs: int) -> jraph.GraphsTuple:
    """``n_graphs`` fully connected ``n_bodies``-body graphs with HEGNN's N-body inputs
    (h (N, 2), x, vel (N, 3), edges [|r|, |r|]); random values: only shapes matter here."""
    topology = graph.complete_graph(n_bodies)
    x, v, h = (jax.random.normal(k, (n_graphs, n_bodies, d)) for k, d in zip(jax.random.split(key, 3), (3, 3, 2)))
    return graph.batch_graph(x, v, h, jnp.asarray(topology.senders), jnp.asarray(topology.receivers),
                                graph.distance_edges)


def hegnn_benchmark(sizes=((5, 100), (100, 4)), degrees=(1, 2, 3, 6), repeats: int = 10,
                    warmup: int = 2) -> list[dict]:
    """Forward pass and Adam training step of EGNN, HEGNN<=L and a TFN baseline; one row
    per (bodies, model), times in ms with ratios against EGNN on the same graphs.

    ``sizes`` are (bodies, graphs per batch) of fully connected graphs. Models: EGNN and
    HEGNN(degrees=0..L) for L in ``degrees`` (hidden 64, 4 layers, as in the paper), and a
    4-layer TFN (``models.tfn``) with 8 channels per degree up to L = 2, so that its node
    state is comparable: 72 floats per node against EGNN's 64 and HEGNN<=2's 64 + 9 (fewer
    scalar channels, but every edge pays a Clebsch-Gordan tensor product with Y_{<=2}).
    The forward pass returns every output; the step minimises the MSE of the predicted
    positions against a target. Graphs are traced arguments of ``jit``; compilation is
    excluded; each model is initialised once (parameters do not depend on the graph size).
    """
    import optax

    from models.hegnn import EGNN, HEGNN
    from models.tfn import TFN

    models = {"egnn": EGNN(hidden=64, n_layers=4)}
    for l in degrees:
        models[f"hegnn(L={l})"] = HEGNN(hidden=64, n_layers=4, degrees=tuple(range(l + 1)))
    models["tfn(L=2,c=8)"] = TFN(hidden=8, max_degree=2, n_layers=4)
    optimizer = optax.adam(1e-3)
    params = {}
    rows = []
    for n_bodies, n_graphs in sizes:
        key = jax.random.PRNGKey(n_bodies)
        graph = _nbody_batch(key, n_bodies, n_graphs)
        target = graph.nodes["x"] + 0.1 * jax.random.normal(jax.random.fold_in(key, 1), graph.nodes["x"].shape)
        for name, model in models.items():
            if name not in params:
                params[name] = jax.jit(model.init)(jax.random.PRNGKey(0), graph)
            forward = jax.jit(model.apply)

            def loss(p, g, x_target, model=model):
                return jnp.mean((model.apply(p, g)[1] - x_target) ** 2)

            @jax.jit
            def step(p, opt_state, g, x_target, loss=loss):
                value, grads = jax.value_and_grad(loss)(p, g, x_target)
                updates, opt_state = optimizer.update(grads, opt_state, p)
                return optax.apply_updates(p, updates), opt_state, value

            p, opt_state = params[name], optimizer.init(params[name])
            t_forward = median_time(forward, p, graph, repeats=repeats, warmup=warmup)
            t_step = median_time(step, p, opt_state, graph, target, repeats=repeats, warmup=warmup)
            rows.append({"bodies": n_bodies, "model": name, "forward_ms": 1e3 * t_forward,
                         "step_ms": 1e3 * t_step})
    for row in rows:
        egnn = next(r for r in rows if r["bodies"] == row["bodies"] and r["model"] == "egnn")
        row["forward_ratio_vs_egnn"] = row["forward_ms"] / egnn["forward_ms"]
        row["step_ratio_vs_egnn"] = row["step_ms"] / egnn["step_ms"]
    return rows


def run_hegnn(out_dir: Path, quick: bool = False) -> dict:
    """The HEGNN speed benchmark; writes ``bench_hegnn.json`` to ``out_dir``.

    Full: HEGNN<=1, 2, 3, 6, 100 graphs at 5 bodies and 4 at 100, 5 repeats (about six
    minutes on 2 CPU cores, most of it compiling). Quick: HEGNN<=3 only, 2 graphs at 100
    bodies, 3 repeats (about three minutes).
    """
    sizes = ((5, 100), (100, 2)) if quick else ((5, 100), (100, 4))
    degrees = (3,) if quick else (1, 2, 3, 6)
    rows = hegnn_benchmark(sizes=sizes, degrees=degrees, repeats=3 if quick else 5, warmup=1)
    batches = ", ".join(f"{g} graphs x {n} bodies" for n, g in sizes)
    print(f"forward pass / Adam step (ms), fully connected graphs ({batches}), "
          f"ratios vs EGNN in the same run, on {jax.devices()[0].platform}")
    print_table(rows)
    verdict = {}
    for n_bodies, _ in sizes:
        row = next(r for r in rows if r["bodies"] == n_bodies and r["model"] == "hegnn(L=3)")
        within = row["forward_ratio_vs_egnn"] <= 2 and row["step_ratio_vs_egnn"] <= 2
        verdict[str(n_bodies)] = within
        print(f"HEGNN(L=3) at {n_bodies} bodies: {'within' if within else 'NOT within'} 2x of EGNN "
              f"(forward {row['forward_ratio_vs_egnn']:.2f}x, step {row['step_ratio_vs_egnn']:.2f}x)")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"rows": rows, "sizes": [{"bodies": n, "graphs": g} for n, g in sizes],
              "hegnn3_within_2x_of_egnn": verdict, "platform": jax.devices()[0].platform}
    (out_dir / "bench_hegnn.json").write_text(json.dumps(result, indent=2))
    return result


BENCHMARKS = {
    "analog": (run_analog, "noisy MVM vs plain matmul; a 100-step loop on a chip programmed once vs every step; "
                           "Monte Carlo chips/s vs a Python loop; 10k-chip memory"),
    "compile": (run_compile, "edge compiler: seconds to compile MobileNetV3-small / SqueezeNet at one budget"),
    "hegnn": (run_hegnn, "HEGNN<=L (L = 1, 2, 3, 6) and a CG TFN vs EGNN: forward / Adam-step ms, 5 and 100 bodies"),
}
