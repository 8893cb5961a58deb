"""edge-pruning-speech: an edge-pruned random resistive-memory CRNN against trained
weights programmed onto the same noisy devices, spoken digits (Li, Wang et al.,
arXiv 2311.07164).

The paper's CRNN (``models.edge_pruning.SpeechCRNN``, 3-bit activations) on 23 x 20
mel features (``train.data.speech``): the Free Spoken Digit Dataset when its wav
folder is given (``--set dataset=fsdd --set data_dir=PATH``); the embedded default
is a synthetic spoken-digit set (espeak-ng, six voices, made by
``scripts/make_spoken_digits.py``), so the default run is not FSDD: results.md
names the data. See ``train.experiments.edge_pruning`` for the study.
"""

from __future__ import annotations

from pathlib import Path

from models.edge_pruning import SpeechCRNN
from train import data
from train.config import config, field
from train.experiments.edge_pruning import StudyConfig, Task, run_study, subset

DESCRIPTION = ("edge-pruned random RRAM CRNN vs trained weights programmed on noisy cells, spoken digits: "
               "accuracy, chips, flips, energy")

TASK = Task("edge-pruning-speech", "acc",
            lambda kind, spec, limit_flips: SpeechCRNN(kind=kind, spec=spec, limit_flips=limit_flips),
            paper_gain=0.199, paper_energy_saving=0.512,
            source="arXiv 2311.07164: +19.9 % accuracy, 51.2 % better energy efficiency")


@config
class Config(StudyConfig):
    """The paper's spoken-digit recipe: 60 epochs, batch 30, limiter 0.009 -> 0.007 over 10 improvements."""

    dataset: str = field("spoken_digits", choices=("spoken_digits", "fsdd"))
    data_dir: str | None = field(None, kind="path")
    epochs: int = field(60, lo=1)
    batch_size: int = field(30, lo=1)
    limit_start: float = field(0.009, lo=0.0)
    limit_stop: float = field(0.007, lo=0.0)
    limit_steps: int = field(10, lo=1)

    @classmethod
    def quick(cls) -> "Config":
        """8 epochs, 2 chips trained, 8 programmed chips per point, 16 reads per chip."""
        return cls(epochs=8, n_train_chips=2, n_chips=8, n_reads=16, chunk_size=4,
                   read_noise_levels=(0.02, 0.1), limit_steps=4)


def run(cfg: Config, out_dir: Path, seed: int = 0) -> dict[str, float]:
    ds = data.load(cfg.dataset, data_dir=cfg.data_dir, seed=seed, valid_fraction=cfg.valid_fraction)
    return run_study(TASK, cfg, subset(ds, cfg), Path(out_dir), seed)
