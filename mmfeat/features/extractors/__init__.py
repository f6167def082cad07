"""The extractor registry: one module per kind, found by the `kind` of a config entry.

    from mmfeat.features.extractors import extractor_module, parse_settings
    settings = parse_settings({"kind": "i3d", "stride": 2})     # schema defaults filled, checked
    extractor = extractor_module(settings)                       # mmfeat.features.extractors.i3d
    model, weights_identity = extractor.build(settings)
    extracted = extractor.extract(item, model, settings)         # an items.Extracted

Each module declares KIND, INPUT ("video", "audio" or "text", see items.py;
taken from KIND_FACTS, which the workflow reads while planning without
importing the module and torch with it), a frozen `Settings` dataclass with
`from_dict`/`to_dict`, `build(settings)` and `extract(item, model, settings)`.
Adding an extractor touches its module, KIND_FACTS and the schema's
definition of its kind, nothing else. Modules are
imported only when asked for, so that a command that needs none of them does
not pay for torch, transformers or pytorchvideo.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from mmfeat.errors import UserError

@dataclass(frozen=True)
class KindFacts:
    """An extractor kind's module, and what the workflow needs of it before any job, without importing it."""

    module: str  # under mmfeat.features.extractors
    input: str  # what it reads per item: "video", "audio" or "text"
    fill: str | None = None  # video kinds: how predictions on its rows reach every label frame


KIND_FACTS = {
    # a row per kept frame (every `stride`-th): the frames between take the prediction of the
    # row before them, as ASFormer repeats predictions made at its sample rate
    "i3d": KindFacts(module="i3d", input="video", fill="previous"),
    # rows describe windows centred on their frame, one per step (a second by default): each
    # label frame takes the nearest row's prediction
    "s3d": KindFacts(module="s3d", input="video", fill="nearest"),
    "wav2vec2": KindFacts(module="wav2vec2", input="audio"),
    "roberta": KindFacts(module="roberta", input="text"),
}


def kind_facts(kind: str) -> KindFacts:
    """The facts of an extractor kind; UserError for an unknown kind."""
    if kind not in KIND_FACTS:
        raise UserError(f"unknown extractor kind {kind!r}; the known kinds are {known_kinds()}")
    return KIND_FACTS[kind]


def known_kinds() -> list[str]:
    return sorted(KIND_FACTS)


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
