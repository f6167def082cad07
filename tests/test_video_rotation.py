"""A display rotation (a phone's portrait video) and non-square pixels, decoded by every backend.

The videos are real H.264, 64x40, written lossless (crf 0) so that every decode
of the same picture gives the same pixels; the rotation is the track's display
matrix, written by PyAV (`set_display_rotation`), as a phone writes it.
Before, OpenCV applied a rotation, PyAV ignored it and decord failed blaming a
frame-width bug.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mmfeat.video.decode import BACKENDS, UnreadableVideoError, open_video
from mmfeat.video.encode import write_h264_video

WIDTH, HEIGHT = 64, 40
FRAME_COUNT = 6


def _stored_frames() -> list[np.ndarray]:
    """Frames told apart by where their corners are: red top-left, blue along the bottom, a moving grey bar."""
    frames = []
    for index in range(FRAME_COUNT):
        frame = np.full((HEIGHT, WIDTH, 3), 60, dtype=np.uint8)
        frame[:10, :20] = (230, 20, 20)
        frame[-8:, :] = (20, 20, 230)
        frame[12:20, 24 + 4 * index : 30 + 4 * index] = 200
        frames.append(frame)
    return frames


def _write(path: Path, **display) -> Path:
    write_h264_video(path, iter(_stored_frames()), fps=10, gop=3, crf=0, **display)
    return path


def _decoded(path: Path, backend: str):
    with open_video(path, backend) as video:
        frames = np.stack([frame for _, frame in video])
    return frames, video.record


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("display")
    made = {"upright": _write(folder / "upright.mp4")}
    for rotation in (90, 180, 270):
        made[rotation] = _write(folder / f"turned-{rotation}.mp4", display_rotation=rotation)
    made["anamorphic"] = _write(folder / "anamorphic.mp4", sample_aspect_ratio=Fraction(4, 3))
    return made


@pytest.fixture(scope="module")
def upright_decoded(videos) -> dict[str, np.ndarray]:
    return {backend: _decoded(videos["upright"], backend)[0] for backend in BACKENDS}


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_every_backend_gives_the_frames_turned_as_the_file_asks(videos, upright_decoded, rotation):
    decoded = {backend: _decoded(videos[rotation], backend) for backend in BACKENDS}
    shown_height, shown_width = (WIDTH, HEIGHT) if rotation in (90, 270) else (HEIGHT, WIDTH)
    for backend, (frames, record) in decoded.items():
        assert frames.shape == (FRAME_COUNT, shown_height, shown_width, 3), backend
        assert (record.rotation, record.width, record.height) == (rotation, shown_width, shown_height), backend
        assert record.to_dict()["rotation"] == rotation
        # counterclockwise, as PyAV's set_display_rotation and VideoFrame.rotation count it
        np.testing.assert_array_equal(frames, np.rot90(upright_decoded[backend], rotation // 90, axes=(1, 2)))
    for backend in BACKENDS:
        assert np.abs(decoded[backend][0].astype(int) - decoded["pyav"][0].astype(int)).max() <= 2, backend


@pytest.mark.parametrize("rotation", [90, 270])
def test_the_turn_agrees_with_opencvs_own_rotation(videos, rotation):
    # OpenCV's capture applies the display matrix itself by default: an independent reading of its sense
    capture = cv2.VideoCapture(str(videos[rotation]), cv2.CAP_FFMPEG)
    ok, first_bgr = capture.read()
    capture.release()
    assert ok and first_bgr.shape == (WIDTH, HEIGHT, 3)
    frames, _ = _decoded(videos[rotation], "pyav")
    np.testing.assert_array_equal(frames[0], first_bgr[..., ::-1])
    red = np.argwhere((frames[0][..., 0] > 180) & (frames[0][..., 2] < 80)).mean(axis=0)
    # the stored top-left corner is shown bottom-left after a quarter turn counterclockwise, top-right clockwise
    assert (red[0] > WIDTH / 2 and red[1] < HEIGHT / 2) if rotation == 90 else (red[0] < WIDTH / 2 < 2 * red[1])


def test_an_upright_video_records_no_rotation(videos):
    for backend in BACKENDS:
        frames, record = _decoded(videos["upright"], backend)
        assert frames.shape == (FRAME_COUNT, HEIGHT, WIDTH, 3)
        assert (record.rotation, record.sample_aspect_ratio) == (0, "1:1")


def test_non_square_pixels_are_kept_as_stored_and_recorded(videos, upright_decoded, caplog):
    for backend in BACKENDS:
        with caplog.at_level(logging.WARNING, logger="mmfeat.video.decode"):
            frames, record = _decoded(videos["anamorphic"], backend)
        assert frames.shape == (FRAME_COUNT, HEIGHT, WIDTH, 3), backend  # not resized to 85x40
        assert (record.sample_aspect_ratio, record.width, record.height) == ("4:3", WIDTH, HEIGHT)
        np.testing.assert_array_equal(frames, upright_decoded[backend])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(BACKENDS)
    assert all("anamorphic.mp4: its pixels are not square (sample aspect ratio 4:3)" in m for m in warnings)


def _with_display_matrix(source: Path, target: Path, degrees: float, hflip: bool = False) -> Path:
    """`source`'s packets, untouched, in a file whose track asks for another display."""
    with av.open(str(source)) as reading, av.open(str(target), "w", format="mp4") as writing:
        stream_in = reading.streams.video[0]
        stream_out = writing.add_stream_from_template(stream_in)
        stream_out.set_display_rotation(degrees, hflip=hflip)
        for packet in reading.demux(stream_in):
            if packet.size:
                packet.stream = stream_out
                writing.mux(packet)
    return target


@pytest.mark.parametrize(
    ("degrees", "hflip", "cause"),
    [(0, True, "its display matrix mirrors the picture"), (90, True, "its display matrix mirrors the picture"),
     (45, False, "its display matrix turns the picture by 45 degrees, not a multiple of 90")],
    ids=["mirror", "turn-and-mirror", "45-degrees"],
)
def test_a_display_no_backend_applies_fails_naming_it_in_every_backend(videos, tmp_path, degrees, hflip, cause):
    # OpenCV and decord take a mirror for a rotation, and ignore other angles: frames would differ by backend
    path = _with_display_matrix(videos["upright"], tmp_path / "odd-display.mp4", degrees, hflip)
    for backend in BACKENDS:
        with pytest.raises(UnreadableVideoError) as raised:
            _decoded(path, backend)
        message = str(raised.value)
        assert message.startswith(f"{path}: {cause}") and "ffmpeg -i" in message, message


def test_the_same_packets_decode_the_same_whatever_the_rotation_asked(videos, tmp_path, upright_decoded):
    # a header-only change: the stored pixels are the upright video's, turned
    path = _with_display_matrix(videos["upright"], tmp_path / "rewrapped.mp4", 90)
    for backend in BACKENDS:
        frames, record = _decoded(path, backend)
        assert record.rotation == 90
        np.testing.assert_array_equal(frames, np.rot90(upright_decoded[backend], 1, axes=(1, 2)))
