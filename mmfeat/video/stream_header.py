"""What a video file's header says about its first video stream: frame size, frame count, duration, display.

    from mmfeat.video.stream_header import display_of, frame_size_from_header, frames_in_stream, seconds_in_stream
    frame_size_from_header("clip.mp4")   # (64, 48), or (0, 0) when FFmpeg cannot tell
    frames_in_stream("clip.mp4")         # 40, or None when the file gives no count
    seconds_in_stream("clip.mp4")        # 2.6666666666666665 (40 frames at 15 fps), or None
    display_of("phone.mp4")              # Display(rotation=90, sample_aspect_ratio=Fraction(1, 1))

Read with PyAV (FFmpeg) without decoding: the decode backends take these
facts from here where their own metadata is wrong or missing. Each is first
read from the container's header alone (QUICK_PROBE), and only when that
leaves it unknown with FFmpeg's full probe, which decodes frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

# FFmpeg's stream probe decodes frames to fill in what a header may lack: 13 ms of a
# 132-frame 720p clip's 0.35 s decode (4 %), for facts an MP4 or Matroska header holds.
# With these options it reads the header only (0.8 ms); a raw stream without one
# gives size 0 or no count this way and is probed in full.
QUICK_PROBE = {"probesize": "32", "analyzeduration": "0"}
# Packets tried for a first frame to read the display matrix from, past damaged ones at the start
DISPLAY_PROBE_PACKETS = 300


@dataclass(frozen=True)
class Display:
    """How a file asks its stored frames to be shown."""

    rotation: int = 0  # degrees counterclockwise: 0, 90, 180 or 270 (phones write 90 or 270 for portrait)
    sample_aspect_ratio: Fraction = Fraction(1)  # a pixel's width over its height: 1 for square pixels


class UnsupportedDisplayError(ValueError):
    """The display matrix mirrors the picture or turns it by an angle other than a right angle."""


def display_of(path: str | os.PathLike) -> Display:
    """The rotation and pixel aspect the first video stream asks for; Display() when it asks for none.

    The rotation is in the stream's display matrix (an MP4's track header),
    which FFmpeg hands on with every decoded frame, so the first frame that
    decodes is read for it. Raises UnsupportedDisplayError for a matrix that
    mirrors the picture or turns it by another angle than a right angle
    (OpenCV and decord apply a mirror as a 180-degree turn, and ignore other
    angles): no backend would give the frames as they are meant to be seen.
    """
    try:
        with av.open(os.fspath(path), container_options=QUICK_PROBE) as container:
            stream = container.streams.video[0]
            sample_aspect_ratio = stream.sample_aspect_ratio or Fraction(1)  # None or 0: not given, square
            frame = _first_decodable_frame(container, stream)
    except (av.FFmpegError, IndexError):
        return Display()
    if frame is None:
        return Display(sample_aspect_ratio=sample_aspect_ratio)
    return Display(_right_angle_rotation(path, frame), sample_aspect_ratio)


def frame_size_from_header(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the first video stream as FFmpeg reads it from the header; (0, 0) if unknown."""
    for probe in (QUICK_PROBE, {}):
        try:
            with av.open(os.fspath(path), container_options=probe) as container:
                context = container.streams.video[0].codec_context
                if context.width and context.height:
                    return int(context.width), int(context.height)
        except (av.FFmpegError, IndexError):
            continue
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
        with av.open(os.fspath(path), container_options=QUICK_PROBE) as container:
            count = _agreed_frame_count(container.streams.video[0])
        if count:
            return count
    except (av.FFmpegError, IndexError):
        pass  # the full probe below says whether FFmpeg can read the file at all
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            shown = _agreed_frame_count(stream) or sum(
                1 for packet in container.demux(stream) if packet.size and not packet.is_discard
            )
            return shown or None
    except (av.FFmpegError, IndexError):
        return None


def seconds_in_stream(path: str | os.PathLike) -> float | None:
    """Seconds the first video stream presents: `frames_in_stream` over its average frame rate.

    None when FFmpeg cannot read the file or gives no count or no rate. The
    count leaves out frames an edit list trims, so this is the length a
    decoder shows, whatever the container's own duration field says.
    """
    frames = frames_in_stream(path)
    if frames is None:
        return None
    for probe in (QUICK_PROBE, {}):
        try:
            with av.open(os.fspath(path), container_options=probe) as container:
                rate = container.streams.video[0].average_rate
        except (av.FFmpegError, IndexError):
            continue
        if rate:
            return float(frames / Fraction(rate))
    return None


def _agreed_frame_count(stream) -> int | None:
    """The header's frame count when the stream's duration agrees with it, else None."""
    if stream.frames > 0 and _duration_in_frames(stream) == stream.frames:
        return int(stream.frames)
    return None


def _duration_in_frames(stream) -> int | None:
    """The stream's own duration in frames at its average rate; None when the header lacks either."""
    if stream.duration is None or not stream.average_rate:
        return None
    return round(float(stream.duration * stream.time_base * stream.average_rate))


def _first_decodable_frame(container, stream) -> av.VideoFrame | None:
    for tried, packet in enumerate(container.demux(stream)):
        if tried >= DISPLAY_PROBE_PACKETS:
            return None
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue  # a damaged packet: the next may decode
        if frames:
            return frames[0]
    return None


def _right_angle_rotation(path: str | os.PathLike, frame: av.VideoFrame) -> int:
    """The frame's display rotation as 0, 90, 180 or 270 degrees counterclockwise."""
    matrix = next((np.frombuffer(bytes(data), dtype="<i4") for data in frame.side_data
                   if "DISPLAYMATRIX" in str(data.type)), None)
    if matrix is None:
        return 0
    a, b, _, c, d = matrix[:5].astype(np.int64)  # 16.16 fixed point: [a b u; c d v; x y w]
    if a * d - b * c < 0:
        raise UnsupportedDisplayError(
            f"{path}: its display matrix mirrors the picture, which mmfeat does not apply (OpenCV and decord "
            f"would take the mirror for a rotation); write an upright copy with `ffmpeg -i {path} UPRIGHT.mp4`, "
            f"which applies it, and use that"
        )
    rotation = float(frame.rotation)
    if rotation % 90:
        raise UnsupportedDisplayError(
            f"{path}: its display matrix turns the picture by {rotation:g} degrees, not a multiple of 90, which "
            f"mmfeat does not apply; write an upright copy with `ffmpeg -i {path} UPRIGHT.mp4` and use that"
        )
    return int(rotation) % 360
