"""A classical force field and Langevin molecular dynamics for small organic molecules.

The engine behind the MD17 default (``train.data.md17.simulate_molecule``): an
AMBER-style potential (bonds, angles, two-fold torsions and impropers, UFF
Lennard-Jones) whose equilibria are the embedded geometry, integrated by a
Langevin (BAOAB-like) thermostat. Positions in angstrom, masses in amu, time in
fs, energies in kcal/mol; one pytree ``ForceField`` per molecule, passed to jit
as an argument.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ForceField", "make_force_field", "potential_energy", "forces", "remove_rigid_motion",
           "kinetic_energy", "temperature_of", "maxwell_boltzmann", "langevin", "check_simulation",
           "KB_KCAL", "KCAL", "MASS"]

# ------------------------------------------------------------------ force field
# E = sum_bonds Kb (r - r0)^2 + sum_angles Ka (theta - theta0)^2
#   + sum_dihedrals Kd [1 - cos 2(phi - phi0)] + sum_pairs s eps [(rm/r)^12 - 2 (rm/r)^6]
# (AMBER's conventions: no 1/2 in the harmonic terms). Equilibria r0, theta0, phi0 are
# those of the embedded MMFF94 geometry, so that geometry is the minimum of the bonded terms.

KB_KCAL = 0.0019872043      # Boltzmann constant, kcal/mol/K (R / 4184 J/kcal)
KCAL = 4.184e-4             # 1 kcal/mol in amu A^2 / fs^2 (1 amu A^2/fs^2 = 1e7 J/mol)
MASS = {1: 1.008, 6: 12.011, 7: 14.007, 8: 15.999}   # amu, IUPAC standard atomic weights

# Bond constants (kcal/mol/A^2) by element pair, from AMBER parm99 (Cornell et al., JACS
# 117, 5179, 1995): CT-HC 340, CA-HA 367 -> C-H 340; CT-CT 310, CA-CA 469 -> C-C 400;
# C-OH 450, C-O 570 -> C-O 450; C-N 490, CT-N 337 -> C-N 450; OH-HO 553; N-H 434.
BOND_K = {(1, 6): 340.0, (1, 7): 434.0, (1, 8): 553.0, (6, 6): 400.0, (6, 7): 450.0,
          (6, 8): 450.0}
# Angle constants (kcal/mol/rad^2): parm99 / GAFF heavy-atom angles are 60-80 (CA-CA-CA 63,
# O-C-O 80), angles with a hydrogen end 35-50 (CT-CT-HC 50): 70 and 50 here.
ANGLE_K_HEAVY, ANGLE_K_H = 70.0, 50.0
# Two-fold terms keep sp2 groups planar (harmonic angles alone restore them only at 4th
# order): a torsion on every dihedral across a bond between two 3-coordinate atoms,
# parm99 X-CA-CA-X (14.50 over 4 paths = 3.625), and an improper on every 3-coordinate
# atom, parm99 X-X-C-O (10.5), both kcal/mol.
TORSION_K, IMPROPER_K = 3.625, 10.5
# Lennard-Jones from UFF (Rappe et al., JACS 114, 10024, 1992): x_i = r_min (A), D_i (kcal/mol),
# x_ij = sqrt(x_i x_j), D_ij = sqrt(D_i D_j); between atoms > 2 bonds apart, 1-4 pairs x 0.5.
# Hydrogens bonded to N or O get D = 0 (as AMBER's HO): with no electrostatics here, UFF's
# 2.886 A hydrogen would blow apart the intramolecular O-H...O bonds of malonaldehyde and
# salicylic acid (1.7-1.9 A).
UFF_X = {1: 2.886, 6: 3.851, 7: 3.660, 8: 3.500}
UFF_D = {1: 0.044, 6: 0.105, 7: 0.069, 8: 0.060}
LJ_14_SCALE = 0.5


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ForceField:
    """Topology and constants of one molecule (a pytree; pass it to jit as an argument).

    masses (A,) amu. bonds (B, 2), angles (N, 3) (centre in the middle), dihedrals (D, 4)
    (torsions i-j-k-l, then impropers a-b-centre-d), pairs (P, 2): atom indices.
    diff (B + 2N + 3D + P, A): +-1 rows giving every vector the energy needs as diff @ x
    (a matmul, cheaper to compile and differentiate than gathers): bond x_i - x_j, angle
    x_i - x_j and x_k - x_j, dihedral x_j - x_i, x_k - x_j, x_l - x_k, pair x_i - x_j.
    bond_r0 (angstrom), bond_k; angle_theta0 (rad), angle_k; dihedral_k, dihedral_cos0/sin0
    (of 2 phi0); pair_rmin (angstrom), pair_eps (kcal/mol, 1-4 scaling included)."""

    masses: jax.Array
    bonds: jax.Array
    angles: jax.Array
    dihedrals: jax.Array
    pairs: jax.Array
    diff: jax.Array
    bond_r0: jax.Array
    bond_k: jax.Array
    angle_theta0: jax.Array
    angle_k: jax.Array
    dihedral_k: jax.Array
    dihedral_cos0: jax.Array
    dihedral_sin0: jax.Array
    pair_rmin: jax.Array
    pair_eps: jax.Array


def _internal(ff: ForceField, x, xp=jnp):
    """Bond lengths, angles (rad), cos 2 phi and sin 2 phi of dihedrals, squared pair
    distances of positions x (A, 3). Component-major (3, V) arithmetic, no cross products.
    ``xp``: jax.numpy, or numpy (float64) for the equilibria of ``make_force_field``."""
    nb, na, nd = ff.bond_r0.shape[0], ff.angle_k.shape[0], ff.dihedral_k.shape[0]
    _dot = lambda a, b: xp.sum(a * b, axis=0)
    v = (xp.asarray(ff.diff) @ x).T
    cut = np.cumsum([0, nb, na, na, nd, nd, nd])
    bond, u, w, b1, b2, b3 = (v[:, cut[k]:cut[k + 1]] for k in range(6))
    pair = v[:, cut[6]:]
    uu, ww, uw = _dot(u, u), _dot(w, w), _dot(u, w)
    theta = xp.arctan2(xp.sqrt(xp.maximum(uu * ww - uw * uw, 1e-12)), uw)
    b22 = _dot(b2, b2)
    c = _dot(b1, b2) * _dot(b2, b3) - _dot(b1, b3) * b22        # (b1 x b2) . (b2 x b3)
    triple = (b1[0] * (b2[1] * b3[2] - b2[2] * b3[1]) - b1[1] * (b2[0] * b3[2] - b2[2] * b3[0])
              + b1[2] * (b2[0] * b3[1] - b2[1] * b3[0]))
    s = xp.sqrt(b22) * triple                                   # phi = atan2(s, c)
    r2 = c * c + s * s
    return xp.sqrt(_dot(bond, bond)), theta, (c * c - s * s) / r2, 2 * c * s / r2, _dot(pair, pair)


def potential_energy(ff: ForceField, x) -> jax.Array:
    """Energy (kcal/mol) of positions x (A, 3) angstrom."""
    r, theta, c2, s2, d2 = _internal(ff, x)
    q = (ff.pair_rmin ** 2 / d2) ** 3
    return (jnp.sum(ff.bond_k * (r - ff.bond_r0) ** 2)
            + jnp.sum(ff.angle_k * (theta - ff.angle_theta0) ** 2)
            + jnp.sum(ff.dihedral_k * (1.0 - c2 * ff.dihedral_cos0 - s2 * ff.dihedral_sin0))
            + jnp.sum(ff.pair_eps * (q * q - 2.0 * q)))


def forces(ff: ForceField, x) -> jax.Array:
    """-dE/dx (kcal/mol/angstrom), (A, 3)."""
    return -jax.grad(potential_energy, argnums=1)(ff, x)


def _topology(n, bonds):
    """Neighbour lists, angle triples, dihedral quadruples and topological distances."""
    nb = [sorted({j for a, b in bonds for i, j in ((a, b), (b, a)) if i == k}) for k in range(n)]
    angles = [(i, j, k) for j in range(n) for a, i in enumerate(nb[j]) for k in nb[j][a + 1:]]
    torsions = [(i, j, k, l) for j, k in bonds if len(nb[j]) == 3 and len(nb[k]) == 3
                for i in nb[j] if i != k for l in nb[k] if l != j]
    impropers = [(nb[c][0], nb[c][1], c, nb[c][2]) for c in range(n) if len(nb[c]) == 3]
    hops = np.full((n, n), n + 1)
    for s in range(n):                      # breadth-first search from every atom
        hops[s, s], frontier, d = 0, [s], 0
        while frontier:
            d += 1
            frontier = [j for i in frontier for j in nb[i] if hops[s, j] > d]
            hops[s, frontier] = d
    return nb, angles, torsions, impropers, hops


def _diff_matrix(n, b, a, d, p) -> np.ndarray:
    """Rows of +1 at the first atom and -1 at the second, in ForceField.diff's order."""
    ends = [(b, 0, 1), (a, 0, 1), (a, 2, 1), (d, 1, 0), (d, 2, 1), (d, 3, 2), (p, 0, 1)]
    blocks = []
    for idx, plus, minus in ends:
        m = np.zeros((len(idx), n), np.float32)
        m[np.arange(len(idx)), idx[:, plus]] += 1.0
        m[np.arange(len(idx)), idx[:, minus]] -= 1.0
        blocks.append(m)
    return np.concatenate(blocks)


