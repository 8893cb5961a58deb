"""train.data.symmetric: toy structures, their symmetry groups and the degeneration theorem."""

import math

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.data import symmetric as sym

EXPECTED_ORDER = {
    "2-fold": 4 * sym.DEFAULT_AXIAL_ORDER,  # collinear: D_∞h, cut to D_nh with n = axial_order
    "3-fold": 12, "4-fold": 16, "5-fold": 20, "6-fold": 24, "7-fold": 28, "10-fold": 40,  # D_kh
    "tetrahedron": 24,  # T_d
    "cube": 48, "octahedron": 48,  # O_h
    "dodecahedron": 120, "icosahedron": 120,  # I_h
}

NEAREST_NEIGHBOURS = {"tetrahedron": 3, "cube": 3, "octahedron": 4, "dodecahedron": 3, "icosahedron": 5}
N_VERTICES = {"tetrahedron": 4, "cube": 8, "octahedron": 6, "dodecahedron": 20, "icosahedron": 12}


def _group(name):
    return sym.symmetry_group(sym.structure(name).positions)


def _permutation(g, x, atol=1e-4):
    """Index map i -> j with g x_i = x_j, or None."""
    d = np.linalg.norm((x @ g.T)[:, None, :] - x[None, :, :], axis=-1)
    j = d.argmin(axis=1)
    if np.all(d[np.arange(len(x)), j] < atol) and len(set(j.tolist())) == len(x):
        return j
    return None


LMAX_SH = 8
_SH_IRREPS = e3nn.Irreps.spherical_harmonics(LMAX_SH)  # 0e + 1o + 2e + ... + 8e


@jax.jit
def _sh(v):
    return e3nn.spherical_harmonics(_SH_IRREPS, v, normalize=True, normalization="norm").array


@jax.jit
def _d_sh(R):
    return _SH_IRREPS.D_from_matrix(R)


_D_IRREPS_4 = e3nn.Irreps("0e + 1o + 2e + 3o + 4e")  # natural parity, l <= 4
CHARACTER_CHECK_NAMES = ("2-fold", "5-fold", "6-fold", "tetrahedron", "cube", "icosahedron")


def _centred(x):
    x = np.asarray(x, dtype=np.float32)
    x = x - x.mean(axis=0)
    return x[np.linalg.norm(x, axis=1) > 1e-6]  # skip the node at the centroid


@pytest.fixture(scope="module")
def e3nn_characters():
    """name -> (l -> tr D^(l)(g) from e3nn for every g in the group), one jitted call for all."""
    groups = [_group(n) for n in CHARACTER_CHECK_NAMES]
    d = jax.jit(jax.vmap(_D_IRREPS_4.D_from_matrix))(jnp.asarray(np.concatenate(groups), jnp.float32))
    d = np.asarray(d, dtype=np.float64)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    out = {}
    for n, i, j in zip(CHARACTER_CHECK_NAMES, bounds[:-1], bounds[1:]):
        out[n] = {l: np.trace(d[i:j, l * l:(l + 1) ** 2, l * l:(l + 1) ** 2], axis1=1, axis2=2)
                  for l in range(5)}
    return out


@pytest.fixture(scope="module")
def sh_sums():
    """name -> (Σ_i Y^(0..8)(x_i - centroid) of the structure, same of a rotated copy, D(R)).

    Every structure and its rotated copy go through one jitted call (eager e3nn is slow).
    """
    names = sym.STRUCTURE_NAMES
    rotated = [sym.rotated_pair(jax.random.key(11), sym.structure(n)) for n in names]
    clouds = [_centred(a) for a, _, _ in rotated] + [_centred(b) for _, b, _ in rotated]
    y = np.asarray(_sh(jnp.asarray(np.concatenate(clouds))), dtype=np.float64)
    bounds = np.cumsum([0] + [len(c) for c in clouds])
    sums = [y[i:j].sum(axis=0) for i, j in zip(bounds[:-1], bounds[1:])]
    k = len(names)
    return {
        n: (sums[i], sums[k + i], np.asarray(_d_sh(jnp.asarray(rotated[i][2]))))
        for i, n in enumerate(names)
    }


def _degree(v, l):
    return v[..., l * l:(l + 1) ** 2]


# ------------------------------------------------------------------ structures


