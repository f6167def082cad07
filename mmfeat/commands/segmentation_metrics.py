"""`mmfeat segmentation-metrics`: accuracy, edit and F1@{10,25,50} of predictions, per bundle and averaged.

    mmfeat segmentation-metrics --ground-truth data/50salads/groundTruth \\
        --predictions results/split_1 --predictions results/split_2 \\
        --bundle splits/test.split1.bundle --bundle splits/test.split2.bundle --output metrics.json

Prints JSON: {"bundles": {<bundle as given>: {acc, edit, f1@10, f1@25, f1@50, videos, frames}},
"mean": {acc, edit, f1@10, f1@25, f1@50}}, and writes it to --output when given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.datasets.mstcn_files import read_mapping
from mmfeat.datasets.segmentation_check import unknown_background_problems
from mmfeat.errors import UserError
from mmfeat.metrics.segmentation import evaluate_bundle, mean_of
from mmfeat.workflow_config import schema_defaults

NAME = "segmentation-metrics"
HELP = "Score action-segmentation predictions against ground truth as the official ASFormer evaluation does."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the subcommand."""
    parser.add_argument("--ground-truth", required=True, metavar="DIR", help="folder of groundTruth/<video>.txt files")
    parser.add_argument(
        "--predictions",
        required=True,
        action="extend",
        nargs="+",
        metavar="DIR",
        help="folder of prediction files: once for all bundles, or once per bundle in the order of --bundle",
    )
    parser.add_argument(
        "--bundle",
        required=True,
        action="extend",
        nargs="+",
        metavar="FILE",
        help="file listing the videos to evaluate, one per line; repeat for several splits",
    )
    parser.add_argument(
        "--background",
        action="extend",
        nargs="+",
        metavar="LABEL",
        help="labels left out of segments for edit and F1 (default: the schema's `background`); each "
             "must be in the mapping",
    )
    parser.add_argument("--mapping", metavar="FILE",
                        help="the dataset's mapping.txt, to check --background against (default: mapping.txt "
                             "beside the --ground-truth folder, as in the MS-TCN layout)")
    parser.add_argument("--output", help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    """Evaluate each bundle, print the JSON report, and write it to --output if given."""
    predictions_per_bundle = _pair_predictions_with_bundles(args.predictions, args.bundle)
    background = schema_defaults("segmentation_dataset")["background"] if args.background is None else args.background
    if background:
        _require_known_background(background, Path(args.mapping or Path(args.ground_truth).parent / "mapping.txt"))
    results_per_bundle = {
        bundle: evaluate_bundle(args.ground_truth, predictions_dir, bundle, background)
        for bundle, predictions_dir in zip(args.bundle, predictions_per_bundle)
    }
    report = {"bundles": results_per_bundle, "mean": mean_of(list(results_per_bundle.values()))}
    report_text = json.dumps(report, indent=2) + "\n"
    print(report_text, end="")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(args.output, report_text)
    return 0


def _require_known_background(background: list[str], mapping_path: Path) -> None:
    """A background label the mapping does not know would leave no segment out, silently."""
    if not mapping_path.is_file():
        raise UserError(f"{mapping_path}: no such file, needed to check --background; pass the dataset's "
                        "mapping.txt with --mapping")
    class_names = list(read_mapping(mapping_path))
    problems = unknown_background_problems(background, class_names, mapping_path,
                                           fix="give --background labels that the mapping lists")
    if problems:
        raise UserError("\n".join(problems))


def _pair_predictions_with_bundles(predictions_dirs: list[str], bundles: list[str]) -> list[str]:
    if len(set(bundles)) != len(bundles):
        raise UserError("a --bundle is given twice; give each bundle once")
    if len(predictions_dirs) == 1:
        return predictions_dirs * len(bundles)
    if len(predictions_dirs) == len(bundles):
        return predictions_dirs
    raise UserError(
        f"--predictions is given {len(predictions_dirs)} times for {len(bundles)} bundles; give it once "
        "(one folder holding the predictions of every bundle) or once per --bundle, in the same order"
    )
