"""A models entry's `init_from`: ASFormer training starts from a model file's weights, checked against it,
and the workflow retrains when that file changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from asformer_old_format import write_old_asformer_file
from conftest import run_snakemake
from test_segmentation_report import write_outputs

from mmfeat.checkpoints import save_model
from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.models.asformer import ASFormer
from mmfeat.tasks.segmentation.report import write_segmentation_report
from mmfeat.tasks.segmentation.asformer_saved import load_asformer, save_asformer
from mmfeat.tasks.segmentation.asformer_split import asformer_model_settings, train_split

CLASSES = ["action_start", "stir", "pour", "action_end"]
FEATURE_DIM = 6
ARCHITECTURE = {"num_decoders": 1, "num_layers": 2, "num_f_maps": 8}
TRAINING = {"epochs": 1, "seed": 0, "sample_rate": 1, "device": "cpu", "threads": 1}


def write_dataset(root: Path, videos: int = 4) -> dict[str, np.ndarray]:
    """MS-TCN layout, one split (the last video tested), features (D, T) in ROOT/features/*.npy; video -> features."""
    rng = np.random.default_rng(0)
    for folder in ("groundTruth", "features", "splits"):
        (root / folder).mkdir(parents=True)
    (root / "mapping.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASSES)))
    features_by_video = {}
    for n in range(videos):
        labels = np.repeat(np.arange(len(CLASSES)), rng.integers(4, 8, size=len(CLASSES)))
        (root / "groundTruth" / f"vid-{n}.txt").write_text("".join(f"{CLASSES[c]}\n" for c in labels))
        features = (labels[None, :] + rng.normal(0, 0.3, size=(FEATURE_DIM, len(labels)))).astype(np.float32)
        np.save(root / "features" / f"vid-{n}.npy", features)
        features_by_video[f"vid-{n}"] = features
    (root / "splits" / "train.split1.bundle").write_text("".join(f"vid-{n}.txt\n" for n in range(videos - 1)))
    (root / "splits" / "test.split1.bundle").write_text(f"vid-{videos - 1}.txt\n")
    return features_by_video


@pytest.fixture()
def dataset(tmp_path) -> tuple[SegmentationDataset, FeatureStore]:
    features_by_video = write_dataset(tmp_path / "toy")
    with ShardWriter(tmp_path / "shard-0.h5", "precomputed", {"kind": "precomputed"}, dtype="float32") as shard:
        for video, features in features_by_video.items():
            shard.add_video(video, features.T, np.arange(features.shape[1]), {"source": "precomputed"})
    return SegmentationDataset(tmp_path / "toy"), FeatureStore([tmp_path / "shard-0.h5"])


def _settings(**entry) -> dict:
    return asformer_model_settings({"kind": "asformer", **ARCHITECTURE, "training": dict(TRAINING), **entry})


def _saved_model(path: Path, seed: int = 7, input_dim: int = FEATURE_DIM, **architecture) -> ASFormer:
    """An ASFormer of seeded random weights, saved at `path` as train-asformer saves one."""
    settings = _settings(**architecture)
    torch.manual_seed(seed)
    model = ASFormer(input_dim, len(CLASSES), **{key: settings[key] for key in (*ARCHITECTURE, "window")})
    save_asformer(path, model, settings, {"class_names": CLASSES, "training": settings["training"]})
    return model


def _largest_difference(model: ASFormer, other: ASFormer) -> float:
    theirs = other.state_dict()
    return max(float((tensor - theirs[name]).abs().max()) for name, tensor in model.state_dict().items())


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("file_format", ["mmfeat-model", "old asformer"])
def test_training_starts_from_the_weights_of_init_from(dataset, tmp_path, file_format):
    start = _saved_model(tmp_path / "start.pt")
    if file_format == "old asformer":
        write_old_asformer_file(tmp_path / "start.pt", start, {"class_names": CLASSES})
    # a step of 1e-12 leaves every weight within 1e-9 of where training started
    creeping = {"learning_rate": 1e-12}
    trained = train_split(*dataset, 1, _settings(init_from=str(tmp_path / "start.pt"),
                                                 training={**TRAINING, **creeping}),
                          alignment="back", max_length_mismatch=0.05)
    assert _largest_difference(trained.model, start) < 1e-9
    assert trained.provenance["init_from"] == {"path": str(tmp_path / "start.pt"),
                                               "sha256": file_sha256(tmp_path / "start.pt")}
    # the control: without init_from, the same training stays at its own seeded weights, far from those
    fresh = train_split(*dataset, 1, _settings(training={**TRAINING, **creeping}), alignment="back",
                        max_length_mismatch=0.05)
    assert _largest_difference(fresh.model, start) > 0.01
    assert fresh.provenance["init_from"] is None


@pytest.mark.parametrize(("architecture", "input_dim", "difference"), [
    ({"num_layers": 3}, FEATURE_DIM, "num_layers 3 there, 2 here"),
    ({}, FEATURE_DIM + 1, f"input_dim {FEATURE_DIM + 1} there, {FEATURE_DIM} here"),
    ({"window": "per_query"}, FEATURE_DIM, "window 'per_query' there, 'official' here"),
])
def test_an_init_from_of_another_shape_is_refused_naming_the_file_and_the_difference(
        dataset, tmp_path, architecture, input_dim, difference):
    _saved_model(tmp_path / "other-shape.pt", input_dim=input_dim, **architecture)
    with pytest.raises(UserError, match=rf"init_from \S*other-shape\.pt: .*{re.escape(difference)}"):
        train_split(*dataset, 1, _settings(init_from=str(tmp_path / "other-shape.pt")), alignment="back",
                    max_length_mismatch=0.05)


def test_train_asformer_refuses_an_init_from_of_another_kind_naming_the_file(dataset, tmp_path, capsys):
    save_model(tmp_path / "pretrained.pt", "videoclip", {"kind": "videoclip"}, {"w": torch.zeros(1)}, {})
    settings = {"kind": "asformer", **ARCHITECTURE, "training": TRAINING, "init_from": str(tmp_path / "pretrained.pt")}
    status = mmfeat_main([
        "train-asformer", "--dataset-root", str(tmp_path / "toy"), "--features", str(tmp_path / "shard-0.h5"),
        "--split", "1", "--model", json.dumps(settings), "--max-length-mismatch", "0.05",
        "--checkpoint", str(tmp_path / "model.pt"), "--alignment-report", str(tmp_path / "train_alignment.json"),
    ])
    assert status == 2
    assert (f"init_from: {tmp_path / 'pretrained.pt'} holds a model of kind 'videoclip', not 'asformer'"
            in capsys.readouterr().err)
    assert not (tmp_path / "model.pt").exists()


def test_a_missing_init_from_is_refused_naming_the_file(dataset, tmp_path):
    with pytest.raises(UserError, match=r"init_from: model file \S*absent\.pt does not exist"):
        train_split(*dataset, 1, _settings(init_from=str(tmp_path / "absent.pt")), alignment="back",
                    max_length_mismatch=0.05)


def test_the_report_says_which_file_the_model_started_from(tmp_path):
    arguments = write_outputs(tmp_path, splits=1)
    assert "trained from a random initialisation, seed 0" in _report(arguments)
    arguments["settings"]["model"]["init_from"] = "results/base/asformer/i3d/split1/model.pt"
    assert "trained from the weights of `results/base/asformer/i3d/split1/model.pt`, seed 0" in _report(arguments)


def _report(arguments: dict) -> str:
    write_segmentation_report(**arguments)
    return arguments["report_path"].read_text()


@pytest.mark.slow(seconds=55)
def test_the_workflow_trains_init_from_first_and_retrains_when_it_changes(tmp_path):
    write_dataset(tmp_path / "data" / "toy")
    first = "results/toy/first/precomputed/split1/model.pt"
    warm = "results/toy/warm/precomputed/split1/model.pt"
    config = {
        "datasets": {"toy": {"kind": "segmentation", "root": "data/toy", "splits": 1, "model": "warm",
                             "features": {"precomputed": True, "num_shards": 1}}},
        "extractors": {},
        "models": {"first": {"kind": "asformer", **ARCHITECTURE, "training": TRAINING},
                   "warm": {"kind": "asformer", **ARCHITECTURE, "training": TRAINING, "init_from": first}},
    }
    run_snakemake(tmp_path, "--cores", "2", warm, config=config)
    assert load_asformer(tmp_path / warm).provenance["init_from"] == {
        "path": first, "sha256": file_sha256(tmp_path / first)}
    assert _planned_training(tmp_path, warm) == 0

    # a new file where init_from points (here: other weights of the same shape) retrains warm, not first
    _saved_model(tmp_path / first, seed=11)
    assert _planned_training(tmp_path, warm) == 1
    run_snakemake(tmp_path, "--cores", "2", warm, config=tmp_path / "config.yaml")
    assert load_asformer(tmp_path / warm).provenance["init_from"]["sha256"] == file_sha256(tmp_path / first)
    assert _planned_training(tmp_path, warm) == 0

    # so does init_from pointing at another file
    (tmp_path / "start.pt").write_bytes((tmp_path / first).read_bytes())
    config["models"]["warm"]["init_from"] = "start.pt"
    assert _planned_training(tmp_path, warm, config) == 1


def _planned_training(workdir: Path, target: str, config: dict | None = None) -> int:
    """How many train_asformer jobs a run of `target` would do now (a dry run's job stats)."""
    result = run_snakemake(workdir, "--dry-run", "--cores", "1", target, config=config or workdir / "config.yaml")
    match = re.search(r"^train_asformer\s+(\d+)$", result.stdout, re.MULTILINE)
    return int(match.group(1)) if match else 0
