"""mmfeat humor-report: the Markdown report of a humour-detection run, from its results JSON.

    mmfeat humor-report --results results/urfunny/humor/results.json --output results/urfunny/humor/report.md \
        --figures-dir results/urfunny/humor/figures [--name ur-funny] [--reference urfunny] \
        [--skipped skipped.json] [--demo]

--skipped is a JSON file {sample id: reason} of samples left out before feature extraction.
Cheap: it reads the JSON and draws a few PNGs, and trains nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmfeat.errors import UserError
from mmfeat.reports.references import HUMOR_REFERENCES

NAME = "humor-report"
HELP = "Write the Markdown report (tables, confusion matrices) of a humour-detection run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", required=True, help="results JSON of `mmfeat humor-experiment`")
    parser.add_argument("--output", required=True, help="report.md to write")
    parser.add_argument("--figures-dir", required=True, help="folder for the confusion-matrix PNGs")
    parser.add_argument("--name", default="ur-funny", help="the dataset's name, for the title")
    parser.add_argument("--reference", choices=HUMOR_REFERENCES,
                        help="add the study's and published results on the real dataset")
    parser.add_argument("--skipped", help="JSON file {sample id: reason} of samples left out upstream")
    parser.add_argument("--benchmarks", nargs="*", default=[], metavar="TSV",
                        help="Snakemake benchmark files, results/{dataset}/benchmarks/{stage}/...: time per stage")
    parser.add_argument("--demo", action="store_true",
                        help="the data is a demo: say that the numbers are not comparable")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load matplotlib
    from mmfeat.tasks.humor.results import load_results
    from mmfeat.tasks.humor.report import write_humor_report
    from mmfeat.reports.stage_times import read_stage_times

    results = load_results(args.results)
    skipped = read_skipped(args.skipped) if args.skipped else {}
    write_humor_report(results, Path(args.output), Path(args.figures_dir), name=args.name,
                       reference=args.reference, skipped=skipped, demo=args.demo,
                       stage_times=read_stage_times(args.benchmarks))
    return 0


def read_skipped(path: str) -> dict[str, str]:
    try:
        skipped = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"--skipped {path}: no such file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error}); expected {{sample id: reason}}") from error
    if not isinstance(skipped, dict) or not all(isinstance(reason, str) for reason in skipped.values()):
        raise UserError(f"{path}: expected a JSON object {{sample id: reason}} with string reasons")
    return skipped
