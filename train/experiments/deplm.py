"""DEPLM, the random resistive-memory deep extreme point learning machine (Wang et
al., arXiv 2312.09262; Nat. Commun. 2025; code wangsc1912/deplm): the study the
three experiments ``deplm-events``, ``deplm-images`` and ``deplm-parts`` share.

LiDAR clouds, event streams and images all enter as point sets (B, N, 3 + C). One
PointNet++ (``models.pointnet``) runs them in two versions of the same shape:

1. ``trained``: every 1x1 layer a trained kernel (digital, the software baseline),
   Adam with a cosine schedule, best epoch on validation;
2. ``random``: every 1x1 layer the frozen random pair that forming leaves on the
   preset's cells (``taox_40nm_random``: G ~ N(34.06, 5.32) uS, half unformed,
   W = G+ - G-), inputs quantised per vector between their min and max
   (``DAC(input_bits, encoding="offset")``, bit-serial) and 2 % read noise; only
   batch norm, the per-layer scalars and the read-out train. It is trained two ways:
   a. by gradient (Adam, the paper's path) on ``n_train_chips`` chips at once, each
      chip programmed once and read ``n_reads`` times (Monte Carlo over reads);
   b. in closed form (the extreme-learning-machine path): batch-norm statistics
      from forward passes, then a ridge read-out solved in float64 on the host
      (``train.readout``), on ``n_chips`` fresh chips (Monte Carlo over chips).

Training cost is counted, not estimated: the XLA FLOPs of one compiled training
step (``analog.cost.compiled_flops``) times the steps taken. The trained network's
step computes every kernel's gradient; the random network's step (the same shapes
with its kernels constant) computes no weight gradient, and its forward products
run on the arrays, so twice their MACs leave the digital count. The closed-form
path costs the digital part of its two forward epochs (batch-norm statistics, then
features) plus the ridge arithmetic
(``readout.ridge_flops``). ``training_cost_reduction/gradient = 1 - random / trained`` (``/ridge``: the
closed-form path).

Energy per inference: the random network's counted array reads, DAC and ADC
conversions on the 40 nm macro plus its digital work (sampling, grouping, batch
norm, pooling, read-out: the XLA FLOPs of the network less twice its array MACs)
at the macro's digital-op energy, against an A100 computing the whole network
(the XLA FLOPs) at board power.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from analog import cost, presets
from analog.noise import split as noise_keys
from analog.converters import DAC
from analog.crossbar import CrossbarSpec
from models.chip import program_chip
from train import montecarlo, readout, report, study
from train.config import config, field
from models.pointnet import PointClassifier, sa_stages
from train.data import Dataset
from train.fit import fit, make_optimizer, steps_per_epoch
from train.loop import accuracy, cross_entropy

SOURCE = "DEPLM, Wang et al., arXiv 2312.09262 (abstract; code wangsc1912/deplm)"
STATS = ("median", "q05", "q95")
GPU = "a100_fp32"  # cost.DigitalCosts.gpu().name: the digital baseline of the energy headline


@config
class DeplmConfig:
    """The fields every DEPLM experiment shares (each sets its own defaults)."""

    random_device: str = field("taox_40nm_random", choices=presets.names("random"))
    input_bits: int = field(6, lo=1, hi=16)   # DAC bits of the per-vector min-max inputs
    bit_serial: bool = field(True)            # apply them as binary planes (the macro)
    read_noise: float | None = field(None, lo=0.0, hi=1.0)  # relative; None: the preset's (2 %)
    centres: tuple[int, ...] = field((256, 128), lo=1, min_len=1)  # set-abstraction centres per stage
    radii: tuple[float, ...] = field((0.18, 0.081), lo=0.0, lo_open=True, min_len=1)
    neighbours: tuple[int, ...] = field((32, 64), lo=1, min_len=1)
    widths: tuple[int, ...] = field((54, 108, 512), lo=1, min_len=2)  # one per stage, then the group-all stage
    epochs: int = field(200, lo=1)
    batch_size: int = field(64, lo=1)
    lr: float = field(1e-2, lo=0.0, lo_open=True)         # random network: batch norm, scalars, read-out
    weight_lr: float = field(1e-3, lo=0.0, lo_open=True)  # trained network
    ridge_l2: tuple[float, ...] = field((0.1, 1.0, 10.0, 100.0), lo=0.0, lo_open=True, min_len=1)  # L2 weights
    # of the closed-form read-out: each chip keeps the best on validation
    n_train_chips: int = field(4, lo=1)
    n_reads: int = field(1000, lo=1)
    n_chips: int = field(100, lo=1)  # fresh chips of the closed-form path
    train_samples: int | None = field(None, lo=1)
    test_samples: int | None = field(None, lo=1)
    valid_fraction: float = field(0.1, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    eval_batch: int = field(64, lo=1)
    chunk_size: int = field(4, lo=1)
    energy_samples: int = field(8, lo=1)
    ckpt_every: int = field(10, lo=1)

    def validate(self):
        try:
            sa_stages(self.centres, self.radii, self.neighbours, self.widths)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__}: {e}") from None


def stages(cfg) -> tuple:
    """The set-abstraction stages (n_centres, radius, n_neighbours, width), the last group-all."""
    return sa_stages(cfg.centres, cfg.radii, cfg.neighbours, cfg.widths)


def point_spec(cfg, read_noise: float | None = None) -> CrossbarSpec:
    """The random preset read as DEPLM's macro: per-vector min-max inputs of
    ``input_bits`` (bit-serial when ``bit_serial``), read noise ``read_noise``
    (None: the config's, else the preset's)."""
    spec = presets.spec(cfg.random_device, role="random")
    spec = spec.replace(dac=DAC(cfg.input_bits, bit_serial=cfg.bit_serial, encoding="offset"))
    noise = cfg.read_noise if read_noise is None else read_noise
    return spec if noise is None else spec.with_device(read_sigma_rel=noise)


@dataclasses.dataclass(frozen=True)
class PointTask:
    """What an experiment supplies. Batches are tuples of arrays, the inputs first and
    the labels last: (points, labels) or (points, category, parts).

    name: the experiment; metric: the headline score ("acc" or "miou");
    network(kind, spec) -> a ``models.pointnet`` network; loss(logits, labels);
    score(logits, batch) -> {name: scalar}, ``metric`` among them (higher is better);
    targets(batch) -> the class of every read-out row (...) for the closed-form
    read-out, n_targets the classes; readout: the read-out's parameter name;
    paper_*: the paper's figures (energy ratio vs GPU, training-cost reduction)."""

    name: str
    metric: str
    network: Callable
    loss: Callable
    score: Callable
    targets: Callable
    n_targets: int
    readout: str = "readout"
    paper_energy_ratio: float | None = None
    paper_cost_reduction: float | None = None


