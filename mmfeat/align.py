"""Alignment of a video's feature rows with its per-frame labels.

Decoded videos and their annotations often differ by a few frames (50Salads has
such videos). A policy decides which end is cut: `back` (the default: the
50Salads study found it best, 0.716 vs 0.687 symmetric vs 0.665 front), `front`
or `symmetric`. Feature rows carry the stream index of the frame they describe,
so strided extraction and frames skipped as damaged map onto the right labels.

A difference far beyond a few frames usually means wrong data (another video's
labels, features cut short): `Alignment.beyond` says whether a video's exceeds
the dataset's `max_length_mismatch`, and training refuses such videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POLICIES = ("back", "front", "symmetric")
# How label frames between feature rows take a prediction: from the row at or before them
# ("previous", as ASFormer repeats predictions made at its sample rate), or from the
# nearest row ("nearest", for rows describing windows centred on their frame, one per second).
FILLS = ("previous", "nearest")
# A difference of up to this many frames is never called wrong data, whatever the video's
# length: decoders and annotation tools disagree by a few frames at a video's ends (the
# demo's shortest videos, 36 frames, have 2 labels more than frames: 5.6 %).
ALWAYS_TOLERATED_FRAMES = 10


@dataclass
class Alignment:
    rows_kept: np.ndarray        # indices of the feature rows that have a label
    label_indices: np.ndarray    # for each kept row, the index of its label frame
    video_frames: int            # frames in the video's stream (as its container promises, or decoded + skipped)
    label_frames: int            # frames in the ground truth

    @property
    def mismatch(self) -> int:
        """Video frames minus label frames: positive when the video is longer."""
        return self.video_frames - self.label_frames

    def beyond(self, max_length_mismatch: float) -> bool:
        """Whether video and labels differ by more than `max_length_mismatch` (a fraction) of the
        label frames and by more than ALWAYS_TOLERATED_FRAMES."""
        return abs(self.mismatch) > max(ALWAYS_TOLERATED_FRAMES, max_length_mismatch * self.label_frames)


def align(frame_indices: np.ndarray, video_frames: int, label_frames: int, policy: str = "back") -> Alignment:
    """Match feature rows (stream indices `frame_indices`) to label frames under `policy`."""
    if policy not in POLICIES:
        raise ValueError(f"unknown alignment policy {policy!r}; choose one of {', '.join(POLICIES)}")
    common = min(video_frames, label_frames)
    video_start = _cut_before(video_frames - common, policy)
    label_start = _cut_before(label_frames - common, policy)
    frame_indices = np.asarray(frame_indices, dtype=np.int64)
    inside = (frame_indices >= video_start) & (frame_indices < video_start + common)
    rows_kept = np.flatnonzero(inside)
    label_indices = frame_indices[rows_kept] - video_start + label_start
    return Alignment(rows_kept, label_indices, video_frames, label_frames)


def _cut_before(excess: int, policy: str) -> int:
    """How many of `excess` surplus frames are cut at the start."""
    if policy == "back":
        return 0
    if policy == "front":
        return excess
    return excess // 2


def fill_to_label_rate(predicted: np.ndarray, label_indices: np.ndarray, label_frames: int,
                       fill: str = "previous") -> np.ndarray:
    """Per-label-frame predictions from predictions at `label_indices` (sorted).

    With "previous", each label frame takes the prediction of the nearest
    predicted frame at or before it (the first one before any): this repeats
    predictions made on every k-th frame back to the full frame rate, as
    ASFormer's own prediction does, and covers frames that had no feature
    (skipped as damaged, or cut). With "nearest", each takes the prediction of
    the predicted frame nearest to it (the earlier one on a tie).
    """
    if len(predicted) == 0:
        raise ValueError("no predicted frames to fill from")
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    label_indices = np.asarray(label_indices)
    frames = np.arange(label_frames)
    previous = np.clip(np.searchsorted(label_indices, frames, side="right") - 1, 0, None)
    if fill == "nearest":
        following = np.minimum(previous + 1, len(label_indices) - 1)
        closer_after = np.abs(label_indices[following] - frames) < np.abs(label_indices[previous] - frames)
        previous = np.where(closer_after, following, previous)
    return np.asarray(predicted)[previous]
