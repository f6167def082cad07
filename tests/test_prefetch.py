"""The reader thread (`prefetched`): same items in the same order, errors raised in the caller, no thread left over."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.features.prefetch import prefetched
from mmfeat.video.damage import damage_packets
from mmfeat.video.decode import UnreadableVideoError, open_video
from mmfeat.video.encode import write_h264_video


def _reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "mmfeat-reader"]


@pytest.fixture(scope="module")
def damaged_video(tmp_path_factory) -> Path:
    """30 frames of changing content, a keyframe every 5, frames 11-14 damaged (up to the keyframe 15)."""
    path = tmp_path_factory.mktemp("prefetch") / "damaged.mp4"
    frames = [np.full((48, 64, 3), 30 + 6 * k, np.uint8) for k in range(30)]
    for k, frame in enumerate(frames):
        frame[10:20, 2 * k : 2 * k + 10] = (230, 20, 20)
    write_h264_video(path, iter(frames), fps=15, gop=5)
    damage_packets(path, range(11, 15))
    return path


@pytest.mark.parametrize("backend", ["decord", "opencv", "pyav"])
def test_frames_order_and_damage_record_are_those_of_the_decoder(damaged_video, backend):
    with open_video(damaged_video, backend) as video:
        threaded = list(prefetched(video, depth=2))
    # decord 0.6.0 itself can lose a good frame next to damage on one decode and not the
    # next (README, Decoders): the threaded read must equal one of a few direct reads.
    for _ in range(3 if backend == "decord" else 1):
        with open_video(damaged_video, backend) as direct_video:
            direct = list(direct_video)
        if [index for index, _ in threaded] == [index for index, _ in direct]:
            break
    direct_record = direct_video.record.to_dict()
    assert [index for index, _ in threaded] == [index for index, _ in direct]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(threaded, direct))
    assert video.record.to_dict() == direct_record
    assert direct_record["skipped_indices"]  # the damage is there to be recorded
    assert not _reader_threads()


def test_a_decoder_error_reaches_the_caller_with_its_message(damaged_video, tmp_path):
    zeroed = tmp_path / "all-zeroed.mp4"
    video_bytes = bytearray(damaged_video.read_bytes())
    with av.open(str(damaged_video)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                video_bytes[packet.pos : packet.pos + packet.size] = bytes(packet.size)
    zeroed.write_bytes(bytes(video_bytes))
    with open_video(zeroed, "opencv") as video:  # opens; finds no frame only while reading
        with pytest.raises(UnreadableVideoError, match="could not decode any frame") as raised:
            list(prefetched(video))
    assert str(zeroed) in str(raised.value)
    assert not _reader_threads()


def test_an_error_after_some_items_comes_after_those_items():
    def items():
        yield from range(5)
        raise OSError("unreadable: /data/videos/a.mp4")

    received = []
    with pytest.raises(OSError, match=r"^unreadable: /data/videos/a.mp4$"):
        for item in prefetched(items(), depth=2):
            received.append(item)
    assert received == [0, 1, 2, 3, 4]
    assert not _reader_threads()


def test_stopping_early_stops_the_reader_and_closes_the_source():
    produced, closed = [], []

    def items():
        try:
            for number in range(1000):
                produced.append(number)
                yield number
        finally:
            closed.append(threading.current_thread().name)

    consumer = prefetched(items(), depth=3)
    assert [next(consumer) for _ in range(4)] == [0, 1, 2, 3]
    consumer.close()
    assert not _reader_threads()
    assert closed == ["mmfeat-reader"]  # the source's cleanup ran, in the reader thread
    assert len(produced) <= 4 + 3 + 2  # it read no further than the queue's depth ahead