def classification_task(cfg, name: str, n_classes: int, paper_energy_ratio: float,
                        paper_cost_reduction: float) -> PointTask:
    """A point-set classification task: ``PointClassifier`` on the config's stages, a
    linear read-out, cross-entropy, accuracy."""
    network = lambda kind, spec: PointClassifier(stages(cfg), n_classes, kind=kind, spec=spec)
    return PointTask(name, "acc", network, cross_entropy, lambda logits, batch: {"acc": accuracy(logits, batch[-1])},
                     lambda batch: np.asarray(batch[-1]), n_classes, paper_energy_ratio=paper_energy_ratio,
                     paper_cost_reduction=paper_cost_reduction)


def cut(cfg, train: tuple, test: tuple, seed: int, stratify=None) -> dict:
    """{"train", "valid", "test"} batch tuples: the first ``train_samples`` /
    ``test_samples`` of each split, ``valid_fraction`` of training moved to validation
    (stratified by ``stratify`` (n_train,) when given)."""
    take = lambda split, n: tuple(np.asarray(a[:n] if n else a) for a in split)
    train, test = take(train, cfg.train_samples), take(test, cfg.test_samples)
    index = np.arange(len(train[0]))
    labels = None if stratify is None else np.asarray(stratify)[:len(index)]
    fit_index, valid_index = train_test_split(index, test_size=cfg.valid_fraction, random_state=seed,
                                              stratify=labels)
    return {"train": tuple(a[fit_index] for a in train), "valid": tuple(a[valid_index] for a in train),
            "test": test}


