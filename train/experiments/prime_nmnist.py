"""prime-nmnist: PRIME's pruned random memristive spiking network with input-aware
early stop, on event-camera digits (Wang et al., arXiv 2407.18625; Sci. Adv. 2025).

One run compares, on simulated devices, three versions of PRIME's N-MNIST network
(``models.spiking.NMNISTNet``: T = 10 steps of LIF cells, all on one chip):

1. ``software``: trained float weights (digital), Adam 1e-3 with a cosine schedule;
2. ``programmed``: those weights written onto noisy devices (the comparator),
   Monte Carlo over ``n_chips`` chips at several programming-noise levels;
3. ``pruned``: the random pairs of the ``prime_40nm_random`` preset (every cell
   formed, pair difference N(0, 6.35 uS), 0.01 per uS as PRIME's code) with top-50 %
   score masks trained on ``n_train_chips`` chips at once (Adam 1e-3, weight decay
   5e-4, cosine; scores only), every chip programmed once and read ``n_reads``
   times at each read-noise level.

Input-aware early stop (``models.spiking.early_stop``): at step t the running mean
of the outputs, p = softmax(mean / 2); stop when max p > 0.8. It is a pure function
of the per-step outputs, so one pass gives every threshold's accuracy and steps
(the curve); computational load saved = 1 - mean steps / T.

The training loop, Monte Carlo, chips and the comparator are the edge-pruning
study's (``train.experiments.edge_pruning``), reused through its ``Task``.

Energy (per inference, ``analog.cost``): the counts sown by one pass (array reads,
converters, LIF updates), scaled by the measured early-stop steps and, for the
array reads and input drivers, by the measured input activity of each layer (an
array's read energy is proportional to the pulses its rows receive: event pixels
for the first layer, the previous layer's spike rate after average pooling for the
others), priced on the 40 nm macro with every row driven (activity 1: the
activity is counted instead); against an A100 running the same network densely
for the same steps (2 FLOPs per MAC + 4 ops per LIF update, board power x time).
The paper's 37.8x used measured macro and GPU power, which are not public.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from analog import cost, forming, presets
from models.spiking import NMNISTNet, early_stop, early_stop_curve
from train import data, report, study
from train.data import events
from train.config import config, field
from train.experiments import edge_pruning as ep
from train.loop import accuracy, cross_entropy

DESCRIPTION = ("PRIME: pruned random RRAM SNN with input-aware early stop on event digits: accuracy, "
               "steps saved, read noise, energy vs GPU")

SOURCE = "PRIME, Wang et al., arXiv 2407.18625 (abstract; code bo-wang-up/PRIME)"
PAPER_ENERGY_RATIO = 37.83  # classification, abstract
PAPER_LOAD_SAVED = 0.770    # the best of the paper's tasks (abstract: "up to 77.0 %")
PRIME_THRESHOLD = 0.8  # PRIME's ee_threshold
CURVE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@config
class PrimeConfig(ep.StudyConfig):
    """PRIME's recipe on the edge-pruning study's fields (both PRIME experiments derive from it)."""

    random_device: str = field("prime_40nm_random", choices=presets.names("random"))
    read_noise_levels: tuple[float, ...] = field((0.0, 0.05, 0.1, 0.2), lo=0.0, hi=1.0, min_len=1)
    score_optimizer: str = field("adam", choices=("sgd", "adam"))  # scores: Adam 1e-3, weight decay 5e-4, cosine
    score_lr: float = field(1e-3, lo=0.0, lo_open=True)
    limit_flips: bool = field(False)  # PRIME has no reprogramming limiter
    energy_images: int = field(16, lo=1)  # images of the counted pass (counts are per inference)


@config
class Config(PrimeConfig):
    dataset: str = field("event_mnist_sample", choices=("event_mnist_sample", "nmnist"))
    data_dir: str | None = field(None, kind="path")  # N-MNIST's Train/ and Test/ (dataset=nmnist)
    steps: int = field(10, lo=1)  # time steps T (event frames)
    early_stop_threshold: float | None = field(None, lo=0.0, hi=1.0)  # stop when max softmax(mean / temperature)
    # exceeds it; None: the threshold of CURVE_THRESHOLDS saving the most steps while the validation accuracy stays
    # within early_stop_tolerance of all T steps' (PRIME fixes 0.8 for its fully trained network: --set ...=0.8)
    early_stop_tolerance: float = field(0.01, lo=0.0, hi=1.0)
    temperature: float = field(2.0, lo=0.0, lo_open=True)
    noisy_read: float = field(0.05, lo=0.0, hi=1.0)  # relative read noise per cell of the robustness headline
    epochs: int = field(14, lo=1)
    batch_size: int = field(128, lo=1)
    n_train_chips: int = field(4, lo=1)
    n_chips: int = field(200, lo=1)
    chunk_size: int = field(8, lo=1)

    @classmethod
    def quick(cls) -> "Config":
        """4 epochs on 2,000 images (batch 32), 2 chips, 400 test images, 8 programmed chips, 8 reads per chip."""
        return cls(epochs=4, batch_size=32, train_images=2000, test_images=400, n_train_chips=2, n_chips=8,
                   n_reads=8, chunk_size=4, prog_noise_us=(5.32,), read_noise_levels=(0.0,), noisy_read=0.05)


# ---------------------------------------------------------------------------- the task
@functools.lru_cache(maxsize=8)
def make_task(cfg: Config) -> ep.Task:
    """The edge-pruning study's ``Task`` for this config: the network returns its
    per-step outputs (T, B, 10); the loss is the cross-entropy of their mean; scores
    are the accuracy of the mean over T, the early-stop accuracy and the mean steps
    (at PRIME's 0.8 while the threshold is still to be chosen: during training)."""
    def model(kind, spec, limit_flips):
        return NMNISTNet(kind=kind, spec=spec, keep=cfg.keep, limit_flips=limit_flips, outputs_only=True)

    threshold = PRIME_THRESHOLD if cfg.early_stop_threshold is None else cfg.early_stop_threshold

    def score(outputs, labels):
        used, prediction = early_stop(outputs, threshold, cfg.temperature)
        return {"acc": accuracy(outputs.mean(0), labels), "acc_early_stop": jnp.mean(prediction == labels),
                "steps": jnp.mean(used.astype(outputs.dtype))}

    return ep.Task("prime-nmnist", "acc", model, score=score, loss=lambda out, y: cross_entropy(out.mean(0), y),
                   extra_metrics=("acc_early_stop", "steps"), source=SOURCE)


def load(cfg: Config, seed: int):
    """Event frames (n, T, 34, 34, 2) with a validation split, cut to the config's sizes."""
    if cfg.dataset == "nmnist":
        if cfg.data_dir is None:
            raise data.DataError("dataset 'nmnist' is read from disk: pass --set data_dir=PATH (Train/, Test/)")
        ds = events.load_nmnist(cfg.data_dir, n_frames=cfg.steps)
    else:
        ds = events.load_event_mnist_sample(seed=seed, n_frames=cfg.steps)
    return ep.subset(ds.with_validation(cfg.valid_fraction, seed), cfg)


# ---------------------------------------------------------------------------- one read of every chip
def chip_outputs(task, cfg, pruned, chip_keys, x, seed):
    """Per-step outputs (R, T, B, 10) and spike counts (R, T, 2) of one read of each
    trained chip at the preset's read noise."""
    chips = ep.program_pruned(task, cfg)(pruned, chip_keys, x[:1])
    net = NMNISTNet(kind="pruned", spec=ep.random_spec(cfg), keep=cfg.keep, limit_flips=cfg.limit_flips)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 19)
    # the task's network wraps nothing: its variables are NMNISTNet's, so the full net reads them
    read = jax.jit(jax.vmap(lambda v, c: net.apply({**v, "chip": c}, x, rngs={"read": key})))
    return jax.device_get(read(pruned, chips))


