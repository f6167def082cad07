"""Action-segmentation metrics, computed as the official ASFormer / MS-TCN evaluation does.

    mmfeat segmentation-metrics --ground-truth DIR --predictions DIR --bundle FILE

Frame accuracy, segmental edit score and F1@{10,25,50}, all in percent, with
the conventions of `func_eval` in ChinaYi/ASFormer's `eval.py`, so numbers are
comparable with published ones:

- accuracy is pooled over every frame of a bundle (correct / ground-truth frames);
  a prediction longer than its ground truth has its extra labels ignored for
  accuracy but still enters the edit score and F1, as in the official code;
- the edit score is averaged over videos;
- F1 sums true/false positives and false negatives over the bundle first;
- a segment ends at the index where the next one starts, except the last one,
  which ends at the index of the last frame (not one past it).

Where the official code crashes or returns NaN we return a number instead:
a video whose ground truth is all background has every predicted segment
counted as a false positive, and an edit score of 100 when the prediction
holds no segment either.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mmfeat.datasets.mstcn_files import prediction_name, read_bundle, read_frame_labels, read_prediction_file
from mmfeat.errors import UserError

F1_THRESHOLDS = {"f1@10": 0.10, "f1@25": 0.25, "f1@50": 0.50}  # IoU thresholds of the MS-TCN papers
METRIC_NAMES = ("acc", "edit", *F1_THRESHOLDS)


class Segment(NamedTuple):
    """A run of frames sharing one label."""

    label: str
    start: int  # index of the first frame
    end: int  # index of the next segment's first frame; for the video's last segment, its last frame


def evaluate_bundle(
    ground_truth_dir: str | os.PathLike,
    predictions_dir: str | os.PathLike,
    bundle_path: str | os.PathLike,
    background: Collection[str] = (),
) -> dict:
    """Evaluate the predictions for every video that a bundle lists.

    The ground truth of video `V.txt` is `ground_truth_dir/V.txt` and its
    prediction `predictions_dir/V` (see `prediction_name`). Returns `acc`,
    `edit`, `f1@10`, `f1@25`, `f1@50` in percent, `videos` and `frames`.
    """
    for folder, role in ((ground_truth_dir, "ground-truth"), (predictions_dir, "predictions")):
        if not Path(folder).is_dir():
            raise UserError(f"{folder}: {role} folder not found; check the path")
    sequence_pairs = []
    for video_name in read_bundle(bundle_path):
        ground_truth_path = Path(ground_truth_dir) / video_name
        prediction_path = Path(predictions_dir) / prediction_name(video_name)
        if not prediction_path.is_file():
            raise UserError(
                f"{prediction_path}: no prediction for video {video_name!r} of bundle {bundle_path}; "
                "predict this bundle first, or point --predictions at the folder holding its predictions"
            )
        ground_truth = read_frame_labels(ground_truth_path)
        predicted = read_prediction_file(prediction_path)
        if len(predicted) < len(ground_truth):
            raise UserError(
                f"{prediction_path}: holds {len(predicted)} predicted labels but the ground truth "
                f"{ground_truth_path} has {len(ground_truth)} frames; the prediction must cover every frame "
                "(was it made from features of another length?)"
            )
        sequence_pairs.append((ground_truth, predicted))
    return evaluate_sequences(sequence_pairs, background)


def evaluate_sequences(
    sequence_pairs: Iterable[tuple[Sequence[str], Sequence[str]]],
    background: Collection[str] = (),
) -> dict:
    """Evaluate (ground-truth labels, predicted labels) pairs, one pair per video, as one bundle.

    Same keys and conventions as `evaluate_bundle`, without files: use it for
    baselines computed in memory. A prediction may be longer than its ground
    truth, not shorter.
    """
    background = frozenset(background)
    correct_frames = 0
    total_frames = 0
    edit_sum = 0.0
    videos = 0
    f1_totals = {name: [0, 0, 0] for name in F1_THRESHOLDS}  # tp, fp, fn
    for video_index, (ground_truth, predicted) in enumerate(sequence_pairs):
        if not ground_truth:
            raise ValueError(f"video {video_index}: the ground truth holds no frames")
        if len(predicted) < len(ground_truth):
            raise ValueError(
                f"video {video_index}: {len(predicted)} predicted labels for {len(ground_truth)} ground-truth frames"
            )
        videos += 1
        total_frames += len(ground_truth)
        correct_frames += count_correct_frames(predicted, ground_truth)
        predicted_segments = extract_segments(predicted, background)
        ground_truth_segments = extract_segments(ground_truth, background)
        edit_sum += _edit_score_of_segments(predicted_segments, ground_truth_segments)
        best_matches = _best_matches(predicted_segments, ground_truth_segments)
        for name, threshold in F1_THRESHOLDS.items():
            counts = _count_matches(best_matches, len(ground_truth_segments), threshold)
            f1_totals[name] = [total + count for total, count in zip(f1_totals[name], counts)]
    if videos == 0:
        raise ValueError("no videos to evaluate")
    result = {
        "acc": 100 * float(correct_frames) / total_frames,  # this order of operations, as the official code
        "edit": edit_sum / videos,
    }
    for name, (true_positives, false_positives, false_negatives) in f1_totals.items():
        result[name] = f1_score(true_positives, false_positives, false_negatives)
    result["videos"] = videos
    result["frames"] = total_frames
    return result


def mean_of(results: list[dict]) -> dict:
    """Average `acc`, `edit` and the F1 scores over results (e.g. the splits of a cross-validation)."""
    if not results:
        raise ValueError("no results to average")
    return {name: sum(result[name] for result in results) / len(results) for name in METRIC_NAMES}


def extract_segments(frame_labels: Sequence[str], background: Collection[str] = ()) -> list[Segment]:
    """Split per-frame labels into segments, leaving out segments whose label is in `background`.

    A segment starts at the first frame and at every label change. Its end is
    the index of the change, except for the last segment, whose end is the last
    frame's index (len - 1): the official code does this, and it changes IoUs.
    """
    if not frame_labels:
        return []
    segments = []
    start = 0
    for index in range(1, len(frame_labels)):
        if frame_labels[index] != frame_labels[start]:
            segments.append(Segment(frame_labels[start], start, index))
            start = index
    segments.append(Segment(frame_labels[start], start, len(frame_labels) - 1))
    return [segment for segment in segments if segment.label not in background]


def count_correct_frames(predicted: Sequence[str], ground_truth: Sequence[str]) -> int:
    """Return how many ground-truth frames the prediction labels correctly (extra predicted frames ignored)."""
    return sum(map(operator.eq, ground_truth, predicted))


def edit_score(predicted: Sequence[str], ground_truth: Sequence[str], background: Collection[str] = ()) -> float:
    """Return the segmental edit score of one video in percent: 100 * (1 - levenshtein / longer length)."""
    background = frozenset(background)
    return _edit_score_of_segments(extract_segments(predicted, background), extract_segments(ground_truth, background))


def f1_counts(
    predicted: Sequence[str],
    ground_truth: Sequence[str],
    threshold: float,
    background: Collection[str] = (),
) -> tuple[int, int, int]:
    """Return (true positives, false positives, false negatives) of one video's segments at an IoU threshold.

    Each predicted segment, in order, is matched to the ground-truth segment of
    highest IoU (same label required; the first on ties); it is a true positive
    when that IoU reaches the threshold and the segment was not matched before.
    """
    background = frozenset(background)
    ground_truth_segments = extract_segments(ground_truth, background)
    best_matches = _best_matches(extract_segments(predicted, background), ground_truth_segments)
    return _count_matches(best_matches, len(ground_truth_segments), threshold)


def f1_score(true_positives: int, false_positives: int, false_negatives: int) -> float:
    """Return F1 = 2PR / (P + R) in percent; 0 where it is undefined, as the official code does."""
    if true_positives == 0:
        return 0.0  # P and R are 0 or undefined; the official code turns the NaN into 0
    precision = true_positives / float(true_positives + false_positives)
    recall = true_positives / float(true_positives + false_negatives)
    return 2.0 * (precision * recall) / (precision + recall) * 100


def levenshtein_distance(first: Sequence, second: Sequence) -> int:
    """Return the edit distance (insertions, deletions, substitutions) between two sequences.

    The dynamic programme runs one row at a time with numpy, so two sequences of
    10,000 items take under half a second (benchmarks/edit_distance.py) rather than
    the half minute of a Python double loop.
    """
    if len(first) < len(second):
        first, second = second, first  # fewer rows: the Python loop runs over the shorter one
    item_codes: dict = {}
    column_codes = np.array([item_codes.setdefault(item, len(item_codes)) for item in first], dtype=np.int32)
    row_codes = [item_codes.setdefault(item, len(item_codes)) for item in second]
    column_offsets = np.arange(len(column_codes) + 1, dtype=np.int32)
    distances = column_offsets.copy()  # row 0: j insertions
    candidates = np.empty_like(distances)
    for row, code in enumerate(row_codes, start=1):
        # Candidates from the row above: substitution (or match) and deletion.
        candidates[0] = row
        np.minimum(distances[:-1] + (column_codes != code), distances[1:] + 1, out=candidates[1:])
        # Insertions chain along the row: D[j] = min over k <= j of candidates[k] + (j - k).
        candidates -= column_offsets
        np.minimum.accumulate(candidates, out=distances)
        distances += column_offsets
    return int(distances[-1])


def _edit_score_of_segments(predicted_segments: list[Segment], ground_truth_segments: list[Segment]) -> float:
    longer = max(len(predicted_segments), len(ground_truth_segments))
    if longer == 0:
        return 100.0  # no segment on either side agrees fully; the official code returns NaN here
    distance = levenshtein_distance(
        [segment.label for segment in predicted_segments], [segment.label for segment in ground_truth_segments]
    )
    return (1 - float(distance) / longer) * 100


def _best_matches(
    predicted_segments: list[Segment], ground_truth_segments: list[Segment]
) -> list[tuple[int, float]]:
    """For each predicted segment, in order: (index of its best ground-truth segment, that IoU).

    Computed once per video and shared by the three thresholds. The index is
    -1 when there is no ground-truth segment at all.
    """
    if not ground_truth_segments:
        return [(-1, 0.0)] * len(predicted_segments)
    label_codes = {}
    for segment in ground_truth_segments:
        label_codes.setdefault(segment.label, len(label_codes))
    ground_truth_codes = np.array([label_codes[segment.label] for segment in ground_truth_segments])
    ground_truth_starts = np.array([segment.start for segment in ground_truth_segments])
    ground_truth_ends = np.array([segment.end for segment in ground_truth_segments])
    best_matches = []
    # The last segments of a prediction and ground truth of equal length can both be one frame at
    # len - 1: union 0, IoU NaN. argmax then picks the NaN and it counts as a miss, as officially.
    with np.errstate(invalid="ignore", divide="ignore"):
        for segment in predicted_segments:
            intersection = np.minimum(segment.end, ground_truth_ends) - np.maximum(segment.start, ground_truth_starts)
            union = np.maximum(segment.end, ground_truth_ends) - np.minimum(segment.start, ground_truth_starts)
            same_label = ground_truth_codes == label_codes.get(segment.label, -1)
            overlaps = (1.0 * intersection / union) * same_label
            best_index = int(np.argmax(overlaps))
            best_matches.append((best_index, float(overlaps[best_index])))
    return best_matches


def _count_matches(
    best_matches: list[tuple[int, float]], ground_truth_segment_count: int, threshold: float
) -> tuple[int, int, int]:
    matched = [False] * ground_truth_segment_count
    true_positives = 0
    false_positives = 0
    for best_index, overlap in best_matches:
        if best_index >= 0 and overlap >= threshold and not matched[best_index]:
            true_positives += 1
            matched[best_index] = True
        else:
            false_positives += 1  # also when the best match was already taken
    false_negatives = ground_truth_segment_count - sum(matched)
    return true_positives, false_positives, false_negatives