def classification_splits(cfg, ds: Dataset, seed: int) -> dict:
    """Splits of a point-set classification ``Dataset`` (x: (n, N, 3 + C))."""
    return cut(cfg, (ds.x_train, ds.y_train), (ds.x_test, ds.y_test), seed, stratify=ds.y_train)


def _apply(model, variables, batch, rngs, train=False, **kwargs):
    return model.apply(variables, *batch[:-1], rngs=rngs, train=train, **kwargs)


def _loss_fn(task, model):
    def loss_fn(variables, batch, rngs, context):
        logits, updated = _apply(model, variables, batch, rngs, train=True, mutable=["batch_stats"])
        return task.loss(logits, batch[-1]), updated
    return loss_fn


def _evaluate(task, model):
    def evaluate(variables, rngs, eval_data):
        logits = _apply(model, variables, eval_data, rngs)
        return {"score": task.score(logits, eval_data)[task.metric], "loss": task.loss(logits, eval_data[-1])}
    return evaluate


@functools.lru_cache(maxsize=16)
def _init_fn(model):
    """init(key, inputs) of the network, jitted once per network (every chip of a study shares the compile)."""
    return jax.jit(lambda k, inputs: model.init({"params": k, "program": k, "read": k}, *inputs))


def _init(model, batch, key):
    variables = _init_fn(model)(key, tuple(b[:2] for b in batch[:-1]))
    return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}


@functools.lru_cache(maxsize=16)
def _program_fn(model):
    """program(variables, key, inputs) -> one chip of the network, jitted once per network."""
    return jax.jit(lambda v, k, inputs: program_chip(model, v, k, *inputs, train=False))


# ---------------------------------------------------------------------------- training
def train_trained(task, cfg, splits, seed, out_dir):
    """The fully trained PointNet++ (digital); returns (variables, FitResult)."""
    model = task.network("trained", point_spec(cfg).ideal())
    variables = _init(model, splits["train"], jax.random.PRNGKey(seed))
    total = steps_per_epoch(len(splits["train"][0]), cfg.batch_size) * cfg.epochs
    result = fit(_loss_fn(task, model), variables, make_optimizer("adam", cfg.weight_lr, schedule="cosine",
                                                                    total_steps=total),
                 epochs=cfg.epochs, data=splits["train"], batch_size=cfg.batch_size, seed=seed,
                 evaluate=_evaluate(task, model), eval_data=splits["valid"], monitor="score", mode="max",
                 ckpt_dir=Path(out_dir) / "ckpt_trained", ckpt_every=cfg.ckpt_every, desc="trained PointNet++")
    return result.variables, result


def train_random(task, cfg, splits, seed, out_dir):
    """The random network's batch norm, scalars and read-out by gradient on
    ``n_train_chips`` chips at once (``fit`` runs, one fixed chip each).
    Returns (variables with a leading chip axis, chip keys (R, 2), FitResult)."""
    model = task.network("random", point_spec(cfg))
    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 7), cfg.n_train_chips)
    variables = jax.vmap(lambda k: _init(model, splits["train"], k))(keys)
    total = steps_per_epoch(len(splits["train"][0]), cfg.batch_size) * cfg.epochs
    result = fit(_loss_fn(task, model), variables, make_optimizer("adam", cfg.lr, schedule="cosine",
                                                                    total_steps=total),
                 epochs=cfg.epochs, data=splits["train"], batch_size=cfg.batch_size, rng="fixed_chip", seed=seed,
                 program_key=keys, evaluate=_evaluate(task, model), eval_data=splits["valid"], monitor="score",
                 mode="max", runs=cfg.n_train_chips, run_axes=("variables", "program_key"),
                 ckpt_dir=Path(out_dir) / "ckpt_random", ckpt_every=cfg.ckpt_every,
                 desc=f"random PointNet++ on {cfg.n_train_chips} chips")
    return result.variables, keys, result


# ---------------------------------------------------------------------------- Monte Carlo over reads
def program(task, cfg, variables, keys, batch) -> dict:
    """The chips (R of them) of trained random networks, each programmed once."""
    inputs = tuple(b[:1] for b in batch[:-1])
    model = task.network("random", point_spec(cfg))
    run = jax.jit(jax.vmap(lambda v, k: program_chip(model, v, k, *inputs, train=False)))
    return run(variables, keys)