@pytest.mark.parametrize("name", sym.STRUCTURE_NAMES)
def test_structure_arrays(name):
    s = sym.structure(name)
    assert s.name == name
    assert s.positions.dtype == np.float32 and s.positions.shape == (s.n_nodes, 3)
    assert s.senders.dtype == np.int32 and s.receivers.dtype == np.int32
    assert s.senders.shape == s.receivers.shape == (s.n_edges,)
    edges = set(zip(s.senders.tolist(), s.receivers.tolist()))
    assert len(edges) == s.n_edges  # no duplicates
    assert all(i != j for i, j in edges)
    assert all((j, i) in edges for i, j in edges)  # both directions
    np.testing.assert_allclose(s.positions.mean(axis=0), 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        s.positions[0, 0] = 1.0  # read-only


@pytest.mark.parametrize("k", [2, 3, 5, 10, 12])
def test_k_fold_star(k):
    s = sym.k_fold_star(k)
    assert s.n_nodes == k + 1 and s.n_edges == 2 * k
    np.testing.assert_array_equal(s.positions[0], 0.0)
    c = np.arange(k)
    expected = np.stack([np.cos(2 * np.pi * c / k), np.sin(2 * np.pi * c / k), np.zeros(k)], axis=1)
    np.testing.assert_allclose(s.positions[1:], expected, atol=1e-6)
    edges = set(zip(s.senders.tolist(), s.receivers.tolist()))
    assert edges == {(0, i) for i in range(1, k + 1)} | {(i, 0) for i in range(1, k + 1)}


@pytest.mark.parametrize("name", sym.POLYHEDRON_NAMES)
def test_polyhedron_is_regular(name):
    s = sym.polyhedron(name)
    n = N_VERTICES[name]
    assert s.n_nodes == n and s.n_edges == n * (n - 1)
    radii = np.linalg.norm(s.positions, axis=1)
    np.testing.assert_allclose(radii, radii[0], rtol=1e-6)
    d = np.linalg.norm(s.positions[:, None] - s.positions[None], axis=-1)
    d[np.arange(n), np.arange(n)] = np.inf
    n_nearest = (np.abs(d - d.min()) < 1e-5).sum(axis=1)
    assert np.all(n_nearest == NEAREST_NEIGHBOURS[name])


def test_unknown_names_and_bad_k():
    for bad in ("9-gon", "prism", "0-fold", "1-fold", "fold", ""):
        with pytest.raises(ValueError, match="allowed: 2-fold, 3-fold"):
            sym.structure(bad)
        with pytest.raises(ValueError, match="allowed"):
            sym.predicted_vanishing(bad, 4)
    for bad_k in (1, 0, -3, 2.0, True):
        with pytest.raises(ValueError, match="k="):
            sym.k_fold_star(bad_k)
    with pytest.raises(ValueError, match="allowed: tetrahedron"):
        sym.polyhedron("3-fold")
    assert sym.structure("9-fold").n_nodes == 10  # any k-fold name beyond the listed ones


# --------------------------------------------------------------- symmetry group


@pytest.mark.parametrize("name", sym.STRUCTURE_NAMES)
def test_group_order(name):
    g = _group(name)
    assert g.shape == (EXPECTED_ORDER[name], 3, 3)
    dets = np.linalg.det(g)
    assert np.sum(dets < 0) == len(g) // 2  # as many improper elements as proper ones
    np.testing.assert_allclose(g[0], np.eye(3), atol=1e-9)


def test_two_fold_star_axial_order():
    x = sym.structure("2-fold").positions
    assert len(sym.symmetry_group(x, axial_order=2)) == 8  # D_2h
    assert len(sym.symmetry_group(x, axial_order=7)) == 28  # D_7h
    for n in (2, 7):
        # D_nh has an invariant of degree l = n in its m = ±n components; D_∞h has none
        # for odd l, but the inversion removes every odd l anyway
        group = sym.symmetry_group(x, axial_order=n)
        assert [l for l in range(1, 9) if sym.invariant_multiplicity(group, l) == 0] == [1, 3, 5, 7]
    # a collinear set without an inversion centre: C_∞v, cut to C_nv
    line = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 3]], dtype=np.float32)
    assert len(sym.symmetry_group(line, axial_order=5)) == 10
    assert sym.vanishing_degrees(line, 6) == ()