def choose_threshold(task, cfg, pruned, chip_keys, ds, seed) -> float:
    """The early-stop threshold of ``CURVE_THRESHOLDS`` that saves the most steps on
    the validation split (median over the trained chips) while its accuracy stays
    within ``early_stop_tolerance`` of all T steps'."""
    x, y = jnp.asarray(ds.x_valid), jnp.asarray(ds.y_valid)
    outputs, _ = chip_outputs(task, cfg, pruned, chip_keys, x, seed + 1)
    acc, steps = jax.vmap(lambda o: early_stop_curve(o, y, jnp.asarray(CURVE_THRESHOLDS), cfg.temperature))(
        jnp.asarray(outputs))
    acc, steps = np.median(np.asarray(acc), axis=0), np.median(np.asarray(steps), axis=0)
    full = np.median([float(jnp.mean(jnp.argmax(o.mean(0), -1) == y)) for o in outputs])
    allowed = [i for i in range(len(CURVE_THRESHOLDS)) if acc[i] >= full - cfg.early_stop_tolerance]
    return float(CURVE_THRESHOLDS[min(allowed, key=lambda i: steps[i])]) if allowed else 1.0


# ---------------------------------------------------------------------------- energy
def _macro(cfg) -> cost.MacroCosts:
    """The 40 nm macro with the preset's mean formed conductance and every row driven
    (the measured activity scales the counts instead)."""
    device = ep.random_spec(cfg).device
    g_mean = float(forming.cell_moments(device)[0])
    return cost.MacroCosts.from_physics(v_read=0.2, g_mean=g_mean, rows=128, cols=128,
                                        t_read=cost.MNSIM_T_READ_S, activity=1.0)


