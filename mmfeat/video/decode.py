"""Decode a video's frames one at a time, skipping damaged frames instead of failing.

    from mmfeat.video.decode import open_video
    with open_video("rgb-01-1.mp4", backend="decord") as video:
        for index, frame_rgb in video:      # index: position in the stream
            ...
        print(video.record.to_dict())       # what was decoded, what was skipped

Three backends, all FFmpeg underneath: "decord" reads frame after frame and
retries the frames around a failure one by one; "opencv" reads frame by frame and
recovers each frame's stream index from its timestamp, because its own frame
counter counts decoded frames only; "pyav" (mmfeat/video/pyav_source.py) also
drops frames whose damage FFmpeg would conceal, which the other two return as
if good. Frames that cannot be decoded are skipped, logged and listed in
`record.skipped_indices`; the frames after them keep their stream indices.
Memory holds a frame or two whatever the video's length (see
benchmarks/decode_memory.py).

Every backend gives the frames upright: a display rotation in the file (a
phone's portrait video) is applied, by decord itself and by `upright` for
OpenCV (its own rotation turned off, so that it cannot differ by build) and
PyAV, and recorded in `record.rotation`. Non-square pixels are not resized:
frames keep their stored size, and `record.sample_aspect_ratio` says how they
are shown.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmfeat.errors import UserError
from mmfeat.video.stream_header import (
    Display,
    UnsupportedDisplayError,
    display_of,
    frame_size_from_header,
    frames_in_stream,
)

if TYPE_CHECKING:  # pyav_source imports this module: imported at run time in open_video only
    from mmfeat.video.pyav_source import PyAVSource

log = logging.getLogger(__name__)

BACKENDS = ("decord", "opencv", "pyav")
# What the pyav backend does with the frames decoded from a damaged frame, up
# to the next keyframe: keep them and list them in the record ("skip": only
# the damaged frame itself is dropped), or drop them too.
ON_DAMAGED = ("skip", "skip_until_keyframe")

# After a failed read, how many frames from it are decoded one by one before
# sequential reading resumes: damage spans a few packets, and sequential reads
# near it fail on good frames too (see _DecordSource).
DECORD_RETRY_FRAMES = 8
# Measured on the damaged videos of tests/test_video_decode.py: decodes in
# which a good frame next to damage was wrongly skipped were 47/100 with 1
# thread and 3 attempts, 4/300 with 2 threads and 3 attempts, 0/300 with 2
# threads and 5 attempts. The frames kept were right in every case. A fixed
# thread count, not "auto", so that the behaviour does not change with the machine.
DECORD_DECODER_THREADS = 2
DECORD_ATTEMPTS_PER_FRAME = 5  # a good frame near damage fails by chance; a damaged one fails every time
# OpenCV's read() fails once per unusable packet, and at the end of the file on
# every call; a run of failures longer than the frames still expected (plus
# this margin) therefore means the end of the file.
OPENCV_EXTRA_FAILED_READS = 2
OPENCV_FAILED_READS_WITHOUT_COUNT = 1000  # when the container gives no frame count


class UnreadableVideoError(UserError):
    """The file cannot be opened or decoded at all; the message names the file and what is wrong."""


@dataclass
class DecodeRecord:
    """What decoding one video gave: filled at open, updated while iterating, final once iteration ends.

    `skipped_indices` lists frames that failed before a later frame decoded
    again (damaged data). Frames missing at the end (a truncated file, or
    damage up to the end) are not listed there: they show as
    `frames_decoded + len(skipped_indices) < frames_expected`.

    Only the pyav backend fills the last two lists (see pyav_source.py):
    `damaged_indices`, frames whose data FFmpeg found damaged (also skipped),
    and `dependant_indices`, frames decoded from one of them up to the next
    keyframe (skipped too under `on_damaged: skip_until_keyframe`, else kept).

    `width` and `height` are the frames' as given, upright: `rotation` (the
    degrees counterclockwise the file asks for, applied) is already in them.
    `sample_aspect_ratio` ("4:3": a pixel 4/3 as wide as high) is the file's,
    not applied: frames keep their stored pixels.
    """

    path: str
    backend: str
    frames_expected: int | None  # from container metadata; None when it gives none
    frames_decoded: int = 0
    skipped_indices: list[int] = field(default_factory=list)
    fps: float = 0.0
    width: int = 0
    height: int = 0
    damaged_indices: list[int] = field(default_factory=list)
    dependant_indices: list[int] = field(default_factory=list)
    rotation: int = 0
    sample_aspect_ratio: str = "1:1"

    def to_dict(self) -> dict:
        return asdict(self)


class VideoFrames:
    """Context manager + iterator over one video's frames, streamed one at a time.

    Iterating yields `(stream index, HxWx3 uint8 RGB frame)`; it can be done
    once per open. Memory is bounded independently of the video's length.
    """

    def __init__(self, path: str, backend: str, source: _DecordSource | _OpenCVSource | PyAVSource):
        self.path = path
        self.backend = backend
        self._source = source
        self._iterated = False
        self.record = DecodeRecord(
            path=path,
            backend=backend,
            frames_expected=source.frames_expected,
            fps=source.fps,
            width=source.width,
            height=source.height,
            rotation=source.display.rotation,
            sample_aspect_ratio=_ratio_text(source.display.sample_aspect_ratio),
        )
        if source.display.sample_aspect_ratio != 1:
            log.warning("%s: its pixels are not square (sample aspect ratio %s); frames are kept as stored, "
                        "%dx%d, not resized to the aspect they are shown at", path,
                        self.record.sample_aspect_ratio, source.width, source.height)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self._iterated:
            raise RuntimeError(f"{self.path}: frames were already iterated; call open_video again")
        self._iterated = True
        return self._frames_with_bookkeeping()

    def _frames_with_bookkeeping(self) -> Iterator[tuple[int, np.ndarray]]:
        record = self.record
        next_index = 0  # the index the next frame has when nothing is skipped
        for index, frame_rgb in self._source.decoded_frames():
            if index > next_index:
                self._record_skipped(range(next_index, index))
            if not record.width:  # metadata gave no size: take the frames'
                record.height, record.width = frame_rgb.shape[:2]
            record.frames_decoded += 1
            next_index = index + 1
            yield index, frame_rgb
        record.damaged_indices = list(self._source.damaged_indices)
        record.dependant_indices = list(self._source.dependant_indices)
        # frames the source itself dropped after the last one it gave are skipped frames, not a cut-off end
        dropped_at_end = [index for index in self._source.dropped_indices if index >= next_index]
        if dropped_at_end:
            self._record_skipped(range(next_index, max(dropped_at_end) + 1))
            next_index = max(dropped_at_end) + 1
        if record.frames_decoded == 0:
            raise UnreadableVideoError(
                f"{self.path}: {self.backend} opened the file but could not decode any frame "
                f"(metadata says {record.frames_expected}); the video data is damaged, replace the file"
            )
        if record.frames_expected is not None and next_index < record.frames_expected:
            log.warning(
                "%s: %s decoded up to frame %d only, metadata says %d frames (file truncated or damaged at the end)",
                self.path,
                self.backend,
                next_index - 1,
                record.frames_expected,
            )

    def _record_skipped(self, indices: range) -> None:
        self.record.skipped_indices.extend(indices)
        log.warning(
            "%s: %s could not decode frames %d..%d (damaged data); skipped them and went on",
            self.path,
            self.backend,
            indices.start,
            indices.stop - 1,
        )

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_video(path: str | os.PathLike, backend: str = "opencv", on_damaged: str = "skip") -> VideoFrames:
    """Open `path` for streaming its frames with `backend` (one of BACKENDS).

    `on_damaged` (one of ON_DAMAGED) applies to the pyav backend, the only one
    that finds frames decoded from damaged ones. Raises UnreadableVideoError
    when the file is missing or cannot be opened at all, ValueError for an
    unknown backend or on_damaged.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if on_damaged not in ON_DAMAGED:
        raise ValueError(f"unknown on_damaged {on_damaged!r}; choose one of {', '.join(ON_DAMAGED)}")
    path = os.fspath(path)
    if not Path(path).is_file():
        raise UnreadableVideoError(f"{path}: no such file; check the video path or the dataset's video folder")
    if Path(path).stat().st_size == 0:
        raise UnreadableVideoError(f"{path}: the file is empty (0 bytes), a copy or download that did not finish; "
                                   f"replace it")
    if backend == "decord":
        source = _DecordSource(path)
    elif backend == "opencv":
        source = _OpenCVSource(path)
    else:
        from mmfeat.video.pyav_source import PyAVSource  # its own module; it imports this one

        source = PyAVSource(path, on_damaged)
    return VideoFrames(path, backend, source)


