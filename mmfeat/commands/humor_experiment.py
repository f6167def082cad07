"""mmfeat humor-experiment: train every humour classifier and fusion on per-modality features; write results.json.

    mmfeat humor-experiment --modality text results/urfunny/humor/text.npz \
        --modality audio results/urfunny/humor/audio.npz --modality video results/urfunny/humor/video.npz \
        --classifiers '{"seeds": 5}' --output results/urfunny/humor/results.json \
        --report-settings '{"features": {...}}'

Each `--modality NAME FILE` names one modality's feature file (mmfeat/tasks/humor/features.py).
`--classifiers` is the dataset's `classifiers` entry; what it leaves out comes from
the schema's `humor_classifiers` (mmfeat/config/schema.yaml). Seeds 0..N-1; the same
files and seeds give a byte-identical results.json.
"""

from __future__ import annotations

import argparse
import logging
import time

from mmfeat.commands.json_arguments import json_object
from mmfeat.errors import UserError
from mmfeat.tasks.humor.settings import ExperimentSettings, MLPSettings

NAME = "humor-experiment"
HELP = "Train per-modality humour classifiers and their fusions over several seeds; write results JSON."
log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", required=True, nargs="+", action="append", metavar=("NAME", "FILE"),
                        help="a modality and its feature file (NAME.npz of `mmfeat humor-features`); repeat for "
                        "each, in the table's order")
    parser.add_argument("--output", required=True, help="results JSON to write")
    parser.add_argument("--classifiers", metavar="JSON",
                        help='the dataset\'s `classifiers` entry, e.g. \'{"seeds": 5, "hidden_size": 128}\'; the '
                        "schema fills in what it leaves out (default: all of it)")
    parser.add_argument("--report-settings", metavar="JSON",
                        help='{"features": {MODALITY: {"extractor": ..., "weights": ...}}}: shown in the report')
    parser.add_argument("--threads", type=int,
                        help=f"torch CPU threads (default {ExperimentSettings.threads})")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.tasks.humor.experiment import run_humor_experiment
    from mmfeat.tasks.humor.features import load_modality_features
    from mmfeat.tasks.humor.results import write_results

    modality_paths = parse_modalities(args.modality)
    report_settings = json_object(args.report_settings, "--report-settings") if args.report_settings else {}
    settings = experiment_settings(args)
    modalities = {name: load_modality_features(path) for name, path in modality_paths.items()}
    started = time.perf_counter()
    results = run_humor_experiment(modalities, settings, report_settings)
    write_results(args.output, results)
    log.info("wrote %s in %.1f s; best fusion by dev accuracy: %s", args.output, time.perf_counter() - started,
             results["best_fusion"])
    return 0


def experiment_settings(args: argparse.Namespace) -> ExperimentSettings:
    """What the experiment runs with: --classifiers over the schema's defaults, and --threads."""
    from mmfeat.workflow_config import with_defaults

    given = json_object(args.classifiers, "--classifiers") if args.classifiers else {}
    classifiers = with_defaults("humor_classifiers", given, source="--classifiers")
    mlp = MLPSettings(hidden_size=classifiers["hidden_size"], learning_rate=classifiers["learning_rate"],
                      max_epochs=classifiers["max_epochs"], patience=classifiers["patience"])
    return ExperimentSettings(seeds=tuple(range(classifiers["seeds"])), mlp=mlp,
                              degenerate_threshold=classifiers["degenerate_threshold"],
                              threads=args.threads or ExperimentSettings.threads)


def parse_modalities(values: list[list[str]]) -> dict[str, str]:
    """{"text": "text.npz", ...} from [["text", "text.npz"], ...], in the order given."""
    modalities = {}
    for name, *paths in values:
        if len(paths) != 1:
            raise UserError(f"--modality {name}: expected NAME FILE, one feature file, e.g. text text.npz")
        if name in modalities:
            raise UserError(f"--modality {name} given twice")
        modalities[name] = paths[0]
    return modalities
