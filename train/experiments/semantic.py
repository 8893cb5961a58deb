"""The semantic-memory dynamic network (Zhang et al., arXiv 2407.08990; Sci. Adv.
2024; no public code): the study that ``semantic-mnist`` and ``semantic-modelnet``
share. Every choice the paper's abstract leaves open is a config field, and
results.md says which one the run used.

1. Train (``train.fit``) a network of ternary stages (``models.semantic``: TWN
   weights, straight-through, on the ``ternary_lrs_hrs`` pairs) with cross-entropy on
   its head plus ``exit_loss_weight`` x a prototype loss at every exit (the exit's
   centred features pulled towards one learnable direction per class). With
   ``noise_aware`` each step programs a fresh chip (programming and read noise,
   DAC and ADC of the preset in the forward pass). A full-precision network of the
   same shape, trained on cross-entropy alone, is the software baseline.
2. Write the semantic memory once, on the deployment chip (``deploy_on="chip"``: the
   trained network programmed once on the ternary preset, every split read through it
   with its noise; ``"ideal"``: digital): at every exit the training set's feature mean
   and std per dimension, and one word per class (the class mean of the standardised
   features, coded, ``models.semantic.semantic_words``) on a CAM of the ``cam_device``
   preset, one row per class, one cell per feature dimension. A network trained with
   noise can read differently on ideal hardware (its batch norm saw the noisy path),
   so the chip is the default.
3. Choose each exit's threshold on the validation split (on the deployment chip): the
   lowest at which the inputs leaving there are right at least ``target_accuracy``
   of the time, or (None, the default) at most ``accuracy_slack`` less often than
   the static network is on those same inputs.
4. Test: the static network (every stage) against the dynamic one, on the deployment
   chip and over ``n_chips`` further chips that use its memory and thresholds (ternary
   CIM and CAM programmed once per chip, fresh read noise on both). Computation = MACs of the
   stages each input ran; ``compute_saved/deployed = 1 - mean executed / static MACs``.
5. Energy per inference: every stage's counted array reads and conversions on the
   40 nm macro, plus its digital work (batch norm, pooling, residual sums: the XLA
   FLOPs of the static network less twice its MACs, shared over the stages by their
   MACs), times the fraction of inputs that ran it, plus the CAM searches, against
   an A100 running the whole static network (its XLA FLOPs):
   ``energy_saved/vs_gpu = 1 - E(CIM + CAM, dynamic) / E(GPU, static)``.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.model_selection import train_test_split

from analog import cam, cost, presets
from analog.transforms import Ternary
from models import semantic
from models.chip import program_chip
from models.semantic import CAM_METRICS, EXIT_RULES
from train import montecarlo, report, study
from train.config import config, field
from train.fit import fit, make_optimizer, steps_per_epoch
from train.loop import accuracy, cross_entropy

SOURCE = "Zhang et al., arXiv 2407.08990 (abstract)"
STATS = ("median", "q05", "q95")
GPU = cost.DigitalCosts.gpu()


@config
class SemanticConfig:
    """The fields both semantic-memory experiments share (each sets its own defaults)."""

    ternary_device: str = field("ternary_lrs_hrs", choices=presets.names("ternary"))
    cam_device: str = field("tcam_40nm", choices=presets.names("cam"))
    ternary_threshold: float = field(0.7, lo=0.0)   # TWN: zero below this fraction of mean |w|
    cam_metric: str = field("dot", choices=CAM_METRICS)  # ternary dot products / binary queries on TCAM words
    exit_rule: str = field("margin", choices=EXIT_RULES)
    code_delta: float = field(0.5, lo=0.0)  # |standardised value| below it: ternary zero (don't care)
    cam_read_noise: float | None = field(None, lo=0.0, hi=1.0)  # relative, of the CAM cells; None: the preset's
    target_accuracy: float | None = field(None, lo=0.0, hi=1.0)  # exits' accuracy; None: match the static network
    accuracy_slack: float = field(0.015, lo=0.0, hi=1.0)  # ... within this, on the validation inputs that exit
    threshold_z: float = field(1.0, lo=0.0)  # standard errors to spare when choosing thresholds on validation
    exit_loss_weight: float = field(1.0, lo=0.0)
    noise_aware: bool = field(True)
    deploy_on: str = field("chip", choices=("chip", "ideal"))  # where the memory and thresholds are written from
    float_baseline: bool = field(True)
    epochs: int = field(30, lo=1)
    batch_size: int = field(64, lo=1)
    lr: float = field(1e-2, lo=0.0, lo_open=True)
    train_samples: int | None = field(None, lo=1)
    test_samples: int | None = field(None, lo=1)
    valid_fraction: float = field(0.1, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n_chips: int = field(100, lo=1)
    chunk_size: int = field(8, lo=1)
    eval_batch: int = field(250, lo=1)
    sweep_points: int = field(11, lo=2)
    ckpt_every: int = field(5, lo=1)


@dataclasses.dataclass(frozen=True)
class SemanticTask:
    """What an experiment supplies: ``network(spec, kernel_transform)`` -> a
    ``models.semantic`` network (``exits`` method, stages named ``stage{i}`` and
    ``head``); the paper's figures (fractions saved) and the band of the
    computation headline."""

    name: str
    network: Callable
    n_classes: int
    paper_compute_saved: float
    paper_energy_saved: float
    compute_band: tuple[float, float]


def ternary_spec(cfg):
    return presets.spec(cfg.ternary_device, role="ternary")


def cam_spec(cfg, width: int):
    """The CAM preset as the config's metric, its sense ADC's full scale ``width`` cells,
    its cells' relative read noise ``cam_read_noise`` when set."""
    spec = presets.spec(cfg.cam_device, role="cam").replace(metric=cfg.cam_metric)
    if cfg.cam_read_noise is not None:
        spec = spec.replace(device=spec.device.replace(read_sigma_rel=cfg.cam_read_noise))
    return spec.for_width(width)


