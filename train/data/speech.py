"""Spoken digits: the Free Spoken Digit Dataset (FSDD) format and an embedded set.

FSDD (github.com/Jakobovski/free-spoken-digit-dataset) is a folder of 8 kHz mono
wav files named ``{digit}_{speaker}_{index}.wav``. Every clip becomes one
time-frequency image of ``N_MELS x N_FRAMES`` = 23 x 20 (the edge-pruning paper's
feature size): silence trimmed, the voiced part cut into 20 equal overlapping
windows, each window's power spectrum on 23 mel bands, log-compressed and scaled
to [0, 1] per clip. Axis 0 is frequency (the CRNN's convolutions collapse it),
axis 1 time (its recurrent layer runs over it).

The split is by take: index mod 10 < 3 goes to test (30 %; FSDD's 3,000 clips ->
2,100 train / 900 test, the paper's sizes), so every speaker is in both.

``spoken_digits`` is the embedded default: 1,800 clips synthesised offline with
espeak-ng over six voices, random speed, pitch, gain and background noise
(``scripts/make_spoken_digits.py`` makes it through ``load_fsdd``; the features,
not the audio, are shipped).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

from .dataset import DataError, Dataset

SAMPLE_RATE = 8000  # Hz, FSDD's rate
N_MELS = 23
N_FRAMES = 20
TEST_TAKES = 3  # of every 10 takes
FILE_PATTERN = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
EMBEDDED_FILE = Path(__file__).with_name("spoken_digits.npz")


def mel_filterbank(n_mels: int, n_fft: int, rate: float, f_min: float = 50.0, f_max: float | None = None):
    """(n_mels, n_fft // 2 + 1) triangular filters equally spaced on the mel scale
    (2595 log10(1 + f / 700)) between ``f_min`` and ``f_max`` (Hz; default rate / 2)."""
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    to_hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = to_hz(np.linspace(to_mel(f_min), to_mel(f_max or rate / 2), n_mels + 2))
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))


def trim_silence(wave: np.ndarray, rate: float, threshold_db: float = -35.0, frame_s: float = 0.02) -> np.ndarray:
    """``wave`` without the leading and trailing frames quieter than ``threshold_db``
    below its loudest ``frame_s``-second frame."""
    frame = max(1, int(frame_s * rate))
    n = len(wave) // frame
    if n < 2:
        return wave
    energy = (wave[:n * frame].reshape(n, frame) ** 2).mean(axis=1) + 1e-12
    loud = np.flatnonzero(10 * np.log10(energy / energy.max()) > threshold_db)
    return wave[loud[0] * frame:(loud[-1] + 1) * frame]


def spectral_features(wave: np.ndarray, rate: float = SAMPLE_RATE, n_mels: int = N_MELS,
                      n_frames: int = N_FRAMES) -> np.ndarray:
    """(n_mels, n_frames) float32 in [0, 1]: the log mel spectrum of ``n_frames`` equal,
    half-overlapping windows over the voiced part of ``wave`` (float, any scale)."""
    wave = trim_silence(np.asarray(wave, np.float64), rate)
    width = max(64, int(2 * len(wave) / (n_frames + 1)))
    wave = np.pad(wave, (0, max(0, width - len(wave))))
    starts = np.linspace(0, len(wave) - width, n_frames).astype(int)
    frames = np.stack([wave[s:s + width] for s in starts]) * signal.windows.hann(width)
    n_fft = max(256, 1 << (width - 1).bit_length())
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    log_mel = np.log10(mel_filterbank(n_mels, n_fft, rate) @ power.T + 1e-10)
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)  # 80 dB floor
    lo, hi = log_mel.min(), log_mel.max()
    return ((log_mel - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def read_wav(path: str | os.PathLike, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A wav file as float64 mono samples at ``rate`` Hz (resampled if needed)."""
    try:
        file_rate, wave = wavfile.read(path)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable wav file ({e})") from e
    wave = np.asarray(wave, np.float64)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if file_rate != rate:
        g = np.gcd(int(file_rate), rate)
        wave = signal.resample_poly(wave, rate // g, int(file_rate) // g)
    return wave


def parse_name(name: str) -> tuple[int, str, int]:
    """``"7_jackson_32.wav"`` -> (7, "jackson", 32); DataError on any other name."""
    match = FILE_PATTERN.match(name)
    if match is None:
        raise DataError(f"{name!r} is not an FSDD file name: expected digit_speaker_index.wav")
    return int(match[1]), match[2], int(match[3])


def read_fsdd_features(data_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Features of every ``digit_speaker_index.wav`` under ``data_dir``: ``features``
    (n, N_MELS, N_FRAMES) float32, ``labels`` (n,) int32, ``speakers`` (n,) str,
    ``takes`` (n,) int32, sorted by file name."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"FSDD folder {str(root)!r} does not exist")
    files = sorted(root.rglob("*.wav"))
    if not files:
        raise DataError(f"no .wav files under {str(root)!r} (expected FSDD's digit_speaker_index.wav)")
    meta = [parse_name(f.name) for f in files]
    return {"features": np.stack([spectral_features(read_wav(f)) for f in files]),
            "labels": np.array([m[0] for m in meta], np.int32), "speakers": np.array([m[1] for m in meta]),
            "takes": np.array([m[2] for m in meta], np.int32)}


def split_by_take(arrays: dict[str, np.ndarray], name: str) -> Dataset:
    """Dataset of (n, N_MELS, N_FRAMES, 1) features; take mod 10 < TEST_TAKES -> test."""
    x = np.asarray(arrays["features"], np.float32)[..., None]
    y = np.asarray(arrays["labels"], np.int32)
    test = np.asarray(arrays["takes"]) % 10 < TEST_TAKES
    return Dataset(x[~test], y[~test], x[test], y[test], name=name, n_classes=10)


def load_fsdd(data_dir: str | os.PathLike) -> Dataset:
    """The Free Spoken Digit Dataset (or any folder of ``digit_speaker_index.wav``)
    as 23 x 20 features, split by take (see the module docstring)."""
    return split_by_take(read_fsdd_features(data_dir), "fsdd")


def load_spoken_digits() -> Dataset:
    """The embedded synthetic spoken digits (1,800 clips, six voices; 1,260 train,
    540 test), features as ``load_fsdd``'s."""
    with np.load(EMBEDDED_FILE) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["features"] = arrays["features"].astype(np.float32) / 255.0  # shipped as uint8
    return split_by_take(arrays, "spoken_digits")
