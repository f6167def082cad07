"""mmfeat pretraining-report: the Markdown report of a pretraining run, from its evaluation and history.

    mmfeat pretraining-report --name demo-howto --dataset-root data/demo-howto \
        --evaluation results/demo-howto/pretrain/videoclip-demo/evaluation.json \
        --history results/demo-howto/pretrain/videoclip-demo/history.jsonl \
        --benchmarks results/demo-howto/benchmarks/*/*.tsv \
        --output results/demo-howto/report.md --loss-curves results/demo-howto/loss-curves.png

Cheap: it reads two files and the dataset's captions and video headers, draws one PNG, and runs no model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "pretraining-report"
HELP = "Write the Markdown report (retrieval table, loss curves, data, settings) of a pretraining run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="the dataset's name in the config, for the title")
    parser.add_argument("--dataset-root", required=True, help="the narrated dataset (videos/, captions.json)")
    parser.add_argument("--evaluation", required=True, help="evaluation.json of `mmfeat evaluate-retrieval`")
    parser.add_argument("--history", required=True, help="history.jsonl of `mmfeat pretrain`")
    parser.add_argument("--output", required=True, help="report.md to write")
    parser.add_argument("--loss-curves", required=True,
                        help="PNG of the loss per objective to write; the report links it by its path from the "
                             "report's folder (the workflow puts it beside the report)")
    parser.add_argument("--benchmarks", nargs="*", default=[], metavar="TSV",
                        help="Snakemake benchmark files, results/{dataset}/benchmarks/{stage}/...: time per stage")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load matplotlib
    from mmfeat.datasets.narrated import NarratedDataset
    from mmfeat.reports.stage_times import read_stage_times
    from mmfeat.tasks.pretraining.evaluation import read_evaluation
    from mmfeat.tasks.pretraining.loss_curves import read_history
    from mmfeat.tasks.pretraining.report import write_pretraining_report

    write_pretraining_report(args.name, NarratedDataset(args.dataset_root), read_evaluation(args.evaluation),
                             read_history(args.history), Path(args.output), Path(args.loss_curves),
                             read_stage_times(args.benchmarks))
    return 0
