"""A segmentation dataset's `videoclip` section (VideoCLIP's transfer rows): what the schema and the
cross-reference checks refuse, each naming the key path and the fix, before any job runs."""

import copy

import pytest
import yaml

from mmfeat.errors import UserError
from mmfeat.workflow_config import validate_config


@pytest.fixture()
def shipped_config(repo_root):
    return yaml.safe_load((repo_root / "config.yaml").read_text())


def _section(config: dict) -> dict:
    return config["datasets"]["demo-salads"]["videoclip"]


def _refused(config: dict, pattern: str) -> None:
    with pytest.raises(UserError, match=pattern):
        validate_config(config)


def test_the_demo_section_is_valid_and_gets_the_schema_defaults(shipped_config):
    section = _section(validate_config(shipped_config))
    assert section["starts"] == ["demo-howto", "random"]
    assert section["threads"] >= 1
    assert {"window", "step", "exclude", "background", "prompt"} <= set(section["zero_shot"])
    assert {"head", "epochs", "learning_rate", "window", "seed"} <= set(section["finetune"])
    # the real dataset's rows are the study's: its public weights and a narrated dataset's own pretraining
    real = validate_config(shipped_config)["datasets"]["50salads"]["videoclip"]
    assert "release" in real["starts"] and real["finetune"]["epochs"] == [8, 15]


def test_a_section_without_starts_is_refused_by_the_schema(shipped_config):
    _section(shipped_config)["starts"] = []
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.starts: \[\] should be non-empty")


def test_a_misspelt_key_of_the_section_names_its_path(shipped_config):
    _section(shipped_config)["start"] = ["random"]
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip: Additional properties are not allowed \('start'")


def test_the_tokens_must_be_an_s3d_feature_set_of_the_dataset(shipped_config):
    broken = copy.deepcopy(shipped_config)
    _section(broken)["features"] = "i3d-demo"
    _refused(broken, r"datasets\.demo-salads\.videoclip\.features: extractor 'i3d-demo' is of kind 'i3d'; "
                     r"this needs one of kind s3d")
    _section(shipped_config)["features"] = "s3d-howto-demo"  # an s3d extractor, but not one of this dataset's
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.features: 's3d-howto-demo' is not one of this "
                             r"dataset's feature sets; add it to datasets\.demo-salads\.features\.video")


def test_the_model_must_be_a_videoclip_entry(shipped_config):
    broken = copy.deepcopy(shipped_config)
    _section(broken)["model"] = "asformer-demo"
    _refused(broken, r"datasets\.demo-salads\.videoclip\.model: model 'asformer-demo' is of kind 'asformer'; "
                     r"this needs one of kind videoclip")
    _section(shipped_config)["model"] = "videoclip-big"
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.model: no model named 'videoclip-big'")


def test_the_release_start_needs_the_models_release_checkpoint(shipped_config):
    _section(shipped_config)["starts"] = ["release"]
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.starts: `release` needs the model 'videoclip-demo''s "
                             r"release_checkpoint; set models\.videoclip-demo\.release_checkpoint")
    shipped_config["models"]["videoclip-demo"]["release_checkpoint"] = "models/videoclip/checkpoint_best.pt"
    assert _section(validate_config(shipped_config))["starts"] == ["release"]


@pytest.mark.parametrize("start", ["howto100", "demo-urfunny", "demo-salads"])
def test_a_start_must_be_a_narrated_dataset_that_pretrains(shipped_config, start):
    _section(shipped_config)["starts"] = [start]
    _refused(shipped_config, rf"datasets\.demo-salads\.videoclip\.starts: '{start}' is neither `release`, `random` "
                             r"nor a narrated dataset of this config with a `model` to pretrain \(those: demo-howto")


def test_a_narrated_start_without_a_model_pretrains_nothing_and_is_refused(shipped_config):
    del shipped_config["datasets"]["demo-howto"]["model"]
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.starts: 'demo-howto' is neither")


def test_a_narrated_start_must_have_learnt_from_rows_like_the_transferred_ones(shipped_config):
    shipped_config["extractors"]["s3d-howto-demo"]["crop"] = 48
    shipped_config["extractors"]["s3d-howto-demo"]["seed"] = 1
    _refused(shipped_config, r"datasets\.demo-salads\.videoclip\.starts: 'demo-howto' was pretrained on "
                             r"'s3d-howto-demo' rows, which differ from 's3d-demo''s in crop \(48 there, 64 here\), "
                             r"seed \(1 there, 0 here\)")


@pytest.mark.parametrize("part", ["zero_shot", "finetune"])
def test_a_window_longer_than_the_towers_take_is_refused(shipped_config, part):
    _section(shipped_config).setdefault(part, {})["window"] = 17
    _refused(shipped_config, rf"datasets\.demo-salads\.videoclip\.{part}\.window: 17 rows do not fit the model "
                             r"'videoclip-demo''s max_video_tokens 16")
