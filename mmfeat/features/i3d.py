"""I3D (pytorchvideo's i3d_r50) features: one 2048-d vector per kept frame.

    from mmfeat.features.i3d import I3DSettings, build_i3d_trunk, extract_i3d_features
    settings = I3DSettings(weights="models/I3D_8x8_R50.pyth")
    trunk, weights_identity = build_i3d_trunk(settings)
    features, frame_indices = extract_i3d_features(frames, trunk, settings)

The feature of frame t is the res5 output of i3d_r50, averaged over time and
space, for the clip of `window` decoded frames centred on t; the clip is padded
with zeros (after normalisation) past either end of the video. This is how the
MS-TCN/ASFormer features were made, one clip per frame.

Each decoded frame is preprocessed once and kept in a ring buffer as long as a
clip may still need it, so memory does not grow with the video's length.
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256

log = logging.getLogger(__name__)

FEATURE_DIM = 2048  # channels of i3d_r50's res5 stage
SETTINGS_KIND = "i3d"  # the "kind" that selects this extractor in --settings


@dataclass(frozen=True)
class I3DSettings:
    """How frames become I3D features; stored with every feature it makes."""

    window: int = 21  # frames per clip, centred on the frame described (MS-TCN/ASFormer used 21)
    resize_short: int = 256  # short side after resizing, before the centre crop
    crop: int = 224  # square centre crop fed to the network, as i3d_r50 was trained
    stride: int = 1  # keep decoded frames 0, stride, 2*stride, ...
    mean: float | tuple[float, float, float] = 0.45  # Kinetics mean of pytorchvideo's models
    std: float | tuple[float, float, float] = 0.225  # Kinetics std of pytorchvideo's models
    batch_size: int = 8  # clips per forward pass
    weights: str | None = None  # checkpoint file (I3D_8x8_R50.pyth); None: seeded random weights
    seed: int = 0  # initialisation seed when weights is None
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        integer_fields = ("window", "resize_short", "crop", "stride", "batch_size", "seed")
        wrong_types = [name for name in integer_fields if type(getattr(self, name)) is not int]
        if wrong_types:
            raise UserError(f"I3D settings {wrong_types} must be integers")
        problems = []
        if self.window < 1 or self.window % 2 == 0:
            problems.append(f"window must be a positive odd number of frames, got {self.window}")
        for name in ("resize_short", "crop", "stride", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.crop > self.resize_short:
            problems.append(f"crop ({self.crop}) must not exceed resize_short ({self.resize_short})")
        if any(value <= 0 for value in _per_channel(self.std, "std")):
            problems.append(f"std must be positive, got {self.std}")
        _per_channel(self.mean, "mean")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if problems:
            raise UserError("invalid I3D settings: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping) -> I3DSettings:
        """Settings from a JSON object such as `{"kind": "i3d", "stride": 2}`; unknown keys are an error."""
        values = dict(values)
        kind = values.pop("kind", SETTINGS_KIND)
        if kind != SETTINGS_KIND:
            raise UserError(f"I3D settings have kind {kind!r}; expected {SETTINGS_KIND!r}")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(
                f"unknown I3D settings {unknown}; the known ones are {sorted(known)}"
            )
        for name in ("mean", "std"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])  # JSON gives lists; keep the dataclass hashable
        return cls(**values)

    def to_dict(self) -> dict:
        """The settings as a JSON-ready object, with their kind."""
        values = asdict(self)
        for name in ("mean", "std"):
            if isinstance(values[name], tuple):
                values[name] = list(values[name])
        return {"kind": SETTINGS_KIND, **values}


def build_i3d_trunk(settings: I3DSettings) -> tuple[nn.Module, dict]:
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
    model.eval().requires_grad_(False).to(device)
    log.info("I3D trunk on %s with %s weights", device, weights_identity["kind"])
    return model, weights_identity


def extract_i3d_features(
    frames: Iterable[tuple[int, np.ndarray]], trunk: nn.Module, settings: I3DSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every `stride`-th decoded frame.

    `frames` yields (stream index, HxWx3 uint8 RGB) in stream order; indices
    may have gaps where the decoder skipped damaged frames. Clips are built on
    the decoded sequence, so a skipped frame's neighbours close the gap.
    Returns float32 features (T, 2048) and the int64 stream indices (T,) of
    the frames they describe.
    """
    device = next(trunk.parameters()).device
    batches = _batched(_centred_clips(frames, settings, device), settings.batch_size)
    feature_chunks, index_chunks = [], []
    with torch.inference_mode():
        for clip_batch, stream_indices in batches:
            feature_chunks.append(trunk(clip_batch).float().cpu().numpy())
            index_chunks.append(stream_indices)
    if not feature_chunks:
        return np.zeros((0, FEATURE_DIM), np.float32), np.zeros(0, np.int64)
    return np.concatenate(feature_chunks), np.concatenate(index_chunks).astype(np.int64)


