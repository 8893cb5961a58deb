"""The edge-pruning study, written once for its three tasks (Fashion-MNIST, spoken
digits, retinal vessels): Li, Wang et al., "Pruning random resistive memory for
optimizing analogue AI" (arXiv 2311.07164).

One run compares, on simulated devices:

1. ``software``: the network with trained float weights (digital);
2. ``programmed``: those weights written onto noisy devices (the paper's
   comparator), Monte Carlo over chips at several programming-noise levels;
3. ``pruned``: the random conductances that forming leaves, with edge-popup masks
   trained on ``n_train_chips`` chips at once (``fit`` runs, fixed-chip policy,
   scores only), pruned edges RESET, the paper's reprogramming limiter; every
   trained chip programmed once and read ``n_reads`` times (the read-noise
   distribution of each chip, and the chip-to-chip band of their means), and
   every chip's mask read on the next chip (why the method is per chip).

Energy: programming + one pass over the test set, from the cost model: (2)
writes every weight with write-and-verify (``verify_spec``: the pulses to bring
every cell within the preset's programming error), (3) RESETs the pruned half
once and every mask flip.
Forming is common to both chips and not counted.

A task module supplies a ``Task`` (data, the network, the metric) and a
``Config`` deriving from ``StudyConfig``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, presets
from analog.crossbar import CrossbarSpec
from models.chip import program_chip, programming_counts
from train import montecarlo, pruning, report, study
from train.config import config, field
from train.data import Dataset
from train.fit import fit, make_optimizer, steps_per_epoch
from train.loop import accuracy, classifier_loss, cross_entropy

__all__ = ["StudyConfig", "Task", "subset", "run_study"]


@config
class StudyConfig:
    """The fields every edge-pruning task shares (a base for each task's ``@config``)."""

    random_device: str = field("taox_40nm_random", choices=presets.names("random"))
    programmed_device: str = field("taox_40nm_programmed", choices=presets.names("programmed"))
    prog_noise_us: tuple[float, ...] = field((2.0, 5.32, 10.0), lo=0.0, hi=30.0, min_len=1)  # uS, the sweep
    read_noise_levels: tuple[float, ...] = field((0.0, 0.02, 0.05, 0.1), lo=0.0, hi=1.0, min_len=1)
    verify_tol_us: float | None = field(None, lo=0.0, lo_open=True)  # None: accuracy open loop, as the preset,
    # priced with write-and-verify to the preset's noise; a value: both at this band (uS)
    keep: float = field(0.5, lo=0.0, hi=1.0, lo_open=True)
    epochs: int = field(65, lo=1)  # both trainings
    batch_size: int = field(60, lo=1)
    weight_lr: float = field(1e-3, lo=0.0, lo_open=True)  # Adam, trained weights
    score_optimizer: str = field("sgd", choices=("sgd", "adam"))  # scores: SGD + momentum (the paper's recipe)
    score_lr: float = field(0.1, lo=0.0, lo_open=True)
    score_momentum: float = field(0.9, lo=0.0, hi=1.0, hi_open=True)
    score_weight_decay: float = field(5e-4, lo=0.0)
    limit_flips: bool = field(True)  # the masks' reprogramming limiter (the edge-pruning paper's; PRIME has none)
    limit_start: float = field(0.01, lo=0.0)
    limit_stop: float = field(0.007, lo=0.0)
    limit_steps: int = field(15, lo=1)
    valid_fraction: float = field(0.1, lo=0.0, hi=0.5, lo_open=True)
    train_images: int = field(0, lo=0)  # use the first N training images (0 = all)
    test_images: int = field(0, lo=0)  # use the first N test images (0 = all)
    n_train_chips: int = field(8, lo=1)
    n_reads: int = field(1000, lo=1)  # reads of every trained chip (fresh read noise each)
    n_chips: int = field(1000, lo=1)  # programmed-weight chips per noise level
    chunk_size: int = field(100, lo=1)  # chips (or reads x trained chips) evaluated at once
    ckpt_every: int = field(10, lo=1)

    def validate(self):
        if self.limit_stop > self.limit_start:
            raise ValueError(f"{type(self).__name__}.limit_stop = {self.limit_stop!r} is invalid: "
                             f"allowed <= limit_start ({self.limit_start!r})")


def subset(ds: Dataset, cfg) -> Dataset:
    """``ds`` cut to the config's ``train_images`` / ``test_images`` (0 = all)."""
    cut = lambda a, n: a if not n else a[:n]
    return dataclasses.replace(ds, x_train=cut(ds.x_train, cfg.train_images), y_train=cut(ds.y_train, cfg.train_images),
                               x_test=cut(ds.x_test, cfg.test_images), y_test=cut(ds.y_test, cfg.test_images))


@dataclasses.dataclass(frozen=True)
class Task:
    """What a task supplies.

    name: the experiment name; metric: the headline metric's name ("acc", "pr_auc");
    model(kind, spec, limit_flips) -> flax module with ``__call__(x, train)``;
    score(logits, labels) -> scalar (higher is better), or a dict holding ``metric``
    and every name in ``extra_metrics``; loss(logits, labels) -> scalar training
    loss; paper_gain / paper_energy_saving: the paper's figures (fractions, for
    ``metric``); paper_extra_gains: the paper's gains of the extra metrics;
    trainable: the parameter names the pruned network trains (its scores, and any
    digital read-out the model keeps, e.g. ``("scores", "gain", "offset")``); plots:
    task-specific figures, ``plots(task, cfg, out_dir, ds, software, pruned,
    chip_keys)`` (trained variables; the pruned ones with a leading chip axis).
    """

    name: str
    metric: str
    model: Callable
    score: Callable = accuracy
    loss: Callable = cross_entropy
    extra_metrics: tuple[str, ...] = ()
    paper_gain: float | None = None
    paper_energy_saving: float | None = None
    paper_extra_gains: tuple[float | None, ...] = ()
    trainable: tuple[str, ...] = ("scores",)
    plots: Callable | None = None
    source: str = "Li, Wang et al. 2023, arXiv 2311.07164 (abstract)"

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric,) + tuple(self.extra_metrics)

    def scores(self, logits, labels) -> dict:
        """Every metric of the task as a dict {name: scalar}."""
        value = self.score(logits, labels)
        return dict(value) if isinstance(value, dict) else {self.metric: value}