def _parts(batch: tuple, size: int):
    """``batch`` in order, in slices of ``size`` (the last may be shorter)."""
    for start in range(0, len(batch[0]), size):
        yield tuple(b[start:start + size] for b in batch)


def _batched_scores(task, model, variables, batch, rngs, size):
    """``task.score`` over ``batch`` in slices of ``size`` (mean of the slices' scores,
    weighted by their sizes; a python loop at trace time: fixed shapes)."""
    n = len(batch[0])
    totals = None
    for part in _parts(batch, size):
        s = task.score(_apply(model, variables, part, rngs), part)
        s = {k: v * len(part[0]) for k, v in s.items()}
        totals = s if totals is None else {k: totals[k] + s[k] for k in s}
    return {k: v / n for k, v in totals.items()}


def read_scores(task, cfg, on_chip, batch, seed, read_noise=None, desc="reads") -> dict:
    """{score: (n_reads, R)}: every read of every programmed chip (fresh read noise each)."""
    model = task.network("random", point_spec(cfg, read_noise))

    def metric(key, on_chip, batch):
        return jax.vmap(lambda v: _batched_scores(task, model, v, batch, {"read": key}, cfg.eval_batch))(on_chip)

    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 13), cfg.n_reads)
    chunk = max(1, cfg.chunk_size // len(jax.tree.leaves(on_chip)[0]))
    return montecarlo.evaluate(metric, keys, on_chip, batch, chunk_size=chunk, desc=desc)


@functools.lru_cache(maxsize=16)
def _scores_fn(task, model, size):
    """scores(variables, batch, rngs): ``task.score`` over the batch, jitted once per network."""
    return jax.jit(lambda v, b, rngs: _batched_scores(task, model, v, b, rngs, size))


def trained_scores(task, cfg, variables, batch) -> dict:
    model = task.network("trained", point_spec(cfg).ideal())
    return {k: float(v) for k, v in _scores_fn(task, model, cfg.eval_batch)(variables, batch, {}).items()}


# ---------------------------------------------------------------------------- the closed-form path
@functools.lru_cache(maxsize=16)
def _features_fn(task, model):
    """features(variables, batch, read key, train) of the network, jitted once per network."""
    def features(variables, batch, key, train):
        return _apply(model, variables, batch, {"read": key}, train=train, method="features",
                      **({"mutable": ["batch_stats"]} if train else {}))
    return jax.jit(features, static_argnums=3)


def ridge_chip(task, cfg, key, splits) -> tuple[dict, dict, int]:
    """One fresh chip through the closed-form path: program it; one forward epoch of
    the training split for the batch-norm statistics (running averages, momentum 0.9:
    the initial values weigh 0.9^batches); the ridge read-out of the training
    features for every L2 weight of ``ridge_l2``, the best on the validation split
    kept; one read of the test split. Returns (test scores with the chosen ``l2``,
    the variables with the solved read-out, the rows solved)."""
    model = task.network("random", point_spec(cfg))
    train = splits["train"]
    variables = _init(model, train, key)
    inputs = tuple(b[:1] for b in train[:-1])
    chip = _program_fn(model)(variables, key, inputs)
    variables = {**variables, "chip": chip}
    features = _features_fn(task, model)
    read = noise_keys(key, 4)
    for i, part in enumerate(_parts(train, cfg.batch_size)):
        _, updated = features(variables, part, jax.random.fold_in(read[0], i), True)
        variables = {**variables, **updated}
    equations = None
    for i, part in enumerate(_parts(train, cfg.eval_batch)):
        f = np.asarray(features(variables, part, jax.random.fold_in(read[1], i), False))
        equations = equations or readout.NormalEquations(f.shape[-1], task.n_targets)
        equations.add(f, readout.one_hot(task.targets(part), task.n_targets))
    valid = splits["valid"]
    f_valid = np.concatenate([np.asarray(features(variables, part, jax.random.fold_in(read[2], i), False))
                              for i, part in enumerate(_parts(valid, cfg.eval_batch))])
    solutions = [readout.ridge_solve(equations, l2) for l2 in cfg.ridge_l2]
    valid_scores = [float(task.score(jnp.asarray(f_valid @ w + b, jnp.float32), valid)[task.metric])
                    for w, b in solutions]
    best = int(np.argmax(valid_scores))
    kernel, bias = solutions[best]
    params = dict(variables["params"])
    params[task.readout] = {"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}
    variables = {**variables, "params": params}
    scores = _scores_fn(task, model, cfg.eval_batch)(variables, splits["test"], {"read": read[3]})
    return {**{k: float(v) for k, v in scores.items()}, "l2": float(cfg.ridge_l2[best])}, variables, equations.rows


def ridge_scores(task, cfg, splits, seed) -> tuple[dict, int]:
    """{score: (n_chips,)} of the closed-form path on ``n_chips`` fresh chips (and
    each chip's chosen ``l2``), and the rows solved per chip."""
    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 23), cfg.n_chips)
    out, rows = {}, 0
    for key in tqdm(keys, desc="closed-form read-out per chip", unit="chip"):
        scores, _, rows = ridge_chip(task, cfg, key, splits)
        for k, v in scores.items():
            out.setdefault(k, []).append(v)
    return {k: np.asarray(v) for k, v in out.items()}, rows