def splits(cfg, x_train, y_train, x_test, y_test, seed: int) -> dict:
    """{"train", "valid", "test"}: (x, y) each; the first ``train_samples`` /
    ``test_samples``, ``valid_fraction`` of training moved (stratified) to validation."""
    x_train, y_train = x_train[:cfg.train_samples], y_train[:cfg.train_samples]
    fit_i, valid_i = train_test_split(np.arange(len(y_train)), test_size=cfg.valid_fraction, random_state=seed,
                                      stratify=y_train)
    return {"train": (x_train[fit_i], y_train[fit_i]), "valid": (x_train[valid_i], y_train[valid_i]),
            "test": (x_test[:cfg.test_samples], y_test[:cfg.test_samples])}


# ---------------------------------------------------------------------------- training
def _net(variables: dict) -> dict:
    """The network's variables of a training state (the prototypes stripped)."""
    return {"params": variables["params"]["net"], **{k: v for k, v in variables.items() if k != "params"}}


def _loss_fn(model, n_exits: int, weight: float):
    def loss_fn(variables, batch, rngs, context):
        x, y = batch
        (features, logits), updated = model.apply(_net(variables), x, train=True, rngs=rngs,
                                                  mutable=["batch_stats"], method="exits")
        loss = cross_entropy(logits, y)
        if weight:
            protos = variables["params"]["prototypes"]
            loss += weight * sum(semantic.prototype_loss(f, y, p) for f, p in zip(features, protos)) / n_exits
        return loss, updated
    return loss_fn


def _evaluate(model):
    def evaluate(variables, rngs, eval_data):
        x, y = eval_data
        logits = model.apply(_net(variables), x, rngs=rngs)
        return {"acc": accuracy(logits, y), "loss": cross_entropy(logits, y)}
    return evaluate


