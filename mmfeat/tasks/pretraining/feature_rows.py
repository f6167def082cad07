"""A narrated video's stored feature rows, one per second of video: what pretraining reads.

    from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
    rows = NarratedFeatures(NarratedDataset(root), FeatureStore(video_shards), audio_store=FeatureStore(audio_shards))
    for video_id in rows.usable_ids():      # ids with features; rows.left_out() says why others have none
        video = rows.video(video_id)        # (T, 512) float32: S3D's video_embedding, row k = the second around k s
        audio = rows.audio(video_id)        # (T, Da) float32: the audio rows of each of those seconds, mean-pooled

The video rows must be the dataset's `second_intervals` one for one (S3D at
step_seconds 1): their count, and each row's centre frame inside its second
(within one frame, as S3D's resampling picks the nearest frame). A store that
disagrees was made with other settings or from another copy of the video, and
is a UserError naming the shard, the video and the fix.

Audio rows carry sample ranges (wav2vec2: [first, end) samples at the
`sample_rate` their provenance records, 16 kHz). A row belongs to the second
its range's centre lies in; each second's vector is the mean of its rows. A
second with no row of its own (audio rows coarser than a second, or an audio
track that ends before the video) takes the row whose centre is nearest the
middle of the second, as the humour task and wav2vec2's segments do. Rows
after the last second's end are pooled into none (they may still be the
nearest row of an empty second).
"""

from __future__ import annotations

import logging

import numpy as np

from mmfeat.datasets.narrated import NarratedDataset
from mmfeat.errors import UserError
from mmfeat.features.extractors.items import FRAME_INDEX, SAMPLE_RANGE, TIME_INTERVAL
from mmfeat.features.inputs import AUDIO_SAMPLE_RATE
from mmfeat.features.store import FeatureStore

log = logging.getLogger(__name__)

REEXTRACT_VIDEO = "extract the video features again with s3d at step_seconds 1 from this dataset's videos"
REEXTRACT_AUDIO = "extract the audio features again from this dataset's videos"