def stage_counts(net, variables, x, key) -> dict:
    """``{stage: counts}`` of one full pass of a spiking network (its scanned steps,
    ``"steps"``) over ``x``, per image; stage "" holds the LIF updates."""
    run = jax.jit(lambda v, x: net.apply(v, x, rngs={"program": key, "read": key}, mutable=["cost"])[1]["cost"])
    tree = jax.device_get(run({k: v for k, v in variables.items() if k != "cost"}, x))["steps"]
    return {stage: {k: float(v) / len(x) for k, v in counts.items()}
            for stage, counts in cost.stage_counts(tree).items()}


def activities(x, spike_counts, c1: int, c2: int) -> dict:
    """Mean input activity (fraction of driven rows per read) of each synapse layer:
    event pixels of the frames x (B, T, ...) and each spiking layer's spike rate
    (spike counts (..., T, 2) summed over the batch)."""
    batch = x.shape[0]
    counts = np.asarray(spike_counts, np.float64).reshape(-1, spike_counts.shape[-2], 2).mean(0)  # (T, 2)
    rates = counts.mean(0) / (batch * np.asarray([32 * 32 * c1, 12 * 12 * c2]))
    return {"input": float(np.mean(np.asarray(x) > 0)), "spikes1": float(rates[0]), "spikes2": float(rates[1])}