# ---------------------------------------------------------------------------- specs
def programmed_spec(cfg, prog_noise_us=None, read_noise=None) -> CrossbarSpec:
    """The comparator's preset with programming noise ``prog_noise_us`` (uS; None =
    the preset's), read noise ``read_noise`` (relative; None = the preset's) and the
    config's write-and-verify band."""
    spec = presets.spec(cfg.programmed_device, role="programmed")
    changes = {}
    if prog_noise_us is not None:
        changes["prog_sigma"] = prog_noise_us * 1e-6
    if read_noise is not None:
        changes["read_sigma_rel"] = read_noise
    spec = spec.with_device(**changes) if changes else spec
    return spec.replace(verify_tol=None if cfg.verify_tol_us is None else cfg.verify_tol_us * 1e-6)


def random_spec(cfg, read_noise=None) -> CrossbarSpec:
    spec = presets.spec(cfg.random_device, role="random")
    return spec if read_noise is None else spec.with_device(read_sigma_rel=read_noise)


def default_noise_us(cfg) -> float:
    """The comparator preset's own programming noise (uS)."""
    return round(float(presets.spec(cfg.programmed_device, role="programmed").device.prog_sigma) * 1e6, 6)


# ---------------------------------------------------------------------------- training
def _init(model, x, key):
    """The model's variables for one input shape (jitted: an eager init of a noisy
    network dispatches every operation of a forward pass one by one)."""
    return jax.jit(lambda k, x: model.init({"params": k, "program": k, "read": k}, x, train=False))(key, x[:1])


def _evaluate(model, task: Task):
    def evaluate(variables, rngs, eval_data):
        x, y = eval_data
        logits = model.apply(variables, x, rngs=rngs, train=False)
        return {"score": task.scores(logits, y)[task.metric], "loss": task.loss(logits, y)}
    return evaluate


