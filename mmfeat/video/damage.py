"""Make damaged videos on purpose, deterministically, for the demo dataset and the tests.

    from mmfeat.video.damage import cut_slice_data, damage_packets, make_unreadable
    damage_packets("clip.mp4", range(20, 30))   # frames 20..29 can no longer be decoded
    cut_slice_data("clip.mp4", 13)              # frame 13 decodes with concealed damage
    make_unreadable("broken.mp4")               # no backend can open this file

How the damage works (checked with decord and OpenCV, see tests/test_video_decode.py):
every byte of the chosen frames' packets is overwritten with zeros, in place
in the MP4's media data. An H.264 packet in MP4 starts with the length of its
first NAL unit; a length of 0 makes FFmpeg's decoder reject the whole packet
("Invalid NAL unit size"), so decord raises for each of those frames and
OpenCV's `read()` returns False once per packet, and both carry on with the
next packet. The container (sizes, offsets, timestamps) is untouched, so the
frame count in the metadata still counts the damaged frames.

Decoding only recovers cleanly at a keyframe: a damaged range that ends in
the middle of a group of pictures leaves the following frames referring to a
missing picture, which OpenCV then returns with concealed garbage while
decord raises for them. `damage_packets` therefore requires the frame after
the range to be a keyframe; write the video with a short `gop` to have one
close by.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from mmfeat.atomic import write_bytes_atomically

log = logging.getLogger(__name__)

# The start of an MP4 file (an `ftyp` box naming the isom brand), so that the
# unreadable file looks like a video by its first bytes, as a real file whose
# copy broke off would.
MP4_FTYP_BOX = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
UNREADABLE_NOISE_BYTES = 4096  # enough that no demuxer mistakes the noise for a short valid file


def damage_packets(path: str | os.PathLike, frame_range: range | tuple[int, int]) -> list[int]:
    """Zero the compressed data of the frames in `frame_range` (stream indices, end exclusive), in place.

    Returns the damaged frame indices. Raises ValueError when the range is not
    strictly inside the video (decoding must start before it and go on after
    it) or when the frame after it is not a keyframe (decoding would not
    recover there).
    """
    frames = range(*frame_range) if isinstance(frame_range, tuple) else frame_range
    packets = _packets_in_frame_order(path)
    keyframes = [index for index, packet in enumerate(packets) if packet.is_keyframe]
    if not frames or frames.step != 1 or frames.start < 1 or frames.stop >= len(packets):
        raise ValueError(
            f"{path}: cannot damage frames {frames.start}..{frames.stop - 1}: the range must be "
            f"consecutive and lie strictly inside the video's {len(packets)} frames"
        )
    if frames.stop not in keyframes:
        raise ValueError(
            f"{path}: frame {frames.stop} after the damaged range is not a keyframe, so decoding "
            f"would not recover there; end the range before one of the keyframes {keyframes}"
        )

    video_bytes = bytearray(Path(path).read_bytes())
    for index in frames:
        packet = packets[index]
        video_bytes[packet.pos : packet.pos + packet.size] = bytes(packet.size)
    write_bytes_atomically(path, bytes(video_bytes))
    log.info("%s: zeroed the packets of frames %d..%d", path, frames.start, frames.stop - 1)
    return list(frames)


def cut_slice_data(path: str | os.PathLike, frame: int) -> None:
    """Zero the middle half of frame `frame`'s packet, in place: damage FFmpeg decodes around.

    The packet's length fields and slice header stay intact, so the decoder
    takes the packet and starts on the frame; halfway through the slice data
    it meets a run of zero bits, which no CAVLC code has (an Exp-Golomb code
    has at most 31 leading zeros). FFmpeg then logs "error while decoding MB"
    and conceals the rest of the frame from its neighbours: decord and OpenCV
    return the frame as if it were good. Write the video with
    `entropy_coder="cavlc"`: in CABAC data the same zeros can decode as valid
    symbols, and the damage then passes unseen. Use a frame whose packet holds
    real picture data (a textured, moving scene), not a near-empty one.
    """
    packets = _packets_in_frame_order(path)
    if not 0 <= frame < len(packets):
        raise ValueError(f"{path}: has no frame {frame}; it has {len(packets)} frames")
    packet = packets[frame]
    quarter = packet.size // 4
    if quarter < 16:
        raise ValueError(f"{path}: frame {frame}'s packet has {packet.size} bytes, too few to damage its slice "
                         f"data alone; use a frame with more picture data")
    video_bytes = bytearray(Path(path).read_bytes())
    video_bytes[packet.pos + quarter : packet.pos + 3 * quarter] = bytes(2 * quarter)
    write_bytes_atomically(path, bytes(video_bytes))
    log.info("%s: zeroed the middle %d bytes of frame %d's packet", path, 2 * quarter, frame)


def make_unreadable(path: str | os.PathLike, seed: int = 0) -> None:
    """Write a file at `path` that starts like an MP4 but that no backend can open (noise from `seed`)."""
    noise = np.random.default_rng(seed).integers(0, 256, UNREADABLE_NOISE_BYTES, dtype=np.uint8)
    write_bytes_atomically(path, MP4_FTYP_BOX + noise.tobytes())
    log.info("%s: wrote an MP4 header followed by noise (unreadable on purpose)", path)


def keyframe_indices(path: str | os.PathLike) -> list[int]:
    """Stream indices of the keyframes of the first video stream in `path`."""
    return [index for index, packet in enumerate(_packets_in_frame_order(path)) if packet.is_keyframe]


class _PacketPlace(NamedTuple):
    """Where one frame's packet lies in the file."""

    pts: int
    pos: int
    size: int
    is_keyframe: bool


def _packets_in_frame_order(path: str | os.PathLike) -> list[_PacketPlace]:
    """The video packets of `path` sorted by presentation time, so that list index = frame index."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        places = [
            _PacketPlace(packet.pts, packet.pos, packet.size, packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.size  # the demuxer ends with an empty packet
        ]
    if any(place.pos is None or place.pos < 0 or place.pts is None for place in places):
        raise ValueError(f"{path}: the container does not give every packet's position and time; use an MP4")
    return sorted(places, key=lambda place: place.pts)

