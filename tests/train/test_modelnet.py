"""ModelNet OFF meshes, area-weighted surface sampling and the embedded ModelNet-like shapes."""

import numpy as np
import pytest
from scipy import stats

from train import data
from train.data import DataError
from train.data.modelnet import MODELNET_CLASSES, load_modelnet, make_modelnet_like, read_off, sample_surface

# a box [-1, 1] x [-0.5, 0.5] x [-0.5, 0.5] with quad faces; the two x faces hold 2 of its 10 area units
BOX_VERTICES = [(x, y, z) for x in (-1, 1) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]
BOX_QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def write_off(path, vertices=BOX_VERTICES, faces=BOX_QUADS, glued=False):
    header = f"OFF{len(vertices)} {len(faces)} 0" if glued else f"OFF\n# a comment\n{len(vertices)} {len(faces)} 0"
    lines = [header] + [" ".join(map(str, v)) for v in vertices] + [f"{len(f)} " + " ".join(map(str, f)) for f in faces]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_off_splits_polygons_into_triangles(tmp_path):
    for glued in (False, True):  # ModelNet's "OFF8 6 0" header glues the counts to the keyword
        vertices, triangles = read_off(write_off(tmp_path / f"box{glued}.off", glued=glued))
        assert vertices.shape == (8, 3) and triangles.shape == (12, 3)
        np.testing.assert_array_equal(triangles[:2], [[0, 1, 3], [0, 3, 2]])


def test_surface_samples_lie_on_the_faces_area_weighted(tmp_path):
    vertices, triangles = read_off(write_off(tmp_path / "box.off"))
    n = 20000
    points, normals = sample_surface(np.random.default_rng(0), vertices, triangles, n)
    half = np.array([1.0, 0.5, 0.5])
    on_face = np.isclose(np.abs(points), half, atol=1e-9)
    assert np.all(on_face.sum(1) >= 1) and np.all(np.abs(points) <= half + 1e-9)
    # the normal is the axis of the face the point lies on, pointing outwards (|n| = 1)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    axis = np.argmax(np.abs(normals), 1)
    assert np.all(on_face[np.arange(n), axis])
    outward = np.sign(points[np.arange(n), axis]) * np.sign(normals[np.arange(n), axis])
    assert np.all(outward > 0)
    # area-weighted: 20 % of the points on the two small x faces (99.9 % binomial band)
    k = int(np.sum(axis == 0))
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n, 0.2)
    assert lo <= k <= hi
    # uniform within a face: the y coordinate on an x face is uniform on [-0.5, 0.5]
    assert stats.kstest(points[axis == 0, 1], stats.uniform(-0.5, 1.0).cdf).pvalue > 1e-3


def test_bad_off_files_are_named(tmp_path):
    bad = tmp_path / "bad.off"
    bad.write_text("PLY\n")
    with pytest.raises(DataError, match="bad.off.*not an OFF file"):
        read_off(bad)
    write_off(bad, faces=[(0, 1, 9)])
    with pytest.raises(DataError, match="outside 0..7"):
        read_off(bad)
    flat = write_off(tmp_path / "flat.off", vertices=[(0, 0, 0), (1, 0, 0), (2, 0, 0)], faces=[(0, 1, 2)])
    with pytest.raises(DataError, match="no surface"):
        sample_surface(np.random.default_rng(0), *read_off(flat), 10)


def test_load_modelnet_reads_class_folders(tmp_path):
    pyramid = [(-1, 0, -1), (1, 0, -1), (1, 0, 1), (-1, 0, 1), (0, 1.5, 0)]
    pyramid_faces = [(0, 1, 2, 3), (0, 4, 1), (1, 4, 2), (2, 4, 3), (3, 4, 0)]
    for split, count in (("train", 3), ("test", 2)):
        for i in range(count):
            write_off(tmp_path / "box" / split / f"box_{i}.off")
            write_off(tmp_path / "pyramid" / split / f"pyramid_{i}.off", pyramid, pyramid_faces)
    ds = data.load("modelnet", data_dir=tmp_path)
    assert ds.name == "modelnet2" and ds.n_classes == 2
    assert ds.x_train.shape == (6, 1024, 6) and ds.x_test.shape == (4, 1024, 6)
    np.testing.assert_array_equal(ds.y_train, [0, 0, 0, 1, 1, 1])
    radius = np.linalg.norm(ds.x_train[..., :3], axis=-1)
    np.testing.assert_allclose(radius.max(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ds.x_train[..., :3].mean(axis=1), 0.0, atol=1e-6)
    with pytest.raises(DataError, match="no class folders"):
        load_modelnet(tmp_path / "box" / "train")


def test_modelnet_like_shapes_are_balanced_deterministic_and_distinct():
    x, y = make_modelnet_like(0, 64, 512)
    assert x.shape == (64, 512, 6) and x.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), [8] * len(MODELNET_CLASSES))
    np.testing.assert_array_equal(make_modelnet_like(0, 64, 512)[0], x)
    np.testing.assert_allclose(np.linalg.norm(x[..., 3:], axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(x[..., :3], axis=-1).max(1), 1.0, rtol=1e-5)
    # a (stretched) sphere's radii spread far less than a box's or a chair's
    spread = lambda c: np.mean(np.std(np.linalg.norm(x[y == c, :, :3], axis=-1), axis=1))
    sphere, box, chair = (MODELNET_CLASSES.index(c) for c in ("sphere", "box", "chair"))
    assert spread(sphere) < 0.6 * spread(box) and spread(sphere) < 0.6 * spread(chair)
