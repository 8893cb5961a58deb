"""Latency of a layer-pipelined stream of samples through a packed mapping.

The model (in cycles; one cycle = one input vector through one box,
``CompilerSpec.cycle_s`` seconds):

* A layer with x copies splits the c input vectors of each of its boxes over
  the copies, so every box copy runs ceil(c / x) cycles. The pieces of one box
  copy work together (partial sums); different boxes (the chunks of a grouped
  layer) and copies work independently. Task (l, j, b, s) = box b of copy j
  of layer l on sample s: ready when all tasks of layer l - 1 have finished
  sample s and the task has finished sample s - 1.
* A crossbar serves one piece at a time. A task holds every crossbar that
  carries one of its pieces, for ceil(c / x) cycles times the largest number of
  its pieces on one crossbar (1 when the packing rules hold).
* Crossbars are granted first come, first served: tasks start in the order they
  become ready (ties: earlier sample, then earlier layer, then task), each as
  soon as all its crossbars are free; no task overtakes an earlier-ready one.

With every piece on a crossbar of its own, the slowest box of each layer sets
its pace, d_l = ceil(max box cycles / x_l), and the makespan has the closed form
``sum(d) + (samples - 1) max(d)`` (:func:`ideal_latency`): the longest path
through the layer x sample grid stays on the slowest layer.
"""

from __future__ import annotations

import heapq

import numpy as np

from analog.compiler.boxes import Pieces

__all__ = ["layer_durations", "ideal_latency", "pipeline_latency", "activity_windows",
           "conflict_matrix"]


def layer_durations(cycles: np.ndarray, copies: np.ndarray) -> np.ndarray:
    """(L,) cycles each layer takes per sample: ceil(c / min(x, c))."""
    cycles = np.asarray(cycles, dtype=np.int64)
    used = np.minimum(np.asarray(copies, dtype=np.int64), cycles)
    return -(-cycles // used)


def ideal_latency(durations: np.ndarray, samples: int) -> float:
    """Makespan (cycles) of ``samples`` samples when no two pieces share a crossbar."""
    durations = np.asarray(durations)
    return float(durations.sum() + (samples - 1) * durations.max())


def activity_windows(durations: np.ndarray, samples: int) -> np.ndarray:
    """(L, 2) cycles from the start of layer l on sample 0 to its end on the last
    sample, in the private-crossbar schedule end[l, s] = max(end[l-1, s],
    end[l, s-1]) + d_l."""
    durations = np.asarray(durations, dtype=np.float64)
    end = np.zeros((len(durations), samples))
    for layer, d in enumerate(durations):
        previous = end[layer - 1] if layer else np.zeros(samples)
        t = 0.0
        for s in range(samples):
            t = max(t, previous[s]) + d
            end[layer, s] = t
    return np.stack([end[:, 0] - durations, end[:, -1]], axis=1)


def conflict_matrix(durations: np.ndarray, samples: int) -> np.ndarray:
    """(L, L) expected cycles layers l and m would wait for each other on a shared
    crossbar: the overlap of their activity windows times both duty cycles
    (share of its window a layer is busy). Zero on the diagonal."""
    durations = np.asarray(durations, dtype=np.float64)
    windows = activity_windows(durations, samples)
    duty = samples * durations / (windows[:, 1] - windows[:, 0])
    overlap = np.clip(np.minimum(windows[:, None, 1], windows[None, :, 1])
                      - np.maximum(windows[:, None, 0], windows[None, :, 0]), 0, None)
    out = overlap * duty[:, None] * duty[None, :]
    np.fill_diagonal(out, 0.0)
    return out


def _tasks(pieces: Pieces, copies: np.ndarray, crossbar: np.ndarray):
    """Per (layer, copy, box) task: crossbars, hold time (cycles), layer; and each layer's tasks."""
    n_layers = len(copies)
    key = np.stack([pieces.layer, pieces.copy, pieces.box], axis=1)
    keys, task = np.unique(key, axis=0, return_inverse=True)
    task = task.ravel()
    cycles = pieces.cycles[np.unique(task, return_index=True)[1]]
    used = np.minimum(np.asarray(copies)[keys[:, 0]], cycles)
    duration = -(-cycles // used)
    crossbars = [[] for _ in keys]
    for t, k in zip(task.tolist(), np.asarray(crossbar).tolist()):
        crossbars[t].append(k)
    hold = [float(d) * max(c.count(k) for k in c) for d, c in zip(duration, crossbars)]
    crossbars = [sorted(set(c)) for c in crossbars]
    task_layer = keys[:, 0].tolist()
    layer_tasks = [[] for _ in range(n_layers)]
    for t, layer in enumerate(task_layer):
        layer_tasks[layer].append(t)
    if any(not members for members in layer_tasks):
        raise ValueError("every layer needs at least one piece")
    return crossbars, hold, task_layer, layer_tasks


def pipeline_latency(pieces: Pieces, copies: np.ndarray, crossbar: np.ndarray, samples: int) -> float:
    """Makespan (cycles) of ``samples`` samples on a packed mapping (module rules).

    pieces: every piece of every copy (``Pieces``, with layer, copy and box);
    copies: (L,) copies per layer; crossbar: (P,) crossbar of every piece.
    """
    n_layers = len(copies)
    crossbars, hold, task_layer, layer_tasks = _tasks(pieces, copies, crossbar)
    free = [0.0] * (int(np.max(crossbar)) + 1)
    task_end = [[0.0] * samples for _ in task_layer]
    layer_end = [[0.0] * samples for _ in range(n_layers)]
    left = [[len(layer_tasks[layer])] * samples for layer in range(n_layers)]
    wait = [[(layer > 0) + (s > 0) for s in range(samples)] for layer in task_layer]
    ready = [(0.0, 0, 0, t) for t in layer_tasks[0]]

    def release(t, s):
        wait[t][s] -= 1
        if wait[t][s] == 0:
            layer = task_layer[t]
            at = max(layer_end[layer - 1][s] if layer else 0.0, task_end[t][s - 1] if s else 0.0)
            heapq.heappush(ready, (at, s, layer, t))

    while ready:
        time, s, layer, t = heapq.heappop(ready)
        start = time
        for k in crossbars[t]:
            if free[k] > start:
                start = free[k]
        finish = start + hold[t]
        for k in crossbars[t]:
            free[k] = finish
        task_end[t][s] = finish
        if s + 1 < samples:
            release(t, s + 1)
        left[layer][s] -= 1
        if finish > layer_end[layer][s]:
            layer_end[layer][s] = finish
        if left[layer][s] == 0 and layer + 1 < n_layers:
            for nxt in layer_tasks[layer + 1]:
                release(nxt, s)
    return float(layer_end[-1][-1])
