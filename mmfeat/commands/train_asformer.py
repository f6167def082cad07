"""mmfeat train-asformer: train ASFormer on one split's training videos and keep the checkpoint.

    mmfeat train-asformer --dataset-root ROOT --features results/D/features/E/shard-*.h5 \
        --split 1 --model-settings '{"kind": "asformer", ...}' --checkpoint model.pt
"""

from __future__ import annotations

import argparse
import json
import logging

import torch

from mmfeat.align import POLICIES
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.models.asformer import ASFormer
from mmfeat.training.asformer_training import TrainSettings, save_checkpoint, train_asformer
from mmfeat.training.segmentation_data import feature_statistics, load_sequences, standardize

NAME = "train-asformer"
HELP = "Train ASFormer on a split's training bundle and save the checkpoint."

ARCHITECTURE_KEYS = ("num_decoders", "num_layers", "num_f_maps", "r1", "r2", "channel_masking_rate", "window")
log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-root", required=True, help="dataset in the MS-TCN layout")
    parser.add_argument("--features", required=True, nargs="+", help="the HDF5 shards of the dataset's features")
    parser.add_argument("--split", required=True, type=int, help="k of splits/train.split{k}.bundle")
    parser.add_argument("--model-settings", required=True, help="the model's config entry as JSON")
    parser.add_argument("--alignment", default="back", choices=POLICIES)
    parser.add_argument("--checkpoint", required=True, help="where to write the trained model")


def run(args: argparse.Namespace) -> int:
    model_settings = parse_model_settings(args.model_settings)
    training = dict(model_settings.get("training", {}))
    sample_rate = training.pop("sample_rate", 1)
    normalize_features = training.pop("normalize_features", False)
    dataset = SegmentationDataset(args.dataset_root)
    store = FeatureStore(args.features)
    train_ids = dataset.split_video_ids("train", args.split)
    sequences, left_out = load_sequences(dataset, store, train_ids, args.alignment, sample_rate)
    if not sequences:
        raise UserError(f"split {args.split}: none of the {len(train_ids)} training videos has features")
    statistics = None
    if normalize_features:
        mean, std = feature_statistics(sequences)
        standardize(sequences, mean, std)
        statistics = {"mean": mean.tolist(), "std": std.tolist()}
    architecture = {key: model_settings[key] for key in ARCHITECTURE_KEYS if key in model_settings}
    model_config = {"input_dim": sequences[0].features.shape[0], "num_classes": len(dataset.class_names),
                    **architecture}
    settings = TrainSettings(**training)
    torch.manual_seed(settings.seed)  # the initial weights, too, follow the configured seed
    model = ASFormer(**model_config)
    log.info("split %d: training on %d videos (%d left out), %s", args.split, len(sequences), len(left_out),
             json.dumps(training))

    def report_epoch(row: dict, seconds: float) -> None:
        log.info("epoch %d/%d: loss %.4f, training frame accuracy %.2f%%, lr %.3g, %.1f s", row["epoch"],
                 settings.epochs, row["loss"], 100 * row["accuracy"], row["lr"], seconds)

    history = train_asformer(model, [(s.features, s.labels) for s in sequences], settings, on_epoch=report_epoch)
    save_checkpoint(args.checkpoint, model, model_config, extra={
        "class_names": dataset.class_names,
        "split": args.split,
        "sample_rate": sample_rate,
        "feature_statistics": statistics,
        "alignment": args.alignment,
        "training": training,
        "train_videos": [s.video_id for s in sequences],
        "left_out": left_out,
        "history": history,
    })
    log.info("wrote %s", args.checkpoint)
    return 0


def parse_model_settings(text: str) -> dict:
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--model-settings is not valid JSON: {error}") from error
    if settings.get("kind") != "asformer":
        raise UserError(f"--model-settings: kind must be 'asformer', got {settings.get('kind')!r}")
    return settings
