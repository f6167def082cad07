"""wav2vec 2.0 features of a clip's named audio segments: one pooled hidden state per segment.

    from mmfeat.features.extractors import parse_settings
    from mmfeat.features.extractors.wav2vec2 import build, extract
    settings = parse_settings({"kind": "wav2vec2", "weights": "models/wav2vec2-base"})
    encoder, weights_identity = build(settings)
    extracted = extract(AudioItem(waveform, 16000, {"punchline": (4.2, 6.0), "context": (0.0, 4.1)}),
                        encoder, settings)            # rows ["punchline", "context"], sample ranges

`weights` is a local directory in the save_pretrained layout (the files of
facebook/wav2vec2-base, downloaded beforehand, preprocessor_config.json
included); null gives a small seeded random model, not a pretrained one, for
tests and demos. The clip is normalised as the release's feature extractor
does (zero mean and unit variance over the whole input when its
preprocessor_config.json says do_normalize: the file decides, and
facebook/wav2vec2-base's says true, although fairseq pretrained that model on
unnormalised audio; set it to false in the copy to feed raw samples, which
changes the weights' identity) and encoded once; each segment's
row pools the chosen layer's frames whose receptive-field centre lies inside
the segment. A clip longer than `max_seconds` is not encoded whole: each
segment is then normalised and encoded on its own, so its frames do not see
the audio around it, and a segment longer than `max_seconds` keeps its last
`max_seconds` (for the context, the part leading into the punchline).

Segment handling, all of it visible in the row's sample range (positions):
  - times are rounded to samples and clipped to the clip;
  - a segment shorter than one frame's receptive field (400 samples, 25 ms,
    for the base conv stack) is widened symmetrically to it, shifted to stay
    inside the clip; a clip shorter than that is zero-padded after normalising,
    as the release pads a batch;
  - a segment with no frame centre inside (possible only at the clip's end,
    after the last frame's centre) takes the frame whose centre is nearest
    its middle;
  - a segment with no audio inside the clip raises ValueError naming the
    segment and its times (the item carries no id: the caller adds it).
Rows come in the item's segment order: an absent segment (a sample without
context) is simply left out of `segments` by the caller.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.extractors.items import SAMPLE_RANGE, AudioItem, Extracted
from mmfeat.features.extractors.local_models import directory_identity, loaded_strictly, model_directory
from mmfeat.features.extractors.settings_base import ExtractorSettings, thawed

log = logging.getLogger(__name__)

KIND = "wav2vec2"  # the "kind" that selects this extractor in the config
POOLINGS = ("mean", "max")
SAMPLE_RATE = 16000  # every wav2vec 2.0 release is trained on 16 kHz audio
# Weights a wav2vec2 checkpoint may lack without changing any feature: the learnt
# mask vector is only used while training (SpecAugment-style masking).
UNUSED_WEIGHT_PREFIXES = ("masked_spec_embed",)
PREPROCESSOR_FILE = "preprocessor_config.json"


@dataclass(frozen=True)
class Settings(ExtractorSettings, kind=KIND):
    """How audio segments become wav2vec 2.0 features; stored with every feature it makes.

    Every default and type lives in the schema's `wav2vec2_extractor`
    (mmfeat/config/schema.yaml); build these with
    `mmfeat.features.extractors.parse_settings`, which fills them.
    """

    weights: str | None  # save_pretrained directory or package:DIST; None: seeded random model
    random_config: Mapping[str, object]  # Wav2Vec2Config arguments when weights is None (a FrozenMapping)
    seed: int  # initialisation seed when weights is None
    layer: int  # index into the hidden states: 0 the transformer's input, -1 (or L) its output
    pooling: str  # "mean" or "max" over a segment's frames
    max_seconds: float  # clips longer than this are encoded per segment, segments cut to their last max_seconds
    device: str  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        # only relations between settings, which the schema cannot say
        if self.pooling not in POOLINGS:
            raise UserError(f"invalid wav2vec2 settings: pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.weights is None:
            config = dict(self.random_config)
            problems = []
            if config["hidden_size"] % config["num_attention_heads"]:
                problems.append(f"random_config.hidden_size ({config['hidden_size']}) must be a multiple of "
                                f"num_attention_heads ({config['num_attention_heads']})")
            if not len(config["conv_dim"]) == len(config["conv_kernel"]) == len(config["conv_stride"]):
                problems.append("random_config.conv_dim, conv_kernel and conv_stride must have one entry per conv "
                                "layer (the same length)")
            if config["hidden_size"] % config["num_conv_pos_embedding_groups"]:
                problems.append(f"random_config.hidden_size ({config['hidden_size']}) must be a multiple of "
                                f"num_conv_pos_embedding_groups ({config['num_conv_pos_embedding_groups']})")
            if problems:
                raise UserError("invalid wav2vec2 settings: " + "; ".join(problems))


@dataclass
class SpeechEncoder:
    """What `build` returns: the model, how it preprocesses audio, and its frame geometry in samples."""

    model: torch.nn.Module  # transformers' Wav2Vec2Model, eval mode
    do_normalize: bool  # zero mean, unit variance per input, as the release's feature extractor
    layer_index: int  # the settings' layer as 0..num_hidden_layers
    hop: int  # samples between consecutive frames: the product of the conv strides (320 for base)
    receptive_field: int  # samples one frame sees (400 for base)
    device: torch.device

    def frame_centre(self, frame: int | np.ndarray) -> int | np.ndarray:
        """The sample at the middle of a frame's receptive field (frame 0 starts at the input's first sample)."""
        return frame * self.hop + self.receptive_field // 2


def build(settings: Settings) -> tuple[SpeechEncoder, dict]:
    """The registry's entry: the encoder in eval mode on the settings' device, and its weights' identity.

    The identity is {"kind": "directory", "path", "files": {name: sha256}}
    or {"kind": "random", "seed", "config": Wav2Vec2Config arguments, "do_normalize": true}.
    """
    from transformers import Wav2Vec2Config, Wav2Vec2Model  # slow import, only when the extractor is used

    device = resolve_device(settings.device)
    if settings.weights is None:
        arguments = _random_config_arguments(settings)
        # fork_rng: seeding the initialisation must not change the caller's random stream
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            model = Wav2Vec2Model(Wav2Vec2Config(**arguments))
        do_normalize = True  # as facebook/wav2vec2-base's preprocessor_config.json
        weights_identity = {"kind": "random", "seed": settings.seed, "config": arguments, "do_normalize": True}
        source = "the random wav2vec2 config"
    else:
        folder = model_directory(settings.weights)
        do_normalize = _release_normalises(folder)
        model, loading_info = Wav2Vec2Model.from_pretrained(folder, local_files_only=True, output_loading_info=True)
        loaded_strictly(loading_info, folder, UNUSED_WEIGHT_PREFIXES)
        weights_identity = directory_identity(folder)
        source = str(folder / "config.json")
    config = model.config
    if config.add_adapter:
        raise UserError(f"{source}: add_adapter models change the frame rate with an extra conv stack, which this "
                        "extractor does not map to samples; use an encoder without an adapter (wav2vec2-base)")
    layers = config.num_hidden_layers
    if not -(layers + 1) <= settings.layer <= layers:
        raise UserError(f"wav2vec2 layer {settings.layer} does not exist: {source} has {layers} transformer layers, "
                        f"so hidden states 0..{layers} (or -{layers + 1}..-1)")
    model.eval().requires_grad_(False).to(device)
    encoder = SpeechEncoder(
        model=model,
        do_normalize=do_normalize,
        layer_index=settings.layer % (layers + 1),
        hop=math.prod(config.conv_stride),
        receptive_field=_receptive_field(config.conv_kernel, config.conv_stride),
        device=device,
    )
    log.info("wav2vec2 on %s with %s weights, layer %d of %d", device, weights_identity["kind"],
             encoder.layer_index, layers)
    return encoder, weights_identity


def extract(item: AudioItem, encoder: SpeechEncoder, settings: Settings) -> Extracted:
    """The registry's entry: one pooled row per named segment, positioned at its [first, end) samples."""
    if item.sample_rate != SAMPLE_RATE:
        raise ValueError(f"wav2vec2 needs {SAMPLE_RATE} Hz audio, got {item.sample_rate} Hz; "
                         f"decode with mmfeat.audio.decode.decode_audio(path, sample_rate={SAMPLE_RATE})")
    waveform = np.asarray(item.waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"the waveform must be mono (N,), got shape {waveform.shape}")
    names = list(item.segments)
    ranges = [segment_samples(name, *item.segments[name], len(waveform), encoder.receptive_field)
              for name in names]
    max_samples = int(settings.max_seconds * SAMPLE_RATE)
    if len(waveform) <= max_samples:
        rows = _rows_from_whole_clip(waveform, ranges, encoder, settings.pooling)
    else:
        log.info("clip of %.1f s exceeds max_seconds (%.1f): encoding each segment on its own",
                 len(waveform) / SAMPLE_RATE, settings.max_seconds)
        ranges = [_last_samples(name, first, end, max_samples) for name, (first, end) in zip(names, ranges)]
        rows = [_pooled(encode_frames(waveform[first:end], encoder), settings.pooling) for first, end in ranges]
    features = np.stack(rows) if rows else np.zeros((0, encoder.model.config.hidden_size), np.float32)
    positions = np.array(ranges, dtype=np.int64).reshape(-1, 2)
    return Extracted(features=features, positions=positions, position_kind=SAMPLE_RANGE, row_names=names)