def train_network(task, cfg, data: dict, seed: int, out_dir: Path, ternary: bool):
    """Train the ternary network (``ternary``; noise-aware when ``cfg.noise_aware``,
    prototype loss at the exits) or the full-precision software baseline. Returns
    (network variables, FitResult)."""
    noisy = ternary and cfg.noise_aware
    spec = ternary_spec(cfg) if noisy else ternary_spec(cfg).ideal()
    model = task.network(spec, Ternary(cfg.ternary_threshold) if ternary else None)
    x = data["train"][0]
    key = jax.random.PRNGKey(seed)
    init = jax.jit(lambda k: model.init({"params": k, "program": k, "read": k}, x[:2]))(key)
    features, _ = jax.eval_shape(lambda v: model.apply(v, x[:2], rngs={"program": key, "read": key},
                                                       method="exits"), init)
    weight = cfg.exit_loss_weight if ternary else 0.0
    protos = [jax.random.normal(jax.random.fold_in(key, k), (task.n_classes, f.shape[-1]))
              for k, f in enumerate(features)]
    variables = {"params": {"net": init["params"], "prototypes": protos if weight else []},
                 "batch_stats": init["batch_stats"]}
    total = steps_per_epoch(len(x), cfg.batch_size) * cfg.epochs
    name = "ternary" if ternary else "float"
    result = fit(_loss_fn(model, len(features), weight), variables,
                 make_optimizer("adam", cfg.lr, schedule="cosine", total_steps=total), epochs=cfg.epochs,
                 data=data["train"], batch_size=cfg.batch_size, rng="fresh_chip" if noisy else "none", seed=seed,
                 evaluate=_evaluate(model), eval_data=data["valid"], monitor="acc", mode="max",
                 ckpt_dir=Path(out_dir) / f"ckpt_{name}", ckpt_every=cfg.ckpt_every, desc=f"{name} {task.name}")
    return _net(result.variables), result