# ---------------------------------------------------------------------------- counted costs
def _digital_twin(task, cfg):
    """The network as the digital platforms run it: trained kernels, ideal arrays."""
    return task.network("trained", point_spec(cfg).ideal())


def _kernel_constant_step(task, cfg, model, variables, frozen: bool):
    """One optimizer-free gradient step's function of (params, batch): the gradient of
    every parameter (``frozen=False``) or of all but the kernels of the 1x1 layers
    (``frozen=True``: the random network's trainable set; its kernels are constants
    of the step, so XLA computes no weight gradient for them)."""
    loss_fn = _loss_fn(task, model)
    rest = {k: v for k, v in variables.items() if k != "params"}
    constant = lambda path: frozen and path[-1] == "kernel" and "layer" in path

    def step(params, batch):
        flat = flax.traverse_util.flatten_dict(params)
        fixed = {k: v for k, v in flat.items() if constant(k)}
        free = {k: v for k, v in flat.items() if not constant(k)}
        loss = lambda free: loss_fn({"params": flax.traverse_util.unflatten_dict({**fixed, **free}), **rest},
                                    batch, {}, None)[0]
        grads = jax.grad(loss)(free)
        return {k: v - 1e-3 * grads[k] for k, v in free.items()}
    return step


def _forward_macs(model, variables, batch) -> float:
    """MACs of the 1x1 layers (the array products) in one forward pass over ``batch``."""
    counts = jax.jit(lambda v: _apply(model, v, batch, {}, mutable=["cost"])[1]["cost"])(variables)
    return float(cost.collect(jax.device_get(counts)).get("macs", 0.0))


def training_costs(task, cfg, trained_vars, random_vars, trained_steps: int, random_steps: int, splits,
                   ridge_rows: int) -> dict:
    """Counted training FLOPs of the three paths (see the module doc)."""
    model = _digital_twin(task, cfg)
    batch = tuple(b[:cfg.batch_size] for b in splits["train"])
    params = trained_vars["params"]
    full = cost.compiled_flops(_kernel_constant_step(task, cfg, model, trained_vars, False), params, batch)
    frozen = cost.compiled_flops(_kernel_constant_step(task, cfg, model, trained_vars, True), params, batch)
    macs = _forward_macs(model, trained_vars, batch)
    random_step = max(frozen - 2.0 * macs, 0.0)
    forward = cost.compiled_flops(lambda v, b: _apply(model, v, b, {}), trained_vars, batch)
    n_train = len(splits["train"][0])
    features = int(np.prod(jax.eval_shape(lambda v, b: _apply(model, v, b, {}, method="features"), trained_vars,
                                          batch).shape[-1:]))
    ridge = (2 * n_train / len(batch[0])) * max(forward - 2.0 * macs, 0.0) + readout.ridge_flops(
        ridge_rows, features, task.n_targets)
    trained_total, random_total = full * trained_steps, random_step * random_steps
    return {"train_flops/trained_step": full, "train_flops/random_step": random_step,
            "train_flops/random_step_with_array_products": frozen, "train_flops/array_macs_per_step": macs,
            "train_flops/trained": trained_total, "train_flops/random": random_total, "train_flops/ridge": ridge,
            "train_steps/trained": float(trained_steps), "train_steps/random": float(random_steps),
            "training_cost_reduction/gradient": 1.0 - random_total / trained_total,
            "training_cost_reduction/ridge": 1.0 - ridge / trained_total,
            "params/trained": float(_size(params)), "params/random_trainable": float(_size(random_vars["params"]))}


