"""What the humour experiment runs with: plain settings, importable without torch.

    from mmfeat.tasks.humor.settings import ExperimentSettings, MLPSettings
    ExperimentSettings(seeds=(0, 1, 2), mlp=MLPSettings(hidden_size=64))

Kept apart from the classifiers so that `mmfeat humor-experiment --help` (and
`mmfeat --help`) can show the defaults without loading torch. The defaults that
a config can set come from the workflow schema's `humor_classifiers`, the one
place they are written; the others are fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmfeat.workflow_config import schema_defaults

CONFIGURABLE = schema_defaults("humor_classifiers")  # seeds, hidden_size, learning_rate, ...


@dataclass
class MLPSettings:
    """One hidden layer; defaults chosen so that 16,000 x 2,048 features train in about a minute on 2 cores."""

    hidden_size: int = CONFIGURABLE["hidden_size"]
    dropout: float = 0.3
    learning_rate: float = CONFIGURABLE["learning_rate"]
    weight_decay: float = 1e-4
    batch_size: int = 512  # large batches: full-batch below 512 samples, ~30 steps an epoch on UR-FUNNY
    max_epochs: int = CONFIGURABLE["max_epochs"]
    patience: int = CONFIGURABLE["patience"]  # epochs without a lower dev loss before stopping


@dataclass
class ExperimentSettings:
    """What the experiment runs with; all of it is written into the results."""

    seeds: tuple[int, ...] = tuple(range(CONFIGURABLE["seeds"]))
    mlp: MLPSettings = field(default_factory=MLPSettings)
    degenerate_threshold: float = CONFIGURABLE["degenerate_threshold"]  # flags a result this one-sided
    stacking_folds: int = 5  # folds of dev for stacking's out-of-fold dev accuracy
    threads: int = 1  # torch CPU threads; on small tensors and shared cores more threads mostly wait on each other
