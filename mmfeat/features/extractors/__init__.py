"""The extractor registry: one module per kind, found by the `kind` of a config entry.

    from mmfeat.features.extractors import extractor_module, parse_settings
    settings = parse_settings({"kind": "i3d", "stride": 2})     # schema defaults filled, checked
    extractor = extractor_module(settings)                       # mmfeat.features.extractors.i3d
    model, weights_identity = extractor.build(settings)
    extracted = extractor.extract(item, model, settings)         # an items.Extracted

KIND_FACTS is the one list of extractor kinds, and says what the workflow needs
of each before any job, without importing its module (and torch with it): what
it reads per item (also the modality it can feed), how segmentation fills label
frames from its rows, and whether it has a text tower. The workflow's checks
(mmfeat.workflow_config) derive from it which kinds may feed which feature set.

Adding an extractor touches three places, nothing else:
  - its module here, declaring KIND, a frozen `Settings(ExtractorSettings, kind=KIND)`
    dataclass (settings_base.py: its fields and the checks a schema cannot express),
    `build(settings)` and `extract(item, model, settings)` (and `extract_chunks` to stream);
  - its line in KIND_FACTS;
  - its definition in mmfeat/config/schema.yaml: `$defs/<kind>_extractor` (types and
    defaults), the kind in `$defs/extractor`'s enum and its `allOf` branch.
tests/test_registries.py fails, naming the missing piece, while these disagree.
Modules are imported only when asked for, so that a command that needs none of
them does not pay for torch, transformers or pytorchvideo.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from mmfeat.errors import UserError

INPUTS = ("video", "audio", "text")  # what an extractor reads per item (items.py), and the modality it feeds
FILLS = ("previous", "nearest")  # how a label frame takes the prediction of a video kind's rows


@dataclass(frozen=True)
class KindFacts:
    """An extractor kind's module, and what the workflow needs of it before any job, without importing it."""

    module: str  # under mmfeat.features.extractors
    input: str  # what it reads per item: "video", "audio" or "text"; also the modality it can feed
    # video kinds (all of them serve segmentation's `video:` feature sets): how predictions on its rows
    # reach every label frame
    fill: str | None = None
    text_tower: bool = False  # embeds text beside its rows, in the same space: zero-shot segmentation's extractor

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"extractor module {self.module}: input must be one of {INPUTS}, got {self.input!r}")
        if (self.input == "video") != (self.fill in FILLS):
            raise ValueError(f"extractor module {self.module}: a video kind names its fill, one of {FILLS}, "
                             f"and only a video kind; got input {self.input!r} and fill {self.fill!r}")


KIND_FACTS = {
    # a row per kept frame (every `stride`-th): the frames between take the prediction of the
    # row before them, as ASFormer repeats predictions made at its sample rate
    "i3d": KindFacts(module="i3d", input="video", fill="previous"),
    # rows describe windows centred on their frame, one per step (a second by default): each
    # label frame takes the nearest row's prediction
    "s3d": KindFacts(module="s3d", input="video", fill="nearest", text_tower=True),
    "wav2vec2": KindFacts(module="wav2vec2", input="audio"),
    "roberta": KindFacts(module="roberta", input="text"),
    # clips centred on their frame, a row a second by default, as S3D's: the nearest row's prediction
    "timesformer": KindFacts(module="timesformer", input="video", fill="nearest"),
}


def kind_facts(kind: str) -> KindFacts:
    """The facts of an extractor kind; UserError for an unknown kind."""
    if kind not in KIND_FACTS:
        raise UserError(f"unknown extractor kind {kind!r}; the known kinds are {known_kinds()}")
    return KIND_FACTS[kind]


def known_kinds() -> list[str]:
    return sorted(KIND_FACTS)


def kinds_reading(input: str) -> tuple[str, ...]:
    """The kinds that read `input` ("video", "audio" or "text") per item: those that can feed that modality."""
    if input not in INPUTS:
        raise ValueError(f"input must be one of {INPUTS}, got {input!r}")
    return tuple(kind for kind, facts in KIND_FACTS.items() if facts.input == input)


def kinds_with_text_tower() -> tuple[str, ...]:
    """The kinds that embed text beside their rows: zero-shot segmentation embeds action names with them."""
    return tuple(kind for kind, facts in KIND_FACTS.items() if facts.text_tower)


def extractor_module(kind_or_settings) -> ModuleType:
    """The module of an extractor kind (a string) or of a Settings object; UserError for an unknown kind."""
    kind = kind_or_settings if isinstance(kind_or_settings, str) else kind_or_settings.to_dict()["kind"]
    return importlib.import_module(f"{__name__}.{kind_facts(kind).module}")


def parse_settings(entry: Mapping, source: str = "the extractor settings"):
    """A config entry (`kind` and any settings) as its kind's Settings, with the schema's defaults.

    Wrong keys and types fail here with the key path, the same check the
    workflow makes before any job runs; `source` names where the entry came from.
    """
    complete = complete_entry(entry, source)
    return extractor_module(complete["kind"]).Settings.from_dict(complete)


def complete_entry(entry: Mapping, source: str = "the extractor settings") -> dict:
    """The config entry checked against its kind's schema definition, every default filled in."""
    # imported here: reading the schema needs yaml and jsonschema, not every caller of the registry
    from mmfeat.workflow_config import with_defaults

    if not isinstance(entry, Mapping):
        raise UserError(f"{source} must be a mapping with a `kind`, got {entry!r}")
    extractor_module(str(entry.get("kind")))  # an unknown kind names the known ones, before the schema's enum does
    return with_defaults("extractor", dict(entry), source)