def encode_frames(waveform: np.ndarray, encoder: SpeechEncoder) -> np.ndarray:
    """The chosen layer's hidden states (frames, D) float32 of one input, normalised and padded as the release does."""
    from transformers import Wav2Vec2FeatureExtractor

    values = waveform.astype(np.float32)
    if encoder.do_normalize:
        # the release's own normalisation, over the whole (unpadded) input
        values = Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm([values], None)[0].astype(np.float32)
    if len(values) < encoder.receptive_field:
        # zeros after normalising, as the feature extractor pads a batch (padding_value 0.0)
        values = np.pad(values, (0, encoder.receptive_field - len(values)))
    inputs = torch.from_numpy(np.ascontiguousarray(values))[None].to(encoder.device)
    with torch.inference_mode():
        output = encoder.model(inputs, output_hidden_states=True)
    # the last index is the model's output: for stable-layer-norm releases (large-lv60) only
    # last_hidden_state has the encoder's final LayerNorm, hidden_states[-1] does not
    last = encoder.model.config.num_hidden_layers
    states = output.last_hidden_state if encoder.layer_index == last else output.hidden_states[encoder.layer_index]
    return states[0].float().cpu().numpy()


def segment_samples(name: str, start: float, end: float, clip_samples: int, minimum: int) -> tuple[int, int]:
    """[first, end) samples of a segment given in seconds: clipped to the clip, widened to `minimum` samples."""
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise ValueError(f"segment {name!r} ({start}, {end}) s is not an interval with end after start")
    first = max(0, round(start * SAMPLE_RATE))
    last = min(clip_samples, round(end * SAMPLE_RATE))
    if first >= last:
        raise ValueError(f"segment {name!r} ({start:.3f}-{end:.3f} s) has no audio inside the clip of "
                         f"{clip_samples / SAMPLE_RATE:.3f} s; check the transcript's times against the clip")
    if last - first >= minimum:
        return first, last
    if clip_samples <= minimum:
        return 0, clip_samples  # the whole clip is shorter than a frame: encode_frames pads it
    # widen symmetrically (the odd sample goes after), then shift back inside the clip
    missing = minimum - (last - first)
    first -= missing // 2
    first = min(max(0, first), clip_samples - minimum)
    return first, first + minimum