@pytest.mark.parametrize("name", sym.STRUCTURE_NAMES)
def test_group_elements_are_symmetries_and_form_a_group(name):
    x = sym.structure(name).positions.astype(np.float64)
    g = _group(name)
    np.testing.assert_allclose(g @ np.swapaxes(g, 1, 2), np.broadcast_to(np.eye(3), g.shape), atol=1e-6)
    np.testing.assert_allclose(np.abs(np.linalg.det(g)), 1.0, atol=1e-6)
    for h in g:
        assert _permutation(h, x) is not None
    flat = g.reshape(len(g), 9)
    assert np.min(np.linalg.norm(flat[:, None] - flat[None], axis=-1) + 10 * np.eye(len(g))) > 1e-3
    products = np.einsum("aij,bjk->abik", g, g).reshape(-1, 9)
    nearest = np.min(np.abs(products[:, None, :] - flat[None, :, :]).max(axis=-1), axis=1)
    assert nearest.max() < 1e-5  # closed under multiplication


def test_group_found_in_any_frame():
    """Off-axis, off-origin copies give the same groups (conjugated) and degrees."""
    key = jax.random.key(3)
    for name in ("5-fold", "tetrahedron", "icosahedron"):
        s = sym.structure(name)
        _, b, _ = sym.rotated_pair(key, s)
        moved = b + np.array([0.3, -1.7, 2.2], dtype=np.float32)
        assert len(sym.symmetry_group(moved)) == EXPECTED_ORDER[name]
        assert sym.vanishing_degrees(moved, 10) == sym.predicted_vanishing(name, 10)


def test_generic_set_has_only_the_identity():
    x = np.random.default_rng(0).normal(size=(7, 3))
    g = sym.symmetry_group(x)
    assert g.shape == (1, 3, 3)
    np.testing.assert_allclose(g[0], np.eye(3), atol=1e-9)
    assert sym.vanishing_degrees(x, 6) == ()


