"""`mmfeat make-demo-howto`: write the narrated demo dataset (demo-howto) and print its summary.

    mmfeat make-demo-howto --root data/demo-howto --seed 0 --videos 36 --seconds 8 16 --size 64 48 \
        --fps 15 --shift-fraction 0.25 --chatter-fraction 0.15

An option left out takes its default from the config schema's `$defs/narrated_demo`
(mmfeat/config/schema.yaml), the one place the demo's defaults are written.
"""

from __future__ import annotations

import argparse
import json

from mmfeat.errors import UserError

NAME = "make-demo-howto"
HELP = "Write the demo-howto dataset (videos/ with narration, captions.json) under --root."
SETTINGS = ("seed", "videos", "seconds", "size", "fps", "shift_fraction", "chatter_fraction")  # the schema's keys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mmfeat.workflow_config import schema_defaults  # yaml only: `mmfeat --help` stays fast

    default = {key: " ".join(map(str, value)) if isinstance(value, list) else value
               for key, value in schema_defaults("narrated_demo").items()}
    parser.add_argument("--root", required=True, help="folder to write videos/ and captions.json into")
    parser.add_argument("--seed", type=int, help=f"same seed, same dataset (default {default['seed']})")
    parser.add_argument("--videos", type=int, help=f"number of narrated clips (default {default['videos']})")
    parser.add_argument("--seconds", type=int, nargs=2, metavar=("MIN", "MAX"),
                        help=f"length of each clip, drawn (default {default['seconds']})")
    parser.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                        help=f"frame size, even (default {default['size']})")
    parser.add_argument("--fps", type=int, help=f"frames per second (default {default['fps']})")
    parser.add_argument("--shift-fraction", type=float,
                        help=f"share of captions said 1-2 s off their action (default {default['shift_fraction']})")
    parser.add_argument("--chatter-fraction", type=float,
                        help=f"share of captions that are unrelated chatter (default {default['chatter_fraction']})")


def run(args: argparse.Namespace) -> int:
    from mmfeat.demo.howto import generate_demo_howto  # imported here: keeps `mmfeat --help` fast

    # only what was given: the generator fills in the rest from the schema
    settings = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    try:
        summary = generate_demo_howto(args.root, settings)
    except ValueError as error:
        raise UserError(f"make-demo-howto: {error}") from error
    print(json.dumps(summary, indent=2))
    return 0
