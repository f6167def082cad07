"""Decode a clip's first audio track to one mono float32 waveform at a fixed sample rate, with PyAV.

    from mmfeat.audio.decode import decode_audio
    waveform, sample_rate = decode_audio("videos/42.mp4")     # (N,) float32 in [-1, 1], 16000

Sample i of the waveform is at i / sample_rate seconds from the start of the
clip, so word times of a transcript index it directly: a track that starts
late is padded with silence in front, and the padding an encoder adds after
the last sample (AAC fills its last frame) is cut at the track's declared end.
Channels are mixed down to mono by FFmpeg's resampler.
"""

from __future__ import annotations

import logging
import os

import av
import numpy as np

from mmfeat.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000  # what speech models (wav2vec 2.0, HuBERT, VGGish) expect


class NoAudioTrackError(UserError):
    """The file opens but holds no audio stream."""


def decode_audio(path: str | os.PathLike, sample_rate: int = DEFAULT_SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Return (waveform, sample_rate): the first audio track of `path` as mono float32, resampled.

    Raises NoAudioTrackError when the file has no audio track, and a
    UserError naming the file when it cannot be opened or its audio cannot
    be decoded.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError) as error:
        message = f"{path}: cannot be opened as a media file ({error}); check that it is a complete video"
        raise UserError(message) from error
    with container:
        if not container.streams.audio:
            raise NoAudioTrackError(
                f"{path} has no audio track; a humour sample needs its speech (exclude the sample or restore its audio)"
            )
        stream = container.streams.audio[0]
        try:
            chunks, first_frame_time = _decode_resampled(container, stream, sample_rate)
        except av.FFmpegError as error:
            message = f"{path}: the audio track cannot be decoded ({error}); check that the file is complete"
            raise UserError(message) from error
        end_time = _declared_end_time(stream)
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    waveform = _aligned_to_clip_start(waveform, first_frame_time, sample_rate)
    if end_time is not None:
        waveform = waveform[: int(round(end_time * sample_rate))]
    log.debug("decoded %d audio samples at %d Hz from %s", waveform.size, sample_rate, path)
    return np.ascontiguousarray(waveform, dtype=np.float32), sample_rate


def _decode_resampled(container, stream, sample_rate: int) -> tuple[list[np.ndarray], float | None]:
    """Decode every frame of `stream` and resample it to packed mono float32; also the first frame's time."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    first_frame_time = None
    for frame in container.decode(stream):
        if first_frame_time is None:
            first_frame_time = frame.time
        for resampled in resampler.resample(frame):
            chunks.append(resampled.to_ndarray().reshape(-1))
    for resampled in resampler.resample(None):  # the samples the resampler still holds
        chunks.append(resampled.to_ndarray().reshape(-1))
    return chunks, first_frame_time


def _aligned_to_clip_start(waveform: np.ndarray, first_frame_time: float | None, sample_rate: int) -> np.ndarray:
    """Pad (track starts late) or cut (track starts before zero) so that sample 0 is at time 0."""
    offset = int(round((first_frame_time or 0.0) * sample_rate))
    if offset > 0:
        return np.concatenate([np.zeros(offset, dtype=np.float32), waveform])
    return waveform[-offset:]


def _declared_end_time(stream) -> float | None:
    """Where the container says the track ends, in seconds; None when it does not say."""
    if stream.duration is None or stream.time_base is None:
        return None
    start = stream.start_time or 0
    return float((start + stream.duration) * stream.time_base)
