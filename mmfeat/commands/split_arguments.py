"""The arguments every command on one split of a segmentation dataset shares, each with one meaning.

    add_split_inputs(parser, features="the S3D extractor's HDF5 shards", bundles="test")
    add_length_checks(parser)
    add_prediction_outputs(parser)

train-asformer, predict-asformer, zero-shot-segment, videoclip-zero-shot and finetune-videoclip read
a split's videos and their features the same way and write what evaluate_split reads the same way;
written once here, their flags cannot drift apart.
"""

from __future__ import annotations

import argparse

from mmfeat.align import POLICIES


def add_split_inputs(parser: argparse.ArgumentParser, features: str, bundles: str) -> None:
    """--dataset-root, --features and --split; `bundles` names the split's bundles read (train, test or both)."""
    parser.add_argument("--dataset-root", required=True, help="dataset in the MS-TCN layout")
    parser.add_argument("--features", required=True, nargs="+", help=features)
    parser.add_argument("--split", required=True, type=int, help=f"k of splits/{bundles}.split{{k}}.bundle")


def add_length_checks(parser: argparse.ArgumentParser) -> None:
    """--alignment (the schema's default when left out) and --max-length-mismatch."""
    parser.add_argument("--alignment", choices=POLICIES,
                        help="where frames are cut when features and labels differ (default: the schema's)")
    parser.add_argument("--max-length-mismatch", required=True, type=float, metavar="FRACTION",
                        help="largest difference between a video's and its labels' frame counts, as a fraction of "
                             "the label frames (differences of a few frames always pass)")


def add_videoclip_start(parser: argparse.ArgumentParser) -> None:
    """--model and --init-from: the VideoCLIP a transfer command starts from (mmfeat.tasks.transfer.starts)."""
    parser.add_argument("--model", required=True, metavar="JSON", help="the config's models entry (kind videoclip)")
    parser.add_argument("--init-from", required=True, metavar="START",
                        help="a pretrain output (model.pt), `release` (the entry's release_checkpoint) or `random`")


def add_prediction_outputs(parser: argparse.ArgumentParser) -> None:
    """--predictions, --evaluated-bundle and --alignment-report: what evaluate_split and the report read."""
    parser.add_argument("--predictions", required=True, metavar="DIR",
                        help="folder to write one prediction file per test video into")
    parser.add_argument("--evaluated-bundle", required=True, help="bundle file listing the videos predicted")
    parser.add_argument("--alignment-report", required=True, help="JSON: per-video lengths, mismatches, left out")
