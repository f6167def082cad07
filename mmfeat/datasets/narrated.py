"""Narrated videos (dataset kind `narrated`): videos and their timed captions, HowTo100M's format.

    from mmfeat.datasets.narrated import NarratedDataset
    dataset = NarratedDataset("data/demo-howto")
    dataset.check()                                  # raises a UserError listing every problem by id
    for video_id in dataset.item_ids():
        path, captions = dataset.video_file(video_id), dataset.captions(video_id)   # [(start, end, text), ...]
    held_out = dataset.holdout_ids(0.05)             # the evaluation videos, by a stable hash of the id
    dataset.second_intervals(video_id)               # [(start, end), ...]: one per feature row

The layout:

    ROOT/videos/<id>.<ext>     one video per id, any container FFmpeg reads
    ROOT/captions.json         {id: {"start": [s, ...], "end": [s, ...], "text": [str, ...]}}, seconds

captions.json is what HowTo100M's caption file holds (one entry per video,
three parallel lists); an id's captions need not be sorted. Features are
stored at one row per second of video (S3D's video_embedding with
step_seconds 1, and audio pooled over the same seconds); `second_intervals`
says which stretch of the clip each row stands for.

A video is held out for evaluation by a stable hash of its id alone, so
adding videos never moves one between the training and the held-out set.
The dataset kind `narrated` of the layout registry (mmfeat.datasets.layouts):
an audio extractor pools the clip's whole track over each second, a text
extractor embeds each caption.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from mmfeat.datasets.layouts import TimedText
from mmfeat.datasets.roots import require_dataset_root
from mmfeat.errors import UserError
from mmfeat.features.sharding import shard_of
from mmfeat.features.video_files import video_files_by_id
from mmfeat.video.stream_header import seconds_in_stream

CAPTIONS_FILE = "captions.json"
VIDEOS_DIR = "videos"
CAPTION_KEYS = ("start", "end", "text")
# A video's length is counted in whole frames, and its narration may outlast the last frame
# by part of an audio frame (AAC: 1024 samples, 46 ms at 22.05 kHz): a caption may end this
# much after the last frame before it counts as outside the video.
CAPTION_END_TOLERANCE_S = 0.1
# The hash of an id is cut into this many buckets; a fraction f holds out the first f of them.
HOLDOUT_BUCKETS = 1_000_000
DATA_SECTION_HINT = "see README.md, section 'Data', for the narrated layout"
UNREADABLE_DURATION = "its length cannot be read from its header: re-encode it (ffmpeg -i IN OUT.mp4) or remove it"


class Caption(NamedTuple):
    """One timed caption: seconds from the start of the video, and what is said."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one video: the file that shows it and what."""

    video_id: str
    file: Path
    what: str

    def __str__(self) -> str:
        return f"{self.file}: video {self.video_id}: {self.what}"


