"""The dataset layout registry: one reader per dataset `kind`, each implementing `DatasetLayout`.

    from mmfeat.datasets.layouts import layout_class, open_layout
    dataset = open_layout("narrated", "data/howto")        # a NarratedDataset
    dataset.check_configured(config)                       # the config's dataset entry, defaults filled
    for item_id in dataset.item_ids():
        dataset.video_files([item_id]), dataset.audio_segments(item_id), dataset.timed_texts(item_id)
    layout_class("humor").READS                            # class facts: no root needed (a demo's is not made yet)

The workflow's planning (workflow/rules/common.smk, demo.smk), the extraction
inputs (mmfeat.features.inputs) and `mmfeat extract-features` ask the layout
instead of comparing kind strings. Adding a layout touches its module (a class
with the protocol's members, and a demo generator module with `demo_item_ids`
and `demo_command`), its line in LAYOUTS and the schema's `dataset` kinds (a
test checks the enum against LAYOUTS). Modules are imported only when asked
for, so that `mmfeat --help` pays for none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol

from mmfeat.errors import UserError


class TimedText(NamedTuple):
    """Words said in an item, and when: seconds from the start of its clip."""

    start: float
    end: float
    text: str


class DatasetLayout(Protocol):
    """What every layout's reader offers; the class facts are read before any file exists."""

    KIND: ClassVar[str]  # the config's dataset `kind`
    READS: ClassVar[frozenset[str]]  # extractor inputs its items offer: "video", "audio" (segments), "text"
    TRANSCRIPT_READS: ClassVar[frozenset[str]]  # inputs whose extraction depends on its transcript file
    MISSING_VIDEO_EXCLUDES: ClassVar[bool]  # an item without a video is listed as excluded (a release's gap), not an error
    TRANSCRIPT_FILE: ClassVar[str | None]  # under the root: where its transcripts or captions are; None: it has none
    root: Path

    @staticmethod
    def annotation_files(root: Path, item_ids: list[str], config: Mapping) -> list[Path]:
        """Every file of the layout but its videos (labels, transcripts, splits): what a demo writes beside them."""

    @staticmethod
    def check_settings(config: Mapping) -> dict:
        """The settings of the dataset's config entry that its check reads (a change runs the check again)."""

    def check_watched(self, config: Mapping) -> list[Path]:
        """The files and folders its check reads (mmfeat.datasets.check_cache)."""

    def check_configured(self, config: Mapping) -> None:
        """Raise a UserError listing every problem the dataset has for its config entry."""

    def item_ids(self) -> list[str]:
        """Every item (video or sample) the workflow plans, sorted as the layout sorts them."""

    def video_files(self, item_ids: list[str]) -> dict[str, Path]:
        """Each item's video file, from one listing; with MISSING_VIDEO_EXCLUDES an item without one is left out."""

    def audio_segments(self, item_id: str) -> dict[str, tuple[float, float]]:
        """Named intervals (seconds) an audio extractor pools the clip's track over; UserError when it has none."""

    def timed_texts(self, item_id: str) -> dict[str, TimedText]:
        """Named texts a text extractor embeds, with where they are said; UserError when it has none."""


@dataclass(frozen=True)
class LayoutEntry:
    """Where a kind's reader and its demo generator live, imported only when asked for."""

    module: str  # under mmfeat.datasets, holding the reader class
    reader: str  # the class implementing DatasetLayout
    demo: str  # under mmfeat.demo: demo_item_ids(demo settings), demo_command(dataset config)


LAYOUTS = {
    "segmentation": LayoutEntry(module="segmentation", reader="SegmentationDataset", demo="salads"),  # MS-TCN/50Salads
    "humor": LayoutEntry(module="urfunny", reader="URFunnyDataset", demo="urfunny"),  # UR-FUNNY v2
    "narrated": LayoutEntry(module="narrated", reader="NarratedDataset", demo="howto"),  # HowTo100M's captions
}


def layout_kinds() -> tuple[str, ...]:
    """Every dataset kind, in the registry's order."""
    return tuple(LAYOUTS)


def layout_class(kind: str) -> type[DatasetLayout]:
    """The reader class of a dataset kind; UserError for an unknown kind."""
    module = importlib.import_module(f"mmfeat.datasets.{_entry(kind).module}")
    return getattr(module, _entry(kind).reader)


def open_layout(kind: str, root: str | Path) -> DatasetLayout:
    """The reader of the dataset of `kind` at `root` (UserError naming the fix when the root is missing)."""
    return layout_class(kind)(root)


def demo_module(kind: str):
    """The module generating a demo dataset of `kind` (mmfeat.demo.<name>)."""
    return importlib.import_module(f"mmfeat.demo.{_entry(kind).demo}")


def _entry(kind: str) -> LayoutEntry:
    if kind not in LAYOUTS:
        raise UserError(f"unknown dataset kind {kind!r}; the known kinds are {list(LAYOUTS)}")
    return LAYOUTS[kind]
