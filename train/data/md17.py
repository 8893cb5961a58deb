"""MD17 for HEGNN: the GMN protocol, the public npz loader, and a simulated default.

The protocol follows the official HEGNN code (GLAD-RUC/HEGNN, ``datasets/md17/dataset.py``
and ``main_md17.py``, copied from GMN, Huang et al. 2022):

- velocity v[t] = R[t+1] - R[t] (angstrom per 0.5 fs frame); input frames are R[:-1];
- start frames: drop the first and last ``drop`` (10,000) input frames, then draw
  10 % / 5 % / 5 % of the rest without replacement for train / valid / test with
  ``np.random.seed(100)`` (train first, then valid from what is left, then test);
  each split keeps the first 500 / 2000 / 2000 of its draw, in draw order;
- target: positions ``delta`` (3000) frames after the start; the end drop covers it
  (the code indexes R[:-1], so it needs delta <= drop);
- heavy atoms only (z > 1); graph: heavy-atom pairs closer than 1.6 angstrom in frame 0
  (hop 1) plus pairs with a common neighbour (hop 2), both directions;
- edge attributes [z_i, z_j, hop, stick] (the dataset) plus |x_i - x_j|^2 (``main_md17.py``,
  per sample: see ``edge_features``); node features [|v|, z / max z] (``node_features``).

Without ``data_dir`` the trajectories come from a classical force field simulated here
in JAX (``simulate_molecule``), started from the RDKit geometries in ``molecules.py``:
60,001 frames of 0.5 fs, Langevin at 500 K, no net momentum or rotation, so the protocol
defaults above apply unchanged (40,000 start frames; splits 500 / 2000 / 2000). The
simulated molecules use RDKit's atom order, so their stick column is 0.
Units throughout: angstrom, fs, amu, kcal/mol.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import molecules as _mol
from .dataset import DataError
from .forcefield import ForceField, check_simulation, langevin, make_force_field, maxwell_boltzmann

MOLECULES = _mol.MOLECULES

# Official protocol (see module docstring).
DELTA, DROP, SPLIT_SEED, BOND_CUTOFF = 3000, 10_000, 100, 1.6
N_TRAIN, N_VALID, N_TEST = 500, 2000, 2000
FRACTIONS = (0.1, 0.05, 0.05)

# GMN's kinematic sticks (heavy-atom index pairs in MD17's atom order), from
# dataset.py::sample_cfg; an edge (i, j) matching a pair in either order gets stick = 1.
STICKS = {
    "aspirin": ((0, 2), (1, 3), (5, 6), (7, 10), (11, 12)),
    "benzene": ((0, 1), (2, 3), (4, 5)),
    "ethanol": ((0, 1),),
    "malonaldehyde": ((1, 2),),
    "naphthalene": ((0, 1), (2, 3), (4, 9), (5, 6), (7, 8)),
    "salicylic": ((0, 9), (1, 2), (4, 5), (6, 7)),
    "toluene": ((2, 3), (5, 6), (0, 1)),
    "uracil": ((0, 1), (3, 4)),
}

# Simulated default: 60,001 frames of 0.5 fs, so that 60,000 - 2 * 10,000 = 40,000 start
# frames give the same capped split sizes (500 / 2000 / 2000) as the real files.
SIM_FRAMES, SIM_TEMPERATURE, SIM_DT_FS, SIM_FRICTION = 60_001, 500.0, 0.5, 0.002
_PROTOCOL_KEYS = ("delta", "drop", "n_train", "n_valid", "n_test", "split_seed", "fractions",
                  "bond_cutoff")
_SIM_KEYS = ("n_frames", "temperature", "dt_fs", "friction")


@dataclass(frozen=True)
class MD17Split:
    """One split. S samples, A heavy atoms.

    x: (S, A, 3) positions at the start frame (angstrom).
    v: (S, A, 3) displacement to the next frame (angstrom per frame).
    target: (S, A, 3) positions ``delta`` frames after the start (angstrom).
    start: (S,) start-frame indices into the trajectory R.
    """

    x: np.ndarray
    v: np.ndarray
    target: np.ndarray
    start: np.ndarray


@dataclass(frozen=True)
class MD17Data:
    """A molecule under the protocol. E directed edges, edge (receiver i <- sender j).

    z: (A,) heavy-atom numbers. senders, receivers: (E,) int32, the code's (col, row).
    edge_attr: (E, 4) float32 [z_i, z_j, hop, stick] with i = receiver, j = sender.
    source: "npz:<path>" or "simulated".
    """

    molecule: str
    z: np.ndarray
    senders: np.ndarray
    receivers: np.ndarray
    edge_attr: np.ndarray
    train: MD17Split
    valid: MD17Split
    test: MD17Split
    source: str
    delta: int


# ------------------------------------------------------------------ npz files


def _check_molecule(molecule) -> None:
    if molecule not in MOLECULES:
        raise DataError(f"unknown molecule {molecule!r}; allowed: {', '.join(MOLECULES)}")


def find_npz(data_dir: str | os.PathLike, molecule: str) -> Path:
    """Path of the MD17 file for ``molecule`` in ``data_dir``: ``{mol}_dft.npz`` or
    ``md17_{mol}.npz`` (``data_dir`` may also be the npz file itself)."""
    _check_molecule(molecule)
    data_dir = Path(data_dir)
    if data_dir.is_file() and data_dir.suffix == ".npz":
        return data_dir
    names = (f"{molecule}_dft.npz", f"md17_{molecule}.npz")
    for name in names:
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(f"md17 {molecule}: none of {', '.join(names)} in {data_dir}")


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """R (frames, atoms, 3) float32 angstrom and z (atoms,) int64 from an MD17 npz file.

    Other keys (E, F, name, theory, ...) are ignored."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("R", "z") if k not in f.files]
        if missing:
            raise DataError(f"{path}: not an MD17 file, missing {missing}; keys: {f.files}")
        R, z = f["R"], f["z"]
    return _check_trajectory(R, z, str(path))