def price(cfg, stages: dict, layer_activity: dict, time: float) -> dict:
    """Per-inference energy (J) of a spiking network on the macro and on an A100.

    stages: ``stage_counts`` of one full pass; layer_activity: ``{stage: input
    activity}`` of each synapse layer (scales its array reads and input drivers on
    the macro); time: steps used / T (scales everything, both platforms). The A100
    computes every MAC of the steps used (dense); energy at throughput."""
    def analog(time):
        fractions = {stage: {"array_reads": time * a, "dac_conversions": time * a, "macs": time * a,
                             "adc_conversions": time, "digital_ops": time, "array_cycles": time, "layers": time}
                     for stage, a in layer_activity.items()}
        fractions[""] = time  # the LIF updates
        return cost.analog_cost(cost.dynamic_counts(stages, fractions), _macro(cfg))

    gpu = cost.DigitalCosts.gpu()
    digital = lambda time: cost.digital_cost(cost.dynamic_counts(stages, {s: time for s in stages}), gpu)
    early, full = analog(time), analog(1.0)
    gpu_early, gpu_full = digital(time), digital(1.0)
    counts = cost.dynamic_counts(stages, {})
    return {"energy/analog_j": float(early["energy_j"]), "energy/gpu_j": float(gpu_early["energy_j"]),
            "energy/analog_all_steps_j": float(full["energy_j"]), "energy/gpu_all_steps_j": float(gpu_full["energy_j"]),
            "energy/ratio_vs_gpu": float(gpu_early["energy_j"] / early["energy_j"]),
            "energy/ratio_vs_gpu_all_steps": float(gpu_full["energy_j"] / full["energy_j"]),
            "energy/early_stop_saving": 1.0 - float(early["energy_j"] / full["energy_j"]),
            "latency/analog_s": float(early["latency_s"]), "latency/gpu_s": float(gpu_early["latency_s"]),
            "counts/macs": float(counts["macs"]), "counts/neuron_updates": float(counts["neuron_updates"]),
            **{f"energy/analog_{k[7:]}": float(v) for k, v in early.items()
               if k.startswith("energy_") and k != "energy_j"}}


def energies(cfg, pruned, chip_keys, x, activity: dict, steps_used: float) -> dict:
    """``price`` of the pruned N-MNIST network on its first trained chip."""
    net = NMNISTNet(kind="pruned", spec=ep.random_spec(cfg), keep=cfg.keep, limit_flips=cfg.limit_flips)
    first = jax.tree.map(lambda a: a[0], pruned)
    stages = stage_counts(net, first, x[:cfg.energy_images], chip_keys[0])
    layer_activity = {"MaskedRandomConv_0": activity["input"], "MaskedRandomConv_1": activity["spikes1"],
                      "MaskedRandomDense_0": activity["spikes2"]}
    return price(cfg, stages, layer_activity, steps_used / cfg.steps)


# ---------------------------------------------------------------------------- the run
def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    out_dir = Path(out_dir)
    task = make_task(cfg)
    ds = load(cfg, seed)
    x_test, y_test = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    software = ep.train_software(task, cfg, ds, seed, out_dir)
    pruned, chip_keys, _ = ep.train_pruned(task, cfg, ds, seed, out_dir)
    ideal = task.model("weights", ep.programmed_spec(cfg).ideal(), False)
    software_outputs = jax.jit(lambda v, x: ideal.apply(v, x, train=False))(software, x_test)
    m_chosen = float(cfg.early_stop_threshold is None)
    if cfg.early_stop_threshold is None:
        cfg = dataclasses.replace(cfg, early_stop_threshold=choose_threshold(task, cfg, pruned, chip_keys, ds, seed))
        task = make_task(cfg)
    software_scores = task.scores(software_outputs, y_test)

    default = ep.default_noise_us(cfg)
    levels = tuple(sorted(set(cfg.prog_noise_us) | {default}))
    preset_read = float(ep.programmed_spec(cfg).device.read_sigma_rel)
    prog = ep.programmed_scores(task, cfg, software, x_test, y_test, seed, [(p, preset_read) for p in levels],
                                "programmed chips")
    random_read = float(ep.random_spec(cfg).device.read_sigma_rel)
    read_levels = tuple(sorted(set(cfg.read_noise_levels) | {random_read, cfg.noisy_read}))
    own = ep.pruned_scores(task, cfg, pruned, chip_keys, x_test, y_test, seed, read_levels)  # (L, R, n_reads)
    cross = ep.pruned_scores(task, cfg, pruned, chip_keys, x_test, y_test, seed, (random_read,), shift=1)

    outputs, spike_counts = chip_outputs(task, cfg, pruned, chip_keys, x_test, seed)
    thresholds = jnp.asarray(CURVE_THRESHOLDS)
    curve_acc, curve_steps = jax.vmap(lambda o: early_stop_curve(o, y_test, thresholds, cfg.temperature))(
        jnp.asarray(outputs))
    soft_acc, soft_steps = early_stop_curve(software_outputs, y_test, thresholds, cfg.temperature)
    m = metrics(cfg, software_scores, prog, levels, default, own, read_levels, random_read, cross)
    m["early_stop/threshold"] = float(cfg.early_stop_threshold)
    m["early_stop/chosen_on_validation"] = m_chosen
    activity = activities(x_test, spike_counts, *NMNISTNet().widths)
    m.update({f"activity/{k}": v for k, v in activity.items()})
    m.update(energies(cfg, pruned, chip_keys, x_test, activity, m["steps/pruned/median"]))
    curves = {"thresholds": np.asarray(CURVE_THRESHOLDS), "acc": np.asarray(curve_acc),
              "steps": np.asarray(curve_steps), "software_acc": np.asarray(soft_acc),
              "software_steps": np.asarray(soft_steps), "levels": levels, "read_levels": read_levels,
              "own": own, "prog": prog, "outputs": outputs[0], "labels": np.asarray(y_test)}
    write(cfg, seed, ds.name, out_dir, m, curves)
    return m