def checked_display(path: str) -> Display:
    """`display_of(path)`; a display no backend applies as asked is an UnreadableVideoError (the same for all)."""
    try:
        return display_of(path)
    except UnsupportedDisplayError as error:
        raise UnreadableVideoError(str(error)) from error


def upright(frame_rgb: np.ndarray, rotation: int) -> np.ndarray:
    """`frame_rgb` turned `rotation` degrees counterclockwise (0, 90, 180 or 270), as the file asks it shown."""
    if rotation == 0:
        return frame_rgb
    import cv2  # 3.4 ms for a 1080p frame; a contiguous copy of np.rot90 takes 23 ms

    turn = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}[rotation]
    return cv2.rotate(frame_rgb, turn)


def upright_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) of a width x height frame once turned by `rotation` degrees."""
    return (height, width) if rotation in (90, 270) else (width, height)


def _ratio_text(ratio) -> str:
    return f"{ratio.numerator}:{ratio.denominator}"


class _DecordSource:
    """decord's VideoReader, read frame after frame; a failure is retried frame by frame.

    Undamaged stretches are read with `next()`, decord's plain sequential read
    (cheaper than `get_batch`, which copies every frame once more). decord does
    not tie a decoding error to the frame that caused it: its reader pushes
    packets ahead of the frame asked for (how far depends on thread timing),
    and once the decoder fails on a packet every later request raises, until a
    real seek clears the error. So a good frame just before damaged packets can
    fail too. After a failure, each frame of the next DECORD_RETRY_FRAMES is
    therefore retried alone after forcing a real seek, up to
    DECORD_ATTEMPTS_PER_FRAME times, and skipped only if every attempt fails;
    then sequential reading resumes. A good frame right before damage can
    still, rarely, be skipped. In a video with B-frames, a frame shown after a
    damaged one in the same group of pictures is skipped even where it could
    be decoded without it (see _retried_alone).
    """

    def __init__(self, path: str):
        import decord  # imported here: importing decord is slow and only this backend needs it

        self._decord_error = decord.DECORDError
        try:
            self._reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=DECORD_DECODER_THREADS)
        except (decord.DECORDError, RuntimeError, AssertionError) as error:
            raise UnreadableVideoError(cannot_open_message(path, "decord", error)) from error
        self.frames_expected: int | None = len(self._reader)
        self.fps = float(self._reader.get_avg_fps())
        self._keyframes = [int(index) for index in self._reader.get_key_indices()]
        # decord applies a display rotation itself, but reports neither it nor the frame size before
        # decoding; FFmpeg's header has both
        self.display = checked_display(path)
        self.width, self.height = upright_size(*frame_size_from_header(path), self.display.rotation)
        # FFmpeg conceals damage it can decode around: decord cannot tell such frames
        self.damaged_indices: list[int] = []
        self.dependant_indices: list[int] = []
        self.dropped_indices: list[int] = []
        self._first_frame = self._first_frame_of_checked_size(path)

    def _first_frame_of_checked_size(self, path: str) -> np.ndarray | None:
        """Frame 0, decoded now to fail at open where decord 0.6.0 returns scrambled frames
        (some widths, e.g. 48 or 72) or frames not turned as the file asks; kept as the first
        frame the loop yields, so checking costs no second decode. None when it fails to
        decode: the frame loop deals with it."""
        try:
            frame_rgb = self._reader.next().asnumpy()
        except (self._decord_error, StopIteration):
            return None
        if frame_rgb.shape == (self.height, self.width, 3):
            return frame_rgb
        size = f"{self.width}x{self.height}"
        if self.display.rotation:
            size += f" once turned {self.display.rotation} degrees as the file asks"
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
            cause = "a decord bug with some frame widths, 48 and 72 among them"
        else:  # a decord that does not turn frames as the file asks, or a header FFmpeg reads otherwise
            cause = "decord and FFmpeg's header disagree on the frame size"
        raise UnreadableVideoError(f"{path}: decord returns frames of shape {frame_rgb.shape} for this video, "
                                   f"{size}: {cause}; decode it with the 'opencv' backend instead")

    def decoded_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        frame_count = len(self._reader)
        index = 0  # the frame to read next
        failed = self._first_frame is None  # frame 0 failed at open: retry it
        if not failed:
            yield 0, self._first_frame
            self._first_frame, index = None, 1
        while index < frame_count:
            if not failed:
                try:
                    frame = self._reader.next()
                except StopIteration:  # fewer frames than the container says: the record shows the cut-off end
                    return
                except self._decord_error:
                    failed = True
                else:
                    yield index, frame.asnumpy()
                    index += 1
                    continue
            index = yield from self._retried_alone(index, frame_count)
            failed = index < frame_count and not self._moved_to(index)

    def _moved_to(self, index: int) -> bool:
        """Position the clean decoder so that next() returns frame `index`; False if decoding up to it fails."""
        try:
            self._reader.seek_accurate(index)
        except (self._decord_error, RuntimeError):
            return False
        return True

    def _retried_alone(self, failed_index: int, frame_count: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield what decodes of the DECORD_RETRY_FRAMES from `failed_index`, each frame decoded
        alone; return the index to read on from, past any group of pictures found damaged.

        decord reaches a frame by decoding from the keyframe before it, so the
        frames after a failed one in its group of pictures fail too: they are
        skipped without trying, which keeps a damaged group at O(group) decodes.
        """
        retry_stop = min(failed_index + DECORD_RETRY_FRAMES, frame_count)
        unreachable_before = failed_index
        for index in range(failed_index, retry_stop):
            if index < unreachable_before:
                continue
            frame_rgb = self._decode_alone(index)
            if frame_rgb is None:
                unreachable_before = self._next_keyframe_after(index, frame_count)
                continue
            yield index, frame_rgb
        self._clear_decoder_error()  # the last attempt may have failed: read on from a clean decoder
        return max(retry_stop, unreachable_before)

    def _next_keyframe_after(self, index: int, frame_count: int) -> int:
        """The first keyframe after `index`, or `frame_count` when there is none."""
        position = bisect.bisect_right(self._keyframes, index)
        return self._keyframes[position] if position < len(self._keyframes) else frame_count

    def _decode_alone(self, index: int) -> np.ndarray | None:
        """Frame `index` decoded from its keyframe with a clean decoder, or None if every attempt fails."""
        for _ in range(DECORD_ATTEMPTS_PER_FRAME):
            self._clear_decoder_error()
            try:
                return self._reader[index].asnumpy()
            except self._decord_error:
                continue
        return None

    def _clear_decoder_error(self) -> None:
        # decord clears a decoder error only on a real seek, and skips a seek
        # to the position it is already at: of two seeks to two different
        # keyframes the last is always real. Keyframes, because decord takes a
        # seek to any other frame as landing there while the file is at the
        # keyframe before it. Seeks move the file position only: cheap.
        if len(self._keyframes) < 2:
            self._reader.seek(0)  # one keyframe: no second place to seek to
            return
        self._reader.seek(self._keyframes[0])
        self._reader.seek(self._keyframes[1])

    def close(self) -> None:
        self._reader = None  # decord frees the file when the reader is collected


