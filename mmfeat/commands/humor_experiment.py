"""mmfeat humor-experiment: train every humour classifier and fusion on per-modality features; write results.json.

    mmfeat humor-experiment --modality text=results/urfunny/humor/text.npz \
        --modality audio=results/urfunny/humor/audio.npz --modality video=results/urfunny/humor/video.npz \
        --seeds 5 --output results/urfunny/humor/results.json --settings '{"features": {...}}'

Each NAME=PATH.npz is one modality's feature file (mmfeat/humor/features.py). Seeds 0..N-1;
the same files and seeds give a byte-identical results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from mmfeat.errors import UserError
from mmfeat.humor.settings import ExperimentSettings, MLPSettings

NAME = "humor-experiment"
HELP = "Train per-modality humour classifiers and their fusions over several seeds; write results JSON."
log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults, mlp = ExperimentSettings(), MLPSettings()
    parser.add_argument("--modality", required=True, action="append", metavar="NAME=PATH.npz",
                        help="a modality and its feature file; repeat for each (the table order)")
    parser.add_argument("--seeds", type=int, default=len(defaults.seeds), help="number of seeds, 0..N-1")
    parser.add_argument("--output", required=True, help="results JSON to write")
    parser.add_argument("--settings", default="{}",
                        help='JSON {"features": {MODALITY: {"extractor": ..., "weights": ...}}}, shown in the report')
    parser.add_argument("--degenerate-threshold", type=float, default=defaults.degenerate_threshold,
                        help="share of test predictions in one class that flags a result as degenerate")
    parser.add_argument("--hidden-size", type=int, default=mlp.hidden_size)
    parser.add_argument("--learning-rate", type=float, default=mlp.learning_rate)
    parser.add_argument("--max-epochs", type=int, default=mlp.max_epochs)
    parser.add_argument("--patience", type=int, default=mlp.patience, help="epochs without a lower dev loss")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.humor.experiment import run_humor_experiment
    from mmfeat.humor.features import load_modality_features
    from mmfeat.humor.results import write_results

    modality_paths = parse_modalities(args.modality)
    try:
        report_settings = json.loads(args.settings)
    except json.JSONDecodeError as error:
        raise UserError(f"--settings is not valid JSON ({error})") from error
    if args.seeds < 1 or not 0.5 < args.degenerate_threshold <= 1:
        raise UserError("--seeds must be at least 1 and --degenerate-threshold in (0.5, 1]")
    mlp = MLPSettings(hidden_size=args.hidden_size, learning_rate=args.learning_rate, max_epochs=args.max_epochs,
                      patience=args.patience)
    settings = ExperimentSettings(seeds=tuple(range(args.seeds)), mlp=mlp,
                                  degenerate_threshold=args.degenerate_threshold, threads=args.threads)
    modalities = {name: load_modality_features(path) for name, path in modality_paths.items()}
    started = time.perf_counter()
    results = run_humor_experiment(modalities, settings, report_settings)
    write_results(args.output, results)
    log.info("wrote %s in %.1f s; best fusion by dev accuracy: %s", args.output, time.perf_counter() - started,
             results["best_fusion"])
    return 0


def parse_modalities(values: list[str]) -> dict[str, str]:
    """{"text": "text.npz", ...} from ["text=text.npz", ...], in the order given."""
    modalities = {}
    for value in values:
        name, separator, path = value.partition("=")
        if not separator or not name or not path:
            raise UserError(f"--modality {value!r}: expected NAME=PATH.npz, e.g. text=text.npz")
        if name in modalities:
            raise UserError(f"--modality {name} given twice")
        modalities[name] = path
    return modalities