def metrics(cfg, software_scores, prog, levels, default, own, read_levels, random_read, cross) -> dict:
    """The metrics of the three networks: software, programmed at each noise, pruned at
    each read noise (each trained chip's mean over reads), early stop and load saved."""
    stats = ("median", "q05", "q95")
    m = {"study/programmed_chips": float(cfg.n_chips), "study/train_chips": float(cfg.n_train_chips),
         "study/reads": float(cfg.n_reads), "study/steps": float(cfg.steps), "noise/default_prog_us": default}
    for name in ("acc", "acc_early_stop", "steps"):
        m[f"{name}/software"] = float(software_scores[name])
        for p, per_chip in zip(levels, prog[name]):
            m.update(study.chip_summary(f"{name}/programmed/prog{p:g}us", per_chip, stats))
        m.update(study.chip_summary(f"{name}/programmed", prog[name][levels.index(default)], stats))
        at_preset = own[name][read_levels.index(random_read)]  # (R, n_reads)
        m.update(study.chip_summary(f"{name}/pruned", at_preset.mean(axis=1), stats))
        m.update(study.chip_summary(f"{name}/pruned/reads", at_preset.reshape(-1), stats + ("std",)))
        for r, scores in zip(read_levels, own[name]):
            m.update(study.chip_summary(f"{name}/pruned/read{r:g}", scores.reshape(-1), stats))
        m.update(study.chip_summary(f"{name}/pruned_cross_chip", cross[name][0].mean(axis=1), stats))
    noisy = own["acc"][read_levels.index(cfg.noisy_read)].reshape(-1)  # every read of every chip
    m.update(study.chip_summary("acc/pruned_noisy", noisy, stats))
    m.update(study.chip_summary("acc/pruned_early_stop", own["acc_early_stop"][read_levels.index(random_read)]
                                .mean(axis=1), stats))
    for prefix in ("software", "programmed/median", "pruned/median"):
        m[f"load_saved/{prefix.split('/')[0]}"] = 1.0 - m[f"steps/{prefix}"] / cfg.steps
    m["acc/early_stop_drop"] = m["acc/pruned/median"] - m["acc/pruned_early_stop/median"]
    return m