def _size(tree) -> int:
    return int(sum(np.size(v) for v in jax.tree.leaves(tree)))


def energies(task, cfg, random_vars, chip, trained_vars, batch) -> dict:
    """Per-inference energy (J) of the random network on the macro against an A100
    running the same network (see the module doc)."""
    n = cfg.energy_samples
    part = tuple(b[:n] for b in batch)
    model = task.network("random", point_spec(cfg))
    counts = jax.jit(lambda v: _apply(model, v, part, {"read": jax.random.PRNGKey(0)}, mutable=["cost"])[1]["cost"])(
        {**random_vars, "chip": chip})
    counts = {k: float(v) / n for k, v in cost.collect(jax.device_get(counts)).items()}
    twin = _digital_twin(task, cfg)
    flops = cost.compiled_flops(lambda v, b: _apply(twin, v, b, {}), trained_vars, part) / n
    analog = {**counts, "digital_ops": counts.get("digital_ops", 0.0) + max(flops - 2.0 * counts["macs"], 0.0)}
    macro = presets.get(cfg.random_device).macro or cost.MacroCosts.rram_40nm()
    metrics, table = study.energy_table({**analog, "flops": flops}, macro, (cost.DigitalCosts.gpu(),))
    gpu = cost.DigitalCosts.gpu().name
    metrics[f"energy_ratio_vs_gpu/{gpu}"] = metrics[f"energy_ratio/{gpu}"]
    metrics.update({"counts/flops": flops, "counts/macs": counts["macs"],
                    "counts/array_reads": counts.get("array_reads", 0.0),
                    "counts/digital_ops": analog["digital_ops"]})
    return metrics, table


# ---------------------------------------------------------------------------- the study
def run_study(task: PointTask, cfg, splits: dict, dataset: str, out_dir: Path, seed: int = 0) -> dict:
    """Train both networks, Monte Carlo the random one over reads and chips, count
    training and inference costs, write the outputs; returns the metrics.

    splits: {"train", "valid", "test"} -> batch tuples (inputs..., labels)."""
    out_dir = Path(out_dir)
    trained_vars, trained_fit = train_trained(task, cfg, splits, seed, out_dir)
    random_vars, keys, random_fit = train_random(task, cfg, splits, seed, out_dir)
    chips = program(task, cfg, random_vars, keys, splits["test"])
    on_chip = {**random_vars, "chip": chips}
    reads = read_scores(task, cfg, on_chip, splits["test"], seed, desc=f"reads x {cfg.n_train_chips} chips")
    ridge, rows = ridge_scores(task, cfg, splits, seed)
    trained = trained_scores(task, cfg, trained_vars, splits["test"])
    per_epoch = steps_per_epoch(len(splits["train"][0]), cfg.batch_size)
    first = jax.tree.map(lambda a: a[0], random_vars)
    m = {"study/train_chips": float(cfg.n_train_chips), "study/reads": float(cfg.n_reads),
         "study/ridge_chips": float(cfg.n_chips), "study/train_samples": float(len(splits["train"][0])),
         "study/test_samples": float(len(splits["test"][0]))}
    m.update(score_metrics(task, trained, reads, ridge))
    m.update(training_costs(task, cfg, trained_vars, first, per_epoch * trained_fit.stopped_epoch,
                            per_epoch * random_fit.stopped_epoch, splits, rows))
    energy, energy_md = energies(task, cfg, first, jax.tree.map(lambda a: a[0], chips), trained_vars,
                                 splits["test"])
    m.update(energy)
    write(task, cfg, seed, dataset, out_dir, m, energy_md,
          {"trained": trained_fit.curve("score"), "random": random_fit.curve("score"), "reads": reads,
           "ridge": ridge})
    return m


