import numpy as np
import pytest

from train.data import events
from train.data.dataset import DataError


def test_a_brightening_pixel_fires_on_events_and_a_darkening_one_off_events():
    frames = np.full((5, 4, 4), 0.3)
    frames[2:, 1, 2] = 0.9  # brightens at t = 2 ms
    frames[3:, 3, 0] = 0.05  # darkens at t = 3 ms
    out = events.events_from_frames(np.random.default_rng(0), frames, np.arange(5) * 1000, threshold=0.2)
    on, off = out[out["p"] == 1], out[out["p"] == 0]
    assert set(zip(on["y"], on["x"])) == {(1, 2)} and set(zip(off["y"], off["x"])) == {(3, 0)}
    # one event per crossed contrast level of log(0.1 + I): log(1.0 / 0.4) / 0.2 -> 4 levels
    assert len(on) == int(np.log(1.0 / 0.4) / 0.2) == 4 and np.all(on["t"] == 2000)


def test_refractory_period_holds_a_pixel_after_it_fired():
    frames = np.linspace(0.1, 1.0, 6)[:, None, None] * np.ones((6, 1, 1))
    fast = events.events_from_frames(np.random.default_rng(0), frames, np.arange(6) * 1000, refractory_us=0)
    slow = events.events_from_frames(np.random.default_rng(0), frames, np.arange(6) * 1000, refractory_us=1500)
    assert len(np.unique(slow["t"])) < len(np.unique(fast["t"]))


def test_a_static_image_makes_no_events_after_the_saccades_end():
    image = np.zeros((28, 28))
    image[8:20, 12:16] = 1.0
    frames, times = events.saccade_frames(image, steps_per_saccade=10, hold_steps=10)
    out = events.events_from_frames(np.random.default_rng(0), frames, times)
    end = 3 * events.SACCADE_US
    assert len(out) > 100 and np.all(out["t"] <= end)
    assert {0, 1} <= set(out["p"].tolist())  # edges move: both polarities


def test_frames_count_every_event_by_time_or_by_number():
    out = events._events(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]), np.array([0, 10, 20, 90]),
                         np.array([1, 0, 1, 1]))
    by_time = events.to_frames(out, 2, (2, 4), "time", duration_us=100)
    assert by_time.sum() == 4 and by_time[1].sum() == 1 and by_time[0, 0, 1, 0] == 1
    by_number = events.to_frames(out, 2, (2, 4), "number")
    assert by_number[0].sum() == by_number[1].sum() == 2
    with pytest.raises(ValueError, match="split_by"):
        events.to_frames(out, 2, (2, 4), "space")


def _write_bin(path, rows):
    raw = bytearray()
    for x, y, p, t in rows:
        raw += bytes([x, y, (p << 7) | ((t >> 16) & 127), (t >> 8) & 255, t & 255])
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("split_by, duration_us", [("time", 3 * events.SACCADE_US), ("time", None), ("number", None)])
def test_event_mnist_frames_of_many_images_at_once_are_those_of_one_at_a_time(split_by, duration_us):
    # load_event_mnist_sample runs the pixel model on many images at once: the same frames, the same draws
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (7, 28, 28)) * (rng.uniform(0, 1, (7, 28, 28)) > 0.6)
    images[3] = 0.0  # a blank image: background noise only
    one, many = np.random.default_rng(1), np.random.default_rng(1)
    expected = np.stack([events.to_frames(events.saccade_events(one, x, noise_hz=0.2), 10, split_by=split_by,
                                          duration_us=duration_us) for x in images])
    got = events._saccade_frames_many(many, images, 10, split_by, duration_us, 0.2, chunk=3)
    assert got.dtype == expected.dtype and expected.sum() > 0
    np.testing.assert_array_equal(got, expected)
    assert one.random() == many.random()  # the generator is left where one image at a time leaves it


def test_nmnist_reader_decodes_the_5_byte_events_and_time_stamp_overflow(tmp_path):
    path = tmp_path / "00001.bin"
    _write_bin(path, [(3, 4, 1, 100), (33, 0, 0, 8000), (0, events.OVERFLOW_Y, 0, 0), (5, 6, 1, 50)])
    out = events.read_nmnist_bin(path)
    assert out["x"].tolist() == [3, 33, 5] and out["y"].tolist() == [4, 0, 6] and out["p"].tolist() == [1, 0, 1]
    assert out["t"].tolist() == [100, 8000, 50 + events.OVERFLOW_US]
    path.write_bytes(b"\x00" * 7)
    with pytest.raises(DataError, match="5-byte"):
        events.read_nmnist_bin(path)


def test_load_nmnist_reads_the_train_and_test_folders(tmp_path):
    for split, digit in (("Train", 0), ("Train", 1), ("Test", 1)):
        (tmp_path / split / str(digit)).mkdir(parents=True)
        _write_bin(tmp_path / split / str(digit) / "00002.bin", [(1, 2, 1, 10), (2, 2, 0, 20000)])
    ds = events.load_nmnist(tmp_path, n_frames=4)
    assert ds.x_train.shape == (2, 4, 34, 34, 2) and ds.y_train.tolist() == [0, 1] and ds.y_test.tolist() == [1]
    assert ds.x_train[0].sum() == 2 and ds.x_train[0, 0, 2, 1, 1] == 1
    with pytest.raises(DataError, match="no .bin files"):
        events.load_nmnist(tmp_path / "Train")