def _check_trajectory(R, z, what="trajectory") -> tuple[np.ndarray, np.ndarray]:
    R, z = np.asarray(R), np.asarray(z)
    if R.ndim != 3 or R.shape[-1] != 3:
        raise DataError(f"{what}: R must be (frames, atoms, 3), got {R.shape}")
    if z.shape != R.shape[1:2]:
        raise DataError(f"{what}: z must be (atoms,) = ({R.shape[1]},), got {z.shape}")
    if not np.issubdtype(z.dtype, np.integer) or (z.size and z.min() < 1):
        raise DataError(f"{what}: z must hold atomic numbers >= 1, got {z.dtype} {z[:8]}")
    if not np.all(np.isfinite(R)):
        raise DataError(f"{what}: R holds non-finite positions")
    return R.astype(np.float32, copy=False), z.astype(np.int64, copy=False)


# ------------------------------------------------------------------ protocol


def split_starts(n_inputs: int, drop: int, fractions=FRACTIONS, seed: int = SPLIT_SEED):
    """The official random split of start frames (indices into R), before capping.

    ``n_inputs`` = frames - 1. Same draws as ``np.random.seed(seed)`` + ``np.random.choice``
    in dataset.py (numpy's legacy generator: a permutation cut to size)."""
    n = n_inputs - 2 * drop
    rs = np.random.RandomState(seed)
    taken = np.zeros(n, dtype=bool)
    out = []
    for frac in fractions:
        draw = rs.choice(np.flatnonzero(~taken), size=int(frac * n), replace=False)
        taken[draw] = True
        out.append(draw + drop)
    return tuple(out)


def _check_protocol(T, delta, drop, caps, fractions, seed, cutoff) -> None:
    for name, value in (("delta", delta), ("drop", drop), ("seed", seed), *caps.items()):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise DataError(f"md17: {name} must be an int, got {value!r}")
    if delta < 1 or drop < 0 or min(caps.values()) < 1:
        raise DataError(f"md17: need delta >= 1, drop >= 0, caps >= 1; got delta={delta}, "
                         f"drop={drop}, caps={caps}")
    if delta > drop:
        raise DataError(f"md17: delta={delta} > drop={drop}: the last start frames would have "
                         "no target (the official code needs delta <= drop, 3000 <= 10000)")
    if len(fractions) != 3 or min(fractions) <= 0 or sum(fractions) > 1:
        raise DataError(f"md17: fractions must be 3 positive numbers summing to <= 1, "
                         f"got {fractions}")
    n = T - 1 - 2 * drop
    if n < 1 or min(int(f * n) for f in fractions) < 1:
        raise DataError(f"md17: trajectory of {T} frames is too short for drop={drop} and "
                         f"fractions={fractions}: {max(n, 0)} start frames")
    if not cutoff > 0:
        raise DataError(f"md17: bond_cutoff must be > 0 angstrom, got {cutoff}")