def score_metrics(task, trained: dict, reads: dict, ridge: dict) -> dict:
    """``{metric}/trained``, ``{metric}/random`` (every read of every trained chip:
    median, 5-95 %, std; ``/chips``: each chip's mean over reads) and
    ``{metric}/ridge`` (one per fresh chip) for every score of the task."""
    m = {}
    for name, value in trained.items():
        m[f"{name}/trained"] = value
        every = np.asarray(reads[name])  # (n_reads, R)
        m[f"{name}/random"] = float(np.median(every))
        m.update(study.chip_summary(f"{name}/random", every.reshape(-1), STATS[1:] + ("std",)))
        m.update(study.chip_summary(f"{name}/random/chips", every.mean(axis=0), STATS + ("std",)))
        m[f"{name}/ridge"] = float(np.median(ridge[name]))
        m.update(study.chip_summary(f"{name}/ridge", ridge[name], STATS[1:] + ("std",)))
    m.update(study.chip_summary("ridge/l2", ridge["l2"], STATS))
    metric = task.metric
    m[f"{metric}/gap"] = m[f"{metric}/trained"] - m[f"{metric}/random"]
    return m


def headlines(task: PointTask, cfg, m: dict) -> list[study.Headline]:
    """DEPLM's claims: the random network's score near the trained one (within 10
    points), its training cost reduced (>= 50 %), its energy against a GPU (> 1)."""
    metric = task.metric
    spread = lambda name: (m[f"{name}/q05"], m[f"{name}/q95"])
    return [
        study.Headline(f"random point network {metric} (every read of {cfg.n_train_chips} chips x {cfg.n_reads} "
                       "reads), comparable to the trained PointNet++ (within 10 points)", f"{metric}/random",
                       m[f"{metric}/random"], (m[f"{metric}/trained"] - 0.10, 1.0), software=m[f"{metric}/trained"],
                       spread=spread(f"{metric}/random"), source=SOURCE),
        study.Headline(f"closed-form (ridge) read-out on {cfg.n_chips} fresh chips, {metric} (median; within 10 points "
                       "of the trained network)", f"{metric}/ridge", m[f"{metric}/ridge"],
                       (m[f"{metric}/trained"] - 0.10, 1.0), software=m[f"{metric}/trained"],
                       spread=spread(f"{metric}/ridge"), source="band: within 10 points"),
        study.Headline("training cost reduction (counted training FLOPs: random network by gradient vs the trained "
                       "PointNet++)", "training_cost_reduction/gradient", m["training_cost_reduction/gradient"],
                       (0.5, 1.0),
                       paper=task.paper_cost_reduction, source="abstract (band: >= 0.5)"),
        study.Headline("training cost reduction of the closed-form read-out", "training_cost_reduction/ridge",
                       m["training_cost_reduction/ridge"], (0.5, 1.0), source="band: >= 0.5"),
        study.Headline("inference energy efficiency vs an A100 running the same network (projected)",
                       f"energy_ratio_vs_gpu/{GPU}", m[f"energy_ratio_vs_gpu/{GPU}"], (1.0, np.inf),
                       paper=task.paper_energy_ratio, source="abstract (band: > 1)"),
    ]


