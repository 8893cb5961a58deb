"""train.data.md17: the MD17 protocol on npz fixtures written here, the force field, the MD."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.data import forcefield, md17, molecules

MOL = "aspirin"          # the largest molecule: every force-field term is present
N_FRAMES = 2000          # one compiled integrator shared by every dynamics test

# ---------------------------------------------------------------- npz fixtures

# ethanol with its hydrogens interleaved: heavy atoms in file order are C(H3), O, C(H2)
_PERM = [3, 0, 4, 5, 2, 1, 6, 7, 8]


def _trajectory(n_frames=200, seed=0):
    rng = np.random.default_rng(seed)
    base = np.asarray(molecules.POSITIONS["ethanol"])[_PERM]
    walk = np.cumsum(0.002 * rng.standard_normal((n_frames, len(base), 3)), axis=0)
    z = np.asarray(molecules.ATOMIC_NUMBERS["ethanol"])[_PERM]
    return base + walk, z


def _write_npz(path, R, z):
    """The public MD17 layout: R, z, E, F (float64) and the string metadata."""
    np.savez(path, R=R, z=z, E=np.zeros((len(R), 1)), F=np.zeros_like(R),
             name=np.array("ethanol"), theory=np.array("PBE+vdW-TS"))
    return path


@pytest.fixture
def npz_dir(tmp_path):
    R, z = _trajectory()
    _write_npz(tmp_path / "ethanol_dft.npz", R, z.astype(np.uint8))
    return tmp_path, R.astype(np.float32), z


SMALL = dict(delta=5, drop=6, n_train=10, n_valid=5)


def _official_split(n_frames, drop, seed=100):
    """dataset.py's split, written as the official code does it (lists and flags)."""
    rs = np.random.RandomState(seed)            # == np.random.seed(seed); np.random.choice
    n = (n_frames - 1) - 2 * drop
    train = rs.choice(np.arange(n), size=int(0.1 * n), replace=False)
    flag = np.zeros(n)
    flag[train] = 1
    valid = rs.choice([i for i in range(n) if not flag[i]], size=int(0.05 * n), replace=False)
    flag[valid] = 1
    test = rs.choice([i for i in range(n) if not flag[i]], size=int(0.05 * n), replace=False)
    return train + drop, valid + drop, test + drop


def test_npz_protocol_heavy_atoms_velocity_target(npz_dir):
    path, R, z = npz_dir
    data = md17.load_md17("ethanol", data_dir=path, **SMALL)
    heavy = z > 1
    assert data.source == f"npz:{path / 'ethanol_dft.npz'}"
    np.testing.assert_array_equal(data.z, [6, 8, 6])
    for split in (data.train, data.valid, data.test):
        st = split.start
        assert split.x.shape == (len(st), 3, 3) and split.x.dtype == np.float32
        np.testing.assert_array_equal(split.x, R[st][:, heavy])
        np.testing.assert_array_equal(split.v, R[st + 1][:, heavy] - R[st][:, heavy])
        np.testing.assert_array_equal(split.target, R[st + 5][:, heavy])


def test_npz_split_matches_official_code_capped_disjoint(npz_dir):
    path, R, _ = npz_dir
    data = md17.load_md17("ethanol", data_dir=path, **SMALL)
    ref = _official_split(len(R), drop=6)
    # 199 input frames - 12 dropped = 187 starts: 18 / 9 / 9, then capped at 10 / 5 / 2000
    for split, want, cap in zip((data.train, data.valid, data.test), ref, (10, 5, 2000)):
        np.testing.assert_array_equal(split.start, want[:cap])
    assert [len(s.start) for s in (data.train, data.valid, data.test)] == [10, 5, 9]
    starts = np.concatenate([data.train.start, data.valid.start, data.test.start])
    assert len(set(starts.tolist())) == len(starts)
    assert starts.min() >= 6 and starts.max() < len(R) - 1 - 6
    again = md17.load_md17("ethanol", data_dir=path, **SMALL)
    np.testing.assert_array_equal(again.test.x, data.test.x)
    other = md17.load_md17("ethanol", data_dir=path, split_seed=7, **SMALL)
    assert not np.array_equal(other.train.start, data.train.start)