# ---------------------------------------------------------------------------- network outputs
def outputs(model, variables, x, read_key, size: int):
    """(exit features [(n, D_k)], logits (n, n_classes)) of ``x`` (n, ...) in chunks of
    ``size`` (``lax.map``: one compiled chunk), chunk i read with ``fold_in(read_key, i)``."""
    n = len(x)
    chunks = -(-n // size)
    padded = jnp.concatenate([x, jnp.zeros((chunks * size - n,) + x.shape[1:], x.dtype)]).reshape(
        (chunks, size) + x.shape[1:])

    def one(args):
        i, xs = args
        return model.apply(variables, xs, rngs={"read": jax.random.fold_in(read_key, i)}, method="exits")

    features, logits = jax.lax.map(one, (jnp.arange(chunks), padded))
    flat = lambda a: a.reshape((-1,) + a.shape[2:])[:n]
    return [flat(f) for f in features], flat(logits)


def memory(cfg, features: list, labels, n_classes: int) -> list[dict]:
    """The semantic memory per exit: {"centre", "scale" (D,), "words" (n_classes, D)}."""
    out = []
    for f in features:
        f = np.asarray(f, np.float64)
        centre, scale = f.mean(axis=0), f.std(axis=0) + 1e-6
        words = semantic.semantic_words((f - centre) / scale, labels, n_classes, cfg.cam_metric, cfg.code_delta)
        out.append({"centre": centre.astype(np.float32), "scale": scale.astype(np.float32), "words": words})
    return out


def exit_decisions(cfg, mem: list[dict], features: list, key, ideal: bool):
    """(best classes (n_exits, n), exit scores (n_exits, n)) from the CAMs of ``mem``,
    programmed with ``fold_in(key, k)`` and searched with ``fold_in(key, 1000 + k)``
    (ideal cells and sense when ``ideal``)."""
    classes, scores = [], []
    for k, (m, f) in enumerate(zip(mem, features)):
        spec = cam_spec(cfg, m["words"].shape[1])
        spec = spec.ideal() if ideal else spec
        array = cam.program(jax.random.fold_in(key, k), m["words"], spec)
        q = semantic.query_codes(semantic.standardise(f, m["centre"], m["scale"]), cfg.cam_metric, cfg.code_delta)
        raw, _ = cam.search(jax.random.fold_in(key, 1000 + k), array, q, spec)
        best, score = semantic.exit_scores(semantic.similarities(raw, m["words"], q, cfg.cam_metric), cfg.exit_rule)
        classes.append(best)
        scores.append(score)
    return jnp.stack(classes), jnp.stack(scores)


def dynamic_metrics(exit_classes, exit_score, logits, labels, thresholds, per_exit_macs):
    """acc_static, acc_dynamic, compute (executed / static MACs) and the exit histogram
    (n_exits + 1,) of one evaluation (jnp: runs inside a chip's Monte Carlo)."""
    pred, where = semantic.dynamic_predict(exit_classes, exit_score, logits, thresholds)
    macs = jnp.asarray(per_exit_macs, jnp.float32)
    hist = jnp.mean(jax.nn.one_hot(where, len(per_exit_macs)), axis=0)
    return {"acc_static": jnp.mean(jnp.argmax(logits, -1) == labels), "acc_dynamic": jnp.mean(pred == labels),
            "compute": jnp.sum(hist * macs) / macs[-1], "exits": hist}


# ---------------------------------------------------------------------------- costs
STAGE = "stage{}"


def stage_costs(task, cfg, variables, x, n_stages: int) -> tuple[dict, float]:
    """Per-inference counts of every stage on the ternary arrays ({stage: counts},
    in order stage0.., head) and the XLA FLOPs of the static network (a GPU's work)."""
    n = min(len(x), 8)
    model = task.network(ternary_spec(cfg), Ternary(cfg.ternary_threshold))
    rngs = {"program": jax.random.PRNGKey(0), "read": jax.random.PRNGKey(1)}
    tree = jax.jit(lambda v, xs: model.apply(v, xs, rngs=rngs, mutable=["cost"])[1]["cost"])(variables, x[:n])
    staged = cost.stage_counts(jax.device_get(tree))
    order = [STAGE.format(i) for i in range(n_stages)] + ["head"]
    stages = {s: {k: float(v) / n for k, v in staged[s].items()} for s in order}
    twin = task.network(ternary_spec(cfg).ideal(), None)
    flops = cost.compiled_flops(lambda v, xs: twin.apply(v, xs), variables, x[:n]) / n
    total_macs = sum(c["macs"] for c in stages.values())
    digital = max(flops - 2.0 * total_macs, 0.0)
    for c in stages.values():  # digital work (norms, pooling, sums) shared over the stages by their MACs
        c["digital_ops"] = c.get("digital_ops", 0.0) + digital * c["macs"] / total_macs
    return stages, flops


def energies(cfg, stages: dict, flops: float, mem: list[dict], exit_hist) -> tuple[dict, str]:
    """Energy per inference (J) of the dynamic network (CIM + CAM, stages weighted by
    the fraction of inputs that ran them), the static one on the same macro, and an
    A100 running the static network; ``energy_saved/vs_gpu`` against the A100."""
    hist = np.asarray(exit_hist, np.float64)
    n_exits = len(mem)
    reach = 1.0 - np.concatenate([[0.0], np.cumsum(hist)[:-1]])  # fraction still running at exit / stage k
    counts = dict(stages)
    fractions = {STAGE.format(j): float(reach[min(j, n_exits)]) for j in range(n_exits + 1)}
    fractions["head"] = float(hist[-1])
    for k, m in enumerate(mem):
        counts[f"cam{k}"] = cam.op_counts(1, *m["words"].shape)
        fractions[f"cam{k}"] = float(reach[k])
    macro = presets.get(cfg.ternary_device).macro or cost.MacroCosts.rram_40nm()
    e_dynamic = cost.analog_cost(cost.dynamic_counts(counts, fractions), macro)["energy_j"]
    e_static = cost.analog_cost(cost.dynamic_counts(stages, {}), macro)["energy_j"]
    layers = sum(c.get("layers", 0.0) for c in stages.values())
    e_gpu = cost.digital_cost({"flops": flops, "layers": layers}, GPU)["energy_j"]
    m = {"energy/dynamic_j": e_dynamic, "energy/static_cim_j": e_static, f"energy/{GPU.name}_static_j": e_gpu,
         "energy_saved/vs_gpu": 1.0 - e_dynamic / e_gpu, "energy_saved/vs_static_cim": 1.0 - e_dynamic / e_static,
         "energy_saved/static_cim_vs_gpu": 1.0 - e_static / e_gpu, "counts/flops": flops}
    rows = [[f"{GPU.name}, static network", e_gpu, 0.0], [f"{macro.name} CIM, static network", e_static,
                                                          1.0 - e_static / e_gpu],
            [f"{macro.name} CIM + CAM, dynamic network", e_dynamic, 1.0 - e_dynamic / e_gpu]]
    return m, report.markdown_table(["platform", "energy per inference (J)", "saved vs the GPU"], rows)


# ---------------------------------------------------------------------------- the study
def _host_outputs(model, variables, splits: dict, cfg, read_key=None) -> dict:
    """``outputs`` of every split {name: x} on the host: chunks of ``eval_batch`` (the
    last zero-padded) through one compiled chunk; split j's chunk i is read with
    ``fold_in(fold_in(read_key, j), i)``. Returns {name: (exit features, logits)}."""
    size = cfg.eval_batch
    read_key = jax.random.PRNGKey(0) if read_key is None else read_key
    fn = jax.jit(lambda v, xs, k: model.apply(v, xs, rngs={"read": k}, method="exits"))
    out = {}
    for j, (name, x) in enumerate(splits.items()):
        features, logits = [], []
        for i, start in enumerate(range(0, len(x), size)):
            xs = np.asarray(x[start:start + size])
            n = len(xs)
            f, l = fn(variables, np.concatenate([xs, np.zeros((size - n,) + xs.shape[1:], xs.dtype)]),
                      jax.random.fold_in(jax.random.fold_in(read_key, j), i))
            features.append([np.asarray(a)[:n] for a in f])
            logits.append(np.asarray(l)[:n])
        out[name] = ([np.concatenate(parts) for parts in zip(*features)], np.concatenate(logits))
    return out


def threshold_curve(cfg, valid: tuple, test: tuple, y_valid, y_test, per_exit_macs):
    """Accuracy and computation on test as the exits grow bolder: thresholds re-chosen on
    validation for accuracy slacks from 0 to 0.5 against the static network, then no exit
    at all. valid / test: (exit classes, exit scores, logits). {"slack", "acc", "compute"}."""
    slacks = np.concatenate([[0.0], np.geomspace(1e-3, 0.5, cfg.sweep_points - 1)])
    reference = np.argmax(valid[2], -1)
    rows = []
    for slack in slacks:
        thr = semantic.choose_thresholds(valid[0], valid[1], y_valid, float(slack), reference, cfg.threshold_z)
        d = dynamic_metrics(*test, y_test, thr, per_exit_macs)
        rows.append((slack, float(d["acc_dynamic"]), float(d["compute"])))
    static = dynamic_metrics(*test, y_test, np.full(test[0].shape[0], np.inf), per_exit_macs)
    rows.append((np.nan, float(static["acc_dynamic"]), 1.0))
    return {name: np.array(col) for name, col in zip(("slack", "acc", "compute"), zip(*rows))}


def chip_study(task, cfg, variables, mem, thresholds, per_exit_macs, test, seed: int) -> dict:
    """Per-chip metrics (``dynamic_metrics``) over ``n_chips`` chips: ternary CIM and
    CAMs programmed once per chip, fresh read noise on both."""
    model = task.network(ternary_spec(cfg), Ternary(cfg.ternary_threshold))

    def metric(key, x, y):
        chip = program_chip(model, variables, key, x[:2])
        features, logits = outputs(model, {**variables, "chip": chip}, x, jax.random.fold_in(key, 1), cfg.eval_batch)
        classes, scores = exit_decisions(cfg, mem, features, jax.random.fold_in(key, 2), ideal=False)
        return dynamic_metrics(classes, scores, logits, y, thresholds, per_exit_macs)

    keys = montecarlo.chip_keys(jax.random.fold_in(jax.random.PRNGKey(seed), 29), cfg.n_chips)
    return montecarlo.evaluate(metric, keys, jnp.asarray(test[0]), jnp.asarray(test[1]),
                               chunk_size=min(cfg.chunk_size, cfg.n_chips), desc="chips (CIM + CAM)")


@dataclasses.dataclass(frozen=True)
class Deployment:
    """What is written once after training (``deploy``; host numpy): ``features``
    {split: (exit features, logits)}, the semantic ``memory`` per exit, the CAM
    ``decisions`` {"valid", "test": (classes, scores) (n_exits, n)}, the exit
    ``thresholds`` (n_exits,), and the validation accuracy of the static network and
    the ``target`` the thresholds were chosen for."""

    features: dict
    memory: list
    decisions: dict
    thresholds: np.ndarray
    static_valid: float
    target: float | None


def deploy(task, cfg, variables, data: dict, seed: int = 0) -> Deployment:
    """The semantic memory from the training split's features and the thresholds from
    the validation split (module doc, steps 2 and 3), on the deployment chip
    (``deploy_on="chip"``: ternary CIM and CAMs programmed once with their noise, every
    split read through them) or on ideal hardware (``"ideal"``)."""
    on_chip = cfg.deploy_on == "chip"
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 31)
    model = task.network(ternary_spec(cfg) if on_chip else ternary_spec(cfg).ideal(), Ternary(cfg.ternary_threshold))
    if on_chip:
        chip = jax.jit(lambda v, xs: program_chip(model, v, key, xs))(variables, data["train"][0][:2])
        variables = {**variables, "chip": chip}
    feats = _host_outputs(model, variables, {split: data[split][0] for split in ("train", "valid", "test")}, cfg,
                          key)
    mem = memory(cfg, feats["train"][0], data["train"][1], task.n_classes)
    decide = {split: exit_decisions(cfg, mem, feats[split][0], jax.random.fold_in(key, 7), ideal=not on_chip)
              for split in ("valid", "test")}
    static_pred = np.argmax(feats["valid"][1], -1)
    static_valid = float(np.mean(static_pred == data["valid"][1]))
    if cfg.target_accuracy is None:
        thresholds = semantic.choose_thresholds(*decide["valid"], data["valid"][1], cfg.accuracy_slack, static_pred,
                                                cfg.threshold_z)
    else:
        thresholds = semantic.choose_thresholds(*decide["valid"], data["valid"][1], cfg.target_accuracy,
                                                z=cfg.threshold_z)
    return Deployment(feats, mem, decide, thresholds, static_valid, cfg.target_accuracy)