def headlines(cfg, m: dict) -> list[study.Headline]:
    """PRIME's claims: the pruned random SNN near software, early stop keeping
    accuracy (within 2 points) while saving load, robust to read noise, and its
    energy against a GPU."""
    spread = lambda name: (m[f"{name}/q05"], m[f"{name}/q95"])
    return [
        study.Headline(f"pruned random SNN accuracy (median over {cfg.n_train_chips} chips, {cfg.n_reads} reads "
                       "each), comparable to software (within 5 points)", "acc/pruned/median",
                       m["acc/pruned/median"], (m["acc/software"] - 0.05, 1.0), software=m["acc/software"],
                       spread=spread("acc/pruned"), source=SOURCE),
        study.Headline(f"early stop at max softmax > {cfg.early_stop_threshold:g} keeps the accuracy "
                       "(within 2 points of all T steps)", "acc/pruned_early_stop/median",
                       m["acc/pruned_early_stop/median"], (m["acc/pruned/median"] - 0.02, 1.0),
                       software=m["acc_early_stop/software"], spread=spread("acc/pruned_early_stop"), source=SOURCE),
        study.Headline(f"computational load saved by early stop (1 - mean steps / {cfg.steps})", "load_saved/pruned",
                       m["load_saved/pruned"], (0.3, 1.0), paper=PAPER_LOAD_SAVED, software=m["load_saved/software"],
                       source="abstract: up to 77.0 % (band: >= 0.3)"),
        study.Headline(f"robust to synaptic noise: accuracy at {100 * cfg.noisy_read:g} % read noise (every read of "
                       "every chip; within 5 points of the preset's)", "acc/pruned_noisy/median",
                       m["acc/pruned_noisy/median"], (m["acc/pruned/median"] - 0.05, 1.0),
                       spread=spread("acc/pruned_noisy"), source=SOURCE),
        study.Headline("pruned random SNN beats trained weights programmed onto the noisy cells (accuracy, at "
                       f"{m['noise/default_prog_us']:g} uS programming noise)", "acc/programmed/median",
                       m["acc/programmed/median"], (-np.inf, m["acc/pruned/median"]),
                       software=m["acc/software"], spread=spread("acc/programmed"),
                       source="band: at or below the pruned network"),
        study.Headline("energy efficiency vs an A100 running the same SNN for the same steps (per inference, "
                       "projected)", "energy/ratio_vs_gpu", m["energy/ratio_vs_gpu"], (1.0, np.inf),
                       paper=PAPER_ENERGY_RATIO, source="abstract: 37.83x (classification; band: > 1)"),
    ]


