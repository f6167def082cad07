"""Config validation: typos and wrong types fail with the key path before any job runs."""

import copy

import pytest
import yaml

from mmfeat.errors import UserError
from mmfeat.workflow_config import validate_config


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
    broken["datasets"]["50salads"]["features"]["extractor"] = "i3d-big"
    with pytest.raises(UserError, match=r"datasets\.50salads\.features\.extractor: no extractor named 'i3d-big'"):
        validate_config(broken)


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
