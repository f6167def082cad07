"""Clips around frames, streamed: what every windowed video extractor (I3D, S3D, TimeSformer) builds its batches from.

    frames = ((index, resized_centre_crop(rgb, 256, 224, device)) for index, rgb in decoded)
    clips = centred_clips(frames, before=10, after=10, step=1, frame_shape=(3, 224, 224), device=device)
    for clip_batch, centre_indices in batched(clips, batch_size=8):
        ...                                    # (B, 3, before + 1 + after, 224, 224)

A clip covers the decoded positions centre - before .. centre + after, for
centres 0, step, 2 * step, ...; positions past either end of the video are
zeros. Each frame is preprocessed once and kept in a ring buffer only while a
clip may still need it, so memory does not grow with the video's length. A
skipped (damaged) frame has no position: its neighbours close the gap.

On a GPU the 3D convolutions run fastest in half precision with channels-last
(NDHWC) memory, which tensor cores take directly: `for_device_speed` sets a
model up so, `as_model_input` brings each batch to match. On a CPU both leave
float32 NCDHW, the fastest there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.features.prefetch import prefetched


def resized_centre_crop(rgb: np.ndarray, resize_short: int, crop: int, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, crop, crop) float32 in [0, 1]: short side resized (antialiased), centre crop."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frames must be HxWx3 uint8 RGB, got shape {rgb.shape} and dtype {rgb.dtype}")
    height, width = rgb.shape[:2]
    scale = resize_short / min(height, width)
    resized_size = (max(resize_short, round(height * scale)), max(resize_short, round(width * scale)))
    image = torch.from_numpy(rgb).to(device).permute(2, 0, 1).float()
    image = F.interpolate(image[None], size=resized_size, mode="bilinear", align_corners=False, antialias=True)[0]
    top = (resized_size[0] - crop) // 2
    left = (resized_size[1] - crop) // 2
    return image[:, top : top + crop, left : left + crop] / 255.0


def stepped_frames(item, fps: float | None, step_frames: int | None,
                   step_seconds: float) -> tuple[Iterator[tuple[int, np.ndarray]], int]:
    """An item's decoded frames resampled to `fps` (its own rate when None), and the step between clip
    centres in those frames: `step_frames`, or `step_seconds` at that rate (at least 1).

    What the extractors with a frame rate and a step in seconds (S3D, TimeSformer) share.
    """
    rate = fps if fps is not None else item.fps
    step = step_frames if step_frames is not None else max(1, round(step_seconds * rate))
    frames = item.frames if fps is None else resampled(item.frames, item.fps, fps)
    return frames, step


def resampled(
    frames: Iterable[tuple[int, np.ndarray]], source_fps: float, target_fps: float
) -> Iterator[tuple[int, np.ndarray]]:
    """For each time k / target_fps within the video, the decoded frame nearest to it (ties: the later one).

    A frame's time is its stream index / source_fps, so frames the decoder
    skipped leave their neighbours to fill in. The video lasts until one
    source frame after its last decoded frame.
    """
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError(f"frame rates must be positive, got source {source_fps} and target {target_fps}")
    target = 0  # the next output time is target / target_fps
    previous = None
    for stream_index, rgb in frames:
        if previous is not None:
            # target time < midpoint of the two frames' times, without dividing
            while 2 * target * source_fps < target_fps * (previous[0] + stream_index):
                yield previous
                target += 1
        previous = (stream_index, rgb)
    if previous is not None:
        while target * source_fps < target_fps * (previous[0] + 1):
            yield previous
            target += 1


def model_batches(
    frames: Iterable[tuple[int, np.ndarray]],
    preprocess: Callable[[np.ndarray, torch.device], torch.Tensor],
    before: int,
    after: int,
    step: int,
    crop: int,
    model: nn.Module,
    batch_size: int,
) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """(B, 3, before + 1 + after, crop, crop) batches ready for `model` (its device, dtype and
    layout) and their centres' int64 stream indices, from decoded (index, RGB) frames.

    Frames are preprocessed by `preprocess(rgb, device)` in a reader thread
    (prefetch.prefetched) while the model works on the previous batch. Iterate
    inside the caller's `torch.inference_mode()`.
    """
    device = next(model.parameters()).device
    preprocessed = prefetched((index, preprocess(rgb, device)) for index, rgb in frames)
    clips = centred_clips(preprocessed, before, after, step, (3, crop, crop), device)
    for clip_batch, stream_indices in batched(clips, batch_size):
        yield as_model_input(clip_batch, model), stream_indices.astype(np.int64)


def centred_clips(
    frames: Iterable[tuple[int, torch.Tensor]], before: int, after: int, step: int, frame_shape: tuple[int, ...],
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, int]]:
    """(C, before + 1 + after, H, W) clip and the centre's stream index, for every `step`-th position.

    A clip is emitted as soon as its last frame has arrived, the last ones when
    the stream ends. The ring holds (position, stream index, frame) for the
    last before + 1 + after frames.
    """
    ring: deque[tuple[int, int, torch.Tensor]] = deque(maxlen=before + 1 + after)
    padding = torch.zeros(frame_shape, device=device)
    position_count = 0
    for stream_index, frame in frames:
        ring.append((position_count, int(stream_index), frame))
        position_count += 1
        centre = position_count - 1 - after
        if centre >= 0 and centre % step == 0:
            yield _clip_around(ring, centre, before, after, padding)
    for centre in range(max(0, position_count - after), position_count):
        if centre % step == 0:
            yield _clip_around(ring, centre, before, after, padding)


def batched(clips: Iterator[tuple[torch.Tensor, int]], batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Stack clips into batches of up to `batch_size`, with their centres' stream indices."""
    pending_clips, pending_indices = [], []
    for clip, stream_index in clips:
        pending_clips.append(clip)
        pending_indices.append(stream_index)
        if len(pending_clips) == batch_size:
            yield torch.stack(pending_clips), np.array(pending_indices)
            pending_clips, pending_indices = [], []
    if pending_clips:
        yield torch.stack(pending_clips), np.array(pending_indices)


def _clip_around(
    ring: deque[tuple[int, int, torch.Tensor]], centre: int, before: int, after: int, padding: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """The clip of positions centre-before..centre+after, zeros where the ring has no frame."""
    first_position = ring[0][0]
    last_position = ring[-1][0]
    clip = [
        ring[position - first_position][2] if first_position <= position <= last_position else padding
        for position in range(centre - before, centre + after + 1)
    ]
    return torch.stack(clip, dim=1), ring[centre - first_position][1]


def for_device_speed(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in half precision and channels-last memory on a GPU; unchanged on a CPU."""
    if device.type == "cuda":
        model.half().to(memory_format=torch.channels_last_3d)
    return model


def as_model_input(clip_batch: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """The (B, 3, T, H, W) batch in the model's dtype, channels-last when the model is half precision."""
    dtype = next(model.parameters()).dtype
    if dtype == torch.float32:
        return clip_batch
    return clip_batch.to(dtype).contiguous(memory_format=torch.channels_last_3d)
