"""What an extractor reads, per item: opened from the dataset by the extractor's INPUT.

    from mmfeat.features.inputs import open_item
    with open_item("video", source, "rgb-01-1") as opened:
        extracted = extractor.extract(opened.item, model, settings)
    opened.decode_record, opened.provenance     # final once the block has consumed the item

`source` says where items live (`ItemSource`): a dataset root and how its
videos are decoded. A file that cannot be read at all raises an
UnreadableInputError (a UserError naming the file), which the caller turns
into a failed job or a listed exclusion.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from mmfeat.errors import UserError
from mmfeat.features.extractors.items import VideoItem
from mmfeat.features.video_files import find_video_file


class UnreadableInputError(UserError):
    """An item's file cannot be read at all (no decodable video, no audio track, ...)."""


@dataclass
class ItemSource:
    """Where a dataset's items are read from, and how."""

    root: Path
    backend: str = "decord"  # the video decoder

    @property
    def videos_dir(self) -> Path:
        return Path(self.root) / "videos"

    def video_file(self, item_id: str) -> Path:
        return find_video_file(self.videos_dir, item_id)


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
        with open_video(video_file, backend=source.backend) as frames:
            in_progress = tqdm(frames, desc=item_id, unit="frame", total=frames.record.frames_expected, leave=False)
            opened = OpenedItem(VideoItem(frames=in_progress, fps=frames.record.fps),
                                provenance={"source": "video", "fps": frames.record.fps,
                                            "video_file": str(video_file)})
            yield opened
            opened.decode_record = frames.record.to_dict()
    except UnreadableVideoError as error:
        raise UnreadableInputError(str(error)) from error


OPENERS = {
    "video": _open_video,
}
