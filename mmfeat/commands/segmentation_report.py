"""mmfeat segmentation-report: the Markdown report of a cross-validated segmentation run.

    mmfeat segmentation-report --name demo-salads --dataset-root ROOT --features SHARDS... \
        --split-dir results/demo-salads/asformer-demo/split1 ... --settings JSON \
        --output results/demo-salads/report.md --ribbons results/demo-salads/ribbons.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.reports.segmentation_report import SplitOutputs, write_segmentation_report

NAME = "segmentation-report"
HELP = "Write the Markdown report of a cross-validated segmentation run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the dataset's name in the config")
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--features", required=True, nargs="+", help="the HDF5 shards the model trained on")
    parser.add_argument("--split-dir", required=True, nargs="+", help="results/{dataset}/{model}/split{k} folders")
    parser.add_argument("--settings", required=True,
                        help='JSON {"dataset": ..., "extractor": ..., "model": ...}: the config entries used')
    parser.add_argument("--output", required=True, help="report.md to write")
    parser.add_argument("--ribbons", required=True, help="PNG of ground truth against prediction to write")


def run(args: argparse.Namespace) -> int:
    settings = json.loads(args.settings)
    splits = sorted((SplitOutputs(_split_number(path), Path(path)) for path in args.split_dir),
                    key=lambda split: split.number)
    write_segmentation_report(args.name, settings, SegmentationDataset(args.dataset_root),
                              FeatureStore(args.features), splits, Path(args.output), Path(args.ribbons))
    return 0


def _split_number(path: str) -> int:
    match = re.search(r"split(\d+)/?$", path)
    if match is None:
        raise UserError(f"--split-dir {path}: expected a folder named split{{k}}")
    return int(match.group(1))