def test_npz_graph_bonds_two_hop_symmetric_edge_attr(npz_dir):
    path, _, _ = npz_dir
    data = md17.load_md17("ethanol", data_dir=path, **SMALL)
    edges = list(zip(data.receivers.tolist(), data.senders.tolist()))
    # heavy atoms 0 = C(H3), 1 = O, 2 = C(H2): bonds 0-2, 1-2; 0-1 is 2-hop; code order
    assert edges == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    hop = {e: a[2] for e, a in zip(edges, data.edge_attr)}
    assert hop[(0, 2)] == hop[(1, 2)] == 1 and hop[(0, 1)] == hop[(1, 0)] == 2
    np.testing.assert_array_equal(data.edge_attr[:, 0], data.z[data.receivers])
    np.testing.assert_array_equal(data.edge_attr[:, 1], data.z[data.senders])
    # GMN's ethanol stick (0, 1) flags that pair in both directions, nothing else
    np.testing.assert_array_equal(data.edge_attr[:, 3], [1, 0, 1, 0, 0, 0])
    feats = md17.edge_features(data.edge_attr, data.train.x[:2], data.senders, data.receivers)
    x = data.train.x[:2]
    d2 = np.sum((x[:, data.receivers] - x[:, data.senders]) ** 2, -1)
    assert feats.shape == (2, 6, 5)
    np.testing.assert_allclose(feats[..., 4], d2, rtol=1e-6)
    nodes = md17.node_features(data.train.v[:2], data.z)
    np.testing.assert_allclose(nodes[..., 0], np.linalg.norm(data.train.v[:2], axis=-1), rtol=1e-6)
    np.testing.assert_allclose(nodes[0, :, 1], [6 / 8, 1.0, 6 / 8])


def test_npz_other_name_file_path_and_missing(tmp_path):
    R, z = _trajectory()
    _write_npz(tmp_path / "md17_ethanol.npz", R, z)
    data = md17.load_md17("ethanol", data_dir=tmp_path, **SMALL)
    assert data.source.endswith("md17_ethanol.npz") and data.train.x.shape[1:] == (3, 3)
    assert md17.find_npz(tmp_path / "md17_ethanol.npz", "ethanol") == tmp_path / "md17_ethanol.npz"
    with pytest.raises(FileNotFoundError, match="benzene_dft.npz.*md17_benzene.npz"):
        md17.load_md17("benzene", data_dir=tmp_path)
    np.savez(tmp_path / "toluene_dft.npz", R=R)
    with pytest.raises(ValueError, match="missing \\['z'\\]"):
        md17.load_md17("toluene", data_dir=tmp_path)


def test_bad_arguments_raise_value_error(npz_dir):
    path, R, z = npz_dir
    with pytest.raises(ValueError, match="allowed: aspirin, benzene.*uracil"):
        md17.load_md17("caffeine")
    with pytest.raises(ValueError, match="delta=7 > drop=6"):
        md17.make_md17(R, z, "ethanol", delta=7, drop=6)
    with pytest.raises(ValueError, match="too short"):
        md17.make_md17(R[:20], z, "ethanol", delta=5, drop=6)
    with pytest.raises(ValueError, match="too short"):
        md17.make_md17(R, z, "ethanol")                 # the default drop of 10,000
    with pytest.raises(ValueError, match=r"\(frames, atoms, 3\)"):
        md17.make_md17(R[..., :2], z, "ethanol", **SMALL)
    with pytest.raises(ValueError, match="z must be"):
        md17.make_md17(R, z[:-1], "ethanol", **SMALL)
    with pytest.raises(ValueError, match="atomic numbers"):
        md17.make_md17(R, z.astype(float), "ethanol", **SMALL)
    with pytest.raises(ValueError, match="fractions"):
        md17.make_md17(R, z, "ethanol", fractions=(0.5, 0.4, 0.3), **SMALL)
    with pytest.raises(ValueError, match="n_train must be an int"):
        md17.make_md17(R, z, "ethanol", **{**SMALL, "n_train": 2.5})
    with pytest.raises(ValueError, match="unknown options \\['n_frame'\\]"):
        md17.load_md17("ethanol", n_frame=10)
    with pytest.raises(ValueError, match="unknown options \\['n_frames'\\]"):
        md17.load_md17("ethanol", data_dir=path, n_frames=10)
    key = jax.random.PRNGKey(0)
    for bad in ({"n_frames": 1}, {"n_frames": 10, "dt_fs": 2.0},
                {"n_frames": 10, "temperature": -5.0}, {"n_frames": 10, "friction": -1.0}):
        with pytest.raises(ValueError, match="simulate"):
            md17.simulate_molecule(key, "ethanol", **bad)


