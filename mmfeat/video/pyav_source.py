"""The `pyav` decode backend: FFmpeg through PyAV, told to fail on damage instead of concealing it.

    from mmfeat.video.decode import open_video
    with open_video("rgb-01-1.mp4", backend="pyav", on_damaged="skip") as video:
        ...
    video.record.damaged_indices, video.record.dependant_indices

FFmpeg's H.264 decoder conceals a damaged macroblock (it logs "error while
decoding MB ..." and fills the picture in from its neighbours), so decord and
OpenCV return such a frame as if it were good, and record nothing. With the
codec option `err_detect=explode` the decoder raises on that packet instead:
this backend drops the frame and lists it as damaged. The frames decoded after
it up to the next keyframe may refer to it and carry its damage on: they are
listed as its dependants, and kept (`on_damaged: skip`) or dropped as well
(`skip_until_keyframe`).

Damage that leaves a valid bitstream (for example bytes overwritten with
other bytes that still parse) is invisible to FFmpeg, and so to this backend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import av
import numpy as np

from mmfeat.video.decode import (
    ON_DAMAGED,
    UnreadableVideoError,
    cannot_open_message,
    checked_display,
    upright,
    upright_size,
)
from mmfeat.video.stream_header import frames_in_stream

log = logging.getLogger("mmfeat.video.decode")

# Slice threads only: frame threads would hand a decoding error back a few
# packets late, on the wrong frame. Fixed, not "auto", so that the behaviour
# does not change with the machine.
PYAV_DECODER_THREADS = 2


class PyAVSource:
    """Frames of the first video stream, with the frames of damaged packets dropped and listed."""

    def __init__(self, path: str, on_damaged: str = "skip"):
        if on_damaged not in ON_DAMAGED:
            raise ValueError(f"unknown on_damaged {on_damaged!r}; choose one of {', '.join(ON_DAMAGED)}")
        self._path = path
        self._on_damaged = on_damaged
        try:
            self._container = av.open(path)
        except av.FFmpegError as error:
            raise UnreadableVideoError(cannot_open_message(path, "pyav", error)) from error
        if not self._container.streams.video:
            self._container.close()
            raise UnreadableVideoError(cannot_open_message(path, "pyav", None))
        self._stream = self._container.streams.video[0]
        try:
            self.display = checked_display(path)  # PyAV gives frames as stored: turned by `upright`
        except UnreadableVideoError:
            self._container.close()
            raise
        context = self._stream.codec_context
        context.options = {"err_detect": "explode"}
        context.thread_type = "SLICE"
        context.thread_count = PYAV_DECODER_THREADS
        self.fps = float(self._stream.average_rate or self._stream.guessed_rate or 0)
        self.width, self.height = upright_size(int(context.width), int(context.height), self.display.rotation)
        self.frames_expected: int | None = frames_in_stream(path)
        self._start_pts = self._stream.start_time or 0
        self.damaged_indices: list[int] = []    # frames whose packet FFmpeg found damaged: dropped
        self.dependant_indices: list[int] = []  # frames decoded after one, up to the next keyframe
        self.dropped_indices: list[int] = []    # every frame not given on for either reason

    def decoded_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        dependants: set[int] = set()
        after_damage = False  # True from a damaged packet to the next keyframe
        last_index = -1
        for packet in self._container.demux(self._stream):
            if packet.is_keyframe:
                after_damage = False
            try:
                frames = packet.decode()  # the demuxer's last, empty packet flushes the decoder
            except av.FFmpegError as error:
                if packet.size and not packet.is_discard:
                    self._record_damaged(self._stream_index(packet.pts, last_index), error)
                after_damage = True
                continue
            if after_damage and packet.size and not packet.is_discard:
                dependant = self._stream_index(packet.pts, last_index)
                dependants.add(dependant)
                self.dependant_indices.append(dependant)
            for frame in frames:
                index = self._stream_index(frame.pts, last_index)
                index = index if index > last_index else last_index + 1  # a broken muxer's pts must not reorder
                last_index = index
                if index in dependants and self._on_damaged == "skip_until_keyframe":
                    self.dropped_indices.append(index)
                    continue
                yield index, upright(frame.to_ndarray(format="rgb24"), self.display.rotation)
        if self.dependant_indices:
            log.warning("%s: pyav decoded frames %s from damaged frames (%s)", self._path,
                        _short_list(self.dependant_indices),
                        "dropped them" if self._on_damaged == "skip_until_keyframe" else "kept them, flagged")

    def _record_damaged(self, index: int, error: av.FFmpegError) -> None:
        self.damaged_indices.append(index)
        self.dropped_indices.append(index)
        log.warning("%s: pyav found frame %d damaged (%s); dropped it", self._path, index,
                    error.strerror or error)

    def _stream_index(self, pts: int | None, last_index: int) -> int:
        """The stream index of a frame or packet with presentation time `pts`, counted from the stream's start."""
        if pts is None or self.fps <= 0:
            return last_index + 1
        return round(float((pts - self._start_pts) * self._stream.time_base) * self.fps)

    def close(self) -> None:
        self._container.close()


def _short_list(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:10])) + (f" and {len(indices) - 10} more" if len(indices) > 10 else "")
