"""Damage FFmpeg conceals: decord and OpenCV return the frame as if good, the pyav backend drops and records it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmfeat.video.damage import cut_slice_data, keyframe_indices
from mmfeat.video.decode import BACKENDS, open_video
from mmfeat.video.encode import write_h264_video

FRAME_COUNT, GOP = 20, 10
DAMAGED_FRAME = 4  # a P-frame; frames 5..9 are decoded from it, frame 10 is the next keyframe
DEPENDANTS = list(range(DAMAGED_FRAME + 1, GOP))


def _textured_frames():
    """A noise texture panning left: every P-frame holds real picture data to damage."""
    texture = np.random.default_rng(1).integers(0, 256, (48, 64 + FRAME_COUNT, 3), dtype=np.uint8)
    for t in range(FRAME_COUNT):
        yield np.ascontiguousarray(texture[:, t : t + 64])


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("concealed")
    clean = folder / "clean.mp4"
    write_h264_video(clean, _textured_frames(), fps=15, gop=GOP, entropy_coder="cavlc")
    assert keyframe_indices(clean) == [0, GOP]
    damaged = folder / "damaged.mp4"
    shutil.copy(clean, damaged)
    cut_slice_data(damaged, DAMAGED_FRAME)
    return clean, damaged


def _decode(path: Path, backend: str, on_damaged: str = "skip"):
    with open_video(path, backend, on_damaged=on_damaged) as video:
        frames = {index: frame.astype(np.int16) for index, frame in video}
    return frames, video.record


@pytest.mark.parametrize("backend", ["decord", "opencv"])
def test_decord_and_opencv_pass_concealed_damage_on_as_good_frames(videos, backend):
    clean, damaged = videos
    clean_frames, _ = _decode(clean, backend)
    frames, record = _decode(damaged, backend)
    assert sorted(frames) == list(range(FRAME_COUNT))
    assert (record.skipped_indices, record.damaged_indices, record.dependant_indices) == ([], [], [])
    # what this test is about: the damaged frame really differs from the clean one, yet nothing says so
    assert np.abs(frames[DAMAGED_FRAME] - clean_frames[DAMAGED_FRAME]).mean() > 5


def test_pyav_drops_the_damaged_frame_and_flags_the_frames_decoded_from_it(videos):
    clean, damaged = videos
    clean_frames, _ = _decode(clean, "pyav")
    frames, record = _decode(damaged, "pyav", on_damaged="skip")
    assert record.damaged_indices == [DAMAGED_FRAME] and record.dependant_indices == DEPENDANTS
    assert record.skipped_indices == [DAMAGED_FRAME]
    assert sorted(frames) == [index for index in range(FRAME_COUNT) if index != DAMAGED_FRAME]
    assert record.frames_expected == FRAME_COUNT and record.frames_decoded == FRAME_COUNT - 1
    for index in range(FRAME_COUNT):  # frames before the damage and from the next keyframe on are untouched
        if index < DAMAGED_FRAME or index >= GOP:
            assert np.array_equal(frames[index], clean_frames[index]), f"frame {index} changed"


def test_pyav_skip_until_keyframe_drops_the_dependants_too(videos):
    _, damaged = videos
    frames, record = _decode(damaged, "pyav", on_damaged="skip_until_keyframe")
    assert record.damaged_indices == [DAMAGED_FRAME] and record.dependant_indices == DEPENDANTS
    assert record.skipped_indices == [DAMAGED_FRAME, *DEPENDANTS]
    assert sorted(frames) == [*range(DAMAGED_FRAME), *range(GOP, FRAME_COUNT)]


def test_pyav_decodes_a_clean_video_exactly_like_the_others(videos):
    clean, _ = videos
    decoded = {backend: _decode(clean, backend) for backend in BACKENDS}
    frames, record = decoded["pyav"]
    assert (record.damaged_indices, record.dependant_indices, record.skipped_indices) == ([], [], [])
    for backend in ("decord", "opencv"):
        other_frames, other_record = decoded[backend]
        assert sorted(other_frames) == sorted(frames)
        assert (other_record.fps, other_record.width, other_record.height) == (record.fps, record.width, record.height)
        assert max(np.abs(frames[index] - other_frames[index]).max() for index in frames) <= 2  # colour conversion


@pytest.mark.parametrize("on_damaged, damaged_frame, skipped", [
    ("skip_until_keyframe", 14, list(range(14, FRAME_COUNT))),  # no keyframe follows: the rest is dropped
    ("skip", FRAME_COUNT - 1, [FRAME_COUNT - 1]),               # the last frame itself
])
def test_frames_dropped_at_the_end_are_skipped_not_taken_for_a_cut_off_file(
    videos, tmp_path, caplog, on_damaged, damaged_frame, skipped
):
    clean, _ = videos
    damaged = tmp_path / "damaged-late.mp4"
    shutil.copy(clean, damaged)
    cut_slice_data(damaged, damaged_frame)
    with caplog.at_level("WARNING", logger="mmfeat.video.decode"):
        frames, record = _decode(damaged, "pyav", on_damaged=on_damaged)
    assert record.damaged_indices == [damaged_frame] and record.skipped_indices == skipped
    assert sorted(frames) == list(range(skipped[0]))
    assert not any("truncated" in message for message in caplog.messages)
