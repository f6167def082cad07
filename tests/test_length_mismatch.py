"""Videos whose length is far from their ground truth's: train-asformer stops before training naming
every such file, writes the training videos' lengths for the report, and prediction checks its test videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_segmentation_report import LABELS, SPLITS, write_outputs

from mmfeat.align import Alignment
from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.mstcn_files import read_prediction_file
from mmfeat.features.store import ShardWriter
from mmfeat.tasks.segmentation.report import write_segmentation_report

CLASSES = ("cut", "mix", "serve")
FEATURE_DIM = 4
MODEL_SETTINGS = json.dumps({"kind": "asformer", "num_decoders": 1, "num_layers": 2, "num_f_maps": 8,
                             "training": {"epochs": 1, "device": "cpu", "threads": 1}})


def write_layout(tmp_path: Path, video_frames: dict[str, int], label_frames: dict[str, int],
                 train: list[str], test: list[str], skipped: dict[str, list[int]] | None = None) -> Path:
    """An MS-TCN layout with one split and one HDF5 shard of features: `video_frames` stream frames per
    video (those in `skipped` have no feature row and are in the decode record as skipped)."""
    root = tmp_path / "dataset"
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("".join(f"{index} {name}\n" for index, name in enumerate(CLASSES)))
    for video, count in label_frames.items():
        labels = "".join(f"{CLASSES[i * 3 // count]}\n" for i in range(count))  # three equal segments
        (root / "groundTruth" / f"{video}.txt").write_text(labels)
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{video}.txt\n" for video in train))
    (root / "splits" / "test.split1.bundle").write_text("".join(f"{video}.txt\n" for video in test))
    rng = np.random.default_rng(0)
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}, dtype="float32") as shard:
        for video, count in video_frames.items():
            skipped_frames = (skipped or {}).get(video, [])
            frame_indices = np.array([i for i in range(count) if i not in skipped_frames])
            shard.add_video(video, rng.normal(size=(len(frame_indices), FEATURE_DIM)), frame_indices,
                            {"source": "video"})
            shard.add_decode_record(video, {"path": f"videos/{video}.mp4", "backend": "pyav",
                                            "frames_expected": count, "frames_decoded": len(frame_indices),
                                            "skipped_indices": skipped_frames})
    (tmp_path / "split1").mkdir()
    return tmp_path


def train(workdir: Path, *extra: str) -> int:
    return mmfeat_main([
        "train-asformer", "--dataset-root", str(workdir / "dataset"), "--features", str(workdir / "shard-0.h5"),
        "--split", "1", "--model", MODEL_SETTINGS, "--max-length-mismatch", "0.05",
        "--checkpoint", str(workdir / "split1" / "model.pt"),
        "--alignment-report", str(workdir / "split1" / "train_alignment.json"), *extra])


def predict(workdir: Path, *extra: str) -> int:
    split_dir = workdir / "split1"
    return mmfeat_main([
        "predict-asformer", "--dataset-root", str(workdir / "dataset"), "--features", str(workdir / "shard-0.h5"),
        "--split", "1", "--checkpoint", str(split_dir / "model.pt"), "--predictions", str(split_dir / "predictions"),
        "--evaluated-bundle", str(split_dir / "evaluated.bundle"),
        "--alignment-report", str(split_dir / "alignment.json"), *extra])


@pytest.mark.parametrize(("video_frames", "label_frames", "beyond"), [
    (20, 200, True),        # far too many labels
    (24, 8, True),          # far too few
    (1000, 1050, False),    # 50 frames: 4.8 % of the labels
    (1000, 1060, True),     # 60 frames: 5.7 %
    (38, 40, False),        # the tiny demo's longer ground truth: 2 frames, 5 %
    (36, 46, False),        # 10 frames of a short video: always a few frames at the ends
    (36, 47, True),
])
def test_a_mismatch_is_beyond_the_bound_past_the_fraction_and_a_few_frames(video_frames, label_frames, beyond):
    alignment = Alignment(np.arange(0), np.arange(0), video_frames, label_frames)
    assert alignment.beyond(0.05) == beyond


def test_training_stops_before_it_starts_naming_every_video_far_from_its_labels(tmp_path, capsys):
    workdir = write_layout(tmp_path, video_frames={"v1": 20, "v2": 24, "v3": 30, "t1": 30},
                           label_frames={"v1": 200, "v2": 8, "v3": 30, "t1": 30},
                           train=["v1", "v2", "v3"], test=["t1"])
    assert train(workdir) == 2
    error = capsys.readouterr().err
    ground_truth = workdir / "dataset" / "groundTruth"
    assert "2 of the 3 training videos of split 1 differ in length from their ground truth by more than 5%" in error
    assert f"video 'v1': 20 video frames, 200 label frames in {ground_truth / 'v1.txt'}, 180 apart (90%)" in error
    assert f"video 'v2': 24 video frames, 8 label frames in {ground_truth / 'v2.txt'}, 16 apart (200%)" in error
    assert "'v3'" not in error and "max_length_mismatch" in error
    assert sorted(path.name for path in (workdir / "split1").iterdir()) == []  # nothing trained, nothing written
    # a bound the user raised on purpose lets it train, and the lengths are recorded
    assert train(workdir, "--max-length-mismatch", "10") == 0
    record = json.loads((workdir / "split1" / "train_alignment.json").read_text())
    assert record["split"] == 1 and record["part"] == "train" and record["left_out"] == {}
    assert record["videos"]["v1"] == {"video_frames": 20, "label_frames": 200, "mismatch": -180, "policy": "back"}
    assert record["videos"]["v2"]["mismatch"] == 16 and record["videos"]["v3"]["mismatch"] == 0


def test_frames_skipped_as_damaged_are_not_a_mismatch_and_small_ones_train(tmp_path):
    """40 frames of which 12 were skipped as damaged against 40 labels; 36 frames against 38 labels."""
    workdir = write_layout(tmp_path, video_frames={"damaged": 40, "short": 36, "t1": 30},
                           label_frames={"damaged": 40, "short": 38, "t1": 30},
                           train=["damaged", "short"], test=["t1"], skipped={"damaged": list(range(16, 28))})
    assert train(workdir) == 0
    videos = json.loads((workdir / "split1" / "train_alignment.json").read_text())["videos"]
    assert videos["damaged"]["video_frames"] == 40 and videos["damaged"]["mismatch"] == 0
    assert videos["short"]["mismatch"] == -2
    assert predict(workdir) == 0
    assert len(read_prediction_file(workdir / "split1" / "predictions" / "t1")) == 30


def test_prediction_refuses_a_test_video_far_from_its_labels_with_the_trained_bound(tmp_path, capsys):
    workdir = write_layout(tmp_path, video_frames={"v1": 30, "v2": 30, "t1": 30},
                           label_frames={"v1": 30, "v2": 30, "t1": 90}, train=["v1", "v2"], test=["t1"])
    assert train(workdir) == 0
    assert predict(workdir) == 2  # the checkpoint's bound, 5 %
    error = capsys.readouterr().err
    assert "1 of the 1 test videos of split 1 differ in length" in error
    assert f"video 't1': 30 video frames, 90 label frames in {workdir / 'dataset' / 'groundTruth' / 't1.txt'}" in error
    assert not (workdir / "split1" / "predictions").exists()
    assert predict(workdir, "--max-length-mismatch", "3") == 0
    assert json.loads((workdir / "split1" / "alignment.json").read_text())["videos"]["t1"]["mismatch"] == -60


def test_the_report_counts_and_lists_mismatches_of_training_and_test_videos(tmp_path):
    arguments = write_outputs(tmp_path, splits=3)
    arguments["settings"]["dataset"]["max_length_mismatch"] = 0.05
    for run in arguments["runs"]:
        for split in run.splits:
            train_videos = [video for video in LABELS if video not in SPLITS[split.number]]
            lengths = {video: {"video_frames": len(LABELS[video]), "label_frames": len(LABELS[video]),
                               "mismatch": 0, "policy": "back"} for video in train_videos}
            if "b" in lengths:  # b's features are 2 frames longer than its 8 labels, wherever it is trained on
                lengths["b"] = {"video_frames": 10, "label_frames": 8, "mismatch": 2, "policy": "back"}
            record = {"split": split.number, "part": "train", "videos": lengths, "left_out": {}}
            (split.directory / "train_alignment.json").write_text(json.dumps(record))
    write_segmentation_report(**arguments)
    report = arguments["report_path"].read_text()
    assert "- 1 video whose decoded length differs from the ground truth." in report
    assert ("- Lengths are compared on every split's training and test videos; a difference beyond 5% of a video's "
            "label frames (and over 10 frames) stops the run before training (`max_length_mismatch`).") in report
    assert "| Video | Video frames | Label frames | Cut | Splits |" in report
    assert "| b | 10 | 8 | 2 at the back | train 1, 3 |" in report