# ---------------------------------------------------------------- force field

_value_and_grad = jax.jit(jax.value_and_grad(forcefield.potential_energy, argnums=1))


@pytest.fixture(scope="module")
def ff():
    return md17.force_field(MOL)


def _energy_forces(ff, x):
    e, g = _value_and_grad(ff, jnp.asarray(x, jnp.float32))
    return float(e), -np.asarray(g)


def test_forces_match_finite_differences(ff):
    rng = np.random.default_rng(1)
    x0, _ = md17.equilibrium(MOL)
    x = x0 + 0.1 * rng.standard_normal(x0.shape).astype(np.float32)
    _, f = _energy_forces(ff, x)
    h = 1e-2
    for _ in range(3):
        u = rng.standard_normal(x.shape).astype(np.float32)
        u /= np.linalg.norm(u)
        fd = (_energy_forces(ff, x + h * u)[0] - _energy_forces(ff, x - h * u)[0]) / (2 * h)
        assert fd == pytest.approx(-np.sum(f * u), rel=2e-3, abs=1e-2)


def test_no_net_force_or_torque_and_invariant_energy(ff):
    rng = np.random.default_rng(2)
    x0, _ = md17.equilibrium(MOL)
    x = x0 + 0.15 * rng.standard_normal(x0.shape).astype(np.float32)
    e, f = _energy_forces(ff, x)
    scale = np.abs(f).sum()
    assert np.abs(f.sum(0)).max() < 1e-4 * scale
    torque = np.cross(x - x.mean(0), f).sum(0)
    assert np.abs(torque).max() < 1e-4 * scale * np.abs(x).max()
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    e_moved, f_moved = _energy_forces(ff, x @ q.T + np.array([1.0, -2.0, 0.5]))
    assert e_moved == pytest.approx(e, rel=1e-4)
    np.testing.assert_allclose(f_moved, f @ q.T, atol=1e-3 * np.abs(f).max())


def test_embedded_geometry_is_the_minimum(ff):
    x0, _ = md17.equilibrium(MOL)
    bonded = dataclasses.replace(ff, pair_eps=jnp.zeros_like(ff.pair_eps))
    e_bonded, f_bonded = _energy_forces(bonded, x0)
    assert abs(e_bonded) < 1e-4 and np.abs(f_bonded).max() < 1e-2     # bonded terms at rest
    e0, f0 = _energy_forces(ff, x0)                                   # plus Lennard-Jones
    rng = np.random.default_rng(3)
    for _ in range(3):
        e, f = _energy_forces(ff, x0 + 0.05 * rng.standard_normal(x0.shape))
        assert e > e0 and np.abs(f0).max() < 0.15 * np.abs(f).max()


def test_topology_of_every_molecule():
    for mol in md17.MOLECULES:
        f = md17.force_field(mol)
        z = np.asarray(molecules.ATOMIC_NUMBERS[mol])
        assert f.bonds.shape == (len(molecules.BONDS[mol]), 2) and f.masses.shape == z.shape
        n3 = sum(int((np.asarray(f.bonds) == a).any(1).sum() == 3) for a in range(len(z)))
        assert f.dihedrals.shape[0] >= n3                   # an improper per sp2 centre
        polar = {j for i, j in molecules.BONDS[mol] if z[i] in (7, 8) and z[j] == 1}
        pairs = np.asarray(f.pairs)
        assert np.all(np.asarray(f.pair_eps)[np.isin(pairs, list(polar)).any(1)] == 0)


