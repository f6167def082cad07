"""Decoding with decord, OpenCV and PyAV: clean, damaged, truncated and unreadable videos (tiny, generated here)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.video.damage import damage_packets, keyframe_indices, make_unreadable
from mmfeat.video.decode import BACKENDS, UnreadableVideoError, open_video
from mmfeat.video.encode import write_h264_video

FRAME_COUNT = 40
GOP = 5
WIDTH, HEIGHT = 64, 48


def _source_frames(count: int = FRAME_COUNT) -> list[np.ndarray]:
    """Frames that differ from each other: a brightness ramp, a moving red square, a fixed blue bar."""
    frames = []
    for index in range(count):
        frame = np.full((HEIGHT, WIDTH, 3), 40 + 4 * index, dtype=np.uint8)
        column = (index * 3) % (WIDTH - 12)
        frame[10:22, column : column + 12] = (230, 20, 20)  # red in RGB
        frame[-8:, :] = (20, 20, 230)  # blue in RGB
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def clean_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clean") / "clean.mp4"
    write_h264_video(path, iter(_source_frames()), fps=15, gop=GOP)
    return path


@pytest.fixture(scope="module")
def clean_decoded(clean_video) -> dict[str, dict[int, np.ndarray]]:
    """Each backend's frames of the clean video, the reference for frames decoded after damage."""
    decoded = {}
    for backend in BACKENDS:
        with open_video(clean_video, backend) as video:
            decoded[backend] = {index: frame.astype(np.int16) for index, frame in video}
    return decoded


def _damaged_copy(clean_video: Path, tmp_path: Path, *frame_ranges: range) -> Path:
    path = tmp_path / "damaged.mp4"
    shutil.copy(clean_video, path)
    for frame_range in frame_ranges:
        damage_packets(path, frame_range)
    return path


def _decode_all(path: Path, backend: str):
    with open_video(path, backend) as video:
        frames = {index: frame for index, frame in video}
    return frames, video.record


# --- writing -------------------------------------------------------------------------------------


