"""mmfeat train-asformer: train ASFormer on one split's training videos and keep the checkpoint.

    mmfeat train-asformer --dataset-root ROOT --features results/D/features/E/shard-*.h5 \
        --split 1 --model '{"kind": "asformer", ...}' --max-length-mismatch 0.05 \
        --checkpoint model.pt --alignment-report train_alignment.json

Before training, each training video's length is compared with its ground
truth's: a difference beyond --max-length-mismatch (a fraction of the label
frames) stops the command naming every such file; the alignment report lists
every training video's lengths, for the report to count the differences.
The model starts from seeded random weights, or from the ASFormer file the
model's entry names as `init_from` (mmfeat.tasks.segmentation.asformer_saved's format,
same architecture, features and classes).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mmfeat.commands.json_arguments import json_object
from mmfeat.commands.split_arguments import add_length_checks, add_split_inputs

NAME = "train-asformer"
HELP = "Train ASFormer on a split's training bundle and save the checkpoint."

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_split_inputs(parser, features="the HDF5 shards of the dataset's features", bundles="train")
    parser.add_argument("--model", required=True, metavar="JSON",
                        help="the model's config entry (kind asformer); the schema fills in what it leaves out")
    add_length_checks(parser)
    parser.add_argument("--checkpoint", required=True, help="where to write the trained model")
    parser.add_argument("--alignment-report", required=True,
                        help="JSON to write: each training video's lengths and mismatch, the videos left out")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: the model's training.threads)")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.datasets.segmentation import SegmentationDataset
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.asformer_split import asformer_model_settings, train_split
    from mmfeat.atomic import write_text_atomically
    from mmfeat.workflow_config import schema_defaults
    from mmfeat.tasks.segmentation.asformer_saved import save_asformer

    import torch

    model_settings = asformer_model_settings(json_object(args.model, "--model"), source="--model")
    alignment = args.alignment or schema_defaults("segmentation_dataset")["alignment"]
    # more threads than the job was given make every op wait on the others (shared cores)
    torch.set_num_threads(args.threads or model_settings["training"]["threads"])

    def report_epoch(row: dict, seconds: float) -> None:
        log.info("epoch %d/%d: loss %.4f, training frame accuracy %.2f%%, lr %.3g, %.1f s", row["epoch"],
                 model_settings["training"]["epochs"], row["loss"], 100 * row["accuracy"], row["lr"], seconds)

    trained = train_split(SegmentationDataset(args.dataset_root), FeatureStore(args.features), args.split,
                          model_settings, alignment, args.max_length_mismatch, on_epoch=report_epoch)
    Path(args.alignment_report).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.alignment_report, json.dumps(trained.alignment_report, indent=1) + "\n")
    save_asformer(args.checkpoint, trained.model, model_settings, trained.provenance)
    log.info("wrote %s and %s", args.checkpoint, args.alignment_report)
    return 0