def train_software(task: Task, cfg, ds: Dataset, seed: int, out_dir: Path):
    """The trained-weight network (digital), Adam with a cosine schedule; best on validation."""
    model = task.model("weights", programmed_spec(cfg).ideal(), False)
    variables = _init(model, ds.x_train, jax.random.PRNGKey(seed))
    variables = {k: v for k, v in variables.items() if k in ("params", "batch_stats")}
    total = steps_per_epoch(len(ds.x_train), cfg.batch_size) * cfg.epochs
    result = fit(classifier_loss(model, task.loss, mutable=("batch_stats",), train=True), variables,
                 make_optimizer("adam", cfg.weight_lr, schedule="cosine", total_steps=total),
                 epochs=cfg.epochs, data=(ds.x_train, ds.y_train), batch_size=cfg.batch_size, seed=seed,
                 evaluate=_evaluate(model, task), eval_data=(ds.x_valid, ds.y_valid), monitor="score",
                 mode="max", ckpt_dir=out_dir / "ckpt_software", ckpt_every=cfg.ckpt_every, desc="software weights")
    return result.variables


def train_pruned(task: Task, cfg, ds: Dataset, seed: int, out_dir: Path):
    """Edge-popup masks on ``n_train_chips`` random chips at once (one fit, vmapped runs).

    Returns (variables with a leading run axis, program keys (R, 2), FitResult)."""
    model = task.model("pruned", random_spec(cfg), cfg.limit_flips)
    runs = cfg.n_train_chips
    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 7), runs)
    init = lambda k, x: model.init({"params": k, "program": k, "read": k}, x, train=False)
    variables = jax.jit(jax.vmap(init, in_axes=(0, None)))(keys, ds.x_train[:1])
    variables = {k: v for k, v in variables.items() if k in ("params", "batch_stats", "mask")}
    total = steps_per_epoch(len(ds.x_train), cfg.batch_size) * cfg.epochs
    optimizer = make_optimizer(cfg.score_optimizer, cfg.score_lr, schedule="cosine", total_steps=total,
                               momentum=cfg.score_momentum, weight_decay=cfg.score_weight_decay)
    extra, callbacks = None, ()
    if cfg.limit_flips:
        variables = pruning.set_limit(variables, cfg.limit_start)
        extra = {**pruning.limit_extra(), **pruning.flips_extra(cfg.epochs)}
        callbacks = (pruning.limit_schedule(cfg.limit_start, cfg.limit_stop, cfg.limit_steps, "score"),
                     pruning.record_flips)
    mutable = ("batch_stats", "mask") if cfg.limit_flips else ("batch_stats",)
    result = fit(classifier_loss(model, task.loss, mutable=mutable, train=True), variables, optimizer,
                 epochs=cfg.epochs, data=(ds.x_train, ds.y_train), batch_size=cfg.batch_size, rng="fixed_chip",
                 seed=seed, program_key=keys, trainable=task.trainable, evaluate=_evaluate(model, task),
                 eval_data=(ds.x_valid, ds.y_valid), monitor="score", mode="max", runs=runs,
                 run_axes=("variables", "program_key"), extra=extra, callbacks=callbacks,
                 restore_best=not cfg.limit_flips, ckpt_dir=out_dir / "ckpt_pruned", ckpt_every=cfg.ckpt_every,
                 desc=f"edge-popup on {runs} chips")
    return result.variables, keys, result


# ---------------------------------------------------------------------------- evaluation
def _programmed_metric(task, cfg):
    """metric(key, variables, x, y, setting) -> score of one programmed chip;
    setting = (programming noise (uS), relative read noise)."""
    def metric(key, variables, x, y, setting):
        model = task.model("weights", programmed_spec(cfg, setting[0], setting[1]), False)
        return task.scores(model.apply(variables, x, rngs=study.chip_rngs(key), train=False), y)
    return metric


