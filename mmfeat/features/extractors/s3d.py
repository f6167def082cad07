"""S3D (HowTo100M, MIL-NCE) features: mixed_5c (1024-d) per step, with the 512-d joint text-video embedding beside it.

    from mmfeat.features.extractors import s3d
    settings = s3d.Settings.from_dict(extractor_config)  # every key, defaults filled by the config schema
    model, weights_identity = s3d.build(settings)
    extracted = s3d.extract(VideoItem(frames, fps), model, settings)
    extracted.features                     # (T, 1024) mixed_5c
    extracted.outputs["video_embedding"]   # (T, 512), comparable with model.embed_text(...)

Decoded frames are first resampled to `fps` (the release was trained on 32
frames at 10 fps, 3.2 s clips), by taking for each time k / fps the decoded
frame nearest to it. Windows of `window` resampled frames are centred on
resampled frames 0, step, 2 * step, ...: frames centre - window/2 to
centre + window/2 - 1. Past either end of the video a window is padded with
black frames (zeros), as the release's loaders pad a clip that runs out of
video. Each row's position is the stream index of its centre frame.

Frames are resized (short side to `resize_short`), centre-cropped and scaled
to [0, 1] without mean/std normalisation, as the release expects, once each;
a ring buffer keeps the last `window` of them, so memory does not grow with
the video's length. On a GPU the model runs in float16 with channels-last
memory (clips.for_device_speed); on a CPU in float32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.extractors.clips import for_device_speed, model_batches, resized_centre_crop, stepped_frames
from mmfeat.features.extractors.items import FRAME_INDEX, Extracted, VideoItem, concatenated
from mmfeat.features.extractors.settings_base import ExtractorSettings
from mmfeat.models.s3d import EMBEDDING_DIM, MIXED_5C_DIM, S3D, load_s3d

log = logging.getLogger(__name__)

KIND = "s3d"  # the "kind" that selects this extractor


@dataclass(frozen=True)
class Settings(ExtractorSettings, kind=KIND):
    """How frames become S3D rows; stored with every feature made. Defaults live in the config schema."""

    window: int  # resampled frames per clip (32 as in training; 16 also works); even
    step_seconds: float  # one row every this many seconds of resampled video
    step_frames: int | None  # one row every this many resampled frames, instead of step_seconds
    resize_short: int  # short side after resizing, before the centre crop
    crop: int  # square centre crop fed to the network; even
    fps: float | None  # resample decoded frames to this rate first; None keeps the video's own
    batch_size: int  # clips per forward pass
    weights: str | None  # s3d_howto100m.pth; None: seeded random weights
    vocabulary: str | None  # s3d_dict.npy released with the weights
    seed: int  # initialisation seed when weights is None
    device: str  # "auto", "cpu" or "cuda"
    # "float16" or "float32": how the store keeps the rows. The store reads it from the config entry;
    # a field here only because S3D's first shards stored it, and stored settings must not change
    dtype: str

    def __post_init__(self) -> None:
        problems = []
        if self.window % 2:
            problems.append(f"window must be even (S3D's first layer halves time), got {self.window}")
        if self.crop % 2:
            problems.append(f"crop must be even (S3D's first layer halves height and width), got {self.crop}")
        if self.crop > self.resize_short:
            problems.append(f"crop ({self.crop}) must not exceed resize_short ({self.resize_short})")
        if self.step_frames is not None and self.step_frames > self.window:
            problems.append(
                f"step_frames ({self.step_frames}) must not exceed window ({self.window}), "
                "or frames between windows would be described by no row"
            )
        if problems:
            raise UserError("invalid S3D settings: " + "; ".join(problems))


def build(settings: Settings) -> tuple[nn.Module, dict]:
    """S3D in eval mode on the settings' device, and the identity of its weights."""
    device = resolve_device(settings.device)
    model, weights_identity = load_s3d(settings.weights, settings.vocabulary, settings.seed)
    for_device_speed(model.eval().requires_grad_(False).to(device), device)
    log.info("S3D on %s (%s) with %s weights", device, next(model.parameters()).dtype, weights_identity["kind"])
    return model, weights_identity


def extract(item: VideoItem, model: S3D, settings: Settings) -> Extracted:
    """mixed_5c rows (T, 1024) at the window centres' stream indices, and the joint embedding (T, 512)."""
    return concatenated(extract_chunks(item, model, settings))


def extract_chunks(item: VideoItem, model: S3D, settings: Settings) -> Iterator[Extracted]:
    """`extract`'s rows a batch at a time, for the store to append as they come (at least one chunk).

    Decoding, resampling and preprocessing run in a reader thread while the
    model works on the previous batch.
    """
    frames, step = stepped_frames(item, settings.fps, settings.step_frames, settings.step_seconds)
    # a window of W frames: W/2 before its centre and W/2 - 1 after (S3D's windows are even)
    before = settings.window // 2
    batches = model_batches(frames, lambda rgb, device: preprocess_frame(rgb, settings, device),
                            before, settings.window - before - 1, step, settings.crop, model, settings.batch_size)
    any_batch = False
    with torch.inference_mode():
        for clip_batch, stream_indices in batches:
            video_embedding, mixed_5c = model.embed_video(clip_batch)
            yield Extracted(features=mixed_5c.float().cpu().numpy(), positions=stream_indices,
                            position_kind=FRAME_INDEX,
                            outputs={"video_embedding": video_embedding.float().cpu().numpy()})
            any_batch = True
    if not any_batch:
        yield Extracted(
            features=np.zeros((0, MIXED_5C_DIM), np.float32),
            positions=np.zeros(0, np.int64),
            position_kind=FRAME_INDEX,
            outputs={"video_embedding": np.zeros((0, EMBEDDING_DIM), np.float32)},
        )


def preprocess_frame(rgb: np.ndarray, settings: Settings, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, crop, crop) float32 in [0, 1]: short side resized, centre crop."""
    image = resized_centre_crop(rgb, settings.resize_short, settings.crop, device)
    return image.clamp(0.0, 1.0).contiguous()  # antialiased resizing can overshoot [0, 255] slightly