class NarratedDataset:
    """Read access to one narrated-video root; every error names the file that is wrong."""

    KIND = "narrated"  # the layout registry's members (mmfeat.datasets.layouts.DatasetLayout)
    READS = frozenset({"video", "audio", "text"})
    TRANSCRIPT_READS = frozenset({"text"})  # audio rows are the video's seconds, whatever the captions say
    MISSING_VIDEO_EXCLUDES = False  # the check names every id without a video before any job
    TRANSCRIPT_FILE = CAPTIONS_FILE

    def __init__(self, root: str | Path):
        self.root = require_dataset_root(root, DATA_SECTION_HINT)

    @property
    def captions_path(self) -> Path:
        return self.root / CAPTIONS_FILE

    @property
    def videos_dir(self) -> Path:
        return self.root / VIDEOS_DIR

    def item_ids(self) -> list[str]:
        """Every video id captions.json lists, sorted: the workflow's list of videos."""
        return sorted(self._caption_entries)

    def video_file(self, video_id: str) -> Path:
        """ROOT/videos/<id>.<ext>; UserError naming the fix when there is none or several."""
        files = self._video_files.get(video_id, [])
        if len(files) != 1:
            raise UserError(f"{self.videos_dir}: video {video_id}: {_file_count_problem(video_id, files)}")
        return files[0]

    def captions(self, video_id: str) -> list[Caption]:
        """The video's captions in time order; UserError naming the file and id when its entry is malformed."""
        captions, problems = _parse_entry(self._caption_entries.get(video_id))
        if problems:
            raise UserError(f"{self.captions_path}: video {video_id}: " + "; ".join(problems))
        return sorted(captions.values())

    def duration(self, video_id: str) -> float:
        """Seconds of video, from the container's header (no decoding); UserError when it cannot be read."""
        path = self.video_file(video_id)
        seconds = seconds_in_stream(path)
        if seconds is None:
            raise UserError(f"{path}: video {video_id}: {UNREADABLE_DURATION}")
        return seconds

    def second_intervals(self, video_id: str) -> list[tuple[float, float]]:
        """`second_intervals_of(duration)` of the video: the stretch of clip each feature row stands for."""
        return second_intervals_of(self.duration(video_id))

    def is_held_out(self, video_id: str, fraction: float) -> bool:
        """Whether `video_id` is an evaluation video: decided by its id alone (see the module's docstring)."""
        return is_held_out(video_id, fraction)

    def holdout_ids(self, fraction: float) -> list[str]:
        """The held-out ids among `item_ids()`, sorted; about `fraction` of them."""
        return [video_id for video_id in self.item_ids() if is_held_out(video_id, fraction)]

    def files_watched(self) -> list[Path]:
        """What `check` reads: captions.json and the videos folder (for the planning-time check cache)."""
        return [self.captions_path, self.videos_dir]

    def check(self) -> None:
        """Raise a UserError listing every problem, one line each naming the file and the video id.

        Looks for: an entry that is not three lists of one length (start, end,
        text), a time that is not a number, a caption with start > end, one
        outside the video (start < 0, or an end more than
        CAPTION_END_TOLERANCE_S after the video's last frame), empty text, an
        id with no captions, an id without a video file (or with several), a
        video whose length cannot be read from its header, and a file in
        videos/ whose id captions.json does not list.
        """
        problems = self.problems()
        if problems:
            raise UserError(
                f"the narrated dataset at {self.root} has {len(problems)} problem(s); fix them and run again "
                f"({DATA_SECTION_HINT}):\n  " + "\n  ".join(str(problem) for problem in problems)
            )

    def problems(self) -> list[Problem]:
        """What `check` raises, as a list: per id in sorted order, then the videos without captions."""
        problems: list[Problem] = []
        for video_id in self.item_ids():
            problems += self._video_problems(video_id)
        claimed = {path for video_id in self._caption_entries for path in self._video_files.get(video_id, [])}
        listed = {path for files in self._video_files.values() for path in files}
        for path in sorted(listed - claimed):
            if not path.name.startswith("."):  # hidden: a file being written, or a system's own
                fix = f"add an entry {path.stem!r} to {self.captions_path}, or move the file out of {self.videos_dir}"
                problems.append(Problem(path.stem, path, f"a video without captions: {fix}"))
        return problems

    # --- the layout protocol (mmfeat.datasets.layouts.DatasetLayout)

    @staticmethod
    def annotation_files(root: Path, item_ids: list[str], config: Mapping) -> list[Path]:
        return [Path(root) / CAPTIONS_FILE]

    @staticmethod
    def check_settings(config: Mapping) -> dict:
        return {"kind": NarratedDataset.KIND}

    def check_watched(self, config: Mapping) -> list[Path]:
        return self.files_watched()

    def check_configured(self, config: Mapping) -> None:
        self.check()

    def video_files(self, item_ids: list[str]) -> dict[str, Path]:
        return {video_id: self.video_file(video_id) for video_id in item_ids}

    def audio_segments(self, item_id: str) -> dict[str, tuple[float, float]]:
        """The video's seconds, "0", "1", ...: row k pools the second around k s, as S3D's row k is centred on it."""
        return {str(second): interval for second, interval in enumerate(self.second_intervals(item_id))}

    def timed_texts(self, item_id: str) -> dict[str, TimedText]:
        """Each caption in time order, named by its place in that order."""
        return {str(number): TimedText(*caption) for number, caption in enumerate(self.captions(item_id))}

    def _video_problems(self, video_id: str) -> list[Problem]:
        captions, entry_problems = _parse_entry(self._caption_entries[video_id])
        problems = [Problem(video_id, self.captions_path, what) for what in entry_problems]
        files = self._video_files.get(video_id, [])
        if len(files) != 1:
            problems.append(Problem(video_id, self.videos_dir, _file_count_problem(video_id, files)))
            return problems
        duration = seconds_in_stream(files[0])
        if duration is None:
            problems.append(Problem(video_id, files[0], UNREADABLE_DURATION))
            return problems
        for number, caption in captions.items():
            if caption.end > duration + CAPTION_END_TOLERANCE_S:
                problems.append(Problem(video_id, self.captions_path,
                                        f"caption {number} ({caption.start:g}-{caption.end:g} s) is outside the "
                                        f"video: {files[0].name} lasts {duration:.3f} s"))
        return problems

    @cached_property
    def _caption_entries(self) -> dict[str, object]:
        if not self.captions_path.is_file():
            raise UserError(f"{self.captions_path} is missing; {DATA_SECTION_HINT}")
        try:
            content = json.loads(self.captions_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise UserError(f"{self.captions_path} is not valid JSON ({error}); {DATA_SECTION_HINT}") from error
        if not isinstance(content, dict):
            raise UserError(f"{self.captions_path}: expected an object keyed by video id, found a "
                            f"{type(content).__name__}; {DATA_SECTION_HINT}")
        return content

    @cached_property
    def _video_files(self) -> dict[str, list[Path]]:
        return video_files_by_id(self.videos_dir)


def is_held_out(video_id: str, fraction: float) -> bool:
    """Whether `video_id` is in the held-out `fraction` (0 <= fraction < 1), by a stable hash of the id alone."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the holdout fraction must be in [0, 1), got {fraction}")
    return shard_of(video_id, HOLDOUT_BUCKETS) < fraction * HOLDOUT_BUCKETS


def second_intervals_of(duration: float) -> list[tuple[float, float]]:
    """(start, end) in seconds of each one-per-second feature row of a video lasting `duration` seconds.

    Row k is the second around k s, [k - 0.5, k + 0.5] cut to the video: S3D
    at step_seconds 1 centres row k's window on k s, so audio pooled over
    these intervals lines up with the video rows. There are ceil(duration)
    rows, as S3D makes (its windows are centred on 0, 1, ... s up to the last frame).
    """
    if duration <= 0:
        raise ValueError(f"a video's duration must be positive, got {duration}")
    return [(max(0.0, row - 0.5), min(duration, row + 0.5)) for row in range(math.ceil(duration))]


def _file_count_problem(video_id: str, files: list[Path]) -> str:
    if not files:
        return (f"is in {CAPTIONS_FILE} but has no video file: expected {VIDEOS_DIR}/{video_id}.<ext>; "
                "add it, or remove the entry")
    names = ", ".join(path.name for path in files)
    return f"has several video files ({names}); keep exactly one"


def _parse_entry(entry: object) -> tuple[dict[int, Caption], list[str]]:
    """({position in the lists: caption}, []) for a usable entry, else (the usable ones, what is wrong)."""
    if not isinstance(entry, dict):
        return {}, [f"the entry is a {type(entry).__name__}, expected {{'start': [...], 'end': [...], 'text': [...]}}"]
    missing = [key for key in CAPTION_KEYS if key not in entry]
    if missing:
        return {}, [f"the entry has no {key!r} list" for key in missing]
    columns = [entry[key] for key in CAPTION_KEYS]
    if not all(isinstance(column, list) for column in columns):
        found = ", ".join(f"{key}: {type(column).__name__}" for key, column in zip(CAPTION_KEYS, columns))
        return {}, [f"start, end and text must be lists, found {found}"]
    lengths = [len(column) for column in columns]
    if len(set(lengths)) > 1:
        return {}, [f"start, end and text must be lists of one length, found {lengths[0]}, {lengths[1]} and "
                    f"{lengths[2]}"]
    if not lengths[0]:
        return {}, ["has no captions: the lists are empty"]
    captions: dict[int, Caption] = {}
    problems: list[str] = []
    for number, (start, end, text) in enumerate(zip(*columns)):
        caption_problems = _caption_problems(start, end, text)
        problems += [f"caption {number}: {what}" for what in caption_problems]
        if not caption_problems:
            captions[number] = Caption(float(start), float(end), text)
    return captions, problems


def _caption_problems(start: object, end: object, text: object) -> list[str]:
    """What is wrong with one caption, leaving its end against the video to the caller."""
    problems = []
    if not isinstance(text, str) or not text.strip():
        problems.append(f"its text is empty ({text!r})")
    if not all(isinstance(time, (int, float)) and not isinstance(time, bool) and math.isfinite(time)
               for time in (start, end)):
        return problems + [f"start {start!r} and end {end!r} must be numbers of seconds"]
    if start < 0:
        problems.append(f"starts at {start:g} s, outside the video (times are seconds from its start)")
    if start > end:
        problems.append(f"starts after it ends ({start:g} > {end:g} s)")
    return problems