def run_study(task: SemanticTask, cfg, data: dict, dataset: str, out_dir: Path, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    variables, fit_result = train_network(task, cfg, data, seed, out_dir, ternary=True)
    software = None
    if cfg.float_baseline:
        float_vars, _ = train_network(task, cfg, data, seed, out_dir, ternary=False)
        twin = task.network(ternary_spec(cfg).ideal(), None)
        logits = _host_outputs(twin, float_vars, {"test": data["test"][0]}, cfg)["test"][1]
        software = float(np.mean(np.argmax(logits, -1) == data["test"][1]))
    d = deploy(task, cfg, variables, data, seed)
    y_valid, y_test = data["valid"][1], data["test"][1]
    stages, flops = stage_costs(task, cfg, variables, data["test"][0], len(d.memory) + 1)
    per_exit_macs = semantic.macs_per_exit([c["macs"] for c in stages.values()])
    deployed_run = jax.device_get(dynamic_metrics(*d.decisions["test"], d.features["test"][1], y_test, d.thresholds,
                                               per_exit_macs))
    chips = chip_study(task, cfg, variables, d.memory, d.thresholds, per_exit_macs, data["test"], seed)
    curve = threshold_curve(cfg, d.decisions["valid"] + (d.features["valid"][1],),
                            d.decisions["test"] + (d.features["test"][1],), y_valid, y_test, per_exit_macs)
    e_metrics, e_table = energies(cfg, stages, flops, d.memory, deployed_run["exits"])
    m = {"acc/static": float(deployed_run["acc_static"]), "acc/dynamic": float(deployed_run["acc_dynamic"]),
         "compute_saved/deployed": 1.0 - float(deployed_run["compute"]), "acc/static_valid": d.static_valid,
         "macs/static": float(per_exit_macs[-1]),
         "macs/dynamic": float(deployed_run["compute"] * per_exit_macs[-1]), "train/best_epoch": fit_result.best_epoch,
         **e_metrics}
    if software is not None:
        m["acc/software"] = software
    for k, t in enumerate(d.thresholds):
        m[f"threshold/exit{k}"] = float(t)
        m[f"macs/exit{k}"] = float(per_exit_macs[k])  # what an input leaving at exit k ran
    for k, f in enumerate(deployed_run["exits"]):
        m[f"exit_fraction/{'head' if k == len(d.memory) else f'exit{k}'}"] = float(f)
    m.update(study.chip_summary("acc/static_noisy", chips["acc_static"]))
    m.update(study.chip_summary("acc/dynamic_noisy", chips["acc_dynamic"]))
    m.update(study.chip_summary("compute_saved/noisy", 1.0 - chips["compute"]))
    write(task, cfg, seed, dataset, out_dir, m, chips, curve, e_table, fit_result)
    return m


def headlines(task: SemanticTask, cfg, m: dict) -> list[study.Headline]:
    sw = m.get("acc/software")
    noisy_band = (-np.inf if sw is None else sw - 0.02, 1.0)
    return [
        study.Headline(f"dynamic network on noisy ternary CIM + CAM, median of {cfg.n_chips} chips, on par with "
                       "software (within 2 points of the full-precision static network)", "acc/dynamic_noisy/median",
                       m["acc/dynamic_noisy/median"], noisy_band, software=sw,
                       spread=(m["acc/dynamic_noisy/q05"], m["acc/dynamic_noisy/q95"])),
        study.Headline(f"dynamic vs static network on the deployment chip ({cfg.deploy_on}; within 1 point)",
                       "acc/dynamic", m["acc/dynamic"],
                       (m["acc/static"] - 0.01, 1.0), software=m["acc/static"]),
        study.Headline("computation saved by CAM early exit (executed MACs)", "compute_saved/deployed",
                       m["compute_saved/deployed"], task.compute_band, paper=task.paper_compute_saved, source=SOURCE,
                       spread=(m["compute_saved/noisy/q05"], m["compute_saved/noisy/q95"])),
        study.Headline(f"energy saved: dynamic CIM + CAM vs {GPU.name} running the static network (projected; at "
                       "least the paper's)", "energy_saved/vs_gpu", m["energy_saved/vs_gpu"],
                       (task.paper_energy_saved, 1.0), paper=task.paper_energy_saved, source=SOURCE),
    ]


def _choices(cfg, dataset: str) -> str:
    rule = {"margin": "best minus second-best similarity", "similarity": "best similarity"}[cfg.exit_rule]
    code = {"hamming": "binary queries (feature above its training mean) against TCAM words (class mean above "
                       f"+{cfg.code_delta:g} std: 1, below -{cfg.code_delta:g}: 0, else don't care), similarity "
                       "1 - 2 Hamming / cells that count",
            "dot": f"ternary queries and words (|standardised value| > {cfg.code_delta:g}), similarity the dot "
                   "product over sqrt(non-zeros of word x query)"}[cfg.cam_metric]
    lines = [f"- data: `{dataset}`; ternary CIM `{cfg.ternary_device}` (TWN threshold {cfg.ternary_threshold:g} x "
             f"mean|w|), CAM `{cfg.cam_device}`",
             f"- training: {cfg.epochs} epochs, {'noise-aware (a fresh chip per step)' if cfg.noise_aware else 'ideal'}"
             f", prototype loss weight {cfg.exit_loss_weight:g} at the exits",
             f"- semantic memory: {code}; written once from the training set's features on the deployment chip "
             f"({cfg.deploy_on})",
             f"- exit rule: {rule} >= the exit's threshold, the lowest at which the validation inputs that "
             + ("leave there are right as often as the static network is on them, less "
                f"{cfg.accuracy_slack:g}" if cfg.target_accuracy is None else
                f"leave there are right at least {cfg.target_accuracy:g} of the time")
             + f", with {cfg.threshold_z:g} standard error(s) to spare",
             "- Monte Carlo: the deployment chip's thresholds and memory, each further chip programs its CIM and "
             "CAMs once and reads them with fresh noise"]
    return "\n".join(lines)


def write(task, cfg, seed, dataset, out_dir: Path, m: dict, chips: dict, curve: dict, e_table: str, fit_result):
    n_exits = len([k for k in m if k.startswith("threshold/")])
    names = [f"exit {k} (CAM)" for k in range(n_exits)] + ["head (whole network)"]
    fractions = [m[f"exit_fraction/exit{k}"] for k in range(n_exits)] + [m["exit_fraction/head"]]
    noisy_exits = np.asarray(chips["exits"])
    report.bar_plot(out_dir / "exit_histogram.png", names,
                    {"deployment chip": fractions, f"chips (mean of {cfg.n_chips})": noisy_exits.mean(0)},
                    "fraction of test inputs", title=f"{task.name}: where inputs leave")
    swept = np.isfinite(curve["slack"])
    report.line_plot(out_dir / "accuracy_vs_computation.png",
                     {"dynamic (thresholds per accuracy slack)": (curve["compute"][swept], curve["acc"][swept])},
                     "executed MACs / static MACs", "test accuracy", title=f"{task.name}: accuracy vs computation",
                     hlines={"static network": m["acc/static"]})
    report.histogram(out_dir / "accuracy_over_chips.png",
                     {"static": chips["acc_static"], "dynamic": chips["acc_dynamic"]}, "test accuracy",
                     title=f"{task.name}: {cfg.n_chips} noisy chips",
                     vlines={} if "acc/software" not in m else {"software": m["acc/software"]})
    history = [(e["epoch"], e["acc"]) for e in fit_result.history if "acc" in e]
    if history:
        report.line_plot(out_dir / "training_curve.png", {"validation accuracy": tuple(zip(*history))},
                         "epoch", "accuracy", title=f"{task.name}: ternary network training")
    acc_rows = [["software (full precision, static)", m.get("acc/software", float("nan")), "-", "-"],
                [f"ternary, deployment chip ({cfg.deploy_on}), static", m["acc/static"], "-", 1.0],
                [f"ternary, deployment chip ({cfg.deploy_on}), dynamic", m["acc/dynamic"], "-",
                 1.0 - m["compute_saved/deployed"]]]
    for name in ("static", "dynamic"):
        q = [m[f"acc/{name}_noisy/{s}"] for s in STATS]
        acc_rows.append([f"ternary, noisy chips, {name}", q[0], f"[{q[1]:.4g}, {q[2]:.4g}]",
                         1.0 if name == "static" else 1.0 - m["compute_saved/noisy/median"]])
    exit_rows = [[n, f, m.get(f"threshold/exit{k}", float("nan")) if k < n_exits else "-", nm]
                 for k, (n, f, nm) in enumerate(zip(names, fractions, noisy_exits.mean(0)))]
    sections = [
        ("Choices (no public code: ours, config fields)", _choices(cfg, dataset)),
        ("Accuracy and computation", report.markdown_table(
            ["network", "test accuracy (median)", "5-95 % over chips", "executed / static MACs"], acc_rows)),
        ("Exits", report.markdown_table(["exit", "fraction (deployment chip)", "threshold", "fraction (chips, mean)"],
                                        exit_rows)),
        ("Energy per inference (projected)", e_table),
        ("Plots", "![exits](exit_histogram.png) ![curve](accuracy_vs_computation.png) "
                  "![chips](accuracy_over_chips.png)"),
    ]
    study.write(out_dir, task.name, cfg, seed, m, headlines(task, cfg, m), sections)
