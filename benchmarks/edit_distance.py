"""Time the edit distance of the segmentation metrics on two random 10,000-segment sequences.

    .venv/bin/python benchmarks/edit_distance.py [--segments 10000] [--repeats 3]

Prints the best time in seconds over the repeats (the least disturbed by other
processes on a shared machine). 10,000 segments is far beyond a real video
(50Salads has about 20 per video), so this bounds the cost of one edit score.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mmfeat.metrics.segmentation import levenshtein_distance

LABELS = 19  # as many labels as 50Salads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000, help="length of each sequence")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is printed")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    predicted = [f"label{code}" for code in rng.integers(0, LABELS, size=args.segments)]
    ground_truth = [f"label{code}" for code in rng.integers(0, LABELS, size=args.segments)]
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        distance = levenshtein_distance(predicted, ground_truth)
        timings.append(time.perf_counter() - started)
    print(f"edit distance of two {args.segments}-segment sequences: {min(timings):.3f} s (distance {distance})")


if __name__ == "__main__":
    main()
