"""Make the embedded spoken-digit set ``train/data/spoken_digits.npz``.

Speech from espeak-ng (Debian package ``espeak-ng``): the ten English digit words
spoken by six voices (espeak-ng voice + variant), ``TAKES`` takes each with a
random rate (words per minute), pitch, gain and background noise at a random
signal-to-noise ratio, resampled to 8 kHz, written as FSDD files
``{digit}_{voice}_{take}.wav`` to a temporary folder and read back through
``train.data.speech.read_fsdd_features`` (so the shipped features are exactly what
the FSDD loader computes). The features are stored as uint8 (x 255).

    apt-get install espeak-ng
    python scripts/make_spoken_digits.py [--takes 30] [--seed 0] [--out train/data/spoken_digits.npz]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from train.data import speech

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = {"usm3": "en-us+m3", "gbf2": "en-gb+f2", "scm1": "en-gb-scotland+m1",
          "caf4": "en-029+f4", "rpm7": "en-gb-x-rp+m7", "usf1": "en-us+f1"}
TAKES = 30
RATE_WPM = (110, 230)
PITCH = (25, 75)  # espeak-ng 0-99
SNR_DB = (10.0, 35.0)


def speak(word: str, voice: str, wpm: int, pitch: int, path: Path) -> np.ndarray:
    """espeak-ng's rendering of ``word`` as float samples at 8 kHz."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(path), word],
                   check=True, capture_output=True)
    return speech.read_wav(path)


def take(rng: np.random.Generator, word: str, voice: str, scratch: Path) -> np.ndarray:
    """One noisy int16 take of ``word`` by ``voice``."""
    wave = speak(word, voice, int(rng.integers(*RATE_WPM)), int(rng.integers(*PITCH)), scratch)
    wave = wave / (np.abs(wave).max() + 1e-9) * rng.uniform(0.3, 0.9)
    snr = rng.uniform(*SNR_DB)
    noise = rng.normal(0.0, np.sqrt(np.mean(wave ** 2) / 10 ** (snr / 10)), wave.shape)
    lead = rng.normal(0.0, noise.std(), int(rng.integers(200, 1600)))  # noisy silence before the word
    wave = np.concatenate([lead, wave + noise, lead[::-1]])
    return np.clip(wave * 32767, -32768, 32767).astype(np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=TAKES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=speech.EMBEDDED_FILE)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder, scratch = Path(tmp) / "fsdd", Path(tmp) / "espeak.wav"
        folder.mkdir()
        for speaker, voice in VOICES.items():
            for digit, word in enumerate(WORDS):
                for i in range(args.takes):
                    wavfile.write(folder / f"{digit}_{speaker}_{i}.wav", speech.SAMPLE_RATE,
                                  take(rng, word, voice, scratch))
        arrays = speech.read_fsdd_features(folder)
    arrays["features"] = np.round(arrays["features"] * 255).astype(np.uint8)
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {len(arrays['labels'])} clips, features {arrays['features'].shape[1:]}")


if __name__ == "__main__":
    main()
