import numpy as np
import pytest

from train.data import events, points
from train.data.images import load_mnist_sample


@pytest.fixture(scope="module")
def digits():
    return load_mnist_sample(seed=0, flatten=False).x_test[:64]


def test_every_pixel_round_trips_exactly_on_mnist_images(digits):
    cloud = points.image_points(digits)
    assert cloud.shape == (64, 28 * 28, 4) and cloud.dtype == np.float32
    assert np.all(np.abs(cloud[..., :2]) < 0.5) and np.all(cloud[..., 2] == 0)
    assert np.array_equal(points.points_image(cloud, (28, 28)), digits[..., 0])


def test_pixel_points_put_x_on_the_column_and_y_on_the_row():
    image = np.zeros((1, 3, 4))
    image[0, 1, 2] = 0.7  # row 1, column 2
    cloud = points.image_points(image, n_points=1)
    np.testing.assert_allclose(cloud[0, 0], [2.5 / 4 - 0.5, 1.5 / 3 - 0.5, 0.0, 0.7], rtol=1e-6)


def test_the_brightest_pixels_are_kept_in_raster_order_and_the_rest_restored_as_zeros(digits):
    cloud = points.image_points(digits, n_points=100)
    back = points.points_image(cloud, (28, 28))
    flat, back_flat = digits[..., 0].reshape(64, -1), back.reshape(64, -1)
    assert np.array_equal(np.sort(back_flat, 1)[:, -100:], np.sort(flat, 1)[:, -100:])  # the 100 brightest
    assert np.all((back_flat == flat) | (back_flat == 0))  # each at its own pixel, zeros elsewhere
    raster = np.rint((cloud[..., 1] + 0.5) * 28 - 0.5) * 28 + np.rint((cloud[..., 0] + 0.5) * 28 - 0.5)
    assert np.all(np.diff(raster, axis=1) > 0)


def _stream(rng, n, duration_us, sensor=(20, 30)):
    return events._events(rng.integers(0, sensor[1], n), rng.integers(0, sensor[0], n),
                          np.sort(rng.integers(0, duration_us, n)), rng.integers(0, 2, n))


def test_a_short_stream_round_trips_and_is_padded_by_repeating_it():
    stream = _stream(np.random.default_rng(0), 300, 1_000_000)
    cloud = points.event_points(stream, 1024, (20, 30), 1_000_000)
    assert cloud.shape == (1024, 4) and cloud.dtype == np.float32 and np.all(np.abs(cloud[:, :3]) <= 0.5)
    assert set(np.unique(cloud[:, 3]).tolist()) == {-1.0, 1.0}
    back = points.points_events(cloud, (20, 30), 1_000_000)
    assert back.dtype == events.EVENT_DTYPE
    for key in ("x", "y", "p", "t"):  # t: 1 s is far under 2**24 us, so rounding recovers it exactly
        assert np.array_equal(back[key][:300], stream[key])
    assert np.array_equal(back[300:600], back[:300]) and np.array_equal(back[600:], back[:424])


def test_time_keeps_its_documented_precision_over_a_long_window():
    duration = 3_600_000_000  # an hour: float32 cannot hold every microsecond
    stream = _stream(np.random.default_rng(1), 500, duration)
    cloud = points.event_points(stream, 500, (20, 30), duration)
    t = (cloud[:, 2].astype(np.float64) + 0.5) * duration
    assert np.max(np.abs(t - stream["t"])) <= duration * points.TIME_ROUNDING
    assert np.max(np.abs(t - stream["t"])) > 1  # the bound is not vacuous


def test_subsampling_keeps_real_events_in_time_order_and_is_deterministic_by_rng():
    stream = _stream(np.random.default_rng(2), 5000, 1_000_000)
    stream["t"] = np.arange(5000) * 200  # distinct times name each event
    cloud = points.event_points(stream, 1024, (20, 30), 1_000_000, np.random.default_rng(5))
    back = points.points_events(cloud, (20, 30), 1_000_000)
    assert np.all(np.diff(back["t"]) > 0)  # time order, no event twice
    index = back["t"] // 200
    assert np.array_equal(back, stream[index])  # only real events, each unchanged
    again = points.event_points(stream, 1024, (20, 30), 1_000_000, np.random.default_rng(5))
    other = points.event_points(stream, 1024, (20, 30), 1_000_000, np.random.default_rng(6))
    assert np.array_equal(cloud, again) and not np.array_equal(cloud, other)
    assert index.min() < 100 and index.max() > 4900  # spread over the whole stream


def test_bad_streams_and_shapes_are_refused():
    stream = _stream(np.random.default_rng(3), 50, 1000)
    with pytest.raises(ValueError, match="outside the 10 x 30 sensor"):
        points.event_points(stream, 64, (10, 30), 1000)
    with pytest.raises(ValueError, match="outside the window"):
        points.event_points(stream, 64, (20, 30), 10)
    with pytest.raises(ValueError, match="pass rng"):
        points.event_points(stream, 16, (20, 30), 1000)
    with pytest.raises(ValueError, match="no events"):
        points.event_points(stream[:0], 16, (20, 30), 1000)
    with pytest.raises(ValueError, match="n_points"):
        points.image_points(np.zeros((2, 4, 4)), n_points=17)
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        points.image_points(np.zeros((4, 4)))
