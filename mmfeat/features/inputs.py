"""What an extractor reads, per item: opened from the dataset by the extractor's INPUT.

    from mmfeat.features.inputs import open_item
    with open_item("video", source, "rgb-01-1") as opened:
        extracted = extractor.extract(opened.item, model, settings)
    opened.decode_record, opened.provenance     # final once the block has consumed the item

`source` says where items live (`ItemSource`): a dataset root, its kind and
how its videos are decoded. Video comes from ROOT/videos/{id}.* of any kind
of dataset; audio (the clip's whole track, 16 kHz mono) and text from any
layout whose items have them (mmfeat.datasets.layouts, READS), which says
the intervals to pool the track over (a humor sample's punchline and
context; a narrated video's seconds, the rows S3D makes at one a second)
and the texts with their times (punchline and context; captions). An item
that cannot be read at all (no decodable video, no audio track, a sample
with no transcript) raises an UnreadableInputError (a UserError naming the
file or sample), which the caller turns into a failed job or a listed
exclusion.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tqdm import tqdm

from mmfeat.datasets.layouts import layout_class, layout_kinds, open_layout
from mmfeat.errors import UserError
from mmfeat.features.extractors.items import AudioItem, TextItem, VideoItem
from mmfeat.features.video_files import find_video_file, find_video_files

AUDIO_SAMPLE_RATE = 16000  # what speech encoders (wav2vec2) were trained on


class UnreadableInputError(UserError):
    """An item's file cannot be read at all (no decodable video, no audio track, ...)."""


@dataclass
class ItemSource:
    """Where a dataset's items are read from, and how."""

    root: Path
    kind: str = "segmentation"  # the dataset's kind: which layout (mmfeat.datasets.layouts) knows its items
    backend: str = "opencv"  # the video decoder (the schema's default, see decode.backend there)
    on_damaged: str = "skip"  # pyav: drop a damaged frame and flag its dependants, or drop them too
    _located: dict[str, Path] = field(default_factory=dict, init=False, repr=False)  # id -> file, found once

    def __post_init__(self) -> None:
        self.layout_class = layout_class(self.kind)  # UserError naming the known kinds

    @property
    def videos_dir(self) -> Path:
        return Path(self.root) / "videos"

    def locate_videos(self, item_ids: list[str]) -> None:
        """Find every item's file from one listing of ROOT/videos; UserError naming the first one without."""
        self._located.update(find_video_files(self.videos_dir, item_ids))

    def video_file(self, item_id: str) -> Path:
        """ROOT/videos/{id}.*; unreadable where the layout lists an item without a clip (a release's known gap)."""
        if item_id in self._located:
            return self._located[item_id]
        try:
            return find_video_file(self.videos_dir, item_id)
        except UserError as error:
            if self.layout_class.MISSING_VIDEO_EXCLUDES:
                raise UnreadableInputError(f"sample {item_id}: {error}") from error
            raise

    def audio_segments(self, item_id: str) -> dict[str, tuple[float, float]]:
        """The named intervals (seconds) an audio extractor pools the clip's track over (the layout's)."""
        return self._read_transcript("audio", lambda layout: layout.audio_segments(item_id))

    def timed_texts(self, item_id: str) -> dict:
        """The named texts a text extractor embeds, each a TimedText (the layout's)."""
        return self._read_transcript("text", lambda layout: layout.timed_texts(item_id))

    @cached_property
    def layout(self):
        """The dataset's reader (mmfeat.datasets.layouts.DatasetLayout), opened once."""
        return open_layout(self.kind, self.root)

    def _read_transcript(self, reads: str, read):
        """`read(layout)`; UserError when the layout has nothing for `reads`, unreadable when the item has not."""
        if reads not in self.layout_class.READS:
            offering = [kind for kind in layout_kinds() if reads in layout_class(kind).READS]
            raise UserError(f"{reads} extractors read a dataset whose items have {reads} ({', '.join(offering)}); "
                            f"{self.root} is a {self.kind} dataset")
        try:
            return read(self.layout)
        except UserError as error:
            raise UnreadableInputError(str(error)) from error


@dataclass
class OpenedItem:
    """An item ready for an extractor, and what reading it recorded."""

    item: object
    provenance: dict = field(default_factory=dict)  # per-item facts stored beside its features (fps, file)
    decode_record: dict | None = None  # the video decoder's record, final after the item was consumed


@contextmanager
def open_item(input_kind: str, source: ItemSource, item_id: str) -> Iterator[OpenedItem]:
    """Open one item of `input_kind` ("video", ...) for the duration of the block."""
    if input_kind not in OPENERS:
        raise UserError(f"no reader for extractor input {input_kind!r} (known: {sorted(OPENERS)})")
    with OPENERS[input_kind](source, item_id) as opened:
        yield opened


@contextmanager
def _open_video(source: ItemSource, item_id: str) -> Iterator[OpenedItem]:
    """Frames streamed from ROOT/videos/{id}.*, with a progress bar and the decoder's record."""
    # imported here: the decoders load FFmpeg libraries that commands without video need not pay for
    from mmfeat.video.decode import UnreadableVideoError, open_video

    video_file = source.video_file(item_id)
    try:
        with open_video(video_file, backend=source.backend, on_damaged=source.on_damaged) as frames:
            in_progress = tqdm(frames, desc=item_id, unit="frame", total=frames.record.frames_expected,
                               leave=False, mininterval=progress_interval())
            opened = OpenedItem(VideoItem(frames=in_progress, fps=frames.record.fps),
                                provenance={"source": "video", "fps": frames.record.fps,
                                            "video_file": str(video_file)})
            yield opened
            opened.decode_record = frames.record.to_dict()
    except UnreadableVideoError as error:
        raise UnreadableInputError(str(error)) from error


@contextmanager
def _open_audio(source: ItemSource, item_id: str) -> Iterator[OpenedItem]:
    """The clip's whole audio track at 16 kHz mono, with the intervals to pool over (ItemSource.audio_segments)."""
    from mmfeat.audio.decode import NoAudioTrackError, decode_audio

    segments = source.audio_segments(item_id)
    video_file = source.video_file(item_id)
    try:
        waveform, sample_rate = decode_audio(video_file, sample_rate=AUDIO_SAMPLE_RATE)
    except NoAudioTrackError as error:
        raise UnreadableInputError(str(error)) from error
    yield OpenedItem(AudioItem(waveform=waveform, sample_rate=sample_rate, segments=segments),
                     provenance={"source": "audio", "sample_rate": sample_rate, "video_file": str(video_file),
                                 "seconds": len(waveform) / sample_rate})


@contextmanager
def _open_text(source: ItemSource, item_id: str) -> Iterator[OpenedItem]:
    """The item's named texts (a humor sample's punchline and context, a narrated video's captions), with
    the interval each one covers."""
    timed = source.timed_texts(item_id)
    yield OpenedItem(TextItem(texts={name: text.text for name, text in timed.items()},
                              intervals={name: (text.start, text.end) for name, text in timed.items()}),
                     provenance={"source": "text",
                                 "transcript": str(source.layout.root / source.layout_class.TRANSCRIPT_FILE)})


def progress_interval() -> float:
    """Seconds between progress-bar updates: tqdm's 0.1 on a terminal, 30 in a job's log file."""
    return 0.1 if sys.stderr.isatty() else 30.0


OPENERS = {
    "video": _open_video,
    "audio": _open_audio,
    "text": _open_text,
}
