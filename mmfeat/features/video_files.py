"""Find a video's file from its id: `DIR/{ID}.*`, whatever the container's extension.

    from mmfeat.features.video_files import find_video_file
    find_video_file(Path("data/50salads/videos"), "rgb-01-1")   # -> .../rgb-01-1.avi
    find_video_files(Path("data/50salads/videos"), video_ids)   # the same for many ids, one folder listing
    video_files_by_id(Path("data/50salads/videos"))            # {id: [files]} of every file in it

A workflow plans every shard of a 10,000-video dataset: globbing the folder
once per id reads it 10,000 times, so `find_video_files` lists it once and
answers each id with the files that `{ID}.*` would match.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from mmfeat.errors import UserError


def find_video_file(videos_dir: Path, video_id: str) -> Path:
    """The single file `videos_dir/{video_id}.*`; UserError when there is none or several."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise UserError(f"videos folder {videos_dir} does not exist; check the dataset's videos path")
    # glob.escape: ids may hold characters that glob would read as patterns
    candidates = sorted(p for p in videos_dir.glob(glob.escape(video_id) + ".*") if p.is_file())
    return _single_file(videos_dir, video_id, candidates)


def find_video_files(videos_dir: Path, video_ids: Iterable[str]) -> dict[str, Path]:
    """`find_video_file` of each id, from one listing of the folder; the same UserError for the first id without."""
    videos_dir = Path(videos_dir)
    files_by_prefix = video_files_by_id(videos_dir)
    return {video_id: _single_file(videos_dir, video_id, files_by_prefix.get(video_id, []))
            for video_id in video_ids}


def video_files_by_id(videos_dir: Path) -> dict[str, list[Path]]:
    """Every id a file of the folder may belong to -> its files (sorted), from one listing.

    A file "A.B.C" may be the file of id "A" or "A.B" (what the glob "{ID}.*"
    matches), so it is listed under both. UserError when the folder is missing.
    """
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise UserError(f"videos folder {videos_dir} does not exist; check the dataset's videos path")
    files_by_prefix: dict[str, list[Path]] = {}
    with os.scandir(videos_dir) as entries:
        for entry in entries:
            if not entry.is_file():
                continue
            dot = entry.name.find(".", 1)
            while dot != -1:
                files_by_prefix.setdefault(entry.name[:dot], []).append(videos_dir / entry.name)
                dot = entry.name.find(".", dot + 1)
    return {prefix: sorted(files) for prefix, files in files_by_prefix.items()}


def _single_file(videos_dir: Path, video_id: str, candidates: list[Path]) -> Path:
    """The one candidate; UserError naming the fix when there is none or several."""
    if not candidates:
        raise UserError(
            f"no file for video {video_id!r} in {videos_dir}: expected {video_id}.<ext>; "
            "add the video or remove it from the video list"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise UserError(
            f"several files for video {video_id!r} in {videos_dir}: {names}; keep exactly one"
        )
    return candidates[0]