def build_graph(x0: np.ndarray, z: np.ndarray, cutoff=BOND_CUTOFF, sticks=()):
    """Bond (hop 1: distance < cutoff) + 2-hop edges of one frame, in the code's order.

    x0: (A, 3) angstrom, z: (A,). Returns senders, receivers (E,) int32 and edge_attr
    (E, 4) float32 [z_i, z_j, hop, stick] with i = receiver (the code's row).
    Hop 2 = a common neighbour and not bonded (the code asserts these never overlap)."""
    n = len(z)
    eye = np.eye(n, dtype=bool)
    d = np.linalg.norm(x0[:, None] - x0[None], axis=-1)
    a1 = (d < cutoff) & ~eye
    a2 = ((a1.astype(np.int64) @ a1.astype(np.int64)) > 0) & ~a1 & ~eye
    rows, cols = np.nonzero(a1 | a2)
    if rows.size == 0:
        raise DataError(f"md17: no heavy-atom pair closer than {cutoff} angstrom in frame 0")
    stick = np.zeros(rows.size)
    for a, b in sticks:
        if not (0 <= a < n and 0 <= b < n):
            raise DataError(f"md17: stick ({a}, {b}) outside the {n} heavy atoms")
        stick[((rows == a) & (cols == b)) | ((rows == b) & (cols == a))] = 1.0
    hop = np.where(a1[rows, cols], 1.0, 2.0)
    attr = np.stack([z[rows], z[cols], hop, stick], axis=-1).astype(np.float32)
    return cols.astype(np.int32), rows.astype(np.int32), attr


def _split(R, heavy, starts, cap, delta) -> MD17Split:
    st = starts[:cap]
    x = R[st][:, heavy]
    return MD17Split(x=x, v=R[st + 1][:, heavy] - x, target=R[st + delta][:, heavy],
                     start=st.astype(np.int64))


def make_md17(R, z, molecule: str, delta: int = DELTA, drop: int = DROP,
              n_train: int = N_TRAIN, n_valid: int = N_VALID, n_test: int = N_TEST,
              seed: int = SPLIT_SEED, *, fractions=FRACTIONS, bond_cutoff: float = BOND_CUTOFF,
              sticks=None, source: str = "array") -> MD17Data:
    """Apply the protocol to a trajectory R (frames, atoms, 3) angstrom with numbers z (atoms,).

    ``seed`` is the split seed (100 officially). ``sticks``: heavy-atom pairs flagged in
    the stick column; None = GMN's pairs for ``molecule`` (MD17 atom order)."""
    _check_molecule(molecule)
    R, z = _check_trajectory(R, z)
    caps = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test}
    _check_protocol(len(R), delta, drop, caps, tuple(fractions), seed, bond_cutoff)
    heavy = z > 1
    if heavy.sum() < 2:
        raise DataError(f"md17: need >= 2 heavy atoms, got z = {z}")
    sticks = STICKS[molecule] if sticks is None else tuple(sticks)
    senders, receivers, attr = build_graph(R[0][heavy], z[heavy], bond_cutoff, sticks)
    starts = split_starts(len(R) - 1, drop, tuple(fractions), seed)
    splits = [_split(R, heavy, s, c, delta) for s, c in zip(starts, caps.values())]
    return MD17Data(molecule, z[heavy], senders, receivers, attr, *splits, source=source,
                    delta=delta)


def node_features(v, z):
    """[|v|, z / max z]: v (..., A, 3), z (A,) -> (..., A, 2) float32 (main_md17.py)."""
    v, z = jnp.asarray(v, jnp.float32), jnp.asarray(z, jnp.float32)
    speed = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return jnp.concatenate([speed, jnp.broadcast_to((z / z.max())[:, None], speed.shape)], -1)


