"""The spoken-digit and retinal-vessel data of the edge-pruning study, and the
segmentation metrics (against scikit-learn)."""

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile
from sklearn.metrics import average_precision_score, roc_auc_score

from train import data
from train.data import fundus, speech
from train.data.dataset import DataError
from train.loop import average_precision, pixel_cross_entropy, roc_auc


# ---------------------------------------------------------------------------- metrics
def test_roc_and_pr_auc_equal_scikit_learn_inside_the_field_of_view():
    rng = np.random.default_rng(0)
    for _ in range(4):
        scores = np.round(rng.normal(size=(2, 16, 16)), 1).astype(np.float32)  # many ties
        labels = (rng.random((2, 16, 16)) < 0.25 + 0.2 * scores).astype(np.int32)
        labels[rng.random(labels.shape) < 0.3] = fundus.OUTSIDE
        inside = labels >= 0
        np.testing.assert_allclose(float(roc_auc(jnp.asarray(scores), jnp.asarray(labels))),
                                   roc_auc_score(labels[inside], scores[inside]), rtol=1e-5)
        np.testing.assert_allclose(float(average_precision(jnp.asarray(scores), jnp.asarray(labels))),
                                   average_precision_score(labels[inside], scores[inside]), rtol=1e-5)


def test_pixel_cross_entropy_ignores_pixels_outside_the_field_of_view():
    logits = jnp.asarray([[[2.0, -1.0], [0.0, 3.0], [9.0, -9.0]]])
    labels = jnp.asarray([[0, 1, fundus.OUTSIDE]])
    expected = -np.mean([np.log(np.exp(2) / (np.exp(2) + np.exp(-1))), np.log(np.exp(3) / (1 + np.exp(3)))])
    np.testing.assert_allclose(float(pixel_cross_entropy(logits, labels)), expected, rtol=1e-5)


# ---------------------------------------------------------------------------- spoken digits
def _tone(freq_hz, seconds=0.4, rate=speech.SAMPLE_RATE):
    t = np.arange(int(seconds * rate)) / rate
    wave = np.concatenate([np.zeros(800), np.sin(2 * np.pi * freq_hz * t) * np.hanning(t.size), np.zeros(800)])
    return (wave * 20000).astype(np.int16)


def test_fsdd_loader_reads_digit_speaker_index_files_and_splits_by_take(tmp_path):
    for digit in (0, 1):
        for take in range(10):
            wavfile.write(tmp_path / f"{digit}_tester_{take}.wav", speech.SAMPLE_RATE, _tone(300 + 2000 * digit))
    ds = data.load("fsdd", data_dir=tmp_path)
    assert ds.x_train.shape == (14, speech.N_MELS, speech.N_FRAMES, 1) and ds.x_test.shape[0] == 6
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() == pytest.approx(1.0)
    # a low tone fills the low mel bands, a high tone the high ones
    low, high = ds.x_train[ds.y_train == 0, :, :, 0].mean(axis=(0, 2)), ds.x_train[ds.y_train == 1, :, :, 0].mean(
        axis=(0, 2))
    assert np.argmax(low) < np.argmax(high) - 5


def test_fsdd_loader_rejects_a_misnamed_file_and_an_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no .wav files"):
        speech.load_fsdd(tmp_path)
    wavfile.write(tmp_path / "seven.wav", speech.SAMPLE_RATE, _tone(400))
    with pytest.raises(DataError, match="digit_speaker_index"):
        speech.load_fsdd(tmp_path)


def test_wav_at_another_rate_is_resampled_to_8_khz(tmp_path):
    t = np.arange(22050) / 22050
    wavfile.write(tmp_path / "a.wav", 22050, (np.sin(2 * np.pi * 1000 * t) * 1e4).astype(np.int16))
    wave = speech.read_wav(tmp_path / "a.wav")
    assert wave.size == 8000
    assert np.argmax(np.abs(np.fft.rfft(wave))) == 1000  # 1 Hz bins over one second


def test_embedded_spoken_digits_are_balanced_and_every_voice_is_in_both_splits():
    ds = data.load("spoken_digits")
    assert ds.x_train.shape[1:] == (speech.N_MELS, speech.N_FRAMES, 1)
    assert np.all(np.bincount(ds.y_train) == np.bincount(ds.y_train)[0])
    assert len(ds.x_test) == pytest.approx(0.3 * (len(ds.x_train) + len(ds.x_test)))
    with np.load(speech.EMBEDDED_FILE) as f:
        assert len(set(f["speakers"])) == 6


# ---------------------------------------------------------------------------- retinal vessels
def test_synthetic_fundus_masks_are_exact_vessels_inside_a_circular_field_of_view():
    rng = np.random.default_rng(3)
    rgb, vessels, fov = fundus.synthetic_fundus(rng, 64)
    assert not np.any(vessels & ~fov) and 0.03 < vessels[fov].mean() < 0.4
    green = rgb[..., 1]
    assert green[vessels].mean() < green[fov & ~vessels].mean() - 0.05  # vessels are darker in green
    ds = data.load("synthetic_fundus", seed=1)
    assert ds.x_train.shape == (20, 128, 128, 1) and ds.x_test.shape == (20, 128, 128, 1)
    assert set(np.unique(ds.y_train)) == {fundus.OUTSIDE, 0, 1}
    assert np.all(ds.x_train[ds.y_train[..., None] == fundus.OUTSIDE] == 0.0)


def test_patches_are_centred_inside_the_field_of_view():
    ds = fundus.load_synthetic_fundus(seed=0, n_train=2, n_test=1, size=64)
    x, y = fundus.random_patches(np.random.default_rng(0), ds.x_train, ds.y_train, 50, 16)
    assert x.shape == (50, 16, 16, 1) and y.shape == (50, 16, 16)
    assert np.all(y[:, 8, 8] >= 0)


def _write_drive(root, split, numbers, size=(30, 28)):
    rng = np.random.default_rng(0)
    for folder in ("images", "1st_manual", "mask"):
        (root / split / folder).mkdir(parents=True, exist_ok=True)
    for n in numbers:
        Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(
            root / split / "images" / f"{n:02d}_{split}.tif")
        vessel = np.zeros(size, np.uint8)
        vessel[10:12, :] = 255
        Image.fromarray(vessel).save(root / split / "1st_manual" / f"{n:02d}_manual1.gif")
        fov = np.zeros(size, np.uint8)
        fov[2:-2, 2:-2] = 255
        Image.fromarray(fov).save(root / split / "mask" / f"{n:02d}_{split}_mask.gif")


def test_drive_loader_reads_images_manual_masks_and_fov_and_pads_to_the_unet_grid(tmp_path):
    _write_drive(tmp_path, "training", [21, 22])
    _write_drive(tmp_path, "test", [1])
    ds = data.load("drive", data_dir=tmp_path)
    assert ds.x_train.shape == (2, 32, 32, 1) and ds.x_test.shape == (1, 32, 32, 1)
    y = ds.y_test[0]
    assert np.all(y[10:12, 2:26] == 1) and np.all(y[2:10, 2:26] == 0)
    assert np.all(y[:2] == fundus.OUTSIDE) and np.all(y[:, 28:] == fundus.OUTSIDE)  # outside FOV and padding
    (tmp_path / "test" / "mask" / "01_test_mask.gif").unlink()
    with pytest.raises(DataError, match="01_test_mask.gif"):
        data.load("drive", data_dir=tmp_path)
