"""What the humour experiment runs with: plain settings, importable without torch.

    from mmfeat.humor.settings import ExperimentSettings, MLPSettings
    ExperimentSettings(seeds=(0, 1, 2), mlp=MLPSettings(hidden_size=64))

Kept apart from the classifiers so that `mmfeat humor-experiment --help` (and
`mmfeat --help`) can show the defaults without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MLPSettings:
    """One hidden layer; defaults chosen so that 16,000 x 2,048 features train in about a minute on 2 cores."""

    hidden_size: int = 128  # small: the features are already a pooled encoder output
    dropout: float = 0.3
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 512  # large batches: full-batch below 512 samples, ~30 steps an epoch on UR-FUNNY
    max_epochs: int = 100
    patience: int = 10  # epochs without a lower dev loss before stopping


@dataclass
class ExperimentSettings:
    """What the experiment runs with; all of it is written into the results."""

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    mlp: MLPSettings = field(default_factory=MLPSettings)
    degenerate_threshold: float = 0.95  # the share of test predictions in one class that flags a result
    stacking_folds: int = 5  # folds of dev for stacking's out-of-fold dev accuracy
    threads: int = 1  # torch CPU threads; on small tensors and shared cores more threads mostly wait on each other
