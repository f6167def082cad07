"""An ASFormer's model.pt: mmfeat.checkpoints' format, and the files of the format before it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from asformer_old_format import write_old_asformer_file

from mmfeat.checkpoints import load_model, save_model
from mmfeat.errors import UserError
from mmfeat.models.asformer import ASFormer
from mmfeat.tasks.segmentation.asformer_saved import load_asformer, save_asformer
from mmfeat.tasks.segmentation.asformer_split import asformer_model_settings
from mmfeat.tasks.segmentation.asformer_training import predict_asformer

INPUT_DIM, CLASS_NAMES = 12, ["a", "b", "c", "d"]
SETTINGS = asformer_model_settings({"kind": "asformer", "num_decoders": 1, "num_layers": 3, "num_f_maps": 8,
                                    "window": "per_query"})
PROVENANCE = {"class_names": CLASS_NAMES, "sample_rate": 1, "feature_statistics": None, "alignment": "back",
              "training": SETTINGS["training"], "history": [{"epoch": 1, "loss": 1.5}]}


def _model(seed: int = 0) -> ASFormer:
    torch.manual_seed(seed)
    return ASFormer(INPUT_DIM, len(CLASS_NAMES), **{key: SETTINGS[key] for key in
                                                     ("num_decoders", "num_layers", "num_f_maps", "window")})


def _features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(INPUT_DIM, 40)).astype(np.float32)


def test_a_saved_asformer_is_an_mmfeat_model_file_that_predicts_as_before(tmp_path):
    model, path = _model(), tmp_path / "split1" / "model.pt"
    save_asformer(path, model, SETTINGS, PROVENANCE)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temporary left
    settings, state_dict, provenance = load_model(path, expected_kind="asformer")
    assert settings == SETTINGS and provenance == {**PROVENANCE, "input_dim": INPUT_DIM, "num_classes": 4}
    assert state_dict.keys() == model.state_dict().keys()
    saved = load_asformer(path)
    assert saved.model.config == model.config and saved.settings == SETTINGS and saved.provenance == provenance
    np.testing.assert_array_equal(predict_asformer(saved.model, _features()), predict_asformer(model, _features()))


def test_a_file_of_the_old_format_still_loads_with_its_extra_as_provenance(tmp_path):
    model, path = _model(), tmp_path / "model.pt"
    write_old_asformer_file(path, model, PROVENANCE)
    saved = load_asformer(path)
    assert saved.model.config == model.config
    assert saved.provenance == PROVENANCE
    assert saved.settings == {"kind": "asformer", **{key: model.config[key] for key in
                              ("num_decoders", "num_layers", "num_f_maps", "r1", "r2", "channel_masking_rate",
                               "window")}, "training": SETTINGS["training"]}
    np.testing.assert_array_equal(predict_asformer(saved.model, _features()), predict_asformer(model, _features()))


def test_saving_refuses_provenance_a_weights_only_load_would_refuse(tmp_path):
    with pytest.raises(ValueError, match="provenance"):
        save_asformer(tmp_path / "model.pt", _model(), SETTINGS, {**PROVENANCE, "history": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("contents", [{"weights": torch.zeros(2)}, "not a dict",
                                      {"format": "mmfeat-asformer-v1", "state_dict": {}, "extra": {}}])
def test_other_files_are_refused_naming_the_file(tmp_path, contents):
    path = tmp_path / "other.pt"
    torch.save(contents, path)
    with pytest.raises(UserError, match="other.pt"):
        load_asformer(path)


def test_a_model_file_of_another_kind_is_refused_naming_the_file_and_both_kinds(tmp_path):
    path = tmp_path / "videoclip.pt"
    save_model(path, "videoclip", {"kind": "videoclip"}, {"w": torch.zeros(1)}, {})
    with pytest.raises(UserError, match=r"videoclip\.pt holds a model of kind 'videoclip', not 'asformer'"):
        load_asformer(path)


def test_weights_that_do_not_fit_their_settings_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "model.pt"
    save_asformer(path, _model(), {**SETTINGS, "num_layers": 4}, PROVENANCE)
    with pytest.raises(UserError, match=r"model\.pt: weights do not fit the ASFormer its settings describe"):
        load_asformer(path)
