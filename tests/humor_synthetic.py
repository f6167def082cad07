"""Synthetic per-modality features for the humour tests: text informative, audio weakly, video not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmfeat.tasks.humor.features import ModalityFeatures, write_modality_features

# (name, dimension, shift of the humour class in stds on its first 4 dimensions)
MODALITIES = (("text", 24, 2.0), ("audio", 16, 0.7), ("video", 12, 0.0))


def synthetic_arrays(samples: int = 60, seed: int = 0) -> dict[str, tuple]:
    """{modality: (ids, features, labels, folds)}: 60 % train, 20 % dev, 20 % test, the same samples in each."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, samples)
    train, dev = int(samples * 0.6), int(samples * 0.2)
    folds = np.array(["train"] * train + ["dev"] * dev + ["test"] * (samples - train - dev))
    ids = np.array([f"clip-{index:04d}" for index in range(samples)])
    arrays = {}
    for name, dimension, shift in MODALITIES:
        features = rng.normal(size=(samples, dimension)).astype(np.float32)
        features[:, :4] += shift * labels[:, None]
        arrays[name] = (ids, features, labels, folds)
    return arrays


def synthetic_modalities(samples: int = 60, seed: int = 0) -> dict[str, ModalityFeatures]:
    return {name: ModalityFeatures(*arrays, path=f"{name}.npz")
            for name, arrays in synthetic_arrays(samples, seed).items()}


def write_synthetic_files(folder: Path, samples: int = 60, seed: int = 0) -> dict[str, Path]:
    paths = {}
    for name, arrays in synthetic_arrays(samples, seed).items():
        paths[name] = folder / f"{name}.npz"
        write_modality_features(paths[name], *arrays)
    return paths
