"""Write RGB frames to an H.264 MP4 with PyAV, one frame at a time, optionally with a mono AAC track.

    from mmfeat.video.encode import write_h264_video
    write_h264_video("clip.mp4", frames, fps=15, gop=5)
    write_h264_video("talk.mp4", frames, fps=15, audio=waveform, audio_rate=22050)  # waveform: float32 (N,)

Used by the demo dataset and the tests; frames are encoded as they arrive, so
a generator of frames never needs to be held in memory as a whole.

Same frames, same options: nearly always the same bytes. But on a loaded
machine libx264 was seen to make different choices for a few frames of the
same input, even with one thread (a few percent of encodes, 2026-11-22), so
lossy output is not reproducible bit for bit. With `crf=0` (lossless) the
decoded frames are exactly the input whatever the encoder chose: use it where
decoded frames must be identical from run to run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

log = logging.getLogger(__name__)

# Fixed encoder options: one thread, so that the same frames give the same
# bytes as far as libx264 allows (see above), and no B-frames, so that the
# packet order is the frame order and a decoding error maps to one frame.
X264_OPTIONS = {"threads": "1", "bf": "0", "preset": "veryfast"}
AUDIO_CODEC = "aac"  # FFmpeg's own AAC encoder: in every PyAV build, and what real clips mostly carry


def write_h264_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: int,
    gop: int | None = None,
    crf: int = 18,
    audio: np.ndarray | None = None,
    audio_rate: int | None = None,
    entropy_coder: str = "cabac",
    display_rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
) -> int:
    """Encode HxWx3 uint8 RGB `frames` to `path` (libx264, yuv420p) and return the frame count.

    `gop` is the keyframe interval in frames (None: the encoder's default).
    `crf` is x264's quality: 18 is visually lossless, 0 is lossless (larger
    files, reproducible decoded frames). `entropy_coder` is "cabac" (x264's
    default) or "cavlc", with which damaged slice data is sure to fail to
    parse (see damage.cut_slice_data). Width and height must be even, as
    yuv420p requires; every frame must have the first frame's size.
    `audio`, a mono float waveform in [-1, 1] at `audio_rate` Hz starting with
    the first frame, is written as an AAC track, interleaved with the frames.
    `display_rotation` (degrees counterclockwise, as a phone's portrait video
    has) goes into the track's display matrix; `sample_aspect_ratio` marks the
    pixels as non-square. Neither changes the stored frames.
    """
    frame_count = 0
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = None
        audio_track = None
        for frame_rgb in frames:
            if stream is None:
                stream = _add_video_stream(container, path, frame_rgb, fps, gop, crf, entropy_coder)
                if display_rotation:
                    stream.set_display_rotation(display_rotation)
                if sample_aspect_ratio is not None:
                    stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
                audio_track = _AudioTrack(container, path, audio, audio_rate) if audio is not None else None
            _check_frame(path, frame_rgb, stream.width, stream.height, frame_count)
            rgb_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
            # Converted here with one thread: left to the encoder, PyAV converts
            # with several threads, which gave different bytes from run to run
            # on a loaded machine (measured: ~4% of encodes of the same frames).
            container.mux(stream.encode(rgb_frame.reformat(format="yuv420p", threads=1)))
            frame_count += 1
            if audio_track is not None:
                audio_track.write_until(frame_count / fps)
        if stream is None:
            raise ValueError(f"{path}: no frames given; a video needs at least one frame")
        container.mux(stream.encode(None))  # flush the frames the encoder still holds
        if audio_track is not None:
            audio_track.finish()
    log.debug("wrote %d frames to %s", frame_count, path)
    return frame_count


def _add_video_stream(container, path, first_frame: np.ndarray, fps: int, gop: int | None, crf: int,
                      entropy_coder: str):
    """Add the H.264 stream, sized after the first frame."""
    if first_frame.ndim != 3 or first_frame.shape[2] != 3:
        raise ValueError(f"{path}: frames must be HxWx3 RGB, got shape {first_frame.shape}")
    height, width = first_frame.shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"{path}: width and height must be even for yuv420p, got {width}x{height}")
    stream = container.add_stream("libx264", rate=int(fps))
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    if entropy_coder not in ("cabac", "cavlc"):
        raise ValueError(f"{path}: entropy_coder must be 'cabac' or 'cavlc', got {entropy_coder!r}")
    options = {**X264_OPTIONS, "crf": str(crf)}
    if entropy_coder == "cavlc":  # cabac is x264's default: left unset, the output stays as it always was
        options["coder"] = "cavlc"
    if gop is not None:
        # keyint_min and no scene-cut detection as well, so that keyframes
        # fall exactly every `gop` frames
        options.update({"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"})
    stream.options = options
    stream.codec_context.thread_count = 1
    return stream


def _check_frame(path, frame_rgb: np.ndarray, width: int, height: int, index: int) -> None:
    if frame_rgb.dtype != np.uint8:
        raise ValueError(f"{path}: frame {index} has dtype {frame_rgb.dtype}; convert frames to uint8")
    if frame_rgb.shape != (height, width, 3):
        raise ValueError(
            f"{path}: frame {index} has shape {frame_rgb.shape}, expected {(height, width, 3)} like the first frame"
        )


class _AudioTrack:
    """A mono AAC stream fed in pieces, so that audio and video packets alternate in the file."""

    def __init__(self, container, path, waveform: np.ndarray, rate: int | None):
        waveform = np.asarray(waveform)
        if waveform.ndim != 1 or not np.issubdtype(waveform.dtype, np.floating):
            found = f"{waveform.dtype} {waveform.shape}"
            raise ValueError(f"{path}: audio must be a mono float waveform of shape (N,), got {found}")
        if not rate or rate <= 0:
            raise ValueError(f"{path}: audio_rate must be given (samples per second), got {rate}")
        self.container = container
        self.waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
        self.rate = int(rate)
        self.stream = container.add_stream(AUDIO_CODEC, rate=self.rate)
        self.stream.layout = "mono"
        self.stream.format = "fltp"
        self.stream.codec_context.thread_count = 1
        self.samples_written = 0

    def write_until(self, seconds: float) -> None:
        """Encode the samples up to `seconds` that are not written yet."""
        end = min(self.waveform.size, int(round(seconds * self.rate)))
        if end <= self.samples_written:
            return
        piece = self.waveform[None, self.samples_written : end]
        frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.samples_written
        self.container.mux(self.stream.encode(frame))
        self.samples_written = end

    def finish(self) -> None:
        """Write what is left of the waveform (it may outlast the frames) and flush the encoder."""
        self.write_until(self.waveform.size / self.rate)
        self.container.mux(self.stream.encode(None))
