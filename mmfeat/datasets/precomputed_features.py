"""Shape checks of precomputed ROOT/features/{video}.npy files, read from their headers.

    shape = npy_shape(root / "features" / "rgb-01-1.npy")            # (D, T), data not read
    problem = orientation_problem(path, shape, label_frames=11687)   # None, or what is wrong and the fix
    problems = dimension_problems({path: shape, ...})                 # the files whose D differs

The published features are (D, T): feature dimensions by frames. A file saved as
(T, D) would be read as D frames of T features: every video's labels cut to D
frames and training stopped by a shape error naming no file. The frame count of
features and labels may differ by a few frames (alignment cuts them), so a
file is called transposed only when its (D, T) reading is far from the ground
truth's length and the transposed reading is close to it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from mmfeat.errors import UserError

# Frames by which features and labels may differ and still be the same video:
# a few frames at either end (alignment handles those), or 5 % of a long video.
ABSOLUTE_FRAME_TOLERANCE = 10
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


def orientation_problem(path: Path, shape: tuple[int, ...], label_frames: int) -> str | None:
    """What is wrong with a (D, T) file's shape given its video's labelled frames, or None."""
    if len(shape) != 2 or 0 in shape:
        return f"{path}: expected a non-empty 2-D (D, T) array, got shape {shape}"
    dims, frames = shape
    if not frames_match(frames, label_frames) and frames_match(dims, label_frames):
        return (f"{path}: shape {shape} looks saved as (T, D): its ground truth has {label_frames} frames, "
                f"which matches {dims}, not {frames}; save the array transposed, as (D, T)")
    return None


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
