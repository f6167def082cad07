"""What an extractor reads and what it returns: the contract of every module in the registry.

    from mmfeat.features.extractors.items import VideoItem, AudioItem, TextItem, Extracted

An extractor kind's `input` in the registry (KIND_FACTS: "video", "audio" or
"text") says which item its module gets, one per video or sample; it returns
an `Extracted`, whose rows the store keeps with their positions, so that every
row can be traced back to the part of the input it describes.

A video extractor may also offer `extract_chunks(item, model, settings)`, an
iterator of `Extracted` chunks (one per batch, at least one, possibly with no
rows) whose concatenation is what `extract` returns: the store then appends
each chunk to the shard as it comes, so a long video's rows are never held
whole in memory. `concatenated(chunks)` is that `extract`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

# What a row's position means, stored with every item.
FRAME_INDEX = "frame_index"  # (T,) int64: stream index of the video frame the row describes (a window's centre)
SAMPLE_RANGE = "sample_range"  # (T, 2) int64: [first, end) audio samples at the item's sample rate
TIME_INTERVAL = "time_interval"  # (T, 2) float64: [start, end] seconds in the clip (sentences, words)
POSITION_KINDS = (FRAME_INDEX, SAMPLE_RANGE, TIME_INTERVAL)


@dataclass
class VideoItem:
    """Decoded frames, streamed: (stream index, HxWx3 uint8 RGB) in stream order, gaps where damaged."""

    frames: Iterable[tuple[int, np.ndarray]]
    fps: float


@dataclass
class AudioItem:
    """A clip's audio track as mono float32 at `sample_rate`, and the named intervals (seconds) to pool over."""

    waveform: np.ndarray
    sample_rate: int
    segments: Mapping[str, tuple[float, float]]


@dataclass
class TextItem:
    """Named texts of one sample (e.g. punchline, context) and the interval (seconds) each one covers."""

    texts: Mapping[str, str]
    intervals: Mapping[str, tuple[float, float]]


@dataclass
class Extracted:
    """An item's features: rows (T, D) float32, their positions, and optional further outputs.

    `outputs` holds other per-row arrays of the same T (e.g. S3D's joint
    embedding beside mixed_5c); `row_names` names the rows when each row is a
    named segment (e.g. ["punchline", "context"]) rather than a point in time.
    """

    features: np.ndarray
    positions: np.ndarray
    position_kind: str
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    row_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.position_kind not in POSITION_KINDS:
            raise ValueError(f"position_kind must be one of {POSITION_KINDS}, got {self.position_kind!r}")
        rows = self.features.shape[0]
        if self.features.ndim != 2 or self.positions.shape[:1] != (rows,):
            raise ValueError(f"features must be (T, D) and positions (T, ...); got {self.features.shape} "
                             f"and {self.positions.shape}")
        for name, values in self.outputs.items():
            if values.shape[:1] != (rows,):
                raise ValueError(f"output {name!r} has {values.shape[0]} rows, the features {rows}")
        if self.row_names is not None and len(self.row_names) != rows:
            raise ValueError(f"{len(self.row_names)} row names for {rows} rows")


def concatenated(chunks: Iterator[Extracted]) -> Extracted:
    """One Extracted of every chunk's rows in order: `extract` of an extractor that streams chunks."""
    chunks = list(chunks)
    if not chunks:
        raise ValueError("an extractor's chunks must include at least one (possibly empty) chunk")
    first = chunks[0]
    row_names = None if first.row_names is None else [name for chunk in chunks for name in chunk.row_names]
    return Extracted(
        features=np.concatenate([chunk.features for chunk in chunks]),
        positions=np.concatenate([chunk.positions for chunk in chunks]),
        position_kind=first.position_kind,
        outputs={name: np.concatenate([chunk.outputs[name] for chunk in chunks]) for name in first.outputs},
        row_names=row_names,
    )
