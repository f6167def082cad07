"""Check a segmentation dataset's labels, mapping, bundles and precomputed features, once, up front.

    from mmfeat.datasets.segmentation_check import check_segmentation_dataset
    check_segmentation_dataset("data/50salads", splits=5, precomputed=True,
                               background=["action_start"])   # raises UserError listing problems

The workflow calls this while it plans the jobs (workflow/rules/common.smk), so
that an unknown label, an empty ground-truth file, a bundle listing a video
without ground truth or twice, a background label not in the mapping or a
transposed .npy stops the run before any feature is extracted, with every
problem listed at once, each naming its file. Only the .npy headers are read,
so the check costs little more than reading the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmfeat.datasets.precomputed_features import npy_shape, shape_problems
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError

MAX_LISTED_PROBLEMS = 20  # enough to see the pattern; the rest are counted


def check_segmentation_dataset(root: str | Path, splits: int, precomputed: bool,
                               background: Sequence[str] = ()) -> None:
    """Raise a UserError listing every problem of the dataset at `root`; return when there is none.

    `background` are the config's background labels: one the mapping does not
    know would leave no segment out of the metrics, silently.

    A mapping.txt that cannot be read (a line that is not '<index> <label>', an
    index or a label listed twice) is raised at once: the labels cannot be
    checked without it.
    """
    dataset = SegmentationDataset(root)
    dataset.class_index  # noqa: B018 -- read first: every label is checked against it
    video_ids = dataset.video_ids()
    problems = unknown_background_problems(background, dataset.class_names, dataset.mapping_path,
                                           fix="correct the dataset's `background` in the config")
    if not video_ids:
        problems.append(f"{dataset.ground_truth_dir} holds no <video>.txt ground-truth file")
    label_frames: dict[str, int | None] = {}  # None: the labels cannot be read (a problem listed)
    for video_id in video_ids:
        try:
            label_frames[video_id] = len(dataset.labels(video_id))
        except UserError as error:
            label_frames[video_id] = None
            problems.append(str(error))
    for split in range(1, splits + 1):
        for part in ("train", "test"):
            try:
                dataset.split_video_ids(part, split)
            except UserError as error:
                problems.append(str(error))
    if precomputed:
        problems += _precomputed_feature_problems(dataset.root / "features", label_frames)
    if problems:
        raise UserError(_problem_list(dataset.root, problems))


def unknown_background_problems(background: Sequence[str], class_names: Sequence[str], mapping_path: Path,
                                fix: str) -> list[str]:
    """One line per background label that `mapping_path` does not list, naming the labels it does and `fix`."""
    return [f"background label {label!r} is not in {mapping_path} (its labels: {', '.join(class_names)}); {fix}"
            for label in background if label not in class_names]


def _precomputed_feature_problems(features_dir: Path, label_frames: dict[str, int | None]) -> list[str]:
    """Missing or unreadable .npy files, transposed ones, and ones whose D differs from the rest."""
    problems, shapes, frames_of_file = [], {}, {}
    for video_id, frames in label_frames.items():
        path = features_dir / f"{video_id}.npy"
        try:
            shapes[path] = npy_shape(path)
        except UserError as error:
            problems.append(str(error))
            continue
        if frames is not None:  # None: its labels cannot be read (a problem listed already)
            frames_of_file[path] = frames
    return problems + shape_problems(shapes, frames_of_file)


def _problem_list(root: Path, problems: list[str]) -> str:
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    return (f"the dataset at {root} has {len(problems)} problem(s); fix them and run again:\n  "
            + "\n  ".join(listed) + (f"\n  ... and {more} more" if more else ""))