def test_written_video_has_the_frames_size_rate_and_keyframes_asked_for(clean_video):
    with av.open(str(clean_video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert (stream.width, stream.height, stream.frames) == (WIDTH, HEIGHT, FRAME_COUNT)
        assert stream.average_rate == 15
    assert keyframe_indices(clean_video) == list(range(0, FRAME_COUNT, GOP))


def test_lossless_writing_gives_the_same_decoded_frames_every_time(tmp_path):
    # bytes are not compared: libx264 can choose differently on a loaded machine (see encode.py)
    decoded = []
    for attempt in range(2):
        path = tmp_path / f"lossless{attempt}.mp4"
        write_h264_video(path, iter(_source_frames(12)), fps=15, gop=GOP, crf=0)
        with av.open(str(path)) as container:
            decoded.append(np.stack([f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]))
    source_yuv = np.stack(
        [
            av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p").to_ndarray()
            for frame in _source_frames(12)
        ]
    )
    assert np.array_equal(decoded[0], decoded[1]) and np.array_equal(decoded[0], source_yuv)


@pytest.mark.parametrize(
    "frames, message",
    [([np.zeros((47, 64, 3), np.uint8)], "even"), ([], "no frames"), ([np.zeros((48, 64, 3), np.float32)], "uint8")],
)
def test_writing_rejects_bad_frames_naming_the_file(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message) as raised:
        write_h264_video(tmp_path / "bad.mp4", iter(frames), fps=15)
    assert "bad.mp4" in str(raised.value)


# --- clean decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_clean_video_decodes_fully_in_rgb(clean_video, backend):
    frames, record = _decode_all(clean_video, backend)
    assert sorted(frames) == list(range(FRAME_COUNT))
    assert (record.frames_expected, record.frames_decoded, record.skipped_indices) == (FRAME_COUNT, FRAME_COUNT, [])
    assert (record.width, record.height, record.fps, record.backend) == (WIDTH, HEIGHT, 15.0, backend)
    source = _source_frames()
    for index, frame in frames.items():
        assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
        assert np.abs(frame.astype(int) - source[index]).mean() < 4, f"frame {index} differs from its source"
    red_pixel, blue_pixel = frames[0][15, 5], frames[0][-3, 30]
    assert red_pixel[0] > 180 and red_pixel[2] < 80, "channels must be RGB, not BGR"
    assert blue_pixel[2] > 180 and blue_pixel[0] < 80


@pytest.mark.parametrize("backend", BACKENDS)
def test_record_is_json_ready_and_frames_iterate_once(clean_video, backend):
    with open_video(clean_video, backend) as video:
        assert video.record.frames_expected == FRAME_COUNT  # known at open, before iterating
        for _ in video:
            pass
        with pytest.raises(RuntimeError, match="already iterated"):
            iter(video)
    assert json.loads(json.dumps(video.record.to_dict()))["frames_decoded"] == FRAME_COUNT


# --- damaged packets ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "damaged_ranges",
    [(range(10, 20),), (range(5, 10),), (range(15, 20),), (range(5, 10), range(25, 35))],
    ids=["two-gops", "first-gop-after-start", "one-gop", "two-places"],
)
def test_damaged_frames_are_skipped_and_later_frames_are_right(
    clean_video, clean_decoded, tmp_path, caplog, backend, damaged_ranges
):
    path = _damaged_copy(clean_video, tmp_path, *damaged_ranges)
    damaged = sorted(index for frame_range in damaged_ranges for index in frame_range)
    with caplog.at_level(logging.WARNING, logger="mmfeat.video.decode"):
        frames, record = _decode_all(path, backend)

    if backend in ("opencv", "pyav"):
        assert record.skipped_indices == damaged
    else:  # decord can, rarely, also lose a good frame right before damage (see decode._DecordSource)
        assert set(damaged) <= set(record.skipped_indices)
        near_damage = {r.start - gap for r in damaged_ranges for gap in (1, 2)}
        assert set(record.skipped_indices) - set(damaged) <= near_damage
    assert sorted(frames) == [index for index in range(FRAME_COUNT) if index not in record.skipped_indices]
    assert record.frames_expected == FRAME_COUNT
    assert record.frames_decoded == FRAME_COUNT - len(record.skipped_indices)
    assert record.dependant_indices == []  # decoding resumes at a keyframe: nothing refers to the damage
    for index, frame in frames.items():  # the same pixels as the clean video, before and after the damage
        difference = np.abs(frame.astype(np.int16) - clean_decoded[backend][index]).mean()
        assert difference < 1.0, f"{backend} frame {index} differs from the clean decode by {difference:.1f}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for frame_range in damaged_ranges:
        assert any(str(path) in m and f"{frame_range.start}..{frame_range.stop - 1}" in m for m in warnings)


def test_damage_must_end_before_a_keyframe_and_lie_inside(clean_video, tmp_path):
    path = _damaged_copy(clean_video, tmp_path)
    with pytest.raises(ValueError, match="not a keyframe"):
        damage_packets(path, range(12, 17))
    with pytest.raises(ValueError, match="strictly inside"):
        damage_packets(path, (0, 5))
    with pytest.raises(ValueError, match="strictly inside"):
        damage_packets(path, (35, 40))
    assert path.read_bytes() == clean_video.read_bytes(), "a refused damage must leave the file alone"


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_decodable_frame_at_all_is_unreadable(clean_video, tmp_path, backend):
    path = tmp_path / "all-zeroed.mp4"
    shutil.copy(clean_video, path)
    with av.open(str(path)) as container:
        places = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    video_bytes = bytearray(path.read_bytes())
    for position, size in places:
        video_bytes[position : position + size] = bytes(size)
    path.write_bytes(bytes(video_bytes))
    with pytest.raises(UnreadableVideoError) as raised:  # decord already refuses to open it
        _decode_all(path, backend)
    assert str(path) in str(raised.value)
    if backend == "opencv":
        assert "could not decode any frame" in str(raised.value)


# --- truncated and unreadable files ---------------------------------------------------------------


@pytest.fixture()
def truncated_video(clean_video, tmp_path) -> Path:
    """The clean video with its index moved to the front, then cut after frame 24 (a copy that broke off)."""
    front_indexed = tmp_path / "front-indexed.mp4"
    with av.open(str(clean_video)) as source, av.open(
        str(front_indexed), "w", format="mp4", options={"movflags": "faststart"}
    ) as target:
        stream_in = source.streams.video[0]
        stream_out = target.add_stream_from_template(stream_in)
        for packet in source.demux(stream_in):
            if packet.size:
                packet.stream = stream_out
                target.mux(packet)
    with av.open(str(front_indexed)) as container:
        positions = sorted(p.pos for p in container.demux(container.streams.video[0]) if p.size)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(front_indexed.read_bytes()[: positions[25] + 3])
    return truncated


@pytest.mark.parametrize("backend", ["opencv", "pyav"])
def test_a_truncated_file_is_recorded_as_ending_early(truncated_video, caplog, backend):
    with caplog.at_level(logging.WARNING, logger="mmfeat.video.decode"):
        frames, record = _decode_all(truncated_video, backend)
    assert sorted(frames) == list(range(25))
    # the file breaks off 3 bytes into frame 25's packet: pyav finds that packet damaged, OpenCV never sees it
    cut_packet = [25] if backend == "pyav" else []
    assert (record.frames_expected, record.frames_decoded) == (FRAME_COUNT, 25)
    assert record.skipped_indices == record.damaged_indices == cut_packet
    assert any("metadata says 40" in r.getMessage() for r in caplog.records)


def test_decord_cannot_open_a_truncated_file_and_says_to_try_opencv(truncated_video):
    with pytest.raises(UnreadableVideoError, match="try backend 'opencv'") as raised:
        open_video(truncated_video, "decord")
    assert str(truncated_video) in str(raised.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreadable_file_raises_naming_file_backend_and_reason(tmp_path, backend):
    path = tmp_path / "broken.mp4"
    make_unreadable(path)
    with pytest.raises(UnreadableVideoError) as raised:
        open_video(path, backend)
    message = str(raised.value)
    assert str(path) in message and backend in message and "Invalid data" in message
    assert isinstance(raised.value, UserError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_file_is_unreadable(tmp_path, backend):
    with pytest.raises(UnreadableVideoError, match="no such file"):
        open_video(tmp_path / "missing.mp4", backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_file_fails_naming_it_and_saying_it_is_empty(tmp_path, backend):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(UnreadableVideoError, match=r"empty\.mp4: the file is empty \(0 bytes\).*replace it"):
        open_video(path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_file_that_is_not_a_video_fails_naming_it_and_ffmpegs_reason(tmp_path, backend):
    path = tmp_path / "labels.mp4"  # a text file with a video's extension
    path.write_text("frame,label\n0,cut_tomato\n1,cut_tomato\n")
    with pytest.raises(UnreadableVideoError) as raised:
        _decode_all(path, backend)
    message = str(raised.value)
    assert message.startswith(f"{path}: cannot open with {backend}: FFmpeg cannot read it: Invalid data")
    assert "replace it" in message


def test_unknown_backend_and_on_damaged_list_the_known_ones(clean_video):
    with pytest.raises(ValueError, match="decord, opencv, pyav"):
        open_video(clean_video, "ffmpeg")
    with pytest.raises(ValueError, match="skip, skip_until_keyframe"):
        open_video(clean_video, "pyav", on_damaged="ignore")


def test_decord_refuses_a_frame_width_it_would_scramble_and_opencv_decodes_it(tmp_path):
    # decord 0.6.0 returns (H, W, 4) frames of scrambled bytes for some widths, 48 among them
    path = tmp_path / "narrow.mp4"
    frame = np.zeros((32, 48, 3), dtype=np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 100, 200
    write_h264_video(path, [frame] * 4, fps=10, crf=0)
    with pytest.raises(UnreadableVideoError, match=r"narrow\.mp4: decord returns frames of shape \(32, 48, 4\).*'opencv'"):
        open_video(path, backend="decord")
    with open_video(path, backend="opencv") as frames:
        decoded = [rgb for _, rgb in frames]
    assert len(decoded) == 4
    np.testing.assert_allclose(decoded[0].reshape(-1, 3).mean(axis=0), [10, 100, 200], atol=2)