class _OpenCVSource:
    """OpenCV's FFmpeg capture, read frame by frame; indices come from frame timestamps."""

    def __init__(self, path: str):
        import cv2

        self._cv2 = cv2
        # CAP_FFMPEG explicitly: otherwise a name like "take%02d.mp4" is read as an image sequence
        self._capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self._capture.isOpened():
            self._capture.release()
            raise UnreadableVideoError(cannot_open_message(path, "opencv", None))
        # OpenCV's own rotation is off, so that frames are turned as with pyav (`upright`) whatever the build
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        try:
            self.display = checked_display(path)
        except UnreadableVideoError:
            self._capture.release()
            raise
        # OpenCV's own count is the container's frame count, or its duration
        # times the rate: it counts the frames an MP4 edit list trims, and a
        # Matroska stream's start time as frames. The stream's count does not.
        frame_count = frames_in_stream(path) or int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frames_expected: int | None = frame_count if frame_count > 0 else None
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.width, self.height = upright_size(int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                                               int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), self.display.rotation)
        # FFmpeg conceals damage it can decode around: OpenCV cannot tell such frames
        self.damaged_indices: list[int] = []
        self.dependant_indices: list[int] = []
        self.dropped_indices: list[int] = []

    def decoded_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        cv2 = self._cv2
        last_index = -1
        failed_reads_in_a_row = 0
        while failed_reads_in_a_row <= self._failed_reads_allowed(last_index):
            ok, frame_bgr = self._capture.read()
            if not ok:
                failed_reads_in_a_row += 1
                continue
            failed_reads_in_a_row = 0
            index = self._stream_index(last_index)
            last_index = index
            yield index, upright(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), self.display.rotation)

    def _failed_reads_allowed(self, last_index: int) -> int:
        if self.frames_expected is None:
            return OPENCV_FAILED_READS_WITHOUT_COUNT
        return max(self.frames_expected - (last_index + 1), 0) + OPENCV_EXTRA_FAILED_READS

    def _stream_index(self, last_index: int) -> int:
        """The stream index of the frame just read, from its timestamp (OpenCV's frame counter skips failures).

        OpenCV measures CAP_PROP_POS_MSEC from the stream's start time, so a
        stream that starts later than 0 (an edit list, a trimmed file) still
        counts from 0 (tests/test_video_decode.py holds it to that).
        """
        if self.fps <= 0:
            return last_index + 1
        milliseconds = self._capture.get(self._cv2.CAP_PROP_POS_MSEC)
        index = round(milliseconds * self.fps / 1000.0)
        # a timestamp that goes backwards (broken muxer) must not reorder frames
        return index if index > last_index else last_index + 1

    def close(self) -> None:
        self._capture.release()


def cannot_open_message(path: str, backend: str, backend_error: Exception | None) -> str:
    """Why `backend` cannot open `path`, in words: FFmpeg's own reason when it has one."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                reason = "the file has no video stream"
            else:
                first_line = str(backend_error).strip().splitlines()[0] if backend_error else "no reason given"
                reason = (
                    f"FFmpeg reads its header but {backend} rejects it ({first_line}); if the file is "
                    f"cut off or damaged, try backend 'opencv', which decodes what is there"
                    if backend == "decord"
                    else f"FFmpeg reads its header but {backend} rejects it ({first_line}); try backend 'decord'"
                )
    except av.FFmpegError as error:
        reason = f"FFmpeg cannot read it: {error.strerror or error}"
    return f"{path}: cannot open with {backend}: {reason}. Check the file (ffprobe {path}) or replace it"
