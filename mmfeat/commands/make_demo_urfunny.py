"""`mmfeat make-demo-urfunny`: write the synthetic demo dataset in the UR-FUNNY v2 layout and print its summary.

    mmfeat make-demo-urfunny --root data/demo-urfunny --seed 0 --samples 40 --size 64 48 --fps 12 \
        --cue-flip-fraction 0.175

An option left out takes its default from the config schema's `$defs/humor_demo`
(mmfeat/config/schema.yaml), the one place the demo's defaults are written.
"""

from __future__ import annotations

import argparse
import json

from mmfeat.errors import UserError

NAME = "make-demo-urfunny"
HELP = "Write the demo-urfunny dataset (data_folds, language_sdk, humor_label_sdk pickles and videos/) under --root."
SETTINGS = ("seed", "samples", "size", "fps", "cue_flip_fraction")  # the schema's humor_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mmfeat.workflow_config import schema_defaults  # yaml only: `mmfeat --help` stays fast

    default = {key: " ".join(map(str, value)) if isinstance(value, list) else value
               for key, value in schema_defaults("humor_demo").items()}
    parser.add_argument("--root", required=True, help="folder to write the three pickles and videos/ into")
    parser.add_argument("--seed", type=int, help=f"same seed, same dataset (default {default['seed']})")
    parser.add_argument("--samples", type=int,
                        help=f"number of samples, four per speaker (default {default['samples']})")
    parser.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                        help=f"frame size, even (default {default['size']})")
    parser.add_argument("--fps", type=int, help=f"frames per second (default {default['fps']})")
    parser.add_argument("--cue-flip-fraction", type=float,
                        help="share of samples whose cue shows the other label, drawn independently per modality "
                        f"(default {default['cue_flip_fraction']})")


def run(args: argparse.Namespace) -> int:
    from mmfeat.demo.urfunny import generate_demo_urfunny  # imported here: keeps `mmfeat --help` fast
    from mmfeat.workflow_config import schema_defaults

    # what was given over the schema's defaults; the generator checks the values
    given = {key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None}
    demo = {**schema_defaults("humor_demo"), **given}
    width, height = demo["size"]
    try:
        summary = generate_demo_urfunny(
            args.root,
            seed=demo["seed"],
            num_samples=demo["samples"],
            width=width,
            height=height,
            fps=demo["fps"],
            cue_flip_fraction=demo["cue_flip_fraction"],
        )
    except ValueError as error:
        raise UserError(f"make-demo-urfunny: {error}") from error
    print(json.dumps(summary, indent=2))
    return 0