def _bond_constants(z, b) -> np.ndarray:
    pairs = [tuple(sorted(int(t) for t in z[p])) for p in b]
    missing = sorted(set(pairs) - set(BOND_K))
    if missing:
        raise ValueError(f"force field: no bond constant for element pairs {missing}; "
                         f"has {sorted(BOND_K)}")
    return np.array([BOND_K[q] for q in pairs])


def make_force_field(z, x0, bonds) -> ForceField:
    """Force field of a molecule: numbers z (A,), equilibrium x0 (A, 3) angstrom, bonds (i, j)."""
    z, x0 = np.asarray(z), np.asarray(x0, np.float32)
    unknown = sorted(set(z.tolist()) - set(MASS))
    if unknown:
        raise ValueError(f"force field: no parameters for elements {unknown}; has {sorted(MASS)}")
    bonds = [tuple(map(int, t)) for t in bonds]
    if x0.shape != (len(z), 3) or any(not 0 <= i < len(z) for t in bonds for i in t):
        raise ValueError(f"force field: need x0 ({len(z)}, 3) and bond indices < {len(z)}; "
                         f"got x0 {x0.shape}")
    nb, angles, torsions, impropers, hops = _topology(len(z), bonds)
    b = np.array(bonds, np.int32).reshape(-1, 2)
    a = np.array(angles, np.int32).reshape(-1, 3)
    d = np.array(torsions + impropers, np.int32).reshape(-1, 4)
    i, j = np.nonzero(np.triu(hops >= 3))
    p = np.stack([i, j], -1).astype(np.int32)
    polar_h = np.array([zi == 1 and any(z[k] in (7, 8) for k in nb[n]) for n, zi in enumerate(z)])
    depth = np.where(polar_h, 0.0, [UFF_D[int(zi)] for zi in z])
    rmin = np.array([UFF_X[int(zi)] for zi in z])
    f32 = lambda t: jnp.asarray(np.asarray(t, np.float64), jnp.float32)
    ff = ForceField(
        masses=f32([MASS[int(zi)] for zi in z]), bonds=jnp.asarray(b), angles=jnp.asarray(a),
        dihedrals=jnp.asarray(d), pairs=jnp.asarray(p), diff=f32(_diff_matrix(len(z), b, a, d, p)),
        bond_r0=f32(np.zeros(len(b))), bond_k=f32(_bond_constants(z, b)),
        angle_theta0=f32(np.zeros(len(a))),
        angle_k=f32(np.where((z[a[:, 0]] == 1) | (z[a[:, 2]] == 1), ANGLE_K_H, ANGLE_K_HEAVY)),
        dihedral_k=f32([TORSION_K] * len(torsions) + [IMPROPER_K] * len(impropers)),
        dihedral_cos0=f32(np.ones(len(d))), dihedral_sin0=f32(np.zeros(len(d))),
        pair_rmin=f32(np.sqrt(rmin[i] * rmin[j])),
        pair_eps=f32(np.where(hops[i, j] == 3, LJ_14_SCALE, 1.0) * np.sqrt(depth[i] * depth[j])))
    r0, theta0, c0, s0, _ = _internal(ff, x0.astype(np.float64), xp=np)
    return dataclasses.replace(ff, bond_r0=f32(r0), angle_theta0=f32(theta0),
                               dihedral_cos0=f32(c0), dihedral_sin0=f32(s0))


