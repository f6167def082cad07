"""TimeSformer (transformers' TimesformerModel) features: the [CLS] state per step, the mean patch token beside it.

    from mmfeat.features.extractors import parse_settings, timesformer
    settings = parse_settings({"kind": "timesformer", "weights": "models/timesformer-base-finetuned-k400"})
    encoder, weights_identity = timesformer.build(settings)
    extracted = timesformer.extract(VideoItem(frames, fps), encoder, settings)
    extracted.features                  # (T, 768): the final [CLS] state, after the model's last LayerNorm
    extracted.outputs["patch_mean"]     # (T, 768): the mean of the final patch tokens of every frame

`weights` is a local directory in the save_pretrained layout (the files of
facebook/timesformer-base-finetuned-k400, downloaded beforehand: config.json,
the weights, preprocessor_config.json); its classification head is not read.
Null gives a small seeded random model (`random_config`), not a pretrained one,
for tests and demos. The [CLS] state is what the release's classifier reads;
the model has no pooler of its own.

Each row describes a clip of the model's `num_frames` (8 for the release) at
`image_size` (224). Decoded frames are first resampled to `fps`, as S3D's
(about one a second by default: the release was trained on every 32nd frame
of ~30 fps Kinetics video, 8 frames covering ~8.5 s). Clips are centred on
resampled frames 0, step, 2 * step, ...: frames centre - num_frames // 2 to
the next num_frames - 1. Each row's position is the stream index of its
centre frame; every label frame takes the nearest row's prediction.

Each frame is preprocessed once, as the weights' preprocessor_config.json
says (short side resized bilinearly, square centre crop, rescaled, normalised
with its image_mean and image_std; the random model takes image_mean and
image_std from `random_preprocessor` and resizes and crops to its image_size).
The resize runs in torch on floats (antialiased), not in PIL on bytes, so a
value can differ from the image processor's by about one grey level. Past
either end of the video a clip is padded with zeros after normalisation (the
mean colour). On a GPU the model runs in float16; on a CPU in float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.extractors.clips import model_batches, resized_centre_crop, stepped_frames
from mmfeat.features.extractors.items import FRAME_INDEX, Extracted, VideoItem, concatenated
from mmfeat.features.extractors.local_models import directory_identity, loaded_strictly, model_directory
from mmfeat.features.extractors.settings_base import ExtractorSettings

log = logging.getLogger(__name__)

KIND = "timesformer"  # the "kind" that selects this extractor in the config
PATCH_MEAN = "patch_mean"  # the extra output: mean of the final patch tokens
PREPROCESSOR_FILE = "preprocessor_config.json"
BILINEAR = 2  # PIL's resample code for bilinear, what every TimeSformer release's preprocessor asks for


@dataclass(frozen=True)
class Settings(ExtractorSettings, kind=KIND):
    """How frames become TimeSformer rows; stored with every feature it makes.

    Every default and type lives in the schema's `timesformer_extractor`
    (mmfeat/config/schema.yaml); build these with
    `mmfeat.features.extractors.parse_settings`, which fills them.
    """

    weights: str | None  # save_pretrained directory or package:DIST; None: seeded random model
    random_config: Mapping  # TimesformerConfig arguments when weights is None
    random_preprocessor: Mapping  # image_mean, image_std of the random model (preprocessor_config.json's keys)
    seed: int  # initialisation seed when weights is None
    fps: float | None  # resample decoded frames to this rate first; None keeps the video's own
    step_seconds: float  # one row every this many seconds of resampled video
    step_frames: int | None  # one row every this many resampled frames, instead of step_seconds
    batch_size: int  # clips per forward pass
    device: str  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        # only relations between settings, which the schema cannot say; the clip's length
        # (num_frames) is the model's, checked against step_frames in `build`
        if self.weights is not None:
            return
        config = self.random_config
        problems = []
        if config["hidden_size"] % config["num_attention_heads"]:
            problems.append(f"random_config.hidden_size ({config['hidden_size']}) must be a multiple of "
                            f"num_attention_heads ({config['num_attention_heads']})")
        if config["image_size"] % config["patch_size"]:
            problems.append(f"random_config.image_size ({config['image_size']}) must be a multiple of "
                            f"patch_size ({config['patch_size']})")
        if problems:
            raise UserError("invalid timesformer settings: " + "; ".join(problems))


@dataclass(frozen=True)
class FramePreprocessing:
    """What an image processor does to one frame, applied in torch: resize, centre crop, rescale, normalise."""

    resize_short: int  # short side after resizing (size.shortest_edge)
    crop: int  # square centre crop (crop_size), the model's image_size
    rescale_factor: float  # pixel values are multiplied by this (1/255); 1.0 when do_rescale is false
    mean: tuple[float, float, float]  # per RGB channel; 0 when do_normalize is false
    std: tuple[float, float, float]  # per RGB channel; 1 when do_normalize is false


class TimesformerEncoder(nn.Module):
    """TimesformerModel with the preprocessing its frames need: (B, 3, T, H, W) clips -> rows."""

    def __init__(self, model: nn.Module, preprocessing: FramePreprocessing) -> None:
        super().__init__()
        self.model = model
        self.preprocessing = preprocessing
        self.num_frames = model.config.num_frames
        self.image_size = model.config.image_size
        self.hidden_size = model.config.hidden_size

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The [CLS] state (B, D) and the mean of the patch tokens (B, D) of the last hidden layer."""
        hidden = self.model(pixel_values=clips.transpose(1, 2)).last_hidden_state  # the model wants (B, T, 3, H, W)
        return hidden[:, 0], hidden[:, 1:].mean(dim=1)


