"""`mmfeat make-demo-salads`: write the synthetic demo dataset in the 50Salads layout and print its summary.

    mmfeat make-demo-salads --root data/demo-salads --seed 0 --videos 10 --frames 60 90 \
        --size 64 48 --fps 15 --splits 5 --damaged 1 --unreadable 1
"""

from __future__ import annotations

import argparse
import json

from mmfeat.errors import UserError

NAME = "make-demo-salads"
HELP = "Write the demo-salads dataset (videos, groundTruth, mapping, splits) under --root."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", required=True, help="folder to write mapping.txt, videos/, groundTruth/, splits/ into"
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same dataset")
    parser.add_argument("--videos", type=int, default=10, help="number of videos, two takes per subject")
    parser.add_argument(
        "--frames", type=int, nargs=2, default=(60, 90), metavar=("MIN", "MAX"), help="frames per video, inclusive"
    )
    parser.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"), help="frame size, even")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--splits", type=int, default=5, help="cross-validation folds, by subject")
    parser.add_argument("--damaged", type=int, default=1, help="videos with damaged packets in the middle")
    parser.add_argument("--unreadable", type=int, default=1, help="video files that no backend can open")


def run(args: argparse.Namespace) -> int:
    from mmfeat.demo.salads import generate_demo_salads  # imported here: keeps `mmfeat --help` fast

    width, height = args.size
    try:
        summary = generate_demo_salads(
            args.root,
            seed=args.seed,
            num_videos=args.videos,
            frames=tuple(args.frames),
            width=width,
            height=height,
            fps=args.fps,
            num_splits=args.splits,
            damaged=args.damaged,
            unreadable=args.unreadable,
        )
    except ValueError as error:
        raise UserError(f"make-demo-salads: {error}") from error
    print(json.dumps(summary, indent=2))
    return 0