def frames_inside(first: int, end: int, frame_count: int, encoder: SpeechEncoder) -> np.ndarray:
    """Indices of the frames whose receptive-field centre lies in [first, end), or the one nearest its middle."""
    centres = encoder.frame_centre(np.arange(frame_count))
    inside = np.flatnonzero((centres >= first) & (centres < end))
    if inside.size:
        return inside
    return np.array([np.argmin(np.abs(centres - (first + end) / 2))])


def _rows_from_whole_clip(waveform: np.ndarray, ranges: list[tuple[int, int]], encoder: SpeechEncoder,
                          pooling: str) -> list[np.ndarray]:
    """Encode the clip once and pool each segment's frames."""
    if not ranges:
        return []
    frames = encode_frames(waveform, encoder)
    return [_pooled(frames[frames_inside(first, end, len(frames), encoder)], pooling) for first, end in ranges]


def _last_samples(name: str, first: int, end: int, max_samples: int) -> tuple[int, int]:
    """A segment cut to its last `max_samples`, with a warning saying how much was cut."""
    if end - first <= max_samples:
        return first, end
    log.warning("segment %r is %.1f s long: its first %.1f s are cut, keeping the last max_seconds (%.1f s)",
                name, (end - first) / SAMPLE_RATE, (end - max_samples - first) / SAMPLE_RATE,
                max_samples / SAMPLE_RATE)
    return end - max_samples, end


def _pooled(frames: np.ndarray, pooling: str) -> np.ndarray:
    return (frames.mean(axis=0) if pooling == "mean" else frames.max(axis=0)).astype(np.float32)


def _receptive_field(kernels, strides) -> int:
    """Samples seen by one output frame of a stack of 1-D convolutions (400 for wav2vec2-base)."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _random_config_arguments(settings: Settings) -> dict:
    """The random model's Wav2Vec2Config arguments as a JSON-ready dict (tuples back to lists)."""
    return thawed(settings.random_config)


def _release_normalises(folder: Path) -> bool:
    """Whether the release normalises each input: `do_normalize` of its preprocessor_config.json."""
    from transformers import Wav2Vec2FeatureExtractor

    if not (folder / PREPROCESSOR_FILE).is_file():
        raise UserError(f"{folder} has no {PREPROCESSOR_FILE}, which says whether the release normalises each clip "
                        f"(do_normalize); copy it from the release beside config.json (facebook/wav2vec2-base has one)")
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(folder, local_files_only=True)
    if feature_extractor.sampling_rate != SAMPLE_RATE:
        raise UserError(f"{folder / PREPROCESSOR_FILE}: sampling_rate {feature_extractor.sampling_rate}, "
                        f"but the audio is decoded at {SAMPLE_RATE} Hz; use a 16 kHz wav2vec 2.0 release")
    return bool(feature_extractor.do_normalize)
