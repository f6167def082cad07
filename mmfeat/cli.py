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

# Module names under mmfeat.commands; imported lazily so that `mmfeat --help`
# does not pay for torch.
COMMAND_MODULES = [
    "make_demo_salads",
    "extract_features",
    "import_features",
    "segmentation_metrics",
    "train_asformer",
    "predict_asformer",
    "segmentation_report",
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="mmfeat", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    commands = {}
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"mmfeat.commands.{module_name}")
        except ModuleNotFoundError as error:
            if error.name == f"mmfeat.commands.{module_name}":
                continue  # not written yet in this checkout
            raise
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        commands[module.NAME] = module
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(commands[args.command].run(args) or 0)
    except UserError as error:
        print(f"mmfeat {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
