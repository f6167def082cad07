"""Shape checks of precomputed ROOT/features/{video}.npy files, read from their headers.

    shape = npy_shape(root / "features" / "rgb-01-1.npy")            # (D, T), data not read
    problems = shape_problems({path: shape, ...}, {path: 11687, ...})  # transposed files, odd D, with the fix

The published features are (D, T): feature dimensions by frames. A file saved as
(T, D) would be read as D frames of T features: every video's labels cut to D
frames and training stopped by a shape error naming no file. Which axis is T is
decided against the ground truth's length: the frame count of features and
labels may differ by a few frames (alignment cuts them), so a file is called
transposed when its (T, D) reading fits its labels, and fits them better than
its (D, T) reading. When D is close to T (short videos, small features) both
readings can fit; then the dataset decides: a first axis that the files read as
(D, T) share is their feature dimension, not a length.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from mmfeat.align import ALWAYS_TOLERATED_FRAMES
from mmfeat.errors import UserError

# Frames by which features and labels may differ and still be the same video:
# a few frames at either end (alignment handles those), or 5 % of a long video.
ABSOLUTE_FRAME_TOLERANCE = ALWAYS_TOLERATED_FRAMES
RELATIVE_FRAME_TOLERANCE = 0.05


def npy_shape(path: Path) -> tuple[int, ...]:
    """The array shape in the .npy header (the data is not read); UserError naming the file otherwise."""
    if not path.is_file():
        raise UserError(f"{path}: no such features file; add it, or remove the video from the dataset")
    try:
        return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable .npy array ({error}); replace the file") from error


def frames_match(frames: int, label_frames: int) -> bool:
    """Whether `frames` feature rows can describe a video of `label_frames` labelled frames."""
    tolerance = max(ABSOLUTE_FRAME_TOLERANCE, RELATIVE_FRAME_TOLERANCE * label_frames)
    return abs(frames - label_frames) <= tolerance


def shape_problems(shapes: dict[Path, tuple[int, ...]], label_frames: dict[Path, int]) -> list[str]:
    """One line per file that is not a 2-D array, looks saved as (T, D), or whose D differs from the rest.

    `label_frames` holds the ground truth's length of each file's video, where
    known; a transposed file's D is unknown, so it is left out of the comparison of D.
    """
    orientation = orientation_problems(shapes, label_frames)
    oriented_shapes = {path: shape for path, shape in shapes.items() if path not in orientation}
    return list(orientation.values()) + dimension_problems(oriented_shapes)


def orientation_problems(shapes: dict[Path, tuple[int, ...]], label_frames: dict[Path, int]) -> dict[Path, str]:
    """What is wrong with each file's shape given its video's labelled frames: not 2-D, or saved as (T, D)."""
    problems, reads_better_transposed = {}, {}
    for path, shape in shapes.items():
        if len(shape) != 2 or 0 in shape:
            problems[path] = f"{path}: expected a non-empty 2-D (D, T) array, got shape {shape}"
        elif path in label_frames:
            dims, frames = shape
            truth = label_frames[path]
            if frames_match(dims, truth) and abs(dims - truth) < abs(frames - truth):
                reads_better_transposed[path] = shape
    feature_dims = {shape[0] for path, shape in shapes.items() if path not in problems | reads_better_transposed}
    for path, (dims, frames) in reads_better_transposed.items():
        truth = label_frames[path]
        if dims in feature_dims and frames_match(frames, truth):
            continue  # its first axis is the D the other files have, and its second fits its labels too
        closeness = f"better than {frames}" if frames_match(frames, truth) else f"not {frames}"
        problems[path] = (f"{path}: shape {(dims, frames)} looks saved as (T, D): its ground truth has {truth} "
                          f"frames, which matches {dims}, {closeness}; save the array transposed, as (D, T)")
    return {path: problems[path] for path in shapes if path in problems}  # in the files' order


def dimension_problems(shapes: dict[Path, tuple[int, ...]]) -> list[str]:
    """One line per 2-D file whose feature dimension D differs from the one most files have."""
    dims_of = {path: shape[0] for path, shape in shapes.items() if len(shape) == 2}
    if not dims_of:
        return []
    counts = Counter(dims_of.values())
    usual_dims, usual_count = counts.most_common(1)[0]
    if len(counts) == 1:
        return []
    if list(counts.values()).count(usual_count) > 1:  # no majority: name every file with its D
        return [f"{path}: {dims} feature dimensions; the files do not agree on D "
                f"({', '.join(f'{count} file(s) with {dims}' for dims, count in sorted(counts.items()))}); "
                "every video's features must come from the same extractor" for path, dims in dims_of.items()]
    return [f"{path}: {dims} feature dimensions, where {usual_count} other file(s) have {usual_dims}; "
            "every video's features must come from the same extractor: replace this file"
            for path, dims in dims_of.items() if dims != usual_dims]