def write(cfg, seed, dataset, out_dir: Path, m: dict, c: dict):
    out_dir.mkdir(parents=True, exist_ok=True)
    th, acc, steps = c["thresholds"], c["acc"], c["steps"]
    report.line_plot(out_dir / "early_stop_curve.png",
                     {**{f"pruned chip {r}": (steps[r], acc[r]) for r in range(len(acc))},
                      "software": (c["software_steps"], c["software_acc"])},
                     "mean time steps used", "accuracy", f"{dataset}: early stop, thresholds {th[0]:g}-{th[-1]:g}",
                     logy=False)
    read_levels = c["read_levels"]
    report.band_plot(out_dir / "acc_vs_read_noise.png", 100 * np.asarray(read_levels),
                     {"pruned random SNN (every read of every chip)":
                      np.stack([s.reshape(-1) for s in c["own"]["acc"]]),
                      "pruned, early stop": np.stack([s.reshape(-1) for s in c["own"]["acc_early_stop"]])},
                     "read noise (% of conductance)", "accuracy", f"{dataset}: {cfg.n_train_chips} chips x "
                     f"{cfg.n_reads} reads")
    report.band_plot(out_dir / "programmed_vs_noise.png", np.asarray(c["levels"]),
                     {"programmed weights": c["prog"]["acc"],
                      "pruned random (no weight programming)": np.tile(c["own"]["acc"][read_levels.index(
                          float(ep.random_spec(cfg).device.read_sigma_rel))].mean(axis=1), (len(c["levels"]), 1))},
                     "programming noise (uS)", "accuracy", f"{dataset}: median and 5-95 % over chips")
    running = np.cumsum(c["outputs"], axis=0) / np.arange(1, cfg.steps + 1)[:, None, None]
    correct = (np.argmax(running, -1) == c["labels"][None]).mean(1)
    report.line_plot(out_dir / "acc_vs_step.png", {"pruned chip 0, mean of the first t outputs":
                                                   (np.arange(1, cfg.steps + 1), correct)},
                     "time step t", "accuracy", f"{dataset}: accuracy when stopping every input at t", logy=False)
    cell = lambda key: f"{m[f'{key}/median']:.4f} [{m[f'{key}/q05']:.4f}, {m[f'{key}/q95']:.4f}]"
    rows = [["software (trained weights, digital)", f"{m['acc/software']:.4f}", f"{m['acc_early_stop/software']:.4f}",
             f"{m['steps/software']:.2f}"],
            [f"programmed weights at {m['noise/default_prog_us']:g} uS", cell("acc/programmed"),
             cell("acc_early_stop/programmed"), cell("steps/programmed")],
            ["pruned random, own chip", cell("acc/pruned"), cell("acc_early_stop/pruned"), cell("steps/pruned")],
            ["pruned random, mask read on the next chip", cell("acc/pruned_cross_chip"),
             cell("acc_early_stop/pruned_cross_chip"), cell("steps/pruned_cross_chip")]]
    curve_rows = [[f"{t:g}", f"{np.median(acc[:, i]):.4f}", f"{np.median(steps[:, i]):.2f}",
                   f"{1 - np.median(steps[:, i]) / cfg.steps:.3f}", f"{c['software_acc'][i]:.4f}",
                   f"{c['software_steps'][i]:.2f}"] for i, t in enumerate(th)]
    noise_rows = [[f"{100 * r:g}", cell(f"acc/pruned/read{r:g}"), cell(f"acc_early_stop/pruned/read{r:g}")]
                  for r in read_levels]
    energy_rows = [["analogue macro (projected)", m["energy/analog_j"], m["energy/analog_all_steps_j"]],
                   ["A100, same SNN, dense", m["energy/gpu_j"], m["energy/gpu_all_steps_j"]],
                   ["ratio (GPU / analogue)", m["energy/ratio_vs_gpu"], m["energy/ratio_vs_gpu_all_steps"]]]
    breakdown = ", ".join(f"{k.split('/')[1][7:]} {v:.3g} J" for k, v in m.items()
                          if k.startswith("energy/analog_") and k[14:] not in ("j", "all_steps_j"))
    sections = [
        ("Setup", f"Data `{dataset}`; T = {cfg.steps}; random preset `{cfg.random_device}` "
                  f"({presets.get(cfg.random_device).description}); comparator preset `{cfg.programmed_device}`. "
                  f"Keep {cfg.keep:g} per layer; {cfg.epochs} epochs, batch {cfg.batch_size}; scores with "
                  f"{cfg.score_optimizer} {cfg.score_lr:g}, weight decay {cfg.score_weight_decay:g}, cosine; "
                  f"masks on {cfg.n_train_chips} chips, each read {cfg.n_reads} times per read-noise level; "
                  f"{cfg.n_chips} programmed chips per point; early stop at {cfg.early_stop_threshold:g} "
                  f"({'chosen on the validation split' if m['early_stop/chosen_on_validation'] else 'fixed'}) "
                  f"(temperature {cfg.temperature:g}); seed {seed}."),
        ("Accuracy, early-stop accuracy and steps (median [5 %, 95 %] over chips)", report.markdown_table(
            ["network", "acc (all T steps)", "acc (early stop)", "mean steps"], rows)),
        ("Early-stop trade-off (one read per chip; median over chips)", report.markdown_table(
            ["threshold", "acc pruned", "steps pruned", "load saved", "acc software", "steps software"],
            curve_rows)),
        ("Accuracy against read noise (every read of every trained chip)", report.markdown_table(
            ["read noise (%)", "acc", "acc (early stop)"], noise_rows)),
        ("Energy per inference (analog/cost.py; projected)", report.markdown_table(
            ["platform", f"early stop ({m['steps/pruned/median']:.2f} steps) (J)", f"all {cfg.steps} steps (J)"],
            energy_rows)
         + f"\n\nInput activity: events {m['activity/input']:.4f}, layer-1 spikes {m['activity/spikes1']:.4f}, "
           f"layer-2 spikes {m['activity/spikes2']:.4f}. Analogue breakdown: {breakdown}. The macro's read "
           "energy counts driven rows (spikes); the GPU computes every MAC of the steps used."),
    ]
    study.write(out_dir, "prime-nmnist", cfg, seed, m, headlines(cfg, m), sections)
