"""`mmfeat make-demo-salads`: write the synthetic demo dataset in the 50Salads layout and print its summary.

    mmfeat make-demo-salads --root data/demo-salads --seed 0 --videos 10 --frames 60 90 \
        --size 64 48 --fps 15 --splits 5 --damaged 1 --unreadable 1

An option left out takes its default from the config schema's `$defs/segmentation_demo`
(`--splits`: the dataset's `splits`), mmfeat/config/schema.yaml, the one place they are written.
"""

from __future__ import annotations

import argparse
import json

from mmfeat.errors import UserError

NAME = "make-demo-salads"
HELP = "Write the demo-salads dataset (videos, groundTruth, mapping, splits) under --root."
SETTINGS = ("seed", "videos", "frames", "size", "fps", "damaged", "unreadable")  # the schema's segmentation_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mmfeat.workflow_config import schema_defaults  # yaml only: `mmfeat --help` stays fast

    default = {key: " ".join(map(str, value)) if isinstance(value, list) else value
               for key, value in {**schema_defaults("segmentation_demo"),
                                  "splits": schema_defaults("segmentation_dataset")["splits"]}.items()}
    parser.add_argument(
        "--root", required=True, help="folder to write mapping.txt, videos/, groundTruth/, splits/ into"
    )
    parser.add_argument("--seed", type=int, help=f"same seed, same dataset (default {default['seed']})")
    parser.add_argument("--videos", type=int,
                        help=f"number of videos, two takes per subject (default {default['videos']})")
    parser.add_argument("--frames", type=int, nargs=2, metavar=("MIN", "MAX"),
                        help=f"frames per video, inclusive (default {default['frames']})")
    parser.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                        help=f"frame size, even (default {default['size']})")
    parser.add_argument("--fps", type=int, help=f"frames per second (default {default['fps']})")
    parser.add_argument("--splits", type=int, help=f"cross-validation folds, by subject (default {default['splits']})")
    parser.add_argument("--damaged", type=int,
                        help=f"videos with damaged packets in the middle (default {default['damaged']})")
    parser.add_argument("--unreadable", type=int,
                        help=f"video files that no backend can open (default {default['unreadable']})")


def run(args: argparse.Namespace) -> int:
    from mmfeat.demo.salads import generate_demo_salads  # imported here: keeps `mmfeat --help` fast
    from mmfeat.workflow_config import schema_defaults

    # what was given over the schema's defaults; the generator checks the values
    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    demo = {**schema_defaults("segmentation_demo"), **given}
    width, height = demo["size"]
    try:
        summary = generate_demo_salads(
            args.root,
            seed=demo["seed"],
            num_videos=demo["videos"],
            frames=tuple(demo["frames"]),
            width=width,
            height=height,
            fps=demo["fps"],
            num_splits=args.splits or schema_defaults("segmentation_dataset")["splits"],
            damaged=demo["damaged"],
            unreadable=demo["unreadable"],
        )
    except ValueError as error:
        raise UserError(f"make-demo-salads: {error}") from error
    print(json.dumps(summary, indent=2))
    return 0