class NarratedFeatures:
    """Per-second video (and audio) rows of a narrated dataset's videos, checked against the videos' seconds."""

    def __init__(self, dataset: NarratedDataset, video_store: FeatureStore,
                 video_output: str | None = "video_embedding", audio_store: FeatureStore | None = None):
        self.dataset = dataset
        self.video_store = video_store
        self.video_output = video_output  # None: the store's main features (e.g. mixed_5c) instead of an output
        self.audio_store = audio_store
        self._intervals: dict[str, np.ndarray] = {}

    def usable_ids(self) -> list[str]:
        """The dataset's ids that have features in every store given, sorted; `left_out` says why the others have none.

        An id that no store lists, neither with features nor as excluded, means the stores do not cover this dataset
        (another dataset's shards, or shards older than captions.json): a UserError naming the ids.
        """
        left_out = self.left_out()
        stores = [store for store in (self.video_store, self.audio_store) if store is not None]
        have_features = [set(store.videos()) for store in stores]
        unknown = [video_id for video_id in self.dataset.item_ids()
                   if video_id not in left_out and not all(video_id in ids for ids in have_features)]
        if unknown:
            shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            raise UserError(f"{len(unknown)} video(s) of {self.dataset.captions_path} are in none of the shards of "
                            f"{' or '.join(map(repr, stores))}: {shown}; extract the features of this dataset again")
        for video_id, reason in left_out.items():
            log.warning("video %s has no features and is left out: %s", video_id, reason)
        return [video_id for video_id in self.dataset.item_ids() if video_id not in left_out]

    def left_out(self) -> dict[str, str]:
        """The dataset's ids that a store lists as excluded (no features), with that store's reason."""
        reasons: dict[str, str] = {}
        ids = set(self.dataset.item_ids())
        for store in (self.audio_store, self.video_store):  # the video store's reason wins: it is read first
            if store is not None:
                reasons.update({video_id: reason for video_id, reason in store.excluded().items() if video_id in ids})
        return dict(sorted(reasons.items()))

    def video(self, video_id: str) -> np.ndarray:
        """(T, D) float32, row k the second `second_intervals(video_id)[k]`; UserError when the rows disagree."""
        store = self.video_store
        rows = store.features(video_id, output=self.video_output)
        intervals = self.second_intervals(video_id)
        where = f"{store.shard_path(video_id)}: video {video_id}"
        if len(rows) != len(intervals):
            raise UserError(f"{where}: {len(rows)} feature rows, but {self.dataset.video_file(video_id)} lasts "
                            f"{self.dataset.duration(video_id):.3f} s, {len(intervals)} seconds at one row a second; "
                            f"{REEXTRACT_VIDEO}")
        centres, tolerance = _row_centres(store, video_id, where)
        outside = np.flatnonzero((centres < intervals[:, 0] - tolerance) | (centres > intervals[:, 1] + tolerance))
        if outside.size:
            row = int(outside[0])
            more = f" ({outside.size - 1} more rows are off too)" if outside.size > 1 else ""
            raise UserError(f"{where}: row {row} stands for {centres[row]:.3f} s, outside second {row} "
                            f"({intervals[row, 0]:g}-{intervals[row, 1]:g} s){more}; {REEXTRACT_VIDEO}")
        return rows

    def audio(self, video_id: str) -> np.ndarray:
        """(T, Da) float32: the audio rows pooled over each video second (see the module's docstring)."""
        if self.audio_store is None:
            raise UserError("no audio features were given: the video-audio objective needs the audio extractor's "
                            "shards (--audio-features)")
        store = self.audio_store
        where = f"{store.shard_path(video_id)}: video {video_id}"
        kind = store.position_kind(video_id)
        if kind != SAMPLE_RANGE:
            raise UserError(f"{where}: audio rows have {kind} positions, not audio sample ranges; "
                            f"use an audio extractor's features (wav2vec2) here")
        rows = store.features(video_id)
        if not len(rows):
            raise UserError(f"{where}: no audio rows; {REEXTRACT_AUDIO}")
        sample_rate = store.provenance(video_id).get("sample_rate", AUDIO_SAMPLE_RATE)
        centres = store.positions(video_id).mean(axis=1) / float(sample_rate)
        return pooled_per_second(rows, centres, self.second_intervals(video_id))

    def second_intervals(self, video_id: str) -> np.ndarray:
        """(T, 2) seconds each row stands for (the dataset's `second_intervals`, read once per video)."""
        if video_id not in self._intervals:
            self._intervals[video_id] = np.asarray(self.dataset.second_intervals(video_id), dtype=np.float64)
        return self._intervals[video_id]


def pooled_per_second(rows: np.ndarray, centres: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """(T, D): the mean of the rows whose centre (seconds) lies in each interval, else the row nearest its middle.

    Intervals are consecutive, [start, end) each, the last one closed; rows outside all of them are not used.
    """
    starts, ends = intervals[:, 0], intervals[:, 1]
    second = np.searchsorted(starts, centres, side="right") - 1
    inside = second >= 0
    inside[inside] = (centres[inside] < ends[second[inside]]) | (
        (second[inside] == len(intervals) - 1) & (centres[inside] <= ends[-1]))
    sums = np.zeros((len(intervals), rows.shape[1]), np.float64)
    np.add.at(sums, second[inside], rows[inside])
    counts = np.bincount(second[inside], minlength=len(intervals))
    pooled = sums / np.maximum(counts, 1)[:, None]
    for empty in np.flatnonzero(counts == 0):
        middle = (starts[empty] + ends[empty]) / 2
        pooled[empty] = rows[int(np.argmin(np.abs(centres - middle)))]
    return pooled.astype(np.float32)


def _row_centres(store: FeatureStore, video_id: str, where: str) -> tuple[np.ndarray, float]:
    """(seconds each video row stands for, how far off its second it may be) from the stored positions."""
    kind = store.position_kind(video_id)
    positions = store.positions(video_id)
    if kind == TIME_INTERVAL:
        return positions.mean(axis=1), 1e-6
    if kind != FRAME_INDEX:
        raise UserError(f"{where}: rows have {kind} positions, not video frames; use a video extractor's features "
                        "(s3d) for the video modality")
    fps = store.provenance(video_id).get("fps")
    if not fps:
        raise UserError(f"{where}: no frame rate recorded with the rows, so they cannot be placed in time; "
                        f"{REEXTRACT_VIDEO}")
    # S3D resamples to its own rate by taking the nearest decoded frame: a row's frame is within one frame of k s
    return positions / float(fps), 1.0 / float(fps)
