"""`mmfeat predict-asformer` on a tiny dataset: the device it runs on and how its folder is published."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from asformer_old_format import write_old_asformer_file

from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.mstcn_files import read_prediction_file
from mmfeat.features.store import ShardWriter
from mmfeat.models.asformer import ASFormer
from mmfeat.tasks.segmentation.asformer_saved import save_asformer
from mmfeat.tasks.segmentation.asformer_split import asformer_model_settings

CLASS_NAMES = ["cut", "mix", "serve"]
FEATURE_DIM = 8
TEST_VIDEO_FRAMES = 30


@pytest.fixture()
def split_dir(tmp_path):
    """A dataset whose split 1 tests one video of 30 frames, its features, and a folder for the outputs."""
    root = tmp_path / "dataset"
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("".join(f"{index} {name}\n" for index, name in enumerate(CLASS_NAMES)))
    (root / "groundTruth" / "take-a.txt").write_text("cut\n" * 10 + "mix\n" * 10 + "serve\n" * 10)
    (root / "splits" / "test.split1.bundle").write_text("take-a.txt\n")
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}, dtype="float32") as shard:
        features = np.random.default_rng(0).normal(size=(TEST_VIDEO_FRAMES, FEATURE_DIM))
        shard.add_video("take-a", features, np.arange(TEST_VIDEO_FRAMES), {"source": "video"})
    (tmp_path / "split1").mkdir()
    return tmp_path


ARCHITECTURE = {"num_decoders": 1, "num_layers": 2, "num_f_maps": 8}


def _save_checkpoint(split_dir, training: dict) -> ASFormer:
    torch.manual_seed(0)
    model = ASFormer(FEATURE_DIM, len(CLASS_NAMES), **ARCHITECTURE)
    save_asformer(split_dir / "split1" / "model.pt", model, asformer_model_settings(
        {"kind": "asformer", **ARCHITECTURE, "training": training}), _provenance(training))
    return model


def _provenance(training: dict) -> dict:
    return {"class_names": CLASS_NAMES, "sample_rate": 1, "feature_statistics": None, "alignment": "back",
            "training": training}


def _predict(split_dir) -> int:
    return mmfeat_main([
        "predict-asformer", "--dataset-root", str(split_dir / "dataset"), "--features", str(split_dir / "shard-0.h5"),
        "--split", "1", "--checkpoint", str(split_dir / "split1" / "model.pt"),
        "--predictions", str(split_dir / "split1" / "predictions"),
        "--evaluated-bundle", str(split_dir / "split1" / "evaluated.bundle"),
        "--alignment-report", str(split_dir / "split1" / "alignment.json"),
    ])


def test_predicts_on_the_models_training_device_setting(split_dir, caplog):
    _save_checkpoint(split_dir, {"device": "cpu", "epochs": 1})
    with caplog.at_level(logging.INFO, logger="predict-asformer"):
        assert _predict(split_dir) == 0
    assert any("on cpu" in record.getMessage() for record in caplog.records)
    assert len(read_prediction_file(split_dir / "split1" / "predictions" / "take-a")) == TEST_VIDEO_FRAMES


def test_a_cuda_model_without_cuda_fails_clearly_and_publishes_nothing(split_dir, capsys, monkeypatch):
    _save_checkpoint(split_dir, {"device": "cuda"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine with a GPU
    assert _predict(split_dir) == 2
    assert "device 'cuda' was asked for but CUDA is not available" in capsys.readouterr().err
    assert sorted(p.name for p in (split_dir / "split1").iterdir()) == ["model.pt"]


def test_a_new_prediction_replaces_the_whole_folder_and_leaves_no_temporary(split_dir):
    _save_checkpoint(split_dir, {"device": "cpu"})
    predictions = split_dir / "split1" / "predictions"
    predictions.mkdir()
    (predictions / "take-z").write_text("from a run when take-z was a test video\n")
    assert _predict(split_dir) == 0
    assert [p.name for p in predictions.iterdir()] == ["take-a"]
    assert sorted(p.name for p in (split_dir / "split1").iterdir()) == [
        "alignment.json", "evaluated.bundle", "model.pt", "predictions"]


def test_a_model_file_trained_before_the_one_format_still_predicts_the_same(split_dir):
    model = _save_checkpoint(split_dir, {"device": "cpu"})
    assert _predict(split_dir) == 0
    predicted = read_prediction_file(split_dir / "split1" / "predictions" / "take-a")
    write_old_asformer_file(split_dir / "split1" / "model.pt", model, _provenance({"device": "cpu"}))
    assert _predict(split_dir) == 0
    assert read_prediction_file(split_dir / "split1" / "predictions" / "take-a") == predicted
