"""Streams that do not start at time 0: frame indices count from the first frame shown, and the count agrees.

An MP4 whose first frame has a later time gets an edit list that delays the
stream; one whose first frames have negative times gets an edit list that
hides them (a trimmed file); Matroska keeps the late start in its timestamps
and gives no frame count, only a duration from time 0.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.video.decode import open_video

ENCODED_FRAMES, FPS = 20, 10
BACKENDS_FOLLOWING_START_TIME = ["opencv", "pyav"]  # decord: see the note at the end of this file


def _write_with_first_pts(path: Path, container_format: str, first_pts: int) -> None:
    """ENCODED_FRAMES frames of brightness 10 * k, the k-th at time (first_pts + k) / FPS."""
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"bf": "0", "g": "5", "keyint_min": "5", "sc_threshold": "0", "threads": "1"}
        for k in range(ENCODED_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * k, np.uint8), format="rgb24")
            frame.pts = first_pts + k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("backend", BACKENDS_FOLLOWING_START_TIME)
@pytest.mark.parametrize(
    "container_format, first_pts, first_shown",
    [("mp4", 7, 0), ("matroska", 7, 0), ("mp4", -3, 3)],
    ids=["mp4-starts-late", "mkv-starts-late", "mp4-first-frames-trimmed"],
)
def test_indices_and_count_start_at_the_first_frame_shown(tmp_path, backend, container_format, first_pts, first_shown):
    path = tmp_path / f"start.{'mkv' if container_format == 'matroska' else 'mp4'}"
    _write_with_first_pts(path, container_format, first_pts)
    shown = ENCODED_FRAMES - first_shown
    with open_video(path, backend) as video:
        brightness = {index: float(frame.mean()) for index, frame in video}
    assert sorted(brightness) == list(range(shown))
    assert (video.record.frames_expected, video.record.frames_decoded, video.record.skipped_indices) == (shown, shown, [])
    for index, value in brightness.items():
        assert abs(value - 10 * (index + first_shown)) < 4, f"{backend}: frame {index} shows encoded frame {value / 10:.1f}"

# decord 0.6.0 is left out: for the trimmed MP4 it also returns the 3 frames
# the edit list hides (as frames 0..2), so its indices are 3 ahead of the labels.