def write(task, cfg, seed, dataset, out_dir: Path, m: dict, energy_md: str, c: dict):
    metric = task.metric
    out_dir.mkdir(parents=True, exist_ok=True)
    epochs, trained = c["trained"]
    random_epochs, random = c["random"]
    curves = {"trained PointNet++": (epochs, np.asarray(trained, float))}
    random = np.asarray(random, float).reshape(len(random_epochs), -1)
    curves.update({f"random, chip {r}": (random_epochs, random[:, r]) for r in range(random.shape[1])})
    report.line_plot(out_dir / "training_curves.png", curves, "epoch", f"validation {metric}",
                     f"{dataset}: validation {metric} while training", logy=False)
    report.histogram(out_dir / f"{metric}_over_reads.png",
                     {f"random, {cfg.n_train_chips} chips x {cfg.n_reads} reads": np.asarray(c["reads"][metric])
                      .reshape(-1), f"closed-form read-out, {cfg.n_chips} chips": c["ridge"][metric]},
                     metric, "reads / chips", f"{dataset}: random point network on simulated chips",
                     vlines={"trained PointNet++": m[f"{metric}/trained"]})
    report.bar_plot(out_dir / "training_flops.png", ["trained PointNet++", "random (gradient)", "random (ridge)"],
                    {"training FLOPs": [m["train_flops/trained"], m["train_flops/random"], m["train_flops/ridge"]]},
                    "FLOPs (counted)", f"{dataset}: training cost", logy=True)
    cell = lambda key: f"{m[key]:.4f} [{m[f'{key}/q05']:.4f}, {m[f'{key}/q95']:.4f}]"
    rows = [["trained PointNet++ (digital)", f"{m[f'{metric}/trained']:.4f}", f"{m['params/trained']:.0f}",
             f"{m['train_flops/trained']:.3g}"],
            [f"random, gradient read-out ({cfg.n_train_chips} chips x {cfg.n_reads} reads)", cell(f"{metric}/random"),
             f"{m['params/random_trainable']:.0f}", f"{m['train_flops/random']:.3g}"],
            [f"random, closed-form read-out ({cfg.n_chips} chips)", cell(f"{metric}/ridge"),
             f"{m['params/random_trainable']:.0f}", f"{m['train_flops/ridge']:.3g}"]]
    scores = [k for k in m if k.endswith("/trained") and not k.startswith(("params", "train_"))]
    other = [[k.split("/")[0], f"{m[k]:.4f}", f"{m[k.replace('trained', 'random')]:.4f}",
              f"{m[k.replace('trained', 'ridge')]:.4f}"] for k in scores]
    sections = [
        ("Setup", f"Data `{dataset}`; stages {stages(cfg)}; random preset `{cfg.random_device}` "
                  f"({presets.get(cfg.random_device).description}), inputs {cfg.input_bits}-bit per-vector min-max "
                  f"{'bit-serial' if cfg.bit_serial else 'multi-level'}; {cfg.epochs} epochs, batch "
                  f"{cfg.batch_size}; random network Adam {cfg.lr:g}, trained network Adam {cfg.weight_lr:g} (cosine); "
                  f"ridge L2 from {cfg.ridge_l2} on validation (median chosen {m['ridge/l2/median']:g}); seed {seed}."),
        (f"{metric}, trainable parameters and training FLOPs", report.markdown_table(
            ["network", f"{metric} (median [5 %, 95 %])", "trainable parameters", "training FLOPs"], rows)),
        ("Every score (median)", report.markdown_table(["score", "trained", "random (gradient)", "random (ridge)"],
                                                       other)),
        ("Training cost (counted: XLA FLOPs per step x steps)", report.markdown_table(
            ["quantity", "value"],
            [["trained step (FLOPs)", f"{m['train_flops/trained_step']:.4g}"],
             ["random step, digital part (FLOPs)", f"{m['train_flops/random_step']:.4g}"],
             ["random step with its array products (FLOPs)", f"{m['train_flops/random_step_with_array_products']:.4g}"],
             ["array MACs per step (on the chip)", f"{m['train_flops/array_macs_per_step']:.4g}"],
             ["steps (trained / random)", f"{m['train_steps/trained']:.0f} / {m['train_steps/random']:.0f}"],
             ["reduction, gradient path", f"{m['training_cost_reduction/gradient']:.4f}"],
             ["reduction, closed-form path", f"{m['training_cost_reduction/ridge']:.4f}"]])),
        ("Energy per inference (analog/cost.py; projected)", energy_md
         + f"\n\nCounted per inference: {m['counts/macs']:.4g} array MACs, {m['counts/array_reads']:.4g} array "
           f"reads, {m['counts/digital_ops']:.4g} digital ops on the macro's periphery; the GPU computes "
           f"{m['counts/flops']:.4g} FLOPs (XLA count of the same network)."),
    ]
    study.write(out_dir, task.name, cfg, seed, m, headlines(task, cfg, m), sections)
