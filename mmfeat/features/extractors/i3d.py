"""I3D (pytorchvideo's i3d_r50) features: one 2048-d vector per kept frame.

    from mmfeat.features.extractors import parse_settings
    from mmfeat.features.extractors.i3d import build_i3d_trunk, extract_i3d_features
    settings = parse_settings({"kind": "i3d", "weights": "models/I3D_8x8_R50.pyth"})
    trunk, weights_identity = build_i3d_trunk(settings)
    features, frame_indices = extract_i3d_features(frames, trunk, settings)

The feature of frame t is the res5 output of i3d_r50, averaged over time and
space, for the clip of `window` decoded frames centred on t; the clip is padded
with zeros (after normalisation) past either end of the video. Only this
window, one clip per frame, is shared with the features the MS-TCN/ASFormer
authors published: theirs are two-stream (RGB + optical flow) Inception-I3D
features, ours the RGB-only ResNet-50 I3D of pytorchvideo, so models trained
on the one are not comparable with models trained on the other.

Clips are built by `clips.centred_clips`: each decoded frame is preprocessed
once and kept only while a clip may still need it, and `extract_chunks` hands
each batch's rows to the store as it is made, so memory does not grow with the
video's length. Decoding and preprocessing run in a reader thread
(`prefetch.prefetched`) while the trunk works on the previous batch. On a GPU
the trunk runs in float16 with channels-last (NDHWC) memory; on a CPU in
float32, as its features are compared against published float32 ones.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.extractors.clips import for_device_speed, model_batches, resized_centre_crop
from mmfeat.features.extractors.items import FRAME_INDEX, Extracted, VideoItem, concatenated
from mmfeat.features.extractors.settings_base import ExtractorSettings
from mmfeat.features.provenance import file_sha256
from mmfeat.models.state_dicts import check_state_dict_fits, load_torch_file

log = logging.getLogger(__name__)

KIND = "i3d"  # the "kind" that selects this extractor in the config
FEATURE_DIM = 2048  # channels of i3d_r50's res5 stage


@dataclass(frozen=True)
class Settings(ExtractorSettings, kind=KIND):
    """How frames become I3D features; stored with every feature it makes.

    Every default and type lives in the schema's `i3d_extractor`
    (mmfeat/config/schema.yaml); build these with
    `mmfeat.features.extractors.parse_settings`, which fills them.
    """

    window: int  # frames per clip, centred on the frame described
    resize_short: int  # short side after resizing, before the centre crop
    crop: int  # square centre crop fed to the network
    stride: int  # keep decoded frames 0, stride, 2*stride, ...
    mean: float | tuple[float, float, float]  # per-channel or one value (Kinetics: 0.45)
    std: float | tuple[float, float, float]
    batch_size: int  # clips per forward pass
    weights: str | None  # checkpoint file (I3D_8x8_R50.pyth); None: seeded random weights
    seed: int  # initialisation seed when weights is None
    device: str  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        # only what the schema cannot say: relations between settings and per-channel lengths
        problems = []
        if self.window % 2 == 0:
            problems.append(f"window must be an odd number of frames, centred on its frame; got {self.window}")
        if self.crop > self.resize_short:
            problems.append(f"crop ({self.crop}) must not exceed resize_short ({self.resize_short})")
        if any(value <= 0 for value in _per_channel(self.std, "std")):
            problems.append(f"std must be positive, got {self.std}")
        _per_channel(self.mean, "mean")
        if problems:
            raise UserError("invalid I3D settings: " + "; ".join(problems))


def build(settings: Settings) -> tuple[nn.Module, dict]:
    """The registry's entry: the I3D trunk and the identity of its weights."""
    return build_i3d_trunk(settings)


def extract(item: VideoItem, trunk: nn.Module, settings: Settings) -> Extracted:
    """The registry's entry: one 2048-d row per kept frame, positioned at the frame's stream index."""
    return concatenated(extract_chunks(item, trunk, settings))


def extract_chunks(item: VideoItem, trunk: nn.Module, settings: Settings) -> Iterator[Extracted]:
    """`extract`'s rows a batch at a time, for the store to append as they come (at least one chunk)."""
    for features, frame_indices in i3d_feature_batches(item.frames, trunk, settings):
        yield Extracted(features=features, positions=frame_indices, position_kind=FRAME_INDEX)


