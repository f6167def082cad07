"""`mmfeat make-demo-urfunny`: write the synthetic demo dataset in the UR-FUNNY v2 layout and print its summary.

    mmfeat make-demo-urfunny --root data/demo-urfunny --seed 0 --samples 40 --size 64 48 --fps 12 \
        --cue-flip-fraction 0.175
"""

from __future__ import annotations

import argparse
import json

from mmfeat.errors import UserError

NAME = "make-demo-urfunny"
HELP = "Write the demo-urfunny dataset (data_folds, language_sdk, humor_label_sdk pickles and videos/) under --root."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="folder to write the three pickles and videos/ into")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same dataset")
    parser.add_argument("--samples", type=int, default=40, help="number of samples, four per speaker")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"), help="frame size, even")
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument(
        "--cue-flip-fraction",
        type=float,
        default=0.175,
        help="share of samples whose cue shows the other label, drawn independently per modality",
    )


def run(args: argparse.Namespace) -> int:
    from mmfeat.demo.urfunny import generate_demo_urfunny  # imported here: keeps `mmfeat --help` fast

    width, height = args.size
    try:
        summary = generate_demo_urfunny(
            args.root,
            seed=args.seed,
            num_samples=args.samples,
            width=width,
            height=height,
            fps=args.fps,
            cue_flip_fraction=args.cue_flip_fraction,
        )
    except ValueError as error:
        raise UserError(f"make-demo-urfunny: {error}") from error
    print(json.dumps(summary, indent=2))
    return 0
