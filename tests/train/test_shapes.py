"""Synthetic part-labelled shapes, the ShapeNet-part loader (on a fixture in the real
format) and the part-segmentation metric."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from train.data import shapes
from train.data.dataset import DataError


@pytest.fixture(scope="module")
def made():
    return shapes.make_shapes(0, 48, 256)


def test_points_lie_in_the_unit_ball_centred_with_unit_normals(made):
    points, category, parts = made
    assert points.shape == (48, 256, 6) and points.dtype == np.float32
    assert category.dtype == parts.dtype == np.int32 and parts.shape == (48, 256)
    np.testing.assert_allclose(np.linalg.norm(points[..., :3], axis=-1).max(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(points[..., :3].mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(points[..., 3:], axis=-1), 1.0, atol=1e-5)


def test_every_shape_uses_exactly_its_categorys_parts(made):
    _, category, parts = made
    assert np.bincount(category).tolist() == [6] * len(shapes.CATEGORIES)  # balanced
    assert shapes.N_PARTS == sum(len(p) for p in shapes.PARTS_OF.values()) == shapes.PART_RANGES[-1][1]
    for c, p in zip(category, parts):
        first, stop = shapes.PART_RANGES[c]
        assert set(np.unique(p).tolist()) == set(range(first, stop)), shapes.CATEGORIES[c]


def test_small_parts_get_points_even_with_few_points():
    _, category, parts = shapes.make_shapes(1, 16, 16)
    for c, p in zip(category, parts):
        assert len(np.unique(p)) == shapes.PART_RANGES[c][1] - shapes.PART_RANGES[c][0]
    with pytest.raises(ValueError, match="n_points"):
        shapes.make_shapes(0, 8, 4)


def test_shapes_are_deterministic_by_seed_and_differ_across_seeds():
    a, b, c = (shapes.make_shapes(seed, 8, 64, categories=["mug", "lamp"]) for seed in (3, 3, 4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], c[0])
    assert set(a[1].tolist()) == {shapes.CATEGORIES.index("mug"), shapes.CATEGORIES.index("lamp")}
    with pytest.raises(DataError, match="unknown shape categories"):
        shapes.make_shapes(0, 2, 64, categories=["teapot"])


def _outside(p, x):
    """True where x (m, 3) lies outside primitive p of one shape (row 0)."""
    a = {k: v[0] for k, v in p.arrays.items()}
    if p.kind == "box":
        return np.any(np.abs(x - a["centre"]) > a["half"], axis=1)
    local = (x - a["centre"])[:, np.argsort(shapes._AXES[p.axis])]  # back to the canonical frame (axis y)
    rho = np.hypot(local[:, 0], local[:, 2])
    if p.kind == "frustum":
        y = local[:, 1]
        return (y < 0) | (y > a["h"]) | (rho > a["r0"] + (a["r1"] - a["r0"]) * y / a["h"])
    return np.hypot(rho - a["R"], local[:, 1]) > a["r"]


@pytest.mark.parametrize("prim", [
    shapes._Prim(0, "box", dict(centre=np.array([[0.1, 0.2, 0.3]]), half=np.array([[0.5, 0.2, 0.3]]))),
    shapes._cyl(0, 1, np.zeros((1, 3)), np.array([0.4]), np.array([0.8]), r1=np.array([0.1]), axis="x"),
    shapes._cyl(0, 1, np.ones((1, 3)), np.array([0.1]), np.array([0.5]), r1=np.array([0.4]), axis="z"),
    shapes._Prim(0, "torus", dict(centre=np.zeros((1, 3)), R=np.array([0.3]), r=np.array([0.08])), axis="z"),
])
def test_primitive_normals_point_outward(prim):
    x, n = shapes._sample(np.random.default_rng(0), prim, np.zeros(2000, int))
    eps = 1e-3
    assert np.all(_outside(prim, x + eps * n))
    assert np.mean(_outside(prim, x - eps * n)) < 0.01  # inward is inside, but within eps of an edge


def test_categories_differ_in_their_mean_extent():
    points, category, _ = shapes.make_shapes(2, 64, 256, rotate=False)
    height = np.ptp(points[..., 1], axis=1)
    means = np.array([height[category == c].mean() for c in range(len(shapes.CATEGORIES))])
    assert means[shapes.CATEGORIES.index("rocket")] > means[shapes.CATEGORIES.index("table")] + 0.3


def test_synthetic_part_and_shape_data_sets():
    ds = shapes.load_synthetic_parts(seed=0, n_train=32, n_test=8, n_points=64)
    assert ds.points_train.shape == (32, 64, 6) and ds.parts_test.shape == (8, 64)
    assert ds.n_categories == 8 and ds.n_parts == shapes.N_PARTS and len(ds.part_names) == shapes.N_PARTS
    split = ds.with_validation(0.25, seed=0)
    assert len(split.category_train) == 24 and split.parts_valid.shape == (8, 64)
    assert np.bincount(split.category_valid).tolist() == [1] * 8  # stratified
    cls = shapes.load_synthetic_shapes(seed=0, n_train=16, n_test=8, n_points=32)
    assert cls.x_train.shape == (16, 32, 6) and cls.n_classes == 8 and cls.name == "synthetic_shapes"


# --------------------------------------------------------------------------- ShapeNet-part on a fixture
SYNSETS = {"Airplane": "02691156", "Mug": "03797390"}
LABELS = {"Airplane": (0, 1, 2, 3), "Mug": (36, 37)}


def _write_release(root, n_points=(5, 12, 3, 7, 20, 9), labels_of=LABELS):
    (root / "train_test_split").mkdir(parents=True)
    (root / "synsetoffset2category.txt").write_text("".join(f"{c}\t{s}\n" for c, s in SYNSETS.items()))
    rng = np.random.default_rng(0)
    entries = []
    for i, m in enumerate(n_points):
        category = ("Airplane", "Mug")[i % 2]
        folder = root / SYNSETS[category]
        folder.mkdir(exist_ok=True)
        xyz = rng.normal(size=(m, 3)) * 3 + 5
        normals = rng.normal(size=(m, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        labels = np.resize(labels_of[category], m)
        np.savetxt(folder / f"shape{i}.txt", np.column_stack([xyz, normals, labels]), fmt="%.6f")
        entries.append(f"shape_data/{SYNSETS[category]}/shape{i}")
    for split, chosen in (("train", entries[:2] + entries[4:]), ("val", entries[2:3]), ("test", entries[3:4])):
        (root / f"train_test_split/shuffled_{split}_file_list.json").write_text(json.dumps(chosen))
    return entries


def test_shapenet_part_loader_reads_resamples_and_normalises(tmp_path):
    _write_release(tmp_path)
    ds = shapes.load_shapenet_part(tmp_path, n_points=8, seed=0)
    assert ds.categories == ("Airplane", "Mug") and ds.part_ranges == ((0, 4), (36, 38)) and ds.n_parts == 38
    assert ds.points_train.shape == (5, 8, 6) and ds.points_test.shape == (1, 8, 6) and ds.points_valid is None
    assert ds.category_train.tolist() == [0, 1, 0, 1, 0] and ds.category_test.tolist() == [1]
    for points, category, parts in zip(ds.points_train, ds.category_train, ds.parts_train):
        first, stop = ds.part_ranges[category]
        assert np.all((parts >= first) & (parts < stop))
        assert np.linalg.norm(points[:, :3], axis=1).max() <= 1 + 1e-5
        np.testing.assert_allclose(np.linalg.norm(points[:, 3:], axis=1), 1.0, atol=1e-4)
    # shape1 has 12 points: 8 distinct ones (no replacement), normalised over all 12
    raw, _ = shapes.read_shapenet_shape(tmp_path / SYNSETS["Mug"] / "shape1.txt")
    whole = shapes.normalise_points(raw[:, :3].astype(np.float64))
    got = ds.points_train[1, :, :3]
    distance = np.linalg.norm(got[:, None] - whole[None], axis=-1).min(1)
    assert np.all(distance < 1e-5) and len(np.unique(got, axis=0)) == 8
    again = shapes.load_shapenet_part(tmp_path, n_points=8, seed=0, validation=True)
    assert again.points_train.shape[0] == 4 and again.category_valid.tolist() == [0]
    one = shapes.load_shapenet_part(tmp_path, n_points=30, seed=1, categories=["Mug"])
    assert one.categories == ("Mug",) and one.part_ranges == ((36, 38),) and one.points_train.shape == (2, 30, 6)


def test_shapenet_part_loader_names_the_bad_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        shapes.load_shapenet_part(tmp_path / "nowhere")
    entries = _write_release(tmp_path)
    bad = tmp_path / entries[2].split("/", 1)[1]
    bad = bad.with_suffix(".txt")
    bad.write_text(bad.read_text() + "1.0 2.0 3.0 0 0 1\n")
    with pytest.raises(DataError, match="shape2.txt: malformed"):
        shapes.load_shapenet_part(tmp_path)
    bad.unlink()
    with pytest.raises(DataError, match="shape2.txt is missing"):
        shapes.load_shapenet_part(tmp_path)
    (tmp_path / "train_test_split/shuffled_val_file_list.json").unlink()
    with pytest.raises(DataError, match="shuffled_val_file_list.json is missing"):
        shapes.load_shapenet_part(tmp_path)


def test_shapenet_part_loader_rejects_per_category_labels(tmp_path):
    _write_release(tmp_path, labels_of={"Airplane": (0, 1, 2, 3), "Mug": (0, 1)})  # not the global ids
    with pytest.raises(DataError, match="overlap"):
        shapes.load_shapenet_part(tmp_path)
    bad = tmp_path / SYNSETS["Mug"] / "shape1.txt"
    bad.write_text(bad.read_text() + "1 2 3 0 0 1 2.5\n")
    with pytest.raises(DataError, match="shape1.txt: line 13: part label 2.5"):
        shapes.load_shapenet_part(tmp_path)


# --------------------------------------------------------------------------- metric
def test_part_miou_against_a_hand_computed_example():
    ranges = ((0, 2), (2, 5))
    truth = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [2, 3, 3, 3]])
    pred = np.array([[0, 1, 1, 1], [2, 2, 3, 4], [2, 3, 3, 3]])
    out = shapes.part_miou(pred, truth, np.array([0, 1, 1]), ranges, names=("a", "b"))
    # shape 0: part 0 1/2, part 1 2/3; shape 1: part 2 1, part 3 1/2, part 4 0/1; shape 2: 1, 1, absent -> 1
    np.testing.assert_allclose(out["per_shape"], [(1 / 2 + 2 / 3) / 2, (1 + 1 / 2 + 0) / 3, 1.0])
    np.testing.assert_allclose(out["instance_miou"], np.mean(out["per_shape"]))
    np.testing.assert_allclose(out["per_category"]["b"], (0.5 + 1.0) / 2)
    np.testing.assert_allclose(out["category_miou"], ((7 / 12) + 0.75) / 2)
    assert shapes.part_miou(truth, truth, np.array([0, 1, 1]), ranges)["instance_miou"] == 1.0
    jitted = jax.jit(lambda p, t, c: shapes.instance_miou(p, t, c, ranges))(pred, truth, np.array([0, 1, 1]))
    np.testing.assert_allclose(jitted, out["instance_miou"], rtol=1e-6)  # the jax twin used under vmap


def test_predict_parts_never_leaves_the_category_and_runs_under_jit():
    ranges = shapes.PART_RANGES
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 32, shapes.N_PARTS)).astype(np.float32)
    category = rng.integers(0, len(ranges), 16)
    pred = np.asarray(jax.jit(lambda x, c: shapes.predict_parts(x, c, ranges))(logits, category))
    mask = shapes.part_mask(ranges)
    assert mask.shape == (8, shapes.N_PARTS) and mask.sum() == shapes.N_PARTS
    assert np.all(mask[category[:, None], pred])
    inside = np.where(mask[category][:, None, :], logits, -np.inf).argmax(-1)
    np.testing.assert_array_equal(pred, inside)
    assert pred.dtype == jnp.int32
