"""train.data.nbody: the HEGNN charged N-body simulator and data set."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.data import nbody
from train.data.nbody import NBodyData, make_nbody, sample_keys, simulate

# One small setting shared by the tests, so the simulator compiles once:
# 4 bodies, frame k after 10k + 1 steps, input frame 2, target frame 5.
_accelerations = jax.jit(nbody._accelerations)
_initial_state = jax.jit(nbody._initial_state, static_argnums=1)
SMALL = dict(n_bodies=4, n_train=4, n_valid=4, n_test=4, frame_in=2, frame_out=5, save_every=10,
             progress=False)


@pytest.fixture(scope="module")
def rotated() -> NBodyData:
    return make_nbody(0, **SMALL)


@pytest.fixture(scope="module")
def unrotated() -> NBodyData:
    return make_nbody(0, **SMALL, rotate_test=False)


def _pairwise_distances(x):
    return np.linalg.norm(x[:, :, None, :] - x[:, None, :, :], axis=-1)


def _energy(xs, vs, q):
    """Kinetic + Coulomb energy per frame: xs, vs (F, N, 3), q (N,) -> (F,), float64."""
    xs, vs, q = (np.asarray(a, dtype=np.float64) for a in (xs, vs, q))
    kinetic = 0.5 * np.sum(vs**2, axis=(1, 2))
    r = _pairwise_distances(xs)
    i, j = np.triu_indices(q.shape[0], k=1)
    potential = np.sum(q[i] * q[j] / r[:, i, j], axis=-1)
    return kinetic + potential


# ---------------------------------------------------------------- forces


@pytest.mark.parametrize("charges, sign", [((1.0, 1.0), -1.0), ((-1.0, -1.0), -1.0), ((1.0, -1.0), 1.0)])
def test_two_body_accelerations(charges, sign):
    """Like charges repel, opposite attract, |a| = 1 / r^2 along the line of centres."""
    direction = np.array([1.0, -2.0, 2.0]) / 3.0
    r = 1.7
    x = jnp.asarray(np.stack([np.zeros(3), r * direction]), dtype=jnp.float32)
    a = np.asarray(_accelerations(x, jnp.asarray(charges), jnp.inf))
    # body 0 moves towards body 1 (sign +1) or away from it (sign -1)
    np.testing.assert_allclose(a[0], sign * direction / r**2, rtol=1e-5)
    np.testing.assert_allclose(a[1], -a[0], rtol=1e-6)


def test_clip_caps_each_component_at_100():
    assert nbody.FORCE_CLIP_DT / 0.001 == pytest.approx(100.0)     # official: 0.1 / dt
    x = jnp.array([[0.0, 0.0, 0.0], [0.01, -0.01, 0.0]])          # |F| = 5e3 per component
    capped = np.asarray(_accelerations(x, jnp.array([1.0, -1.0]), 100.0))
    np.testing.assert_array_equal(capped, [[100.0, -100.0, 0.0], [-100.0, 100.0, 0.0]])


def test_clip_acts_on_the_net_force():
    """Like charges at x = 0, 0.1, 0.3: net forces -111.1, 75, 36.1 along x."""
    x = jnp.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.3, 0.0, 0.0]])
    q = jnp.ones(3)
    free = np.asarray(_accelerations(x, q, jnp.inf))
    capped = np.asarray(_accelerations(x, q, 100.0))
    np.testing.assert_allclose(free[:, 0], [-100 - 1 / 0.09, 100 - 25, 1 / 0.09 + 25], rtol=1e-5)
    np.testing.assert_array_equal(capped[0], [-100.0, 0.0, 0.0])
    np.testing.assert_array_equal(capped[1:], free[1:])
    # Newton's third law holds without the clip and breaks where it fires
    np.testing.assert_allclose(free.sum(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(capped.sum(0), [100 / 9, 0.0, 0.0], rtol=1e-4)


def test_initial_state_follows_the_official_distribution():
    n = 20
    draws = [_initial_state(jax.random.PRNGKey(i), n) for i in range(200)]
    x, v, q = (np.stack([np.asarray(d[k]) for d in draws]) for k in range(3))
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 0.5, rtol=1e-5)  # every particle
    assert set(np.unique(q)) == {-1.0, 1.0}
    assert abs(q.mean()) < 0.03
    loc_std = (n / 5) ** (1 / 3) + 0.1
    assert abs(x.std() / loc_std - 1) < 0.02
    assert abs(x.mean()) < 0.03


# ---------------------------------------------------------------- dynamics


def test_momentum_is_conserved_without_clipping():
    x, v, q = _initial_state(jax.random.PRNGKey(7), 4)
    xs, vs = nbody._rollout(x, v, q, 21, 1000, 0.001, jnp.inf)
    momentum = np.asarray(vs).sum(axis=1)                       # (F, 3): equal masses
    assert np.abs(np.asarray(xs[-1] - xs[0])).max() > 0.5        # the bodies did move
    np.testing.assert_allclose(momentum, np.broadcast_to(np.asarray(v).sum(0), momentum.shape), atol=2e-5)


def test_energy_drift_is_small_for_separated_charges():
    x = jnp.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.5, 0.0], [0.5, 0.5, 2.2]])
    v = jnp.array([[0.3, 0.0, 0.1], [0.0, -0.3, 0.0], [-0.2, 0.0, 0.2], [0.0, 0.2, -0.3]])
    q = jnp.array([1.0, -1.0, 1.0, -1.0])
    dt = 1e-4
    xs, vs = nbody._rollout(x, v, q, 21, 1000, dt, nbody.FORCE_CLIP_DT / dt)
    distances = _pairwise_distances(np.asarray(xs))[:, *np.triu_indices(4, k=1)]
    assert distances.min() > 0.2                                # |F| < 3 / 0.2^2 << the clip, 1000
    energy = _energy(xs, vs, q)
    kinetic = 0.5 * np.sum(np.asarray(vs, dtype=np.float64) ** 2, axis=(1, 2))
    assert np.ptp(kinetic) > 0.05                               # energy does change hands
    assert np.ptp(energy) < 2e-3 * np.abs(energy).max()


def test_frame_zero_is_one_euler_step_after_the_initial_state():
    key, dt = sample_keys(0, "train", 1)[0], 0.001
    xs, vs, q = simulate(key, 4, 51, dt=dt, save_every=10)
    assert xs.shape == vs.shape == (6, 4, 3)                     # ceil(51 / 10) frames
    x0, v0, q0 = _initial_state(key, 4)
    v1 = v0 + _accelerations(x0, q0, 100.0) * dt                # v first, then x with the new v
    np.testing.assert_allclose(vs[0], v1, atol=1e-7)
    np.testing.assert_allclose(xs[0], x0 + v1 * dt, atol=1e-7)
    np.testing.assert_array_equal(q, q0)
    shape = lambda n_steps: jax.eval_shape(lambda k: simulate(k, 4, n_steps), key)[0].shape
    assert shape(5000) == (50, 4, 3)                             # the official trajectory length
    assert shape(5001) == (51, 4, 3)
    batched = jax.eval_shape(jax.vmap(lambda k, dt: simulate(k, 4, 5000, dt=dt)),   # traceable
                             sample_keys(0, "train", 4), jnp.full(4, 0.001))
    assert [a.shape for a in batched] == [(4, 50, 4, 3), (4, 50, 4, 3), (4, 4)]


# ---------------------------------------------------------------- data set


def test_make_nbody_keeps_simulate_frames_in_and_out(unrotated):
    for split in ("train", "valid", "test"):
        part = getattr(unrotated, split)
        keys = sample_keys(0, split, 4)
        for i in range(4):
            xs, vs, q = simulate(keys[i], 4, 5 * 10 + 1, dt=0.001, save_every=10)
            np.testing.assert_allclose(part.x[i], xs[2], atol=1e-5)    # float rounding
            np.testing.assert_allclose(part.v[i], vs[2], atol=1e-5)
            np.testing.assert_allclose(part.target[i], xs[5], atol=1e-5)
            np.testing.assert_array_equal(part.charges[i], q)


def test_shapes_dtypes_and_determinism(rotated):
    again = make_nbody(0, **SMALL)
    for split in ("train", "valid", "test"):
        a, b = getattr(rotated, split), getattr(again, split)
        for name in ("x", "v", "charges", "target"):
            assert getattr(a, name).dtype == np.float32
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.x.shape == a.v.shape == a.target.shape == (4, 4, 3)
        assert a.charges.shape == (4, 4)
    assert rotated.n_bodies == 4


def test_seeds_and_splits_differ(rotated, unrotated):
    other = make_nbody(1, **SMALL)
    assert not np.allclose(other.train.x, rotated.train.x)
    parts = [unrotated.train.x, unrotated.valid.x, unrotated.test.x]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not np.allclose(parts[a], parts[b])


def test_samples_do_not_depend_on_split_sizes(rotated):
    fewer = make_nbody(0, **{**SMALL, "n_train": 2, "n_valid": 2, "n_test": 2})
    np.testing.assert_array_equal(fewer.train.target, rotated.train.target[:2])
    np.testing.assert_array_equal(fewer.valid.x, rotated.valid.x[:2])
    np.testing.assert_array_equal(fewer.test.target, rotated.test.target[:2])   # rotations too


def test_test_split_is_a_rotation_of_the_simulated_sample(rotated, unrotated):
    for name in ("x", "v", "charges", "target"):                 # train and valid untouched
        np.testing.assert_array_equal(getattr(rotated.train, name), getattr(unrotated.train, name))
        np.testing.assert_array_equal(getattr(rotated.valid, name), getattr(unrotated.valid, name))
    t, u = rotated.test, unrotated.test
    assert not np.allclose(t.x, u.x)
    np.testing.assert_allclose(_pairwise_distances(t.x), _pairwise_distances(u.x), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(t.v, axis=-1), np.linalg.norm(u.v, axis=-1), atol=1e-6)
    np.testing.assert_array_equal(t.charges, u.charges)
    for i in range(t.x.shape[0]):
        # rows are r^T, so rotated = unrotated @ R^T; fit R^T on positions ...
        rt = np.linalg.lstsq(u.x[i].astype(np.float64), t.x[i].astype(np.float64), rcond=None)[0]
        np.testing.assert_allclose(rt @ rt.T, np.eye(3), atol=1e-4)
        assert np.linalg.det(rt) == pytest.approx(1.0, abs=1e-4)
        # ... and check the same rotation maps velocities and targets
        np.testing.assert_allclose(u.v[i] @ rt, t.v[i], atol=1e-4)
        np.testing.assert_allclose(u.target[i] @ rt, t.target[i], atol=1e-4)


def test_cache_round_trip(tmp_path, monkeypatch, rotated):
    first = make_nbody(0, **SMALL, cache_dir=str(tmp_path))
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1

    def no_generation(*args, **kwargs):
        raise AssertionError("a cached data set was regenerated")

    monkeypatch.setattr(nbody, "_generate", no_generation)
    second = make_nbody(0, **SMALL, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(second.test.target, first.test.target)
    np.testing.assert_array_equal(second.train.x, rotated.train.x)
    with pytest.raises(AssertionError, match="regenerated"):      # other arguments, other file
        make_nbody(2, **SMALL, cache_dir=str(tmp_path))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_bodies=1), "n_bodies"),
        (dict(n_bodies=4.0), "n_bodies"),
        (dict(n_train=0), "n_train"),
        (dict(n_valid=-1), "n_valid"),
        (dict(n_test=True), "n_test"),
        (dict(frame_in=-1), "frame_in"),
        (dict(frame_in=5, frame_out=5), "frame_out"),
        (dict(dt=0.0), "dt"),
        (dict(dt=float("nan")), "dt"),
        (dict(save_every=0), "save_every"),
        (dict(chunk=1), "chunk"),
    ],
)
def test_make_nbody_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} = "):
        make_nbody(0, **{**SMALL, **kwargs})


def test_simulate_and_sample_keys_reject_bad_arguments():
    key = jax.random.PRNGKey(0)
    for kwargs, name in [(dict(n_bodies=1), "n_bodies"), (dict(n_steps=0), "n_steps"),
                         (dict(save_every=0), "save_every"), (dict(dt=-0.1), "dt")]:
        with pytest.raises(ValueError, match=rf"^{name} = "):
            simulate(key, **{"n_bodies": 3, "n_steps": 10, **kwargs})
    with pytest.raises(ValueError, match="split = 'dev'"):
        sample_keys(0, "dev", 3)
    with pytest.raises(ValueError, match=r"^seed = "):
        make_nbody(-1, **SMALL)
