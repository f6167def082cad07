"""Feature rows and frame labels of a split's videos, aligned and subsampled for ASFormer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mmfeat.align import ALWAYS_TOLERATED_FRAMES, Alignment, align
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore

log = logging.getLogger(__name__)


@dataclass
class VideoSequence:
    video_id: str
    features: np.ndarray        # (D, T) float32: the kept rows, every sample_rate-th
    labels: np.ndarray          # (T,) class indices of those rows
    label_indices: np.ndarray   # (T,) the label frame each row describes
    alignment: Alignment


def load_sequences(dataset: SegmentationDataset, store: FeatureStore, video_ids: list[str],
                   policy: str, sample_rate: int, output: str | None = None) -> tuple[list[VideoSequence], dict[str, str]]:
    """Aligned sequences of `video_ids`, and the videos left out with the reason.

    `output` names a further output of the store to read instead of the features
    (e.g. S3D's "video_embedding").

    A video is left out only when the feature store lists it as excluded (a file
    that could not be read, with `on_unreadable: skip`); a video that is simply
    missing from the store is an error, never silently dropped.
    """
    excluded_in_store = store.excluded()
    decode_records = store.decode_records()
    available = set(store.videos())
    sequences, left_out = [], {}
    for video_id in video_ids:
        if not dataset.ground_truth_path(video_id).is_file():
            raise UserError(f"video {video_id!r} has no ground truth: {dataset.ground_truth_path(video_id)} is "
                            "missing; add it, or remove the video from the split's bundles")
        if video_id not in available:
            if video_id in excluded_in_store:
                left_out[video_id] = excluded_in_store[video_id]
                log.warning("%s: left out, %s", video_id, excluded_in_store[video_id])
                continue
            raise UserError(f"video {video_id!r} of {dataset.root} has no features in the store "
                            f"and is not listed as excluded; rerun the feature extraction")
        sequences.append(_load_one(dataset, store, video_id, decode_records.get(video_id), policy, sample_rate,
                                   output))
    _require_one_feature_dimension(sequences, store)
    return sequences, left_out


def _require_one_feature_dimension(sequences: list[VideoSequence], store: FeatureStore) -> None:
    """A UserError naming the first video whose feature dimension differs from the first video's
    (the model would stop with a bare shape error naming no video)."""
    if not sequences:
        return
    first = sequences[0]
    for sequence in sequences[1:]:
        if sequence.features.shape[0] != first.features.shape[0]:
            source = store.provenance(sequence.video_id).get("source_file", "its features in the store")
            raise UserError(
                f"video {sequence.video_id!r} has {sequence.features.shape[0]} feature dimensions, video "
                f"{first.video_id!r} {first.features.shape[0]}: every video's features must come from the same "
                f"extractor; replace {source} and import or extract the features again")


def _load_one(dataset: SegmentationDataset, store: FeatureStore, video_id: str,
              decode_record: dict | None, policy: str, sample_rate: int, output: str | None) -> VideoSequence:
    features = store.features(video_id, output)
    frame_indices = store.frame_indices(video_id)
    labels = dataset.labels(video_id)
    alignment = align(frame_indices, _video_frames(decode_record, len(features)), len(labels), policy)
    if alignment.mismatch:
        log.warning("%s: %d video frames vs %d label frames, cut at the %s",
                    video_id, alignment.video_frames, alignment.label_frames, policy)
    if len(alignment.rows_kept) == 0:
        raise UserError(f"video {video_id!r}: no feature row lines up with its {len(labels)} label frames")
    rows = alignment.rows_kept[::sample_rate]
    label_indices = alignment.label_indices[::sample_rate]
    return VideoSequence(
        video_id=video_id,
        features=np.ascontiguousarray(features[rows].T, dtype=np.float32),
        labels=labels[label_indices],
        label_indices=label_indices,
        alignment=alignment,
    )


def _video_frames(decode_record: dict | None, feature_rows: int) -> int:
    """Frames in the video's stream; for imported features, their rows.

    That is the frames the container promises when it says (a file truncated
    at the end decodes fewer: its missing frames are the last ones, so the
    labels must not be cut at the front for them), else decoded plus skipped.
    """
    if decode_record is None:
        return feature_rows
    frames_seen = int(decode_record["frames_decoded"]) + len(decode_record["skipped_indices"])
    frames_expected = decode_record.get("frames_expected")
    if frames_expected is not None and frames_expected > frames_seen:
        log.warning("%s: decoding stopped at frame %d of the %d its container promises; the missing frames "
                    "are counted at the end", decode_record.get("path", "a video"), frames_seen, frames_expected)
        return int(frames_expected)
    return frames_seen


def require_lengths_within(sequences: list[VideoSequence], dataset: SegmentationDataset, max_length_mismatch: float,
                           videos: str) -> None:
    """A UserError listing every video of `sequences` (`videos`, e.g. "training videos of split 1") whose
    length differs from its ground truth's beyond the bound: such a difference usually means wrong data,
    and alignment would train or score the video on labels of other frames."""
    beyond = [sequence for sequence in sequences if sequence.alignment.beyond(max_length_mismatch)]
    if not beyond:
        return
    lines = []
    for sequence in beyond:
        lengths = sequence.alignment
        lines.append(f"video {sequence.video_id!r}: {lengths.video_frames} video frames, {lengths.label_frames} "
                     f"label frames in {dataset.ground_truth_path(sequence.video_id)}, {abs(lengths.mismatch)} "
                     f"apart ({abs(lengths.mismatch) / lengths.label_frames:.0%})")
    raise UserError(
        f"{len(beyond)} of the {len(sequences)} {videos} differ in length from their ground truth by more than "
        f"{max_length_mismatch:.0%} of its frames (and more than {ALWAYS_TOLERATED_FRAMES} frames), which usually "
        "means wrong labels or features:\n  " + "\n  ".join(lines) + "\ncorrect those files, or allow larger "
        "differences with the dataset's `max_length_mismatch` in the config (--max-length-mismatch)")


def alignment_summary(sequences: list[VideoSequence], policy: str) -> dict:
    """Per-video lengths and mismatch, for the report."""
    return {
        sequence.video_id: {
            "video_frames": sequence.alignment.video_frames,
            "label_frames": sequence.alignment.label_frames,
            "mismatch": sequence.alignment.mismatch,
            "policy": policy,
        }
        for sequence in sequences
    }


def feature_statistics(sequences: list[VideoSequence]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over every frame of `sequences` (the training videos)."""
    frames = np.concatenate([sequence.features for sequence in sequences], axis=1)
    return frames.mean(axis=1), frames.std(axis=1) + 1e-6  # epsilon: constant dimensions stay finite


def standardize(sequences: list[VideoSequence], mean: np.ndarray, std: np.ndarray) -> None:
    """Scale each feature dimension to the training split's zero mean and unit variance, in place."""
    mean, std = np.asarray(mean, dtype=np.float32)[:, None], np.asarray(std, dtype=np.float32)[:, None]
    for sequence in sequences:
        sequence.features = (sequence.features - mean) / std
