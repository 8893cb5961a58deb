"""hegnn-toy: can an equivariant GNN tell a symmetric structure from its rotated copy?

HEGNN's degeneration theorem (Cen et al., NeurIPS 2024, Thm 3.6): on a structure
whose symmetry group has no invariant at degree l, every equivariant output of
degree l is zero, so a model that sees only that degree cannot tell the
structure from a rotated copy. For each structure (k-fold stars, the five
regular polyhedra) and each model (EGNN; HEGNN with one degree l = 1..L; HEGNN
with every degree <= L), a two-graph classifier (the structure = class 0, a
randomly rotated copy = class 1; sum-pool of [h, x, v], then a linear layer) is
trained from several seeds; chance is 50 %. The theorem's prediction for every
pair, computed from the structure's symmetry group, sits beside the accuracy.

The paper's perturbation test rides along: the tetrahedron (by default) with
its symmetry broken by Gaussian jitter of epsilon times its mean radius, the
same task, every model; degrees the theorem zeroed come back as epsilon grows.

Two compiles in all: every (structure, seed) pair is padded to the same graph
sizes and trained in one vmapped ``lax.scan``; every HEGNN variant is one model
with degrees 0..L whose unused degrees are masked off (``HEGNN(..., degree_mask)``),
vmapped over the masks, and EGNN is the other.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from tqdm.auto import tqdm

from models.hegnn import EGNN, HEGNN, EquivariantClassifier
from train import report, study
from train.config import config, field
from train.data import symmetric
from train.fit import fit

DESCRIPTION = "HEGNN vs EGNN on k-fold stars and regular polyhedra: tell a structure from its rotated copy"

_THEOREM_LMAX = 14


@config
class Config:
    structures: tuple[str, ...] = field(symmetric.STRUCTURE_NAMES, choices=symmetric.STRUCTURE_NAMES, min_len=1)
    max_degree: int = field(6, lo=1)  # single-degree models l = 1..max_degree, plus HEGNN<=max_degree
    hidden: int = field(32, lo=1)
    n_layers: int = field(1, lo=1)
    seeds: int = field(10, lo=1)
    steps: int = field(200, lo=1)
    learning_rate: float = field(1e-3, lo=0.0, lo_open=True)
    adam_eps: float = field(1e-6, lo=0.0, lo_open=True)  # above float32 rounding of the pooled features (see train_pairs)
    perturbed_structure: str = field("tetrahedron", choices=symmetric.STRUCTURE_NAMES)
    perturbations: tuple[float, ...] = field((0.01, 0.05, 0.1, 0.5), lo=0.0, lo_open=True,
                                             min_len=0)  # jitter, fraction of the mean radius; () = off

    @classmethod
    def quick(cls) -> "Config":
        return cls(seeds=3, steps=120, hidden=16)


def model_degrees(cfg: Config) -> dict[str, tuple[int, ...] | None]:
    """Model name -> steerable degrees (None = EGNN)."""
    models = {"egnn": None}
    models.update({f"hegnn_l{l}": (l,) for l in range(1, cfg.max_degree + 1)})
    models[f"hegnn_le{cfg.max_degree}"] = tuple(range(cfg.max_degree + 1))
    return models


def predicted_accuracy(degrees: tuple[int, ...] | None, vanishing: tuple[int, ...]) -> float:
    """The theorem's accuracy: 1 if the pooled output has a degree >= 1 that does not
    vanish on the structure (EGNN: the pooled positions, degree 1), else chance."""
    seen = (1,) if degrees is None else tuple(l for l in degrees if l >= 1)
    return 1.0 if any(l not in vanishing for l in seen) else 0.5


def degree_masks(cfg: Config) -> dict[str, np.ndarray]:
    """HEGNN model name -> 0/1 mask over degrees 0..max_degree (HEGNN_l: only l on)."""
    masks = {name: np.isin(np.arange(cfg.max_degree + 1), degrees).astype(np.float32)
             for name, degrees in model_degrees(cfg).items() if degrees is not None}
    return masks


def pair_graph(a: np.ndarray, b: np.ndarray, s: symmetric.Structure, n_node: int, n_edge: int):
    """The structure (graph 0) and its rotated copy (graph 1), padded to fixed sizes."""
    def one(x):
        nodes = {"h": np.ones((len(x), 1), np.float32), "x": x}
        return jraph.GraphsTuple(nodes=nodes, edges=None, senders=s.senders, receivers=s.receivers,
                                 n_node=np.array([len(x)]), n_edge=np.array([len(s.senders)]), globals=None)
    return jraph.pad_with_graphs(jraph.batch_np([one(a), one(b)]), n_node=n_node, n_edge=n_edge, n_graph=3)


def training_batch(cfg: Config, seed: int):
    """Every (structure, seed) pair graph, then every (perturbation, seed) pair graph of
    the perturbed structure, stacked: leaves ((S + P) * seeds, ...)."""
    structures = [symmetric.structure(name) for name in cfg.structures]
    base = symmetric.structure(cfg.perturbed_structure)
    n_node = 2 * max(s.n_nodes for s in structures + [base]) + 1
    n_edge = 2 * max(s.n_edges for s in structures + [base]) + 1
    graphs = []
    for i, s in enumerate(structures):
        for r in range(cfg.seeds):
            key = jax.random.fold_in(jax.random.PRNGKey(seed), 1000 * i + r)
            a, b, _ = symmetric.rotated_pair(key, s)
            graphs.append(pair_graph(a, b, s, n_node, n_edge))
    for j, epsilon in enumerate(cfg.perturbations):
        for r in range(cfg.seeds):
            noise_key, rotation_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed + 1), 1000 * j + r))
            s = symmetric.perturbed(noise_key, base, epsilon)
            a, b, _ = symmetric.rotated_pair(rotation_key, s)
            graphs.append(pair_graph(a, b, s, n_node, n_edge))
    return jax.tree.map(lambda *xs: np.stack(xs), *graphs)


def train_pairs(model: EquivariantClassifier, masks: np.ndarray | None, cfg: Config, graphs,
                seed: int) -> np.ndarray:
    """Train one classifier per (degree mask, stacked pair graph): accuracy on its two
    graphs, (M, P) for masks (M, D), or (P,) without masks. One ``train.fit`` over all
    M x P runs (one vmap, one compile); a pair's initial weights do not depend on the mask.

    Adam normalises each gradient by its own scale, so with an eps below float32
    rounding it takes full-size steps on gradients that come only from rounding
    residue (the pooled output at a degree the theorem zeroes is ~1e-7 of a
    node's features) and can separate the pair on it; ``cfg.adam_eps`` sits above
    that floor so the classifier sees the theorem's zero as zero."""
    labels = jnp.array([0, 1])
    n_pairs = graphs.n_node.shape[0]
    n_masks = 1 if masks is None else len(masks)
    runs = n_masks * n_pairs  # run r = (mask r // P, pair r % P)
    tile = lambda a: np.tile(a, (n_masks,) + (1,) * (np.ndim(a) - 1))
    context = (jax.tree.map(tile, graphs), None if masks is None else np.repeat(masks, n_pairs, axis=0))
    keys = tile(np.asarray(jax.random.split(jax.random.PRNGKey(seed + 7), n_pairs)))
    logits = lambda v, ctx: model.apply(v, *ctx)[:2]
    variables = jax.jit(jax.vmap(lambda k, ctx: model.init(k, *ctx)))(keys, context)

    def loss_fn(variables, batch, rngs, ctx):
        return optax.softmax_cross_entropy_with_integer_labels(logits(variables, ctx), labels).mean()

    def evaluate(variables, rngs, ctx):
        return {"acc": jnp.mean(jnp.argmax(logits(variables, ctx), axis=-1) == labels)}

    result = fit(loss_fn, variables, optax.adam(cfg.learning_rate, eps=cfg.adam_eps), epochs=1, steps=cfg.steps,
                 context=context, evaluate=evaluate, eval_data=context, runs=runs,
                 run_axes=("variables", "context", "eval_data"), restore_best=False, progress=False)
    acc = np.asarray(result.history[-1]["acc"])
    return acc if masks is None else acc.reshape(n_masks, n_pairs)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    out_dir = Path(out_dir)
    graphs = training_batch(cfg, seed)
    models = model_degrees(cfg)
    vanishing = {name: symmetric.vanishing_degrees(symmetric.structure(name).positions, _THEOREM_LMAX)
                 for name in cfg.structures}
    masks = degree_masks(cfg)
    egnn = EquivariantClassifier(EGNN(hidden=cfg.hidden, n_layers=cfg.n_layers))
    hegnn = EquivariantClassifier(HEGNN(hidden=cfg.hidden, n_layers=cfg.n_layers,
                                        degrees=tuple(range(cfg.max_degree + 1))))
    with tqdm(total=2, desc="hegnn-toy: EGNN, then every HEGNN variant in one vmap") as bar:
        per_model = {"egnn": train_pairs(egnn, None, cfg, graphs, seed)}
        bar.update()
        per_model.update(zip(masks, train_pairs(hegnn, np.stack(list(masks.values())), cfg, graphs, seed)))
        bar.update()
    metrics = {}
    for name in models:
        rows = per_model[name].reshape(len(cfg.structures) + len(cfg.perturbations), cfg.seeds)
        for structure, values in zip(cfg.structures, rows):
            metrics[f"acc/{name}/{structure}"] = float(values.mean())
            metrics[f"acc_std/{name}/{structure}"] = float(values.std())
            metrics[f"theory/{name}/{structure}"] = predicted_accuracy(models[name], vanishing[structure])
        for epsilon, values in zip(cfg.perturbations, rows[len(cfg.structures):]):
            metrics[f"perturbed/{name}/eps{epsilon:g}"] = float(values.mean())
            metrics[f"perturbed_std/{name}/eps{epsilon:g}"] = float(values.std())
    agree = [abs(metrics[f"acc/{m}/{s}"] - metrics[f"theory/{m}/{s}"]) <= 0.25 for m in models for s in cfg.structures]
    metrics["theory/agreement"] = float(np.mean(agree))
    for name in models:
        values = [metrics[f"acc/{name}/{s}"] for s in cfg.structures]
        metrics[f"acc/{name}/min"], metrics[f"acc/{name}/max"] = float(min(values)), float(max(values))
    _write_outputs(out_dir, cfg, seed, models, vanishing, metrics)
    return metrics


def headlines(cfg: Config, m: dict) -> list[study.Headline]:
    """Tables 2 and 4 of HEGNN as claims: every cell agrees with the degeneration theorem,
    EGNN stays at chance, HEGNN with every degree <= L tells every structure apart."""
    full = f"hegnn_le{cfg.max_degree}"
    source = "HEGNN (Cen et al. 2024) Thm 3.6, Tables 2 and 4"
    return [
        study.Headline("every cell agrees with the degeneration theorem (within 25 points)", "theory/agreement",
                       m["theory/agreement"], (1.0, 1.0), paper=1.0, source=source),
        study.Headline("EGNN cannot tell a symmetric structure from its rotated copy", "acc/egnn/max",
                       m["acc/egnn/max"], (0.0, 0.6), paper=0.5, source=source),
        study.Headline(f"HEGNN<={cfg.max_degree} tells every structure apart", f"acc/{full}/min", m[f"acc/{full}/min"],
                       (0.95, 1.0), paper=1.0, source=source),
    ]


def _write_outputs(out_dir, cfg, seed, models, vanishing, metrics):
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in cfg.structures:
        cells = [f"{100 * metrics[f'acc/{m}/{s}']:.0f} ± {100 * metrics[f'acc_std/{m}/{s}']:.0f} "
                 f"({100 * metrics[f'theory/{m}/{s}']:.0f})" for m in models]
        zero = ", ".join(str(l) for l in vanishing[s] if l <= cfg.max_degree)
        rows.append([s, zero or "none"] + cells)
    table = report.markdown_table(["structure", f"vanishing l <= {cfg.max_degree}"] + list(models), rows)
    _heatmap(out_dir / "accuracy.png", cfg, models, metrics)
    sections = [
        ("Setup", f"{cfg.seeds} seeds per cell, {cfg.steps} Adam steps (lr {cfg.learning_rate:g}), hidden "
                  f"{cfg.hidden}, {cfg.n_layers} layer(s); seed {seed}. Each cell: test accuracy in % "
                  "(mean ± std over seeds), the theorem's prediction in brackets (100 = can tell the "
                  "rotated copy apart, 50 = chance). Agreement with the theorem (within 25 points): "
                  f"{100 * metrics['theory/agreement']:.0f} % of the cells. Adam's eps is "
                  f"{cfg.adam_eps:g}: at a vanishing degree the pooled output is float32 rounding, about 1e-7 "
                  "of a node's features, and with eps far below that Adam takes full steps on it and the "
                  "readout learns the rounding (eps 1e-8: 5-fold l = 3 at 90 %, 7-fold l = 5 at 100 %)."),
        ("Accuracy, structure x model", table),
        *_perturbation_section(out_dir, cfg, models, metrics),
        ("Paper", "HEGNN (Cen et al. 2024), Tables 2 and 4: EGNN (and GVP-GNN) stay at 50 % on every "
                  "structure, HEGNN_l reaches 100 % exactly at the degrees the symmetry group allows. "
                  "The paper's exact per-cell figures were not available offline; the theorem column is "
                  "computed from each structure's symmetry group (train/data/symmetric.py)."),
    ]
    study.write(out_dir, "hegnn-toy", cfg, seed, metrics, headlines(cfg, metrics), sections)


def _perturbation_section(out_dir, cfg, models, metrics) -> list[tuple[str, str]]:
    """The perturbation table (rows epsilon, columns models) and perturbation.png; [] when off."""
    if not cfg.perturbations:
        return []
    keys = [f"eps{e:g}" for e in cfg.perturbations]
    rows = [[f"{e:g}"] + [f"{100 * metrics[f'perturbed/{m}/{k}']:.0f} ± {100 * metrics[f'perturbed_std/{m}/{k}']:.0f}"
                         for m in models] for e, k in zip(cfg.perturbations, keys)]
    if cfg.perturbed_structure in cfg.structures:  # the unperturbed row, from the main table
        rows.insert(0, ["0"] + [f"{100 * metrics[f'acc/{m}/{cfg.perturbed_structure}']:.0f}" for m in models])
    report.line_plot(out_dir / "perturbation.png",
                     {m: (list(cfg.perturbations), [metrics[f"perturbed/{m}/{k}"] for k in keys]) for m in models},
                     "jitter epsilon (fraction of the mean radius)", "accuracy",
                     f"{cfg.perturbed_structure}: symmetry broken by jitter", logx=True, hlines={"chance": 0.5})
    exact_zero = symmetric.vanishing_degrees(symmetric.structure(cfg.perturbed_structure).positions, _THEOREM_LMAX)
    zero = ", ".join(str(l) for l in exact_zero if l <= cfg.max_degree) or "none"
    text = (f"The {cfg.perturbed_structure} (unperturbed, degrees {zero} vanish) with Gaussian "
            "jitter of epsilon x its mean radius on every coordinate, a fresh jitter and rotation per seed; "
            "accuracy in % (mean ± std over seeds). The theorem no longer applies once the symmetry is "
            "broken; how fast each model recovers is the paper's robustness test (perturbation.png).\n\n"
            + report.markdown_table(["epsilon"] + list(models), rows))
    return [("Perturbation: symmetry broken by jitter", text)]


def _heatmap(path, cfg, models, metrics):
    """Accuracy per structure x model, × where the theorem predicts chance."""
    grid = np.array([[metrics[f"acc/{m}/{s}"] for m in models] for s in cfg.structures])
    chance = np.array([[metrics[f"theory/{m}/{s}"] != 1.0 for m in models] for s in cfg.structures])
    report.heatmap(path, 100 * grid, cfg.structures, list(models), "accuracy (%)",
                   "tell a structure from its rotated copy (× = theorem predicts chance)", fmt="{:.0f}",
                   marks=chance, vmin=40, vmax=100)
