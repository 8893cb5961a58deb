"""The charged-particle N-body data set of HEGNN (NeurIPS 2024), simulated in JAX.

HEGNN generates it with `datasets/nbody/script/run.sh`: `generate_dataset.py
--num-train 5000 --seed 43 --n_isolated N --n_stick 0 --n_hinge 0` for
N = 5, 20, 50, 100 free ("isolated") particles, i.e. the GMN generator
(hanjq17/GMN, spatial_graph/n_body_system/dataset/: generate_dataset.py,
system.py, physical_objects.py, whose flags these are), read through HEGNN's
`datasets/nbody/dataset.py` and `utils/rotate.py`. This module reproduces
that protocol, following the code where it and the papers' prose differ:

- charges q_i uniform over {+1, -1}; unit masses;
- positions x_i ~ N(0, loc_std^2 I_3), loc_std = (N / 5)^(1/3) + 0.1;
- velocities v_i ~ N(0, I_3), each *particle's* velocity rescaled to norm 0.5;
- force F_i = sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3 (strength 1: like
  charges repel), then each component of the *net* force F_i clipped to
  +-max_force with max_force = 0.1 / dt (100 for dt = 0.001); the clip acts on
  the sum, so momentum is conserved only while it does not fire;
- semi-implicit Euler step: v <- v + F dt, then x <- x + v dt; no box;
- the official loop saves the state after step t (t = 0, 1, ...) when
  t % save_every == 0: frame k is the state after k * save_every + 1 steps, so
  frame 0 is one step after the initial state (not the initial state) and a
  run of n_steps steps has ceil(n_steps / save_every) frames (50 for 5000);
- the task maps frame 30 (positions, velocities) to the positions at frame 40;
- splits of 5000 / 2000 / 2000 trajectories; HEGNN rotates every *test* sample
  by its own random rotation (input positions, input velocities, target
  positions); train and valid are not rotated.

Differences from the official generator: float32 instead of float64; JAX keys
instead of numpy's global seed (so the samples are not the official files');
the test rotations are uniform on SO(3) (a normalised Gaussian quaternion)
where HEGNN composes rotations about x, y, z by integer degrees 0..360.

Sample i of split s is ``simulate(sample_keys(seed, s, n)[i], ...)``; its
frames `frame_in` and `frame_out` are what `make_nbody` keeps. Only
frame_out * save_every + 1 steps are simulated, `chunk` samples per call
(batch-last arrays, a `lax.scan` over steps, the last chunk padded).

Rounding and chaos: the dynamics are chaotic (close encounters), so a one-ulp
difference early on can grow to O(0.1) by frame 40 in some samples. XLA on
CPU contracts multiply-adds into FMAs where its fusion allows, and fusion can
depend on the batch shape, so the last bits of a sample can depend on the
number of samples simulated beside it. `make_nbody` therefore always runs
full chunks: with the same arguments (chunk included) a sample is the same
whatever the split sizes. `simulate` agrees with `make_nbody` to float
rounding on the first steps (bit for bit in most cases checked), not
necessarily at frame 40 for every sample.
Lengths, times and charges are in the simulator's arbitrary units.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from train.data.cache import cached
from train.data.geometry import random_rotations

__all__ = ["NBodyData", "NBodySplit", "make_nbody", "sample_keys", "simulate"]

SPLITS = ("train", "valid", "test")
VEL_NORM = 0.5          # speed of every particle at t = 0
FORCE_CLIP_DT = 0.1     # max_force = FORCE_CLIP_DT / dt, as in the official System
_CACHE_VERSION = 2  # 2: test rotations from e3nn-jax (train.data.geometry)


@dataclass(frozen=True)
class NBodySplit:
    """One split in host memory (float32 numpy arrays, S samples of N bodies).

    Attributes:
      x:       (S, N, 3) positions at the input frame.
      v:       (S, N, 3) velocities at the input frame (length per unit time).
      charges: (S, N) charges, each +1 or -1.
      target:  (S, N, 3) positions at the target frame.
    """

    x: np.ndarray
    v: np.ndarray
    charges: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        s, n = self.charges.shape
        for name in ("x", "v", "target"):
            if getattr(self, name).shape != (s, n, 3):
                raise ValueError(
                    f"NBodySplit.{name} has shape {getattr(self, name).shape}, expected {(s, n, 3)}"
                )


@dataclass(frozen=True)
class NBodyData:
    """The three splits and the number of bodies N per sample."""

    train: NBodySplit
    valid: NBodySplit
    test: NBodySplit
    n_bodies: int


# ---------------------------------------------------------------- validation


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} = {value!r} is invalid: allowed integers >= {minimum}")


def _check_dt(dt) -> None:
    if isinstance(dt, jax.core.Tracer):
        return  # traced under jit/vmap: checked where it is concrete
    real = isinstance(dt, (int, float, np.number, np.ndarray, jax.Array)) and not isinstance(dt, bool)
    if not real or np.ndim(dt) != 0 or not np.isfinite(float(dt)) or dt <= 0:
        raise ValueError(f"dt = {dt!r} is invalid: allowed a finite number > 0")


def _check_frames(frame_in, frame_out) -> None:
    _check_int("frame_in", frame_in, 0)
    _check_int("frame_out", frame_out, 1)
    if frame_out <= frame_in:
        raise ValueError(f"frame_out = {frame_out!r} is invalid: allowed integers > frame_in = {frame_in}")


# ---------------------------------------------------------------- physics
#
# Inside the simulator a chunk of C samples is held batch-last: positions and
# velocities (3, N, C), charges (N, C), so that the C samples fill the SIMD
# lanes. Every operation is elementwise in the sample axis and the sums are
# written out in a fixed order (`_pairwise_sum`) instead of XLA reduce ops:
# faster on CPU (~4x for N = 5), and their rounding does not depend on the
# batch shape, while a reduce's vectorisation (hence rounding) can. FMA
# contraction can still differ between batch shapes (module notes).


def _pairwise_sum(a: jax.Array, axis: int) -> jax.Array:
    """Sum over `axis` by repeated halving, zero-padded to a power of two; drops `axis`."""
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, (1 << (n - 1).bit_length()) - n)
    a = jnp.pad(a, pad)
    while a.shape[axis] > 1:
        half = a.shape[axis] // 2
        a = jax.lax.slice_in_dim(a, 0, half, axis=axis) + jax.lax.slice_in_dim(a, half, 2 * half, axis=axis)
    return jax.lax.index_in_dim(a, 0, axis, keepdims=False)


def _forces(x: jax.Array, q: jax.Array, max_force) -> jax.Array:
    """Batch-last `_accelerations`: x (3, N, C), q (N, C) -> (3, N, C)."""
    diff = x[:, :, None, :] - x[:, None, :, :]                      # (3, N, N, C): x_i - x_j
    self_pair = jnp.eye(x.shape[1], dtype=bool)[:, :, None]
    d2 = jnp.where(self_pair, 1.0, diff[0] ** 2 + diff[1] ** 2 + diff[2] ** 2)
    inv_r = jax.lax.rsqrt(d2)                                         # ~4x faster than d2 ** -1.5
    strength = jnp.where(self_pair, 0.0, q[:, None, :] * q[None, :, :] * (inv_r * inv_r * inv_r))
    force = _pairwise_sum(strength[None] * diff, axis=2)
    return jnp.clip(force, -max_force, max_force)


def _accelerations(x: jax.Array, q: jax.Array, max_force) -> jax.Array:
    """Clipped Coulomb accelerations of unit masses, one sample.

    x: (N, 3) positions; q: (N,) charges; max_force: the cap on each component
    (jnp.inf for none). Returns (N, 3):
    clip(sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3, -max_force, max_force),
    the clip acting on each component of the *net* force, as in the official code.
    """
    return _forces(x.T[:, :, None], q[:, None], max_force)[:, :, 0].T


def _advance(x, v, q, n_steps: int, dt, max_force):
    """`n_steps` semi-implicit Euler steps (v += a dt, then x += v dt); batch-last arrays."""

    def step(state, _):
        x, v = state
        v = v + _forces(x, q, max_force) * dt
        return (x + v * dt, v), None

    (x, v), _ = jax.lax.scan(step, (x, v), None, length=n_steps)
    return x, v


def _initial_state(key: jax.Array, n_bodies: int):
    """Official initial conditions: x (N, 3), v (N, 3) with |v_i| = 0.5, q (N,) in {+1, -1}.

    One draw of N x 7 standard normals: 3 position and 3 velocity components
    and the sign of the last one for the charge (+1 or -1 with probability 1/2).
    """
    z = jax.random.normal(key, (n_bodies, 7))
    loc_std = (n_bodies / 5.0) ** (1.0 / 3.0) + 0.1
    q = jnp.where(z[:, 6] >= 0.0, 1.0, -1.0)
    v = z[:, 3:6]
    speed = jnp.sqrt(v[:, 0] ** 2 + v[:, 1] ** 2 + v[:, 2] ** 2)  # no reduce op (see above)
    return z[:, :3] * loc_std, v / speed[:, None] * VEL_NORM, q


def _initial_batch(keys: jax.Array, n_bodies: int):
    """`_initial_state` of keys (C, 2), batch-last: x, v (3, N, C) and q (N, C)."""
    x, v, q = jax.vmap(lambda k: _initial_state(k, n_bodies))(keys)
    return jnp.transpose(x, (2, 1, 0)), jnp.transpose(v, (2, 1, 0)), q.T


def _skip_frames(x, v, q, n_frames: int, save_every: int, dt, max_force):
    """Advance `n_frames` saving periods (n_frames * save_every steps), keeping nothing."""

    def frame(state, _):
        return _advance(*state, q, save_every, dt, max_force), None

    (x, v), _ = jax.lax.scan(frame, (x, v), None, length=n_frames)
    return x, v


def _trajectory(x, v, q, n_frames: int, save_every: int, dt, max_force):
    """Frames 0..n_frames-1, frame k after k * save_every + 1 steps: two (F, 3, N, C) arrays."""
    x, v = _advance(x, v, q, 1, dt, max_force)

    def frame(state, _):
        nxt = _advance(*state, q, save_every, dt, max_force)
        return nxt, nxt

    _, (xs, vs) = jax.lax.scan(frame, (x, v), None, length=n_frames - 1)
    return jnp.concatenate([x[None], xs]), jnp.concatenate([v[None], vs])


@functools.partial(jax.jit, static_argnames=("n_frames", "save_every"))
def _rollout(x, v, q, n_frames: int, save_every: int, dt, max_force):
    """`_trajectory` of one sample from a given state: x, v (N, 3), q (N,) -> two (F, N, 3)."""
    pair = lambda a: jnp.stack([a.T, a.T], axis=-1)
    xs, vs = _trajectory(pair(x), pair(v), pair(q), n_frames, save_every, dt, max_force)
    return jnp.transpose(xs[..., 0], (0, 2, 1)), jnp.transpose(vs[..., 0], (0, 2, 1))


@functools.partial(jax.jit, static_argnames=("n_bodies", "n_frames", "save_every"))
def _simulate(key, n_bodies: int, n_frames: int, save_every: int, dt):
    # A batch of two copies: a C = 1 program drops the unit axis and fuses
    # differently from make_nbody's chunks; C = 2 matched them bit for bit in
    # most cases checked (N = 3..20 on CPU), C = 1 less often.
    x, v, q = _initial_batch(jnp.stack([key, key]), n_bodies)
    xs, vs = _trajectory(x, v, q, n_frames, save_every, dt, FORCE_CLIP_DT / dt)
    return jnp.transpose(xs[..., 0], (0, 2, 1)), jnp.transpose(vs[..., 0], (0, 2, 1)), q[:, 0]


def simulate(
    key: jax.Array, n_bodies: int, n_steps: int, dt: float = 0.001, save_every: int = 100
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One official trajectory of `n_bodies` charged particles.

    key: one jax.random key (e.g. a row of `sample_keys`). n_bodies, n_steps, save_every:
    static ints (the number of Euler steps and the saving period, in steps).
    dt: time step; the force clip is 0.1 / dt.
    Returns positions (F, N, 3), velocities (F, N, 3) and charges (N,), float32,
    F = ceil(n_steps / save_every): frame k is the state after
    k * save_every + 1 steps (the official loop saves after step t when
    t % save_every == 0), so frame 0 is one step past the initial state.
    Steps after the last saved frame change nothing returned and are skipped.
    Jit- and vmap-friendly, e.g. ``jax.vmap(lambda k: simulate(k, 5, 5000))(keys)``.
    """
    _check_int("n_bodies", n_bodies, 2)
    _check_int("n_steps", n_steps, 1)
    _check_int("save_every", save_every, 1)
    _check_dt(dt)
    return _simulate(key, int(n_bodies), -(-int(n_steps) // int(save_every)), int(save_every), dt)


# ---------------------------------------------------------------- keys and rotations


def sample_keys(seed: int, split: str, n: int) -> jax.Array:
    """The `simulate` key of samples 0..n-1 of `split` ("train", "valid" or "test").

    Key i is fold_in(fold_in(PRNGKey(seed), split index), i): (n, 2) uint32. It
    does not depend on n, and the three splits draw from disjoint streams.
    """
    if split not in SPLITS:
        raise ValueError(f"split = {split!r} is invalid: allowed {', '.join(SPLITS)}")
    _check_int("seed", seed, 0)
    _check_int("n", n, 1)
    return _stream(jax.random.PRNGKey(seed), SPLITS.index(split), int(n))


@functools.partial(jax.jit, static_argnames="n")
def _stream(base: jax.Array, stream: int, n: int) -> jax.Array:
    """Keys fold_in(fold_in(base, stream), i) for i < n: (n, 2) uint32."""
    base = jax.random.fold_in(base, stream)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(n, dtype=jnp.uint32))


def _test_rotations(seed: int, n: int) -> np.ndarray:
    """Rotation of test sample i, (n, 3, 3) float32: its own stream, apart from the splits'."""
    keys = _stream(jax.random.PRNGKey(seed), len(SPLITS), n)
    return np.asarray(random_rotations(keys), dtype=np.float32)


def _rotate(split: NBodySplit, rotations: np.ndarray) -> NBodySplit:
    """Each sample's x, v and target mapped by its own rotation R: r -> R r."""
    turn = lambda a: np.einsum("snd,sed->sne", a, rotations).astype(np.float32)
    return NBodySplit(turn(split.x), turn(split.v), split.charges, turn(split.target))


# ---------------------------------------------------------------- data set


@functools.partial(jax.jit, static_argnames=("n_bodies", "frame_in", "frame_out", "save_every"))
def _endpoints(keys, n_bodies: int, frame_in: int, frame_out: int, save_every: int, dt):
    """Per key (C, 2): x (C, N, 3) and v at frame_in, charges (C, N), x at frame_out.

    The steps are grouped as in `_trajectory` (one step, then saving periods),
    so that XLA compiles the same loop bodies and the frames match `simulate`'s.
    """
    max_force = FORCE_CLIP_DT / dt
    x, v, q = _initial_batch(keys, n_bodies)
    x, v = _advance(x, v, q, 1, dt, max_force)
    x, v = _skip_frames(x, v, q, frame_in, save_every, dt, max_force)
    target, _ = _skip_frames(x, v, q, frame_out - frame_in, save_every, dt, max_force)
    back = lambda a: jnp.transpose(a, (2, 1, 0))
    return back(x), back(v), q.T, back(target)


def _auto_chunk(n_bodies: int) -> int:
    """Samples per jit call: ~2^18 pairs, so a (3, N, N, C) float32 array (3 MB) stays in
    cache, and at most 1024 (every call simulates a full chunk, padding included)."""
    return int(max(2, min(1024, 2**18 // n_bodies**2)))


def _make_split(keys, args: dict, bar) -> NBodySplit:
    """Simulate the samples of `keys` (S, 2), `chunk` at a time (the last chunk padded)."""
    n, size = keys.shape[0], args["chunk"]
    parts = []
    for start in range(0, n, size):
        index = np.minimum(np.arange(start, start + size), n - 1)  # pad with the last key
        out = _endpoints(keys[index], args["n_bodies"], args["frame_in"], args["frame_out"],
                         args["save_every"], args["dt"])
        count = min(size, n - start)
        parts.append([np.asarray(a)[:count] for a in out])
        bar.update(count)
    x, v, q, target = (np.concatenate(p).astype(np.float32) for p in zip(*parts))
    return NBodySplit(x=x, v=v, charges=q, target=target)


_FIELDS = ("x", "v", "charges", "target")


def _to_arrays(data: NBodyData) -> dict[str, np.ndarray]:
    return {f"{s}_{f}": getattr(getattr(data, s), f) for s in SPLITS for f in _FIELDS}


def _from_arrays(arrays: dict[str, np.ndarray], n_bodies: int) -> NBodyData:
    splits = {s: NBodySplit(*(arrays[f"{s}_{f}"] for f in _FIELDS)) for s in SPLITS}
    return NBodyData(**splits, n_bodies=n_bodies)


def _check_make(seed, n_bodies, sizes, frame_in, frame_out, dt, save_every, chunk) -> None:
    _check_int("seed", seed, 0)
    _check_int("n_bodies", n_bodies, 2)
    for name, value in sizes.items():
        _check_int(name, value, 1)
    _check_frames(frame_in, frame_out)
    _check_dt(dt)
    _check_int("save_every", save_every, 1)
    if chunk is not None:
        _check_int("chunk", chunk, 2)


def make_nbody(
    seed: int,
    n_bodies: int,
    n_train: int = 5000,
    n_valid: int = 2000,
    n_test: int = 2000,
    frame_in: int = 30,
    frame_out: int = 40,
    dt: float = 0.001,
    save_every: int = 100,
    chunk: int | None = None,
    rotate_test: bool = True,
    cache_dir: str | None = None,
    progress: bool = True,
) -> NBodyData:
    """The HEGNN charged N-body data set: frame `frame_in` -> positions at `frame_out`.

    seed: int >= 0; sample i of a split is a function of (seed, split, i) and
    the simulation arguments, not of the split sizes.
    n_bodies: N >= 2 (HEGNN uses 5, 20, 50, 100). n_train, n_valid, n_test:
    samples per split. frame_in < frame_out: frame indices as in `simulate`
    (frame k = after k * save_every + 1 steps). dt: Euler step; the force clip
    is 0.1 / dt. chunk: samples per jit call, >= 2, bounding memory (default:
    about 2^18 particle pairs per call, at most 1024 samples); every call runs a
    full chunk (the last one padded), so a sample's values do not depend on the
    split sizes; another chunk can change their last bits, which the chaotic
    dynamics amplify (see the module notes). rotate_test: rotate each test sample by its own uniform random
    rotation (HEGNN's protocol). cache_dir: if given, load/save an .npz there
    whose name hashes every argument above (no cache by default).
    progress: a tqdm bar over samples, shown once generation passes 2 s.
    Returns NBodyData of float32 numpy arrays (see NBodySplit).
    """
    sizes = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test}
    _check_make(seed, n_bodies, sizes, frame_in, frame_out, dt, save_every, chunk)
    chunk = _auto_chunk(n_bodies) if chunk is None else int(chunk)
    args = dict(seed=int(seed), n_bodies=int(n_bodies), **{k: int(v) for k, v in sizes.items()},
                frame_in=int(frame_in), frame_out=int(frame_out), dt=float(dt),
                save_every=int(save_every), chunk=chunk, rotate_test=bool(rotate_test),
                version=_CACHE_VERSION)
    arrays = cached(cache_dir, f"nbody_{args['n_bodies']}", args, lambda: _to_arrays(_generate(args, progress)))
    return _from_arrays(arrays, args["n_bodies"])


def _generate(args: dict, progress: bool) -> NBodyData:
    sizes = {s: args[f"n_{s}"] for s in SPLITS}
    splits = {}
    with tqdm(total=sum(sizes.values()), desc=f"n-body N={args['n_bodies']}", unit="sample",
              delay=2.0, disable=not progress) as bar:
        for name, n in sizes.items():
            keys = sample_keys(args["seed"], name, n)
            splits[name] = _make_split(keys, args, bar)
    if args["rotate_test"]:
        splits["test"] = _rotate(splits["test"], _test_rotations(args["seed"], sizes["test"]))
    return NBodyData(**splits, n_bodies=args["n_bodies"])
