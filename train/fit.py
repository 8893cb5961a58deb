"""One training core: any loss, any optax optimizer, chip rng policies, validation
with early stopping, callbacks, jit-compiled epochs, orbax checkpoints and exact resume.

    result = fit(loss_fn, variables, optimizer, data=(x, y), batch_size=64, epochs=60,
                 rng="fresh_chip", seed=0, evaluate=accuracy_fn, eval_data=(x_val, y_val),
                 monitor="acc", mode="max", patience=10, ckpt_dir=out / "ckpt")
    result.variables, result.best_epoch, result.history

Contracts (all pure JAX, traced under one ``jit`` per run):

* ``loss_fn(variables, batch, rngs, context) -> loss`` or ``(loss, updated)``:
  ``variables`` = ``{"params": ..., **collections}``; ``batch`` a tuple of arrays
  (batch_size, ...) cut from ``data`` (None when ``data`` is None: full-batch
  training on ``context``); ``updated`` the mutable collections it changed (batch
  statistics). ``context`` is passed whole to every step (graph indices, ...).
* ``evaluate(variables, rngs, eval_data) -> {name: scalar}``, on the validation
  split (thresholds, early stopping and hyper-parameters are chosen on it, never
  on test).
* ``callbacks``: host functions ``callback(epoch, state, metrics) -> state | None``
  run after each epoch, before its checkpoint (a mask-flip hysteresis, a schedule
  of your own; ``metrics`` holds the train ``"loss"`` and any validation metrics);
  they may change ``state.params`` / ``state.extra``. Keep them functions of the
  state, and a resumed run stays exact.

Random numbers, per run key ``root = PRNGKey(seed)``: epoch e shuffles with
``fold_in(fold_in(root, e), 0)`` and its steps use ``split(fold_in(fold_in(root, e), 1), n)``;
step key k gives ``rngs["step"] = fold_in(k, 2)`` (the loss's own sampling) and, by policy:

* ``"none"``: no chip streams (digital training);
* ``"fresh_chip"``: ``program, read = split(k)``: a new chip at every step
  (noise-aware training);
* ``"fixed_chip"``: ``program = program_key`` for the whole run, ``read = split(k)[1]``:
  one chip, fresh reads (random-weight networks, hardware-aware training on one chip).

Many runs at once: ``runs=R`` trains R independent states in one vmap (one mask or
read-out per chip, a grid of small models). Arguments named in ``run_axes``
(``"variables"``, ``"program_key"``, ``"context"``, ``"eval_data"``) carry a
leading axis of size R, the others are shared; metrics and the best state are
tracked per run, and early stopping waits for the last run.

Checkpoints (``ckpt_dir``): the whole state (parameters, optimizer, collections,
``extra``, best variables) and the history, every ``ckpt_every`` epochs and at the
end, atomically (orbax); a run restarted with the same arguments resumes from the
newest one and ends with identical parameters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from train.checkpoint import Checkpoints
from train.data import shuffled_batches

__all__ = ["TrainState", "FitResult", "fit", "make_optimizer", "freeze", "steps_per_epoch", "POLICIES"]

POLICIES = ("none", "fresh_chip", "fixed_chip")
RUN_ARGS = ("variables", "program_key", "context", "eval_data")


@flax.struct.dataclass
class TrainState:
    """Everything a run carries from step to step (a pytree; checkpointed whole).

    params, opt_state; collections: mutable variable collections (batch_stats);
    step: optimizer steps taken; extra: free pytree for callbacks (masks, limits).
    """

    params: Any
    opt_state: Any
    collections: dict
    step: jax.Array
    extra: Any = None

    @property
    def variables(self) -> dict:
        return {"params": self.params, **self.collections}


class FitResult(NamedTuple):
    """variables: best (``restore_best``) or final; state: the final TrainState;
    best_epoch / best_value: where the monitor was best (per run with ``runs``);
    history: one dict per evaluation (``epoch``, ``loss``, metrics), values per run
    with ``runs``; stopped_epoch: the last epoch trained."""

    variables: dict
    state: TrainState
    best_epoch: Any
    best_value: Any
    history: list[dict]
    stopped_epoch: int

    def curve(self, name: str) -> tuple[list[int], list]:
        """(epochs, values) of one history entry, e.g. for ``report.line_plot``."""
        return [h["epoch"] for h in self.history], [h[name] for h in self.history]


# ---------------------------------------------------------------------------- optimizers
def make_optimizer(name: str = "adam", learning_rate: float = 1e-3, *, schedule: str = "constant",
                   total_steps: int | None = None, momentum: float = 0.9, weight_decay: float = 0.0,
                   clip_norm: float | None = None, eps: float = 1e-8, warmup_steps: int = 0,
                   plateau_patience: int = 10, plateau_factor: float = 0.5) -> optax.GradientTransformation:
    """An optax optimizer by name: "adam", "adamw" (decoupled weight decay) or "sgd"
    (momentum, L2 weight decay as in PyTorch's SGD); schedule "constant", "cosine"
    (to 0 over ``total_steps``, after ``warmup_steps`` of linear warm-up) or "plateau"
    (optax's reduce_on_plateau on the training loss); optional global-norm clipping."""
    if name not in ("adam", "adamw", "sgd"):
        raise ValueError(f"optimizer = {name!r} is invalid: allowed 'adam', 'adamw', 'sgd'")
    if schedule not in ("constant", "cosine", "plateau"):
        raise ValueError(f"schedule = {schedule!r} is invalid: allowed 'constant', 'cosine', 'plateau'")
    lr: Any = learning_rate
    if schedule == "cosine":
        if not total_steps:
            raise ValueError("schedule = 'cosine' needs total_steps (steps_per_epoch x epochs)")
        lr = optax.warmup_cosine_decay_schedule(0.0 if warmup_steps else learning_rate, learning_rate,
                                                warmup_steps, max(total_steps, warmup_steps + 1))
    if name == "adam":
        opt = optax.adam(lr, eps=eps)
        if weight_decay:
            opt = optax.chain(optax.add_decayed_weights(weight_decay), opt)
    elif name == "adamw":
        opt = optax.adamw(lr, eps=eps, weight_decay=weight_decay)
    else:
        opt = optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(lr, momentum=momentum))
    parts = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    parts.append(opt)
    if schedule == "plateau":
        parts.append(optax.contrib.reduce_on_plateau(factor=plateau_factor, patience=plateau_patience))
    return optax.chain(*parts) if len(parts) > 1 else opt


def _matches(path, names: Sequence[str]) -> bool:
    keys = [str(getattr(p, "key", getattr(p, "name", p))) for p in path]
    return any(name in keys for name in names)


def freeze(optimizer: optax.GradientTransformation, params: Any,
           trainable: Sequence[str]) -> optax.GradientTransformation:
    """``optimizer`` for the parameters whose path has a key in ``trainable`` (e.g.
    ``("scores", "scale")``, ``("readout",)``); every other parameter stays fixed
    (``optax.set_to_zero``, no optimizer state)."""
    labels = jax.tree_util.tree_map_with_path(
        lambda path, _: "train" if _matches(path, trainable) else "frozen", params)
    if "train" not in jax.tree.leaves(labels):
        raise ValueError(f"trainable = {tuple(trainable)!r} matches no parameter")
    return optax.multi_transform({"train": optimizer, "frozen": optax.set_to_zero()}, labels)


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (the remainder of a shuffled epoch is dropped)."""
    if batch_size < 1 or batch_size > n_samples:
        raise ValueError(f"batch_size = {batch_size} is invalid: allowed 1..{n_samples} (the training samples)")
    return n_samples // batch_size


# ---------------------------------------------------------------------------- one epoch
def _rngs(policy: str, key: jax.Array, program_key) -> dict:
    rngs = {"step": jax.random.fold_in(key, 2)}
    if policy == "fresh_chip":
        rngs["program"], rngs["read"] = jax.random.split(key)
    elif policy == "fixed_chip":
        rngs["program"], rngs["read"] = program_key, jax.random.split(key)[1]
    return rngs


def _epoch(loss_fn, optimizer, batch_size, policy, n_steps):
    """(state, epoch, root, program_key, data, context) -> (state, mean loss)."""

    def run(state: TrainState, epoch, root, program_key, data, context):
        epoch_key = jax.random.fold_in(root, epoch)
        batches = None if data is None else shuffled_batches(jax.random.fold_in(epoch_key, 0), data, batch_size)
        n = n_steps if data is None else batches[0].shape[0]
        keys = jax.random.split(jax.random.fold_in(epoch_key, 1), n)

        def step(state: TrainState, inputs):
            batch, key = inputs
            rngs = _rngs(policy, key, program_key)

            def objective(params):
                out = loss_fn({"params": params, **state.collections}, batch, rngs, context)
                return out if isinstance(out, tuple) else (out, {})

            (loss, updated), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params, value=loss)
            return state.replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state,
                                 collections={**state.collections, **dict(updated)}, step=state.step + 1), loss

        state, losses = jax.lax.scan(step, state, (batches, keys))
        return state, losses.mean()

    return run


def _init_state(variables, optimizer, extra) -> TrainState:
    variables = dict(variables)
    params = variables.pop("params")
    collections = {k: v for k, v in variables.items() if k not in ("cost", "chip")}
    return TrainState(params, optimizer.init(params), collections, jnp.zeros((), jnp.int32), extra)


def _check_args(rng, runs, run_axes, data, batch_size, epochs, mode, patience):
    if rng not in POLICIES:
        raise ValueError(f"rng = {rng!r} is invalid: allowed one of {POLICIES}")
    unknown = set(run_axes) - set(RUN_ARGS)
    if unknown:
        raise ValueError(f"run_axes names {sorted(unknown)}: allowed {RUN_ARGS}")
    if run_axes and not runs:
        raise ValueError("run_axes is set but runs is None: say how many runs")
    if epochs < 1:
        raise ValueError(f"epochs = {epochs!r} is invalid: allowed >= 1")
    if mode not in ("min", "max"):
        raise ValueError(f"mode = {mode!r} is invalid: allowed 'min', 'max'")
    if patience is not None and patience < 1:
        raise ValueError(f"patience = {patience!r} is invalid: allowed >= 1 epochs (or None)")
    if data is not None:
        lengths = {int(np.shape(a)[0]) for a in data}
        if len(lengths) != 1:
            raise ValueError(f"data arrays have different lengths {sorted(lengths)}")
        steps_per_epoch(lengths.pop(), batch_size)


# ---------------------------------------------------------------------------- the loop
def fit(loss_fn: Callable, variables: dict, optimizer: optax.GradientTransformation, *,
        epochs: int, data: tuple | None = None, batch_size: int = 1, steps: int = 1,
        rng: str = "none", seed: int = 0, program_key: jax.Array | None = None, context: Any = None,
        trainable: Sequence[str] | None = None, evaluate: Callable | None = None, eval_data: Any = None,
        eval_every: int = 1, monitor: str | None = None, mode: str = "min", patience: int | None = None,
        restore_best: bool = True, callbacks: Sequence[Callable] = (), extra: Any = None,
        runs: int | None = None, run_axes: Sequence[str] = (), ckpt_dir: Path | None = None,
        ckpt_every: int = 10, desc: str = "fit", progress: bool = True) -> FitResult:
    """Train ``variables`` (``{"params": ..., collections}``) with ``optimizer`` on ``loss_fn``.

    data: tuple of arrays (n, ...) shuffled into batches of ``batch_size`` each epoch,
        or None for full-batch training (``steps`` optimizer steps per epoch on ``context``).
    rng / program_key: the chip policy (module doc); program_key defaults to
        ``fold_in(PRNGKey(seed), 2**31 - 1)``.
    trainable: parameter names to train (``freeze``); None = all.
    evaluate / eval_data / eval_every: validation metrics every ``eval_every`` epochs
        and at the last one; ``monitor`` (a key of them, or "loss") with ``mode``
        chooses the best epoch, ``patience`` (epochs) stops early.
    Returns a ``FitResult``; see the module doc for callbacks, runs and checkpoints.
    """
    _check_args(rng, runs, run_axes, data, batch_size, epochs, mode, patience)
    if trainable is not None:
        params = variables["params"] if "variables" not in run_axes else jax.tree.map(lambda a: a[0], variables["params"])
        optimizer = freeze(optimizer, params, trainable)
    optimizer = optax.with_extra_args_support(optimizer)
    root = jax.random.PRNGKey(seed)
    if program_key is None:
        program_key = jax.random.fold_in(root, 2**31 - 1)
    axis = lambda name: 0 if name in run_axes else None
    init = lambda v: _init_state(v, optimizer, extra)
    state = jax.vmap(init, in_axes=(axis("variables"),), axis_size=runs)(variables) if runs else init(variables)

    epoch_fn = _epoch(loss_fn, optimizer, batch_size, rng, steps)
    eval_fn = None
    if evaluate is not None:
        def eval_fn(variables, program_key, eval_data, epoch):
            rngs = _rngs(rng, jax.random.fold_in(jax.random.fold_in(root, epoch), 3), program_key)
            return evaluate(variables, {k: v for k, v in rngs.items() if k != "step"}, eval_data)
    if runs:
        epoch_fn = jax.vmap(epoch_fn, in_axes=(0, None, None, axis("program_key"), None, axis("context")))
        if eval_fn is not None:
            eval_fn = jax.vmap(eval_fn, in_axes=(0, axis("program_key"), axis("eval_data"), None))
    epoch_fn = jax.jit(epoch_fn)
    eval_fn = jax.jit(eval_fn) if eval_fn is not None else None
    data = None if data is None else tuple(jnp.asarray(a) for a in data)

    tracker = _Tracker(monitor if monitor is not None else ("loss" if evaluate is None else None), mode,
                       patience, state.variables)
    checkpoints = Checkpoints(ckpt_dir, every=ckpt_every) if ckpt_dir is not None else None
    start = 0
    if checkpoints is not None:
        start, (state, tracker.best), meta = checkpoints.restore_latest((state, tracker.best))
        tracker.load(meta)
    bar = tqdm(range(start, epochs), desc=desc, initial=start, total=epochs, leave=False, disable=not progress)
    epoch = start - 1
    for epoch in bar:
        state, loss = epoch_fn(state, epoch, root, program_key, data, context)
        metrics = {}
        if eval_fn is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            metrics = jax.device_get(eval_fn(state.variables, program_key, eval_data, epoch))
        loss = float(loss) if not runs else np.asarray(loss)
        for callback in callbacks:
            state = callback(epoch + 1, state, {"loss": loss, **metrics}) or state
        stop = tracker.update(epoch + 1, loss, metrics, state)
        shown = {"loss": loss, **{(f"valid_{k}" if k == "loss" else k): v for k, v in metrics.items()}}
        bar.set_postfix({k: f"{float(np.mean(v)):.4g}" for k, v in shown.items()})
        last = stop or epoch + 1 == epochs
        if checkpoints is not None:
            checkpoints.save(epoch + 1, (state, tracker.best), tracker.dump(), force=last)
        if stop:
            break
    bar.close()
    if checkpoints is not None:
        checkpoints.close()
    best = tracker.best if (restore_best and tracker.monitor is not None) else state.variables
    return FitResult(best, state, tracker.best_epoch, tracker.best_value, tracker.history, epoch + 1)


class _Tracker:
    """History, best epoch and early stopping (per run when values are arrays)."""

    def __init__(self, monitor, mode, patience, variables):
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best, self.best_value, self.best_epoch, self.history = variables, None, 0, []

    def update(self, epoch, loss, metrics, state) -> bool:
        entry = {"epoch": epoch, "loss": _plain(loss), **{k: _plain(v) for k, v in metrics.items()}}
        if metrics or self.monitor == "loss":
            self.history.append(entry)
        if self.monitor is None or self.monitor not in entry or (self.monitor != "loss" and not metrics):
            return False
        value = np.asarray(entry[self.monitor], np.float64)
        sign = 1.0 if self.mode == "min" else -1.0
        if self.best_value is None:
            better = np.ones(value.shape, bool)
        else:
            better = sign * value < sign * np.asarray(self.best_value)
        better = better & np.isfinite(value)
        if np.any(better):
            pick = lambda new, old: jnp.where(jnp.reshape(better, better.shape + (1,) * (jnp.ndim(new) - better.ndim)),
                                              new, old)
            self.best = state.variables if better.ndim == 0 else jax.tree.map(pick, state.variables, self.best)
            self.best_value = _plain(np.where(better, value, np.asarray(self.best_value if self.best_value is not None else value)))
            self.best_epoch = _plain(np.where(better, epoch, np.asarray(self.best_epoch)))
        if self.patience is None:
            return False
        return bool(np.all(epoch - np.asarray(self.best_epoch) >= self.patience))

    def dump(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "history": self.history}

    def load(self, meta: dict | None) -> None:
        if meta:
            self.best_value, self.best_epoch, self.history = meta["best_value"], meta["best_epoch"], meta["history"]


def _plain(value):
    """A JSON-ready number or list of numbers."""
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()
