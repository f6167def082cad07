"""The stream header reader: the header-only read agrees with FFmpeg's full probe, and falls back to it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.video.encode import write_h264_video
from mmfeat.video.stream_header import QUICK_PROBE, frame_size_from_header, frames_in_stream

FRAMES, WIDTH, HEIGHT = 12, 80, 48


def _frames():
    return (np.full((HEIGHT, WIDTH, 3), 20 * k, np.uint8) for k in range(FRAMES))


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_size_and_count_match_the_full_probe(tmp_path, suffix):
    path = tmp_path / f"clip.{suffix}"
    write_h264_video(path, _frames(), fps=10, gop=4)
    with av.open(str(path)) as container:  # FFmpeg's full probe, which decodes frames
        context = container.streams.video[0].codec_context
        probed_size = (context.width, context.height)
    assert frame_size_from_header(path) == probed_size == (WIDTH, HEIGHT)
    assert frames_in_stream(path) == FRAMES


def test_a_raw_stream_without_a_frame_count_has_its_packets_counted(tmp_path):
    path = tmp_path / "clip.h264"
    with av.open(str(path), mode="w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in _frames():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(path), container_options=QUICK_PROBE) as container:  # no count in a raw stream's header
        assert container.streams.video[0].frames == 0
    assert frame_size_from_header(path) == (WIDTH, HEIGHT)
    assert frames_in_stream(path) == FRAMES


def test_a_file_ffmpeg_cannot_read_has_no_size_and_no_count(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    assert frame_size_from_header(path) == (0, 0)
    assert frames_in_stream(path) is None
