"""mmfeat segmentation-report: the Markdown report of a cross-validated segmentation run.

    mmfeat segmentation-report --name demo-salads --dataset-root ROOT --features SHARDS... \
        --runs results/demo-salads/runs.json --report-settings JSON \
        --output results/demo-salads/report.md --ribbons results/demo-salads/ribbons.png

The runs compared (method, model, feature set, each split's folder and metrics file) are
those of the run manifest the workflow writes (mmfeat.tasks.segmentation.run_manifest); shards are
results/{dataset}/features/{feature set}/shard-{k}.h5, grouped by their folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "segmentation-report"
HELP = "Write the Markdown report of a cross-validated segmentation run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the dataset's name in the config")
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--features", required=True, nargs="+", help="the HDF5 shards the model trained on")
    parser.add_argument("--runs", required=True, metavar="JSON_FILE",
                        help="the run manifest: results/{dataset}/runs.json, written by the workflow")
    parser.add_argument("--report-settings", required=True, metavar="JSON",
                        help='{"dataset": ..., "extractors": {name: ...}, "model": ...}: the config entries used, '
                        "shown in the report")
    parser.add_argument("--output", required=True, help="report.md to write")
    parser.add_argument("--ribbons", required=True,
                        help="PNG of ground truth against prediction to write; the report links it by its path "
                             "from the report's folder (the workflow puts it beside the report)")
    parser.add_argument("--benchmarks", nargs="*", default=[], metavar="TSV",
                        help="Snakemake benchmark files, results/{dataset}/benchmarks/{stage}/...: time per stage")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load matplotlib and h5py
    from mmfeat.commands.json_arguments import json_object
    from mmfeat.datasets.segmentation import SegmentationDataset
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.run_manifest import read_run_manifest
    from mmfeat.tasks.segmentation.report import runs_from_manifest, write_segmentation_report
    from mmfeat.reports.stage_times import read_stage_times

    settings = json_object(args.report_settings, "--report-settings")
    runs = runs_from_manifest(read_run_manifest(args.runs))
    shards_by_set: dict[str, list[Path]] = {}
    for path in map(Path, args.features):
        shards_by_set.setdefault(path.parent.name, []).append(path)
    stores = {feature_set: FeatureStore(paths) for feature_set, paths in shards_by_set.items()}
    write_segmentation_report(args.name, settings, SegmentationDataset(args.dataset_root), stores, runs,
                              Path(args.output), Path(args.ribbons), read_stage_times(args.benchmarks))
    return 0
