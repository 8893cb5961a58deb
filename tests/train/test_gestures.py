import struct

import numpy as np
import pytest

from train.data import events, points
from train.data.dataset import DataError

SENSOR = events.GESTURE_SENSOR


def test_gesture_events_are_deterministic_by_seed_and_in_a_sensible_range():
    a = events.gesture_events(np.random.default_rng(3), 4)
    b = events.gesture_events(np.random.default_rng(3), 4)
    c = events.gesture_events(np.random.default_rng(4), 4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 2_000 < len(a) < 40_000 and np.all(np.diff(a["t"]) >= 0)
    assert a["t"].min() >= 0 and a["t"].max() <= events.GESTURE_US
    assert a["x"].min() >= 0 and a["x"].max() < SENSOR[1] and a["y"].min() >= 0 and a["y"].max() < SENSOR[0]
    assert 0.3 < a["p"].mean() < 0.7
    quiet = events.gesture_events(np.random.default_rng(3), 4, noise_hz=0.0)
    assert 0.5 * len(a) < len(quiet) < len(a)  # the noise is a minority
    with pytest.raises(ValueError, match="label"):
        events.gesture_events(np.random.default_rng(0), 11)


def _turn(stream):
    """Mean angular step (rad per 50 ms) of the events' centroid about its mean."""
    bins = stream["t"] // 50_000
    cx = np.bincount(bins, stream["x"]) / np.bincount(bins)
    cy = np.bincount(bins, stream["y"]) / np.bincount(bins)
    return np.mean(np.diff(np.unwrap(np.arctan2(cy - cy.mean(), cx - cx.mean()))))


def test_waves_sit_on_their_own_side_and_circles_turn_their_own_way():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        right, left = (events.gesture_events(rng, k, noise_hz=0.0) for k in (1, 2))
        assert right["x"].mean() < SENSOR[1] / 2 - 5 < SENSOR[1] / 2 + 5 < left["x"].mean()  # subject faces us
        for label, sign in ((3, 1), (4, -1), (5, 1), (6, -1)):  # clockwise on the image (y down): angle grows
            assert sign * _turn(events.gesture_events(rng, label, noise_hz=0.0)) > 0.1


def _histograms(x, bins=8):
    cells = np.clip(((x[..., :2] + 0.5) * bins).astype(int), 0, bins - 1)
    index = cells[..., 1] * bins + cells[..., 0]
    return np.stack([np.bincount(i, minlength=bins * bins) for i in index]) / x.shape[1]


def test_the_gesture_sample_is_learnable_from_where_its_events_fall():
    ds = events.load_gesture_sample(seed=1, n_train=132, n_test=66, n_points=512)
    assert ds.x_train.shape == (132, 512, 4) and ds.x_train.dtype == np.float32 and ds.n_classes == 11
    assert np.bincount(ds.y_train).tolist() == [12] * 11 and ds.y_test.dtype == np.int32
    assert np.all(np.abs(ds.x_train[..., :3]) <= 0.5) and set(np.unique(ds.x_test[..., 3]).tolist()) == {-1.0, 1.0}
    train, test = _histograms(ds.x_train), _histograms(ds.x_test)
    centroids = np.stack([train[ds.y_train == k].mean(0) for k in range(11)])
    guess = np.argmin(((test[:, None] - centroids) ** 2).sum(-1), axis=1)
    assert np.mean(guess == ds.y_test) > 0.35  # chance: 0.09


# --- AEDAT 3.1 ---------------------------------------------------------------------------------------------

HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def _packet(kind, overflow, words, size=8):
    body = b"".join(struct.pack("<II", *w) for w in words)
    return struct.pack("<hhiiiiii", kind, 1, size, 4, overflow, len(words), len(words), len(words)) + body


def _polarity(x, y, p, t, valid=1):
    return (x << 17) | (y << 2) | (p << 1) | valid, t


def _write_release(root):
    """One recording: gesture 3 over 1,000 .. 5,000 us, gesture 11 over 2**31 + 0 .. 4,000 us."""
    root.mkdir()
    first = [_polarity(5, 7, 1, 1500), _polarity(127, 0, 0, 2500), _polarity(9, 9, 1, 2600, valid=0),
             _polarity(0, 127, 1, 3900)]
    special = [(0x12345678, 2000), (0x0, 2100)]  # eventType 0 (special events): skipped
    late = [_polarity(64, 32, 0, 1200), _polarity(3, 4, 1, 2000), _polarity(4, 5, 0, 3400)]  # overflow 1
    (root / "user01_fluorescent.aedat").write_bytes(HEADER + _packet(1, 0, first) + _packet(0, 0, special)
                                                    + _packet(1, 1, late))
    (root / "user01_fluorescent_labels.csv").write_text(
        f"class,startTime_usec,endTime_usec\n3,1000,5000\n11,{2 ** 31},{2 ** 31 + 4000}\n")
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n\n")
    (root / "trials_to_test.txt").write_text("user01_fluorescent.aedat\n")
    return root


def test_read_aedat_decodes_polarity_packets_and_the_overflow_counter(tmp_path):
    out = events.read_aedat(_write_release(tmp_path / "DvsGesture") / "user01_fluorescent.aedat")
    assert out.dtype == events.EVENT_DTYPE
    assert out["x"].tolist() == [5, 127, 0, 64, 3, 4] and out["y"].tolist() == [7, 0, 127, 32, 4, 5]
    assert out["p"].tolist() == [1, 0, 1, 0, 1, 0]
    assert out["t"].tolist() == [1500, 2500, 3900, 2 ** 31 + 1200, 2 ** 31 + 2000, 2 ** 31 + 3400]


def test_load_dvs_gesture_cuts_a_labelled_window_from_the_middle_of_each_gesture(tmp_path):
    _write_release(tmp_path / "DvsGesture")
    ds = events.load_dvs_gesture(tmp_path, n_points=8, window_us=2000)  # the parent folder works too
    assert ds.name == "dvs_gesture" and ds.n_classes == 11 and ds.x_train.shape == (2, 8, 4)
    assert ds.y_train.tolist() == [2, 10] and ds.y_test.tolist() == [2, 10]
    first = points.points_events(ds.x_train[0], events.DVS128_SENSOR, 2000)  # window 2,000 .. 4,000 us
    assert first["x"].tolist()[:2] == [127, 0] and first["t"].tolist()[:2] == [500, 1900]
    second = points.points_events(ds.x_train[1], events.DVS128_SENSOR, 2000)  # 2**31 + 1,000 .. 3,000 us
    assert second["x"].tolist()[:2] == [64, 3] and second["t"].tolist()[:2] == [200, 1000]
    two = events.load_dvs_gesture(tmp_path / "DvsGesture", n_points=8, window_us=1000, windows_per_gesture=2)
    assert two.y_train.tolist() == [2, 2, 10, 10]  # centred at 1/4 and 3/4 of each gesture
    starts = [points.points_events(x, events.DVS128_SENSOR, 1000)[0] for x in two.x_train]
    assert [(e["x"], e["t"]) for e in starts] == [(5, 0), (0, 400), (64, 700), (4, 900)]


def test_bad_release_files_raise_data_errors_naming_the_file(tmp_path):
    root = _write_release(tmp_path / "DvsGesture")
    aedat = root / "user01_fluorescent.aedat"
    good = aedat.read_bytes()
    aedat.write_bytes(good[:-3])
    with pytest.raises(DataError, match="user01_fluorescent.aedat: truncated AEDAT packet"):
        events.read_aedat(aedat)
    aedat.write_bytes(good.replace(b"#!END-HEADER\r\n", b"#END\r\n"))
    with pytest.raises(DataError, match="user01_fluorescent.aedat: .*END-HEADER"):
        events.load_dvs_gesture(root)
    aedat.write_bytes(good)
    (root / "user01_fluorescent_labels.csv").unlink()
    with pytest.raises(DataError, match="user01_fluorescent_labels.csv does not exist"):
        events.load_dvs_gesture(root)
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        events.load_dvs_gesture(tmp_path / "nowhere")
    with pytest.raises(DataError, match="user02.aedat: AEDAT file does not exist"):
        events.read_aedat(root / "user02.aedat")