def build_i3d_trunk(settings: Settings) -> tuple[nn.Module, dict]:
    """i3d_r50 cut after its res5 pooling, in eval mode on the settings' device.

    Returns the trunk, mapping (B, 3, T, H, W) clips to (B, 2048) features, and
    the identity of its weights: {"kind": "file", "path", "sha256"} or
    {"kind": "random", "seed"}.
    """
    device = resolve_device(settings.device)
    with warnings.catch_warnings():
        # pytorchvideo scripts a helper with torch.jit at import, which warns on every run
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models.hub import i3d_r50

    # fork_rng: seeding the initialisation must not change the caller's random stream
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = i3d_r50(pretrained=False)
    if settings.weights is None:
        weights_identity = {"kind": "random", "seed": settings.seed}
    else:
        weights_path = Path(settings.weights)
        _load_checkpoint(model, weights_path)  # strict, so before the head loses its projection
        weights_identity = {"kind": "file", "path": str(weights_path), "sha256": file_sha256(weights_path)}

    _keep_pooled_trunk(model)
    for_device_speed(model.eval().requires_grad_(False).to(device), device)
    log.info("I3D trunk on %s (%s) with %s weights", device, next(model.parameters()).dtype, weights_identity["kind"])
    return model, weights_identity


def extract_i3d_features(
    frames: Iterable[tuple[int, np.ndarray]], trunk: nn.Module, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every `stride`-th decoded frame.

    `frames` yields (stream index, HxWx3 uint8 RGB) in stream order; indices
    may have gaps where the decoder skipped damaged frames. Clips are built on
    the decoded sequence, so a skipped frame's neighbours close the gap.
    Returns float32 features (T, 2048) and the int64 stream indices (T,) of
    the frames they describe.
    """
    batches = list(i3d_feature_batches(frames, trunk, settings))
    return np.concatenate([f for f, _ in batches]), np.concatenate([i for _, i in batches])


def i3d_feature_batches(
    frames: Iterable[tuple[int, np.ndarray]], trunk: nn.Module, settings: Settings
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`extract_i3d_features` a batch at a time: (B, 2048) float32 and (B,) int64; one empty pair for no frames."""
    half = settings.window // 2
    batches = model_batches(frames, lambda rgb, device: preprocess_frame(rgb, settings, device),
                            half, half, settings.stride, settings.crop, trunk, settings.batch_size)
    any_batch = False
    with torch.inference_mode():
        for clip_batch, stream_indices in batches:
            yield trunk(clip_batch).float().cpu().numpy(), stream_indices
            any_batch = True
    if not any_batch:
        yield np.zeros((0, FEATURE_DIM), np.float32), np.zeros(0, np.int64)


def preprocess_frame(rgb: np.ndarray, settings: Settings, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, crop, crop) float32: short side resized, centre crop, normalised."""
    image = resized_centre_crop(rgb, settings.resize_short, settings.crop, device)
    mean = torch.tensor(_per_channel(settings.mean, "mean"), device=device).view(3, 1, 1)
    std = torch.tensor(_per_channel(settings.std, "std"), device=device).view(3, 1, 1)
    return ((image - mean) / std).contiguous()


def _keep_pooled_trunk(model: nn.Module) -> None:
    """Make the head a global average over (T, H, W) with nothing after it.

    The published head pools a fixed (4, 7, 7) window, which only fits
    8x224x224 inputs; its dropout and Kinetics projection are not features.
    """
    head = model.blocks[-1]
    head.pool = None
    head.dropout = None
    head.proj = None
    head.activation = None
    head.output_pool = nn.AdaptiveAvgPool3d(1)  # averages and flattens to (B, 2048)


def _load_checkpoint(model: nn.Module, weights_path: Path) -> None:
    """Load a pytorchvideo checkpoint ({"model_state": ...}) or a bare state_dict, strictly."""
    checkpoint = load_torch_file(weights_path, release="pytorchvideo's I3D_8x8_R50.pyth")
    # pytorchvideo's .pyth files hold the state_dict under "model_state"; a bare one is accepted too
    state_dict = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    check_state_dict_fits(model, state_dict, str(weights_path),
                          expected="pytorchvideo's i3d_r50; use the I3D_8x8_R50 checkpoint")
    model.load_state_dict(state_dict, strict=True)


def _per_channel(value: float | tuple[float, ...], name: str) -> tuple[float, float, float]:
    """A scalar or 3-sequence as one value per RGB channel."""
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise UserError(f"I3D setting {name} must be one number or three (R, G, B), got {value}")
    return values
