"""Config validation: typos and wrong types fail with the key path before any job runs."""

import argparse
import copy

import pytest
import yaml

from mmfeat.errors import UserError
from mmfeat.workflow_config import SCHEMA_PATH, validate_config


@pytest.fixture()
def shipped_config(repo_root):
    return yaml.safe_load((repo_root / "config.yaml").read_text())


def test_shipped_config_is_valid_and_gets_defaults(shipped_config):
    config = validate_config(shipped_config)
    salads = config["datasets"]["50salads"]
    assert salads["background"] == []
    assert config["extractors"]["i3d"]["mean"] == 0.45
    assert config["extractors"]["i3d"]["std"] == 0.225
    assert config["models"]["asformer"]["r1"] == 2


def test_misspelt_key_names_its_path(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["extractors"]["i3d"]["strid"] = 2
    with pytest.raises(UserError, match=r"extractors\.i3d: Additional properties are not allowed \('strid'"):
        validate_config(broken)


def test_wrong_type_names_its_path_and_expectation(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["50salads"]["splits"] = "five"
    with pytest.raises(UserError, match=r"datasets\.50salads\.splits: 'five' is not of type 'integer'"):
        validate_config(broken)


def test_unknown_extractor_reference_is_named(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["50salads"]["features"]["video"] = ["i3d", "i3d-big"]
    with pytest.raises(UserError, match=r"datasets\.50salads\.features\.video: no extractor named 'i3d-big'"):
        validate_config(broken)


def test_one_extractor_name_stands_for_a_list_of_one(shipped_config):
    config = copy.deepcopy(shipped_config)
    config["datasets"]["50salads"]["features"]["video"] = "s3d"
    assert validate_config(config)["datasets"]["50salads"]["features"]["video"] == ["s3d"]


def test_a_dataset_without_any_feature_set_is_refused(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["50salads"]["features"] = {"num_shards": 2}
    with pytest.raises(UserError, match=r"datasets\.50salads\.features: no feature set"):
        validate_config(broken)


def test_a_narrated_dataset_takes_an_s3d_video_at_one_row_a_second_and_a_wav2vec2_audio(shipped_config):
    howto = validate_config(copy.deepcopy(shipped_config))["datasets"]["demo-howto"]
    assert howto["demo"]["shift_fraction"] == 0.25 and howto["decode"]["backend"] == "opencv"  # schema defaults
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["demo-howto"]["features"] = {"video": "s3d-demo", "audio": "minilm-demo"}
    with pytest.raises(UserError) as raised:
        validate_config(broken)
    assert ("datasets.demo-howto.features.video: extractor 's3d-demo' must make one row per second"
            in str(raised.value))
    assert ("datasets.demo-howto.features.audio: extractor 'minilm-demo' is of kind 'roberta'; this needs one of "
            "kind wav2vec2" in str(raised.value))
    broken["datasets"]["demo-howto"]["features"] = {"video": "i3d-demo"}
    with pytest.raises(UserError, match=r"features\.video: extractor 'i3d-demo' is of kind 'i3d'; .* kind s3d"):
        validate_config(broken)


def test_each_extractor_kind_is_checked_against_its_own_definition(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["extractors"]["i3d"]["window"] = "21"
    broken["extractors"]["i3d-demo"]["kind"] = "c3d"
    with pytest.raises(UserError) as raised:
        validate_config(broken)
    assert "extractors.i3d.window: '21' is not of type 'integer'" in str(raised.value)
    assert "extractors.i3d-demo.kind: 'c3d' is not one of" in str(raised.value)
    # one message per mistake: not "is not valid under any of the given schemas" for each kind
    assert "any of the given schemas" not in str(raised.value)


def test_every_default_comes_from_the_schema(shipped_config):
    """The dataclasses hold no defaults of their own, so the two cannot drift apart."""
    from dataclasses import MISSING, fields

    from mmfeat.features.extractors.i3d import Settings
    from mmfeat.tasks.segmentation.asformer_training import TrainSettings

    for settings_class in (Settings, TrainSettings):
        schema_backed = [field.name for field in fields(settings_class) if field.name in SCHEMA_BACKED]
        assert all(field.default is MISSING for field in fields(settings_class) if field.name in schema_backed)
    trained = validate_config(shipped_config)["models"]["asformer"]["training"]
    assert trained["seed"] == 19980125


def test_the_humour_classifiers_take_their_defaults_from_the_schema(shipped_config):
    """What a humor dataset's `classifiers` leaves out, the experiment's settings and command use."""
    from mmfeat.commands.humor_experiment import add_arguments, experiment_settings
    from mmfeat.tasks.humor.settings import ExperimentSettings, MLPSettings

    humor = {"kind": "humor", "root": "data/urfunny", "features": {"text": "roberta", "audio": "wav2vec2", "video": "i3d"}}
    config = {**shipped_config, "datasets": {"urfunny": humor}}
    classifiers = validate_config(config)["datasets"]["urfunny"]["classifiers"]
    experiment, mlp = ExperimentSettings(), MLPSettings()
    assert classifiers == {
        "seeds": len(experiment.seeds), "hidden_size": mlp.hidden_size, "learning_rate": mlp.learning_rate,
        "max_epochs": mlp.max_epochs, "patience": mlp.patience, "degenerate_threshold": experiment.degenerate_threshold,
    }
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    by_hand = experiment_settings(parser.parse_args(["--modality", "text", "t.npz", "--output", "r.json"]))
    assert by_hand == experiment
    two_seeds = parser.parse_args(["--modality", "text", "t.npz", "--classifiers", '{"seeds": 2}', "--output", "r.json"])
    assert experiment_settings(two_seeds).seeds == (0, 1) and experiment_settings(two_seeds).mlp == mlp


# settings whose defaults the schema gives (not fixed constants of the method)
SCHEMA_BACKED = {"window", "resize_short", "crop", "stride", "mean", "std", "batch_size", "weights", "seed",
                 "device", "epochs", "learning_rate", "weight_decay"}


def test_unknown_model_reference_is_named(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["demo-salads"]["model"] = "mstcn"
    with pytest.raises(UserError, match=r"datasets\.demo-salads\.model: no model named 'mstcn'"):
        validate_config(broken)


def test_every_problem_is_listed_at_once(shipped_config):
    broken = copy.deepcopy(shipped_config)
    broken["datasets"]["50salads"]["alignment"] = "middle"
    broken["models"]["asformer"]["training"]["epochs"] = 0
    with pytest.raises(UserError) as raised:
        validate_config(broken)
    assert "datasets.50salads.alignment" in str(raised.value)
    assert "models.asformer.training.epochs" in str(raised.value)


# A dataset of each kind with only the keys the schema requires, and the extractors and
# model it names with only theirs: what a new user's first config may hold.
MINIMAL_CONFIG = {
    "datasets": {
        "salads": {"kind": "segmentation", "root": "data/salads", "features": {"video": "i3d"}, "model": "asformer"},
        "funny": {"kind": "humor", "root": "data/funny", "features": {"text": "roberta", "audio": "wav2vec2",
                                                                      "video": "s3d"}},
    },
    "extractors": {"i3d": {"kind": "i3d"}, "s3d": {"kind": "s3d"}, "wav2vec2": {"kind": "wav2vec2"},
                   "roberta": {"kind": "roberta", "weights": "models/roberta-base"}},
    "models": {"asformer": {"kind": "asformer"}},
}
# The optional keys the schema gives no default on purpose: their presence is what they say
# (a demo to generate, zero-shot to run, published rows to show).
OPTIONAL_WITHOUT_DEFAULT = {
    "datasets.salads": {"demo", "zero_shot", "videoclip", "reference_results"},
    "datasets.funny": {"demo", "reference_results"},
}


def test_a_dataset_without_a_decode_section_gets_every_decode_default():
    """`decode: {$ref: "#/$defs/decode"}` keeps its default inside the definition it names."""
    config = validate_config(copy.deepcopy(MINIMAL_CONFIG))
    for name in ("salads", "funny"):
        assert config["datasets"][name]["decode"] == {"backend": "opencv", "on_unreadable": "fail",
                                                      "on_damaged": "skip"}


def test_a_config_of_only_required_keys_gets_every_default_the_schema_documents():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    config = validate_config(copy.deepcopy(MINIMAL_CONFIG))
    definitions = {
        "datasets.salads": "segmentation_dataset", "datasets.funny": "humor_dataset",
        "extractors.i3d": "i3d_extractor", "extractors.s3d": "s3d_extractor",
        "extractors.wav2vec2": "wav2vec2_extractor", "extractors.roberta": "roberta_extractor",
        "models.asformer": "asformer_model",
    }
    missing = {}
    for where, definition in definitions.items():
        entry = config
        for part in where.split("."):
            entry = entry[part]
        missing |= _keys_without_value(entry, schema["$defs"][definition], schema, where)
    assert missing == OPTIONAL_WITHOUT_DEFAULT
    assert config["datasets"]["salads"]["features"] == {"video": ["i3d"], "precomputed": False, "num_shards": 4}
    assert config["models"]["asformer"]["training"]["epochs"] == 120
    assert config["extractors"]["wav2vec2"]["random_config"]["hidden_size"] == 32


def test_an_empty_optional_section_gets_its_defaults_too():
    config = copy.deepcopy(MINIMAL_CONFIG)
    config["datasets"]["salads"] |= {"demo": {}, "zero_shot": {"extractor": "s3d"}, "decode": {"backend": "pyav"}}
    config["datasets"]["salads"]["features"]["video"] = ["i3d", "s3d"]
    config["datasets"]["funny"] |= {"demo": {}, "classifiers": {}}
    salads, funny = (validate_config(config)["datasets"][name] for name in ("salads", "funny"))
    assert salads["demo"] == {"seed": 0, "videos": 10, "frames": [60, 90], "size": [64, 48], "fps": 15,
                              "damaged": 1, "unreadable": 1}
    assert salads["zero_shot"] == {"extractor": "s3d", "prompt": "{label}", "exclude": []}
    assert salads["decode"] == {"backend": "pyav", "on_unreadable": "fail", "on_damaged": "skip"}
    assert funny["demo"] == {"seed": 0, "samples": 40, "size": [64, 48], "fps": 12, "cue_flip_fraction": 0.175}
    assert funny["classifiers"]["seeds"] == 5


def _keys_without_value(entry: dict, definition: dict, schema: dict, where: str) -> dict[str, set[str]]:
    """{key path: optional keys absent from `entry`}, through nested objects; every key with a
    default, written beside it or in the definition its $ref names, must be present."""
    while "$ref" in definition:
        definition = schema["$defs"][definition["$ref"].rsplit("/", 1)[-1]]
    missing = {}
    for key, sub in definition.get("properties", {}).items():
        if key not in entry:
            missing.setdefault(where, set()).add(key)
        elif isinstance(entry[key], dict):
            missing |= _keys_without_value(entry[key], sub, schema, f"{where}.{key}")
    return missing


def test_the_schema_dataset_kinds_are_the_layout_registry():
    """A layout added to one and not the other fails here, not in a user's run."""
    from mmfeat.datasets.layouts import layout_class, layout_kinds

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    dataset = schema["$defs"]["dataset"]
    assert dataset["properties"]["kind"]["enum"] == list(layout_kinds())
    dispatched = {branch["if"]["properties"]["kind"]["const"] for branch in dataset["allOf"]}
    assert dispatched == set(layout_kinds())
    assert all(layout_class(kind).KIND == kind for kind in layout_kinds())