def programmed_scores(task, cfg, variables, x, y, seed, settings, desc) -> dict:
    """{metric: (len(settings), n_chips) scores}; settings: (prog_noise_us, read_noise) pairs."""
    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 11), cfg.n_chips)
    grid = {"setting": [np.asarray(s, np.float32) for s in settings]}
    return montecarlo.sweep(_programmed_metric(task, cfg), keys, grid, variables, x, y,
                            chunk_size=cfg.chunk_size, desc=desc)


def pruned_scores(task, cfg, variables, chip_keys, x, y, seed, read_noise, shift=0) -> dict:
    """{metric: (len(read_noise), R, n_reads) scores} of each trained mask read ``n_reads`` times
    on chip ``(r + shift) mod R`` (shift 0: its own chip) at each relative read noise.
    Every chip is programmed once; each read draws fresh read noise."""
    chips = jnp.roll(chip_keys, -shift, axis=0)
    on_chip = {**variables, "chip": program_pruned(task, cfg)(variables, chips, x[:1])}
    read_keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 13), cfg.n_reads)
    chunk = max(1, cfg.chunk_size // len(chip_keys))  # every read evaluates all R chips at once
    scores = montecarlo.sweep(_read_metric(task, cfg), read_keys, {"read_noise": [np.float32(r) for r in read_noise]},
                              on_chip, x, y, chunk_size=chunk, desc=f"reads x {len(chip_keys)} chips")
    return {k: np.swapaxes(np.asarray(v), 1, 2) for k, v in scores.items()}


@functools.lru_cache(maxsize=8)
def program_pruned(task, cfg):
    """program(variables (R, ...), chip keys (R, 2), x (1, ...)) -> the R chips of the
    trained masks, each programmed once (one compile per task and config)."""
    model = task.model("pruned", random_spec(cfg), cfg.limit_flips)
    return jax.jit(jax.vmap(lambda v, k, x: program_chip(model, v, k, x, train=False), in_axes=(0, 0, None)))


@functools.lru_cache(maxsize=8)
def _read_metric(task, cfg):
    """read(key, on_chip, x, y, read_noise) -> (R,) scores of one read of every chip
    (one function per task and config, so every call of ``pruned_scores`` shares a compile)."""
    def read(key, on_chip, x, y, read_noise):
        model = task.model("pruned", random_spec(cfg, read_noise), cfg.limit_flips)
        apply = lambda v: task.scores(model.apply(v, x, rngs={"read": key}, train=False), y)
        return jax.vmap(apply)(on_chip)
    return read


# ---------------------------------------------------------------------------- energy
def _macro(name: str) -> cost.MacroCosts:
    macro = presets.get(name).macro
    return cost.MacroCosts.rram_40nm() if macro is None else macro


def _inference_counts(model, variables, x, rngs) -> dict:
    """Operations of one pass over ``x`` (the cost collection of one jitted apply)."""
    counts = jax.jit(lambda v, x, r: model.apply(v, x, rngs=r, train=False, mutable=["cost"])[1]["cost"])
    return {k: float(v) for k, v in cost.collect(jax.device_get(counts(variables, x, rngs))).items()}


def verify_spec(cfg) -> CrossbarSpec:
    """The comparator as it is priced: every weight written with write-and-verify to
    the band ``verify_tol_us`` (default: the preset's programming noise, so the
    verify count is what it takes to bring each cell within the error its
    accuracy runs assume)."""
    tol = default_noise_us(cfg) if cfg.verify_tol_us is None else cfg.verify_tol_us
    return programmed_spec(cfg).replace(verify_tol=tol * 1e-6)


def energies(task, cfg, software, pruned, chip_keys, x, seed) -> dict:
    """Projected energy (J) of programming + one pass over ``x``: ``energy/programmed``
    (every weight written with write-and-verify, ``verify_spec``, pulses counted),
    ``energy/pruned`` (RESET of the initial pruned edges and every flip, median over
    the trained chips); ``energy/program_saving`` compares the programming alone."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 17)
    weights_model = task.model("weights", verify_spec(cfg), False)
    chip = jax.jit(lambda v, k: program_chip(weights_model, v, k, x[:1], train=False))(software, key)
    programmed_pulses = float(programming_counts(chip)["programming_pulses"])
    counts = _inference_counts(weights_model, software, x, study.chip_rngs(key))
    programmed = cost.analog_cost({**counts, "programming_pulses": programmed_pulses}, _macro(cfg.programmed_device))

    pruned_model = task.model("pruned", random_spec(cfg), cfg.limit_flips)
    first = jax.tree.map(lambda a: a[0], pruned)
    counts = _inference_counts(pruned_model, first, x, study.chip_rngs(chip_keys[0]))
    pulses = np.asarray(pruning.mask_pulses(pruned, cfg.keep))
    pruned_pulses = float(np.median(pulses))
    random_cost = cost.analog_cost({**counts, "programming_pulses": pruned_pulses}, _macro(cfg.random_device))
    program_j = programmed_pulses * _macro(cfg.programmed_device).program_pulse_j
    pruned_program_j = pruned_pulses * _macro(cfg.random_device).program_pulse_j
    return {"energy/programmed": float(programmed["energy_j"]), "energy/pruned": float(random_cost["energy_j"]),
            "energy/programmed_program": float(program_j), "energy/pruned_program": float(pruned_program_j),
            "energy/saving": 1.0 - float(random_cost["energy_j"]) / float(programmed["energy_j"]),
            "energy/program_saving": 1.0 - pruned_program_j / program_j,
            "pulses/programmed": programmed_pulses, "pulses/pruned": pruned_pulses,
            "pulses/programmed_per_cell": programmed_pulses / (2.0 * _weight_count(software))}


def _weight_count(variables) -> int:
    """Trained weights (kernels) of a network: one differential pair each."""
    leaves = jax.tree_util.tree_leaves_with_path(variables["params"])
    return int(sum(np.size(v) for path, v in leaves if "kernel" in jax.tree_util.keystr(path)))


# ---------------------------------------------------------------------------- the study
def run_study(task: Task, cfg, ds: Dataset, out_dir: Path, seed: int = 0) -> dict:
    """Train (1) and (3), evaluate (1)-(3), price them, write the outputs; returns metrics."""
    out_dir = Path(out_dir)
    x_test, y_test = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    software = train_software(task, cfg, ds, seed, out_dir)
    pruned, chip_keys, fitted = train_pruned(task, cfg, ds, seed, out_dir)
    ideal = task.model("weights", programmed_spec(cfg).ideal(), False)
    software_scores = task.scores(jax.jit(lambda v, x: ideal.apply(v, x, train=False))(software, x_test), y_test)

    default = default_noise_us(cfg)
    levels = tuple(sorted(set(cfg.prog_noise_us) | {default}))
    preset_read = float(programmed_spec(cfg).device.read_sigma_rel)
    settings = [(p, preset_read) for p in levels] + [(default, r) for r in cfg.read_noise_levels]
    prog = programmed_scores(task, cfg, software, x_test, y_test, seed, settings, "programmed chips")
    random_read = float(random_spec(cfg).device.read_sigma_rel)
    read_levels = tuple(sorted(set(cfg.read_noise_levels) | {random_read}))
    own = pruned_scores(task, cfg, pruned, chip_keys, x_test, y_test, seed, read_levels)
    cross = pruned_scores(task, cfg, pruned, chip_keys, x_test, y_test, seed, (random_read,), shift=1)
    energy = energies(task, cfg, software, pruned, chip_keys, x_test, seed)
    flips = np.asarray(fitted.state.extra["flips"])  # (R, epochs) running totals

    m = {"study/programmed_chips": float(cfg.n_chips), "study/train_chips": float(cfg.n_train_chips),
         "study/reads": float(cfg.n_reads), "noise/default_prog_us": default, **energy,
         "flips/total": float(np.median(flips[:, -1])),
         "mask/kept_fraction": float(np.median(np.asarray(pruning.kept_fraction(pruned))))}
    curves = {"levels": levels, "read_levels": read_levels, "flips": flips}
    for name in task.metrics:
        by_noise, by_read = prog[name][:len(levels)], prog[name][len(levels):]
        m.update(_summaries(name, float(software_scores[name]), levels, by_noise, cfg.read_noise_levels, by_read,
                            default, read_levels, own[name], random_read, cross[name][0]))
        curves[name] = {"by_noise": by_noise, "by_read": by_read, "own": own[name]}
    if task.plots is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        task.plots(task, cfg, out_dir, ds, software, pruned, chip_keys)
    _write(task, cfg, seed, ds.name, out_dir, m, curves)
    return m


def _summaries(name, software, levels, by_noise, read_noise_levels, by_read, default, read_levels, own,
               random_read, cross) -> dict:
    """The metric's entries: software, programmed (per noise level, per read noise, at
    the preset's noise), pruned (per read noise, own chip, first chip's reads, next
    chip), gain of pruned over programmed."""
    stats = ("median", "q05", "q95")
    m = {f"{name}/software": software}
    for p, per_chip in zip(levels, by_noise):
        m.update(study.chip_summary(f"{name}/programmed/prog{p:g}us", per_chip, stats))
    for r, per_chip in zip(read_noise_levels, by_read):
        m.update(study.chip_summary(f"{name}/programmed/read{r:g}", per_chip, stats))
    m.update(study.chip_summary(f"{name}/programmed", by_noise[levels.index(default)], stats))
    at_preset = own[read_levels.index(random_read)]  # (R, n_reads)
    m.update(study.chip_summary(f"{name}/pruned", at_preset.mean(axis=1), stats))  # each chip's mean over reads
    m.update(study.chip_summary(f"{name}/pruned/reads", at_preset[0], stats + ("std",)))
    for r, scores in zip(read_levels, own):
        m.update(study.chip_summary(f"{name}/pruned/read{r:g}", scores.mean(axis=1), stats))
    m.update(study.chip_summary(f"{name}/pruned_cross_chip", cross.mean(axis=1), stats))
    m[f"gain/{name}"] = m[f"{name}/pruned/median"] - m[f"{name}/programmed/median"]
    m[f"gain/{name}_relative"] = m[f"gain/{name}"] / m[f"{name}/programmed/median"]
    return m


def headlines(task: Task, cfg, m: dict) -> list[study.Headline]:
    """The paper's two claims for the task: the pruned random network beats trained
    weights programmed onto the noisy devices, and programming it costs less energy."""
    metric = task.metric
    spread = lambda name: (m[f"{name}/q05"], m[f"{name}/q95"])
    papers = (task.paper_gain,) + tuple(task.paper_extra_gains) + (None,) * len(task.extra_metrics)
    gains = [study.Headline(f"edge-pruned random network beats programmed weights ({name}, pruned - programmed, "
                            f"at the preset's {m['noise/default_prog_us']:g} uS programming noise)", f"gain/{name}",
                            m[f"gain/{name}"], (0.0, np.inf), paper=paper, source=task.source,
                            software=m[f"{name}/software"]) for name, paper in zip(task.metrics, papers)]
    return gains[:1] + [
        study.Headline("programming + inference energy saved by pruning instead of programming weights "
                       "(write-and-verify; one pass over the test set)",
                       "energy/saving", m["energy/saving"], (0.0, 1.0), paper=task.paper_energy_saving,
                       source=task.source),
        study.Headline("programming energy saved (mask RESETs and flips vs write-and-verify of every weight)",
                       "energy/program_saving", m["energy/program_saving"], (0.0, 1.0),
                       paper=task.paper_energy_saving, source=task.source),
        study.Headline(f"pruned random network ({metric}, median over {cfg.n_train_chips} trained chips, "
                       f"{cfg.n_reads} reads each)",
                       f"{metric}/pruned/median", m[f"{metric}/pruned/median"],
                       (m[f"{metric}/programmed/median"], np.inf), software=m[f"{metric}/software"],
                       spread=spread(f"{metric}/pruned"), source="band: above the programmed comparator"),
    ] + gains[1:]


def _metric_table(name, m, levels, c) -> list:
    """The results.md sections of one metric."""
    cell = lambda key: f"{m[f'{key}/median']:.4f} [{m[f'{key}/q05']:.4f}, {m[f'{key}/q95']:.4f}]"
    rows = [[f"{p:g}", f"{np.median(s):.4f} [{np.quantile(s, 0.05):.4f}, {np.quantile(s, 0.95):.4f}]"]
            for p, s in zip(levels, c["by_noise"])]
    return [
        (f"Software, programmed, pruned ({name})", report.markdown_table(
            ["network", f"{name} median [5 %, 95 %]"],
            [["software (trained weights, digital)", f"{m[f'{name}/software']:.4f}"],
             [f"programmed weights at {m['noise/default_prog_us']:g} uS", cell(f"{name}/programmed")],
             ["edge-pruned random, own chip", cell(f"{name}/pruned")],
             [f"edge-pruned random, first chip, {int(m['study/reads'])} reads", cell(f"{name}/pruned/reads")],
             ["edge-pruned random, mask read on the next chip", cell(f"{name}/pruned_cross_chip")]])),
        (f"Programmed weights vs programming noise ({name})", report.markdown_table(["noise (uS)", name], rows)),
    ]


def _write(task, cfg, seed, dataset, out_dir, m, curves):
    out_dir.mkdir(parents=True, exist_ok=True)
    levels, read_levels = curves["levels"], curves["read_levels"]
    random_read = float(random_spec(cfg).device.read_sigma_rel)
    sections = [
        ("Setup", f"Data `{dataset}`; comparator preset `{cfg.programmed_device}` "
                  f"({presets.get(cfg.programmed_device).description}); random preset `{cfg.random_device}` "
                  f"({presets.get(cfg.random_device).description}). Keep {cfg.keep:g} of each layer's edges; "
                  f"{cfg.epochs} epochs; masks trained on {cfg.n_train_chips} chips at once, each read "
                  f"{cfg.n_reads} times; {cfg.n_chips} programmed chips per point; seed {seed}."),
    ]
    for name in task.metrics:
        c = curves[name]
        report.band_plot(out_dir / f"{name}_vs_read_noise.png", 100 * np.asarray(cfg.read_noise_levels),
                         {"programmed weights": c["by_read"],
                          "edge-pruned random": np.stack([c["own"][read_levels.index(r)].mean(axis=1)
                                                          for r in cfg.read_noise_levels])},
                         "read noise (% of conductance)", name,
                         f"{dataset}: {cfg.n_chips} programmed chips, {cfg.n_train_chips} pruned chips")
        pruned_band = np.tile(c["own"][read_levels.index(random_read)].mean(axis=1), (len(levels), 1))
        report.band_plot(out_dir / f"{name}_vs_programming_noise.png", np.asarray(levels),
                         {"programmed weights": c["by_noise"], "edge-pruned random (no weight programming)":
                          pruned_band}, "programming noise (uS)", name, f"{dataset}: median and 5-95 % over chips")
        sections += _metric_table(name, m, levels, c)
    epochs = np.arange(1, curves["flips"].shape[1] + 1)
    per_epoch = np.diff(np.concatenate([np.zeros((len(curves["flips"]), 1)), curves["flips"]], axis=1), axis=1)
    report.line_plot(out_dir / "mask_flips.png", {f"chip {r}": (epochs, per_epoch[r]) for r in range(len(per_epoch))},
                     "epoch", "mask flips", f"{dataset}: reprogrammed edges per epoch", logy=False)
    energy_rows = [[f"programmed weights (write-and-verify, {m['pulses/programmed_per_cell']:.2f} pulses per cell)",
                    m["pulses/programmed"], m["energy/programmed_program"],
                    m["energy/programmed"]],
                   ["edge-pruned random", m["pulses/pruned"], m["energy/pruned_program"], m["energy/pruned"]]]
    sections.append(
        ("Programming + inference energy (one pass over the test set; analog/cost.py; forming not counted)",
         report.markdown_table(["network", "write pulses", "programming (J)", "programming + inference (J)"],
                               energy_rows)
         + f"\n\nMask flips during training (median over chips): {m['flips/total']:g}; kept fraction on chip "
           f"{m['mask/kept_fraction']:.4f}."))
    study.write(out_dir, task.name, cfg, seed, m, headlines(task, cfg, m), sections)