def build(settings: Settings) -> tuple[TimesformerEncoder, dict]:
    """The registry's entry: the encoder in eval mode on the settings' device, and its weights' identity.

    The identity is {"kind": "directory", "path", "files": {name: sha256}}
    (preprocessor_config.json included) or {"kind": "random", "seed",
    "config": TimesformerConfig arguments, "preprocessing": what frames go through}.
    """
    from transformers import TimesformerConfig, TimesformerModel  # slow import, only when the extractor is used

    device = resolve_device(settings.device)
    if settings.weights is None:
        arguments = dict(settings.random_config)
        # fork_rng: seeding the initialisation must not change the caller's random stream
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            model = TimesformerModel(TimesformerConfig(**arguments))
        image_size = arguments["image_size"]
        preprocessing = FramePreprocessing(
            resize_short=image_size, crop=image_size, rescale_factor=1 / 255,
            mean=_per_channel(settings.random_preprocessor["image_mean"]),
            std=_per_channel(settings.random_preprocessor["image_std"]),
        )
        weights_identity = {"kind": "random", "seed": settings.seed, "config": arguments,
                            "preprocessing": asdict(preprocessing)}
        source = "the random timesformer config"
    else:
        folder = model_directory(settings.weights)
        model, loading_info = TimesformerModel.from_pretrained(folder, local_files_only=True,
                                                               output_loading_info=True)
        loaded_strictly(loading_info, folder, ())  # a release's classifier head is unexpected, not missing
        source = str(folder / "config.json")
        _check_config(model.config, source)
        preprocessing = folder_preprocessing(folder, model.config.image_size)
        weights_identity = directory_identity(folder)
    if settings.step_frames is not None and settings.step_frames > model.config.num_frames:
        raise UserError(f"timesformer step_frames ({settings.step_frames}) must not exceed the clip's "
                        f"{model.config.num_frames} frames ({source}: num_frames), or frames between clips "
                        "would be described by no row")
    # float16 on a GPU, float32 on a CPU, whatever dtype the weights were saved in
    encoder = TimesformerEncoder(model, preprocessing).eval().requires_grad_(False)
    encoder.to(device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)
    log.info("TimeSformer on %s (%s) with %s weights: clips of %d frames at %d pixels", device,
             next(model.parameters()).dtype, weights_identity["kind"], encoder.num_frames, encoder.image_size)
    return encoder, weights_identity


def extract(item: VideoItem, encoder: TimesformerEncoder, settings: Settings) -> Extracted:
    """[CLS] rows (T, D) at the clip centres' stream indices, and the mean patch tokens (T, D)."""
    return concatenated(extract_chunks(item, encoder, settings))


def extract_chunks(item: VideoItem, encoder: TimesformerEncoder, settings: Settings) -> Iterator[Extracted]:
    """`extract`'s rows a batch at a time, for the store to append as they come (at least one chunk).

    Decoding, resampling and preprocessing run in a reader thread while the
    model works on the previous batch.
    """
    frames, step = stepped_frames(item, settings.fps, settings.step_frames, settings.step_seconds)
    before = encoder.num_frames // 2  # 8 frames: 4 before the centre, 3 after, as S3D's even windows
    batches = model_batches(frames, lambda rgb, device: preprocess_frame(rgb, encoder.preprocessing, device),
                            before, encoder.num_frames - before - 1, step, encoder.image_size, encoder,
                            settings.batch_size)
    any_batch = False
    with torch.inference_mode():
        for clip_batch, stream_indices in batches:
            cls_state, patch_mean = encoder(clip_batch)
            yield Extracted(features=cls_state.float().cpu().numpy(), positions=stream_indices,
                            position_kind=FRAME_INDEX, outputs={PATCH_MEAN: patch_mean.float().cpu().numpy()})
            any_batch = True
    if not any_batch:
        empty = np.zeros((0, encoder.hidden_size), np.float32)
        yield Extracted(features=empty, positions=np.zeros(0, np.int64), position_kind=FRAME_INDEX,
                        outputs={PATCH_MEAN: empty.copy()})