# ---------------------------------------------------------------- dynamics


@pytest.fixture(scope="module")
def runs(ff):
    x0 = jnp.asarray(md17.equilibrium(MOL)[0])
    v0 = forcefield.maxwell_boltzmann(jax.random.PRNGKey(0), ff.masses, x0, 500.0)
    key = jax.random.PRNGKey(1)
    nve = forcefield.langevin(key, ff, x0, v0, N_FRAMES, 0.1, 500.0, 0.0)
    nvt = forcefield.langevin(key, ff, x0, v0, N_FRAMES, 0.5, 500.0, 0.1)
    return x0, v0, [tuple(map(np.asarray, r)) for r in (nve, nvt)]


def test_nve_conserves_energy_momentum_rotation(ff, runs):
    x0, v0, ((xs, vs), _) = runs
    np.testing.assert_array_equal(xs[0], x0)
    np.testing.assert_array_equal(vs[0], v0)
    u = np.array([_energy_forces(ff, x)[0] for x in xs[::10]])
    total = u + np.asarray(forcefield.kinetic_energy(ff.masses, vs[::10]))
    kinetic = np.asarray(forcefield.kinetic_energy(ff.masses, vs)).mean()
    assert np.abs(total - total[0]).max() < 2e-3 * kinetic          # 3e-4 seen at 0.1 fs
    m = np.asarray(ff.masses)[:, None]
    assert np.abs((m * vs).sum(1)).max() < 1e-5
    r = xs - (m * xs).sum(1, keepdims=True) / m.sum()
    assert np.abs((m * np.cross(r, vs)).sum(1)).max() < 1e-4


def test_langevin_holds_500_kelvin_and_a_sensible_molecule(ff, runs):
    _, _, (_, (xs, vs)) = runs
    temps = np.asarray(forcefield.temperature_of(ff.masses, vs[500:]))
    assert 450 < temps.mean() < 550
    m = np.asarray(ff.masses)[:, None]
    com = (m * xs).sum(1) / m.sum()
    assert np.abs(com - com[0]).max() < 1e-3
    b, r0 = np.asarray(ff.bonds), np.asarray(ff.bond_r0)
    stretch = np.abs(np.linalg.norm(xs[:, b[:, 0]] - xs[:, b[:, 1]], axis=-1) / r0 - 1)
    assert np.quantile(stretch, 0.99) < 0.1 and stretch.max() < 0.25


def test_simulated_default_path_graph_and_cache():
    kw = dict(n_frames=N_FRAMES, delta=200, drop=300)
    data = md17.load_md17(MOL, seed=0, **kw)
    assert data.source == "simulated" and data.delta == 200
    z = np.asarray(molecules.ATOMIC_NUMBERS[MOL])
    np.testing.assert_array_equal(data.z, z[z > 1])
    heavy = int((z > 1).sum())
    bonds = {(i, j) for i, j in molecules.BONDS[MOL] if max(i, j) < heavy}
    hop1 = {(r, s) for r, s, a in zip(data.receivers, data.senders, data.edge_attr) if a[2] == 1}
    assert hop1 == bonds | {(j, i) for i, j in bonds}
    assert np.all(data.edge_attr[:, 3] == 0)      # GMN's sticks index MD17's atom order
    # 1999 - 600 = 1399 starts: 139 / 69 / 69, all under the caps
    assert [len(s.x) for s in (data.train, data.valid, data.test)] == [139, 69, 69]
    hits = md17._simulated.cache_info().hits
    np.testing.assert_array_equal(md17.load_md17(MOL, seed=0, **kw).valid.v, data.valid.v)
    assert md17._simulated.cache_info().hits == hits + 1                   # trajectory cached
    R, _ = md17.simulate_molecule(jax.random.PRNGKey(0), MOL, N_FRAMES)
    st = data.test.start
    np.testing.assert_array_equal(data.test.target, R[st + 200][:, z > 1])
    other = md17.load_md17(MOL, seed=1, **kw)
    assert not np.array_equal(other.train.x, data.train.x)