# ------------------------------------------------------------------ dynamics


def _solve3(m, b):
    """m^-1 b for a symmetric positive-definite 3 x 3 m (Cramer's rule; no LAPACK call)."""
    adj = jnp.stack([jnp.cross(m[1], m[2]), jnp.cross(m[2], m[0]), jnp.cross(m[0], m[1])])
    return adj.T @ b / jnp.dot(m[0], adj[0])


def remove_rigid_motion(u, x, masses):
    """Velocities u (A, 3) less their centre-of-mass and rigid-rotation parts about x (A, 3).

    A projection in the mass metric: noise of variance kT/m stays thermal in the 3A - 6
    internal degrees of freedom."""
    m = masses[:, None]
    u = u - jnp.sum(m * u, 0) / jnp.sum(masses)
    r = x - jnp.sum(m * x, 0) / jnp.sum(masses)
    ang = jnp.sum(m * jnp.cross(r, u), 0)
    inertia = jnp.sum(m * r * r) * jnp.eye(3) - jnp.einsum("a,ai,aj->ij", masses, r, r)
    return u - jnp.cross(_solve3(inertia, ang), r)


def kinetic_energy(masses, v):
    """Kinetic energy (kcal/mol) of velocities v (..., A, 3) angstrom/fs."""
    return 0.5 * jnp.sum(masses[:, None] * v * v, axis=(-2, -1)) / KCAL


