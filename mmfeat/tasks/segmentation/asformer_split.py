"""Train ASFormer on one split of a segmentation dataset: data, model, training and what to keep.

    model_settings = asformer_model_settings({"kind": "asformer", "training": {"epochs": 40}})
    trained = train_split(SegmentationDataset(root), FeatureStore(shards), split=1,
                          model_settings=model_settings, alignment="back", max_length_mismatch=0.05)
    save_asformer("model.pt", trained.model, model_settings, trained.provenance)
    write_text_atomically("train_alignment.json", json.dumps(trained.alignment_report))

The command `mmfeat train-asformer` is this plus argument parsing; the same
steps (settings with the schema's defaults, sequences, optional feature
standardisation, a seeded model or the weights of `init_from`, the training
loop, the checkpoint's record of how it was made) are the shape for any model
trained on stored features. Before any training, every training video's length
is compared with its ground truth's: one beyond `max_length_mismatch` stops the
run, naming the files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

import torch

from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.models.asformer import ASFormer
from mmfeat.tasks.segmentation.asformer_saved import ARCHITECTURE_KEYS, initialise_from
from mmfeat.tasks.segmentation.asformer_training import TrainSettings, train_asformer
from mmfeat.tasks.segmentation.sequences import (
    alignment_summary,
    feature_statistics,
    load_sequences,
    require_lengths_within,
    standardize,
)
from mmfeat.workflow_config import with_defaults

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    model: ASFormer
    provenance: dict  # how it was made: classes, split, data settings, starting weights, videos, history
    alignment_report: dict  # the training videos' lengths against their labels', as predictions' alignment.json


def asformer_model_settings(entry: dict, source: str = "the model settings") -> dict:
    """A model's config entry checked against the schema, every default filled in."""
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if kind != "asformer":
        raise UserError(f"{source}: expected a mapping with kind 'asformer', got {entry!r}")
    return with_defaults("asformer_model", entry, source)


def train_split(dataset: SegmentationDataset, store: FeatureStore, split: int, model_settings: dict, alignment: str,
                max_length_mismatch: float, on_epoch: Callable[[dict, float], None] | None = None) -> TrainedModel:
    """Train an ASFormer on the split's training videos; `model_settings` has its defaults filled.

    The model starts from seeded random weights, or from those of the ASFormer file its
    `init_from` names (same architecture, features and classes; a UserError naming the file otherwise).

    A training video whose length differs from its labels' by more than `max_length_mismatch`
    (a fraction of the label frames) is a UserError before any training, listing every such video.
    """
    training = model_settings["training"]
    settings = TrainSettings.from_config(training)
    train_ids = dataset.split_video_ids("train", split)
    sequences, left_out = load_sequences(dataset, store, train_ids, alignment, training["sample_rate"])
    if not sequences:
        raise UserError(f"split {split}: none of the {len(train_ids)} training videos has features")
    require_lengths_within(sequences, dataset, max_length_mismatch, f"training videos of split {split}")
    statistics = None
    if training["normalize_features"]:
        mean, std = feature_statistics(sequences)
        standardize(sequences, mean, std)
        statistics = {"mean": mean.tolist(), "std": std.tolist()}
    model_config = {"input_dim": sequences[0].features.shape[0], "num_classes": len(dataset.class_names),
                    **{key: model_settings[key] for key in ARCHITECTURE_KEYS}}
    torch.manual_seed(settings.seed)  # the initial weights, too, follow the configured seed
    model = ASFormer(**model_config)
    started_from = None
    if model_settings["init_from"] is not None:
        started_from = initialise_from(model, model_settings["init_from"], dataset.class_names)
        log.info("split %d: starting from the weights of %s", split, model_settings["init_from"])
    log.info("split %d: training on %d videos (%d left out), %s", split, len(sequences), len(left_out),
             json.dumps(training))
    history = train_asformer(model, [(s.features, s.labels) for s in sequences], settings, on_epoch=on_epoch)
    return TrainedModel(model, provenance={
        "class_names": dataset.class_names,
        "split": split,
        "sample_rate": training["sample_rate"],
        "feature_statistics": statistics,
        "init_from": started_from,
        "alignment": alignment,
        "max_length_mismatch": max_length_mismatch,
        "training": training,
        "train_videos": [s.video_id for s in sequences],
        "left_out": left_out,
        "history": history,
    }, alignment_report={"split": split, "part": "train", "videos": alignment_summary(sequences, alignment),
                         "left_out": left_out})