def test_symmetry_group_rejects_bad_input():
    with pytest.raises(ValueError, match="O\\(3\\)"):
        sym.symmetry_group(np.ones((4, 3)))
    with pytest.raises(ValueError, match="shape"):
        sym.symmetry_group(np.ones((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        sym.symmetry_group(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="lmax"):
        sym.vanishing_degrees(sym.structure("cube").positions, -1)


# ----------------------------------------------------------------- characters


@pytest.mark.parametrize("name", CHARACTER_CHECK_NAMES)
def test_character_matches_e3nn_and_sine_ratio(name, e3nn_characters):
    g = _group(name)
    det, theta = sym.rotation_angles(g)
    for l in range(5):
        chi = sym.character(g, l)
        np.testing.assert_allclose(chi, e3nn_characters[name][l], atol=2e-5)
        ratio = np.where(
            theta > 1e-6,
            np.sin((2 * l + 1) * theta / 2) / np.sin(np.maximum(theta, 1e-6) / 2),
            2 * l + 1,
        )
        np.testing.assert_allclose(chi, det**l * ratio, atol=1e-9)


def _count(l, gens):
    """Number of (a, b) >= 0 with a*gens[0] + b*gens[1] = l."""
    return sum(1 for a in range(l // gens[0] + 1) if (l - a * gens[0]) % gens[1] == 0)


@pytest.mark.parametrize(
    "name, gens",
    # harmonic invariants of T_d, O_h, I_h: Molien series times (1 - t^2) = 1/((1-t^p)(1-t^q))
    [("tetrahedron", (3, 4)), ("cube", (4, 6)), ("octahedron", (4, 6)),
     ("dodecahedron", (6, 10)), ("icosahedron", (6, 10))],
)
def test_multiplicity_matches_molien_series(name, gens):
    g = _group(name)
    for l in range(31):
        assert sym.invariant_multiplicity(g, l) == _count(l, gens), l


def test_multiplicity_rejects_a_non_group():
    c, s = math.cos(1.0), math.sin(1.0)
    rot = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[c, -s, 0], [s, c, 0], [0, 0, 1]]], float)
    with pytest.raises(ValueError, match="not an integer"):
        sym.invariant_multiplicity(rot, 1)


# ------------------------------------------------------------------- theorem


@pytest.mark.parametrize("name", sym.STRUCTURE_NAMES)
def test_vanishing_degrees_match_the_rule(name):
    computed = sym.vanishing_degrees(sym.structure(name).positions, 14)
    assert computed == sym.predicted_vanishing(name, 14)


def test_predicted_vanishing_values():
    assert sym.predicted_vanishing("3-fold", 14) == (1,)
    assert sym.predicted_vanishing("7-fold", 14) == (1, 3, 5)
    assert sym.predicted_vanishing("10-fold", 6) == (1, 3, 5)
    assert sym.predicted_vanishing("tetrahedron", 14) == (1, 2, 5)
    assert sym.predicted_vanishing("cube", 6) == (1, 2, 3, 5)
    assert sym.predicted_vanishing("icosahedron", 14) == (1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 14)
    assert sym.predicted_vanishing("icosahedron", 0) == ()


# sum of Y^(l) over the nodes: the smallest non-vanishing norm seen is ~0.85 (tetrahedron, l=8)
SH_NONZERO_SPOT_CHECK = {
    "2-fold": (2, 2.0), "3-fold": (2, 1.5), "4-fold": (4, 3.316625), "5-fold": (5, 3.507804),
    "6-fold": (6, 4.444976), "7-fold": (7, 4.530821), "10-fold": (2, 5.0),
    "tetrahedron": (3, 2.981423), "cube": (4, 4.0734), "octahedron": (4, 4.582576),
    "dodecahedron": (6, 7.370275), "icosahedron": (6, 7.959898),
}


@pytest.mark.parametrize("name", sym.STRUCTURE_NAMES)
def test_sum_of_spherical_harmonics(name, sh_sums):
    x = sym.structure(name).positions
    vanishing = set(sym.vanishing_degrees(x, LMAX_SH))
    sum_a, sum_b, d = sh_sums[name]
    norms = {l: float(np.linalg.norm(_degree(sum_a, l))) for l in range(1, LMAX_SH + 1)}
    for l in vanishing:
        assert norms[l] < 1e-5, (l, norms[l])
    # for these structures the converse also holds for this function at l <= 8
    assert {l for l, v in norms.items() if v > 0.5} == set(range(1, LMAX_SH + 1)) - vanishing
    l, expected = SH_NONZERO_SPOT_CHECK[name]
    assert norms[l] == pytest.approx(expected, rel=1e-4)
    # rotating the structure rotates the sum by D(R), degree by degree
    np.testing.assert_allclose(sum_b, d @ sum_a, atol=1e-4)


# ---------------------------------------------------------------- rotated pair


def test_rotated_pair():
    s = sym.structure("dodecahedron")
    a, b, R = sym.rotated_pair(jax.random.key(0), s)
    assert a.dtype == b.dtype == R.dtype == np.float32
    np.testing.assert_array_equal(a, s.positions)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(b, a @ R.T, atol=1e-6)
    _, b2, R2 = sym.rotated_pair(jax.random.key(0), s)
    np.testing.assert_array_equal(R, R2)
    _, _, R3 = sym.rotated_pair(jax.random.key(1), s)
    assert not np.allclose(R, R3)
    with pytest.raises(TypeError, match="key first"):
        sym.rotated_pair(s, jax.random.key(0))


# ---------------------------------------------------------------- perturbation


def test_perturbed_jitter_has_the_asked_size_and_breaks_the_symmetry():
    s = sym.structure("icosahedron")
    radius = np.linalg.norm(s.positions, axis=1).mean()
    jitter = np.concatenate([sym.perturbed(jax.random.key(i), s, 0.1).positions - s.positions for i in range(40)])
    # 40 x 12 x 3 = 1440 normal draws: the sample std is within 10 % of 0.1 * radius at far beyond 3 sigma
    assert np.std(jitter) == pytest.approx(0.1 * radius, rel=0.1)
    assert np.abs(np.mean(jitter)) < 0.01 * radius
    p = sym.perturbed(jax.random.key(0), sym.structure("tetrahedron"), 0.05)
    assert p.senders.tolist() == sym.structure("tetrahedron").senders.tolist()
    assert sym.vanishing_degrees(p.positions, 6) == ()  # no symmetry left: no degree is forced to zero
    exact = sym.perturbed(jax.random.key(0), sym.structure("5-fold"), 0.0)  # epsilon 0: only re-centred
    np.testing.assert_allclose(exact.positions, sym.structure("5-fold").positions, atol=1e-6)
    with pytest.raises(ValueError, match="epsilon"):
        sym.perturbed(jax.random.key(0), s, -0.1)
    with pytest.raises(TypeError, match="key first"):
        sym.perturbed(s, jax.random.key(0), 0.1)