def edge_features(edge_attr, x, senders, receivers):
    """Append |x_i - x_j|^2 (angstrom^2): edge_attr (E, F), x (..., A, 3) -> (..., E, F+1)."""
    x, attr = jnp.asarray(x, jnp.float32), jnp.asarray(edge_attr, jnp.float32)
    d2 = jnp.sum((x[..., receivers, :] - x[..., senders, :]) ** 2, -1, keepdims=True)
    return jnp.concatenate([jnp.broadcast_to(attr, d2.shape[:-1] + attr.shape[-1:]), d2], -1)


def load_md17(molecule: str, data_dir: str | os.PathLike | None = None, seed: int = 0,
              **protocol) -> MD17Data:
    """MD17 ``molecule`` under the protocol: from ``data_dir`` (npz) or, if None, simulated.

    ``seed``: simulation key jax.random.PRNGKey(seed) (unused for npz). ``protocol``:
    make_md17's arguments (``split_seed`` for its ``seed``, default 100); without
    ``data_dir`` also n_frames, temperature, dt_fs, friction (see ``simulate_molecule``;
    defaults SIM_FRAMES, 500 K, 0.5 fs, SIM_FRICTION). The trajectory is cached in memory."""
    _check_molecule(molecule)
    allowed = _PROTOCOL_KEYS + (_SIM_KEYS if data_dir is None else ())
    unknown = sorted(set(protocol) - set(allowed))
    if unknown:
        raise DataError(f"load_md17: unknown options {unknown}; allowed: {', '.join(allowed)}")
    sim = {k: protocol.pop(k) for k in _SIM_KEYS if k in protocol}
    if "split_seed" in protocol:
        protocol["seed"] = protocol.pop("split_seed")
    if data_dir is not None:
        path = find_npz(data_dir, molecule)
        R, z = load_npz(path)
        return make_md17(R, z, molecule, source=f"npz:{path}", **protocol)
    sim = {k: sim.get(k, d) for k, d in zip(_SIM_KEYS, (SIM_FRAMES, SIM_TEMPERATURE,
                                                        SIM_DT_FS, SIM_FRICTION))}
    R, z = _simulated(molecule, int(seed), *sim.values())    # positional: one cache key
    return make_md17(R, z, molecule, sticks=(), source="simulated", **protocol)


@functools.lru_cache(maxsize=16)
def _simulated(molecule, seed, n_frames, temperature, dt_fs, friction):
    """simulate_molecule, cached; the arrays are made read-only."""
    R, z = simulate_molecule(jax.random.PRNGKey(seed), molecule, n_frames, temperature,
                             dt_fs, friction)
    R.setflags(write=False)
    z.setflags(write=False)
    return R, z


@functools.lru_cache(maxsize=None)
def force_field(molecule: str) -> ForceField:
    """The force field of one of the eight embedded molecules."""
    _check_molecule(molecule)
    return make_force_field(_mol.ATOMIC_NUMBERS[molecule], _mol.POSITIONS[molecule],
                            _mol.BONDS[molecule])


def equilibrium(molecule: str) -> tuple[np.ndarray, np.ndarray]:
    """Embedded geometry (A, 3) float32 angstrom and atomic numbers (A,) int64."""
    _check_molecule(molecule)
    return (np.asarray(_mol.POSITIONS[molecule], np.float32),
            np.asarray(_mol.ATOMIC_NUMBERS[molecule], np.int64))


def simulate_molecule(key, molecule: str, n_frames: int, temperature: float = 500.0,
                      dt_fs: float = 0.5, friction: float = SIM_FRICTION):
    """Molecular dynamics of an embedded molecule, one frame per ``dt_fs`` step.

    Starts at the embedded geometry with Maxwell-Boltzmann velocities (``key``); the
    Langevin thermostat (``friction`` per fs; 0.002 = 500 fs relaxation) holds
    ``temperature`` K. Returns R (n_frames, A, 3) float32 angstrom (hydrogens included)
    and z (A,) int64."""
    _check_molecule(molecule)
    check_simulation(n_frames, temperature, dt_fs, friction)
    x0, z = equilibrium(molecule)
    ff = force_field(molecule)
    k_v, k_run = jax.random.split(key)
    v0 = maxwell_boltzmann(k_v, ff.masses, jnp.asarray(x0), temperature)
    R, _ = langevin(k_run, ff, jnp.asarray(x0), v0, int(n_frames), dt_fs, temperature, friction)
    return np.asarray(R, np.float32), z