def preprocess_frame(rgb: np.ndarray, settings: I3DSettings, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, crop, crop) float32: short side resized, centre crop, normalised."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frames must be HxWx3 uint8 RGB, got shape {rgb.shape} and dtype {rgb.dtype}")
    height, width = rgb.shape[:2]
    scale = settings.resize_short / min(height, width)
    resized_size = (max(settings.resize_short, round(height * scale)), max(settings.resize_short, round(width * scale)))
    image = torch.from_numpy(rgb).to(device).permute(2, 0, 1).float()
    image = F.interpolate(image[None], size=resized_size, mode="bilinear", align_corners=False, antialias=True)[0]
    top = (resized_size[0] - settings.crop) // 2
    left = (resized_size[1] - settings.crop) // 2
    image = image[:, top : top + settings.crop, left : left + settings.crop] / 255.0
    mean = torch.tensor(_per_channel(settings.mean, "mean"), device=device).view(3, 1, 1)
    std = torch.tensor(_per_channel(settings.std, "std"), device=device).view(3, 1, 1)
    return ((image - mean) / std).contiguous()


def _centred_clips(
    frames: Iterable[tuple[int, np.ndarray]], settings: I3DSettings, device: torch.device
) -> Iterator[tuple[torch.Tensor, int]]:
    """(3, window, crop, crop) clip and stream index for each kept frame, in order.

    The ring buffer holds (position, stream index, frame) for the last
    `window` decoded frames; a clip is emitted as soon as its right half has
    arrived, and the last `window // 2` clips once the stream ends.
    """
    half = settings.window // 2
    ring: deque[tuple[int, int, torch.Tensor]] = deque(maxlen=settings.window)
    padding = torch.zeros(3, settings.crop, settings.crop, device=device)
    decoded_count = 0
    for stream_index, rgb in frames:
        ring.append((decoded_count, int(stream_index), preprocess_frame(rgb, settings, device)))
        decoded_count += 1
        centre = decoded_count - 1 - half
        if centre >= 0 and centre % settings.stride == 0:
            yield _clip_around(ring, centre, half, padding)
    for centre in range(max(0, decoded_count - half), decoded_count):
        if centre % settings.stride == 0:
            yield _clip_around(ring, centre, half, padding)


def _clip_around(
    ring: deque[tuple[int, int, torch.Tensor]], centre: int, half: int, padding: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """The clip of positions centre-half..centre+half, zeros where the ring has no frame."""
    first_position = ring[0][0]
    last_position = ring[-1][0]
    frames = [
        ring[position - first_position][2] if first_position <= position <= last_position else padding
        for position in range(centre - half, centre + half + 1)
    ]
    return torch.stack(frames, dim=1), ring[centre - first_position][1]


def _batched(
    clips: Iterator[tuple[torch.Tensor, int]], batch_size: int
) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Stack clips into batches of up to `batch_size`, with their stream indices."""
    pending_clips, pending_indices = [], []
    for clip, stream_index in clips:
        pending_clips.append(clip)
        pending_indices.append(stream_index)
        if len(pending_clips) == batch_size:
            yield torch.stack(pending_clips), np.array(pending_indices)
            pending_clips, pending_indices = [], []
    if pending_clips:
        yield torch.stack(pending_clips), np.array(pending_indices)


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
    if not weights_path.is_file():
        raise UserError(
            f"I3D weights file {weights_path} does not exist; point `weights` at a local "
            "I3D_8x8_R50.pyth (pytorchvideo's model zoo) or set it to null for random weights"
        )
    try:
        checkpoint = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file ends here, whatever torch's reason
        raise UserError(f"{weights_path}: not a readable torch checkpoint ({error})") from error
    state_dict = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise UserError(
            f"{weights_path}: expected a state_dict or a dict with one under 'model_state' "
            "(pytorchvideo's .pyth layout)"
        )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshapen = sorted(
        name for name in set(expected) & set(state_dict) if expected[name].shape != state_dict[name].shape
    )
    if missing or unexpected or misshapen:
        raise UserError(
            f"{weights_path}: weights do not fit pytorchvideo's i3d_r50 "
            f"({len(missing)} missing, e.g. {missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}; "
            f"{len(misshapen)} of another shape, e.g. {misshapen[:3]}); use the I3D_8x8_R50 checkpoint"
        )
    model.load_state_dict(state_dict, strict=True)


def _per_channel(value: float | tuple[float, ...], name: str) -> tuple[float, float, float]:
    """A scalar or 3-sequence as one value per RGB channel."""
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise UserError(f"I3D setting {name} must be one number or three (R, G, B), got {value}")
    return values