def preprocess_frame(rgb: np.ndarray, preprocessing: FramePreprocessing, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (3, crop, crop) float32: short side resized, centre crop, rescaled, normalised."""
    image = resized_centre_crop(rgb, preprocessing.resize_short, preprocessing.crop, device)
    # the image processor resizes bytes, so its values stay in 0..255: clamp the antialiasing's overshoot
    image = image.clamp(0.0, 1.0) * 255.0
    mean = torch.tensor(preprocessing.mean, device=device).view(3, 1, 1)
    std = torch.tensor(preprocessing.std, device=device).view(3, 1, 1)
    return ((image * preprocessing.rescale_factor - mean) / std).contiguous()


def folder_preprocessing(folder: Path, image_size: int) -> FramePreprocessing:
    """The frame preprocessing a release's preprocessor_config.json asks for, read by its own image processor.

    Only what TimeSformer releases use is supported (bilinear resize of the
    short side, square centre crop at the model's image_size); anything else
    is a UserError naming the file, rather than inputs the model never saw.
    """
    from transformers import AutoImageProcessor

    path = folder / PREPROCESSOR_FILE
    if not path.is_file():
        raise UserError(f"{folder} has no {PREPROCESSOR_FILE}, which says how frames are resized, cropped and "
                        "normalised; copy it from the release beside config.json "
                        "(facebook/timesformer-base-finetuned-k400 has one)")
    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    shortest_edge = processor.size.get("shortest_edge") if processor.do_resize else None
    crop_height, crop_width = processor.crop_size.get("height"), processor.crop_size.get("width")
    problems = []
    if shortest_edge is None:
        problems.append(f"do_resize with size.shortest_edge is needed (got do_resize {processor.do_resize}, "
                        f"size {dict(processor.size)})")
    if getattr(processor, "resample", BILINEAR) != BILINEAR:
        problems.append(f"resample {processor.resample} is not bilinear ({BILINEAR}), the only resize supported")
    if not processor.do_center_crop or not crop_height == crop_width == image_size:
        problems.append(f"a square centre crop of the model's image_size ({image_size}) is needed (got "
                        f"do_center_crop {processor.do_center_crop}, crop_size {dict(processor.crop_size)})")
    elif shortest_edge is not None and shortest_edge < image_size:
        problems.append(f"size.shortest_edge ({shortest_edge}) must not be below the crop ({image_size})")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems) + "; use the release's own file")
    return FramePreprocessing(
        resize_short=shortest_edge,
        crop=image_size,
        rescale_factor=float(processor.rescale_factor) if processor.do_rescale else 1.0,
        mean=_per_channel(processor.image_mean) if processor.do_normalize else (0.0, 0.0, 0.0),
        std=_per_channel(processor.image_std) if processor.do_normalize else (1.0, 1.0, 1.0),
    )


def _check_config(config, source: str) -> None:
    """Refuse a config.json whose clips this extractor cannot build: RGB frames, one square size."""
    problems = []
    if not isinstance(config.image_size, int) or not isinstance(config.patch_size, int):
        problems.append(f"image_size ({config.image_size}) and patch_size ({config.patch_size}) must be one number "
                        "each (square frames and patches)")
    if config.num_channels != 3:
        problems.append(f"num_channels is {config.num_channels}; decoded frames are RGB (3)")
    if problems:
        raise UserError(f"{source}: " + "; ".join(problems))


def _per_channel(values) -> tuple[float, float, float]:
    """A preprocessor's mean or std (one value or one per RGB channel) as three floats."""
    if isinstance(values, (int, float)):
        return (float(values),) * 3
    channels = tuple(float(value) for value in values)
    if len(channels) != 3 or not all(math.isfinite(value) for value in channels):
        raise UserError(f"an image mean or std must be one number or three (R, G, B), got {values}")
    return channels
