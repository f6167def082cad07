"""Find a video's file from its id: `DIR/{ID}.*`, whatever the container's extension.

    from mmfeat.features.video_files import find_video_file
    find_video_file(Path("data/50salads/videos"), "rgb-01-1")   # -> .../rgb-01-1.avi
"""

from __future__ import annotations

import glob
from pathlib import Path

from mmfeat.errors import UserError


def find_video_file(videos_dir: Path, video_id: str) -> Path:
    """The single file `videos_dir/{video_id}.*`; UserError when there is none or several."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise UserError(f"videos folder {videos_dir} does not exist; check the dataset's videos path")
    # glob.escape: ids may hold characters that glob would read as patterns
    candidates = sorted(p for p in videos_dir.glob(glob.escape(video_id) + ".*") if p.is_file())
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
