"""What a video file's header says about its first video stream: frame size and frame count.

    from mmfeat.video.stream_header import frame_size_from_header, frames_in_stream
    frame_size_from_header("clip.mp4")   # (64, 48), or (0, 0) when FFmpeg cannot tell
    frames_in_stream("clip.mp4")         # 40, or None when the file gives no count

Read with PyAV (FFmpeg) without decoding: the decode backends take these
facts from here where their own metadata is wrong or missing.
"""

from __future__ import annotations

import os

import av


def frame_size_from_header(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the first video stream as FFmpeg reads it from the header; (0, 0) if unknown."""
    try:
        with av.open(os.fspath(path)) as container:
            context = container.streams.video[0].codec_context
            return int(context.width), int(context.height)
    except (av.FFmpegError, IndexError):
        return 0, 0


def frames_in_stream(path: str | os.PathLike) -> int | None:
    """Frames the first video stream presents, from its start time on; None if FFmpeg cannot read it.

    The header's count is taken when the stream's duration agrees with it. It
    does not for an MP4 whose edit list trims frames at the start (the count
    includes the trimmed frames), and some containers (Matroska, WebM) give no
    count at all, only a duration measured from time 0 that counts a non-zero
    start time as frames: then the packets are counted, leaving out those an
    edit list discards. That reads the file once without decoding it.
    """
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            if stream.frames > 0 and _duration_in_frames(stream) == stream.frames:
                return int(stream.frames)
            shown = sum(1 for packet in container.demux(stream) if packet.size and not packet.is_discard)
            return shown or None
    except (av.FFmpegError, IndexError):
        return None


def _duration_in_frames(stream) -> int | None:
    """The stream's own duration in frames at its average rate; None when the header lacks either."""
    if stream.duration is None or not stream.average_rate:
        return None
    return round(float(stream.duration * stream.time_base * stream.average_rate))
