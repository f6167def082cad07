"""The `mmfeat` command: `mmfeat SUBCOMMAND --help` lists each subcommand's options.

Each subcommand lives in its own module under `mmfeat.commands`, exposing
`NAME` (the subcommand), `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. The rules of the workflow call these subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mmfeat.errors import UserError

# Subcommand -> module under mmfeat.commands. Only the module of the subcommand
# being run is imported, so that a command that does not need torch starts fast.
COMMANDS = {
    "make-demo-salads": "make_demo_salads",
    "make-demo-urfunny": "make_demo_urfunny",
    "make-demo-howto": "make_demo_howto",
    "extract-features": "extract_features",
    "import-features": "import_features",
    "segmentation-metrics": "segmentation_metrics",
    "train-asformer": "train_asformer",
    "predict-asformer": "predict_asformer",
    "segmentation-report": "segmentation_report",
    "zero-shot-segment": "zero_shot_segment",
    "videoclip-zero-shot": "videoclip_zero_shot",
    "finetune-videoclip": "finetune_videoclip",
    "pretrain": "pretrain",
    "humor-features": "humor_features",
    "humor-experiment": "humor_experiment",
    "humor-report": "humor_report",
    "evaluate-retrieval": "evaluate_retrieval",
    "pretraining-report": "pretraining_report",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="mmfeat", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else list(COMMANDS)
    modules = {}
    for name in wanted:
        module = importlib.import_module(f"mmfeat.commands.{COMMANDS[name]}")
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        modules[name] = module
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(modules[args.command].run(args) or 0)
    except UserError as error:
        print(f"mmfeat {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
