"""The experiment registry: one module per system, each with ``Config`` (and
``Config.quick()``), ``run(config, out_dir, seed) -> metrics`` and ``DESCRIPTION``."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS = {
    "analog-mlp": "train.experiments.analog_mlp",
    "compile": "train.experiments.edge_compile",
    "nas": "train.experiments.nas",
    "hegnn-toy": "train.experiments.hegnn_toy",
    "hegnn-nbody": "train.experiments.hegnn_nbody",
    "hegnn-md17": "train.experiments.hegnn_md17",
    "edge-pruning-fmnist": "train.experiments.edge_pruning_fmnist",
    "edge-pruning-speech": "train.experiments.edge_pruning_speech",
    "edge-pruning-drive": "train.experiments.edge_pruning_drive",
    "prime-nmnist": "train.experiments.prime_nmnist",
    "prime-inpaint": "train.experiments.prime_inpaint",
    "deplm-events": "train.experiments.deplm_events",
    "deplm-images": "train.experiments.deplm_images",
    "deplm-parts": "train.experiments.deplm_parts",
    "semantic-mnist": "train.experiments.semantic_mnist",
    "semantic-modelnet": "train.experiments.semantic_modelnet",
    "twin-hp": "train.experiments.twin_hp",
    "twin-lorenz96": "train.experiments.twin_lorenz96",
    "diffusion-ring": "train.experiments.diffusion_ring",
    "diffusion-letters": "train.experiments.diffusion_letters",
}


def get(name: str) -> ModuleType:
    """The experiment module called ``name`` (raises KeyError listing the names)."""
    if name not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {name!r}; experiments: {', '.join(sorted(EXPERIMENTS))}")
    return importlib.import_module(EXPERIMENTS[name])