def temperature_of(masses, v):
    """Kinetic temperature (K), 3A - 6 degrees of freedom (rigid motion removed)."""
    return 2.0 * kinetic_energy(masses, v) / ((3 * masses.shape[0] - 6) * KB_KCAL)


def maxwell_boltzmann(key, masses, x, temperature: float):
    """Velocities (A, 3) angstrom/fs at ``temperature`` K, no net momentum or rotation."""
    sigma = jnp.sqrt(KB_KCAL * temperature * KCAL / masses)[:, None]
    return remove_rigid_motion(sigma * jax.random.normal(key, x.shape), x, masses)


@functools.partial(jax.jit, static_argnames=("n_frames",))
def langevin(key, ff: ForceField, x0, v0, n_frames: int, dt_fs, temperature, friction):
    """Langevin BAOAB (friction 1/fs; 0 = velocity Verlet, NVE), one saved frame per step.

    x0, v0: (A, 3) angstrom, angstrom/fs. Returns positions and velocities, each
    (n_frames, A, 3), frame 0 = (x0, v0). The noise has no net momentum or rotation."""
    inv_m = KCAL / ff.masses[:, None]
    c1 = jnp.exp(-friction * dt_fs)
    c2 = jnp.sqrt(1.0 - c1 * c1)
    sigma = jnp.sqrt(KB_KCAL * temperature * inv_m)

    # One force evaluation per step: step n first closes step n-1 with its last half kick
    # (skipped at n = 0, so frame 0 is exactly (x0, v0)), records frame n, then B A O A.
    def step(carry, xi):
        x, v, first = carry
        f = forces(ff, x)
        v = v + jnp.where(first, 0.0, 0.5 * dt_fs) * f * inv_m
        frame = (x, v)
        v = v + 0.5 * dt_fs * f * inv_m
        x = x + 0.5 * dt_fs * v
        v = c1 * v + c2 * remove_rigid_motion(sigma * xi, x, ff.masses)
        x = x + 0.5 * dt_fs * v
        return (x, v, jnp.array(False)), frame

    noise = jax.random.normal(key, (n_frames,) + x0.shape)    # drawn outside the loop
    _, (xs, vs) = jax.lax.scan(step, (x0, v0, jnp.array(True)), noise)
    return xs, vs


def check_simulation(n_frames, temperature, dt_fs, friction) -> None:
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise ValueError(f"simulate: n_frames must be an int >= 2, got {n_frames!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"simulate: temperature must be > 0 K, got {temperature}")
    if not 0 < dt_fs <= 1.0:
        raise ValueError(f"simulate: dt_fs must be in (0, 1] fs (X-H bonds vibrate with "
                         f"a ~9 fs period), got {dt_fs}")
    if not (math.isfinite(friction) and friction >= 0):
        raise ValueError(f"simulate: friction must be >= 0 per fs, got {friction}")


