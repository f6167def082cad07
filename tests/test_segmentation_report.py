"""The segmentation report written from small constructed outputs: a dataset in the MS-TCN layout,
one HDF5 shard of features, and the split folders the workflow's jobs write."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np

from mmfeat.datasets.mstcn_files import write_prediction_file
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.tasks.segmentation.run_manifest import read_run_manifest, write_run_manifest
from mmfeat.tasks.segmentation.report import runs_from_manifest, write_segmentation_report

LABELS = {"a": ["cut"] * 6 + ["mix"] * 4, "b": ["mix"] * 5 + ["serve"] * 3, "c": ["cut"] * 3 + ["serve"] * 5}
SPLITS = {1: ["a"], 2: ["b"], 3: ["c"]}  # test videos of each split; the others train
SETTINGS = {
    "dataset": {"kind": "segmentation", "features": {"video": ["i3d"], "num_shards": 4}, "model": "small",
                "alignment": "truncate", "ribbon_videos": 2},
    "extractors": {"i3d": {"kind": "i3d", "dtype": "float16", "window": 9, "weights": None, "seed": 0}},
    "model": {"kind": "asformer", "num_decoders": 3, "num_layers": 2, "num_f_maps": 8, "window": 8,
              "training": {"seed": 0, "epochs": 40, "learning_rate": 0.003, "sample_rate": 1,
                           "normalize_features": True}},
}
RANDOM = {"kind": "random", "seed": 0}


def write_outputs(tmp_path: Path, splits: int, weights: dict = RANDOM, num_shards: int = 4, epochs: int = 40) -> dict:
    """The dataset, the store and the first `splits` split folders of ASFormer on `i3d`; report arguments."""
    root = tmp_path / "data"
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("0 cut\n1 mix\n2 serve\n")
    for video, labels in LABELS.items():
        (root / "groundTruth" / f"{video}.txt").write_text("".join(f"{label}\n" for label in labels))
    with ShardWriter(tmp_path / "results/features/i3d/shard-0.h5", "i3d", SETTINGS["extractors"]["i3d"]) as shard:
        for video, labels in LABELS.items():
            shard.add_video(video, np.zeros((len(labels), 4)), np.arange(len(labels)), {"weights": weights})
    manifest_splits = []
    for number in range(1, splits + 1):
        test = SPLITS[number]
        (root / "splits" / f"test.split{number}.bundle").write_text("".join(f"{v}.txt\n" for v in test))
        (root / "splits" / f"train.split{number}.bundle").write_text(
            "".join(f"{v}.txt\n" for v in LABELS if v not in test))
        directory = tmp_path / "results/small/i3d" / f"split{number}"
        (directory / "predictions").mkdir(parents=True)
        (directory / "evaluated.bundle").write_text("".join(f"{v}.txt\n" for v in test))
        for video in test:
            write_prediction_file(directory / "predictions" / video, ["mix"] * len(LABELS[video]))
        metrics = {"acc": 50.0 + number, "edit": 40.0, "f1@10": 30.0, "f1@25": 20.0, "f1@50": 10.0}
        (directory / "metrics.json").write_text(json.dumps({"mean": metrics}))
        (directory / "alignment.json").write_text(json.dumps({"videos": {
            video: {"video_frames": len(LABELS[video]), "label_frames": len(LABELS[video]), "mismatch": 0,
                    "policy": "truncate"} for video in test}}))
        manifest_splits.append({"split": number, "folder": directory, "metrics": directory / "metrics.json"})
    write_run_manifest(tmp_path / "results/runs.json", [
        {"method": "asformer", "model": "small", "feature_set": "i3d", "splits": manifest_splits}])
    settings = copy.deepcopy(SETTINGS)
    settings["dataset"]["splits"] = splits
    settings["dataset"]["features"]["num_shards"] = num_shards
    settings["model"]["training"]["epochs"] = epochs
    return {"name": "toy", "settings": settings, "dataset": SegmentationDataset(root),
            "stores": {"i3d": FeatureStore(tmp_path / "results/features/i3d/shard-0.h5")},
            "runs": runs_from_manifest(read_run_manifest(tmp_path / "results/runs.json")),
            "report_path": tmp_path / "results/report.md", "ribbons_path": tmp_path / "results/ribbons.png"}


def write_report(tmp_path: Path, splits: int = 3, **changes) -> str:
    arguments = write_outputs(tmp_path, splits, **changes)
    write_segmentation_report(**arguments)
    return arguments["report_path"].read_text()


def test_random_features_on_a_real_dataset_open_the_report_with_a_warning(tmp_path):
    report = write_report(tmp_path / "random")
    title, warning = report.split("\n\n")[:2]
    assert title == "# toy: action segmentation"
    assert warning.startswith("> **Warning: random features.** The features of `i3d` come from randomly initialised")
    assert "reference and published rows are not comparable" in warning
    trained = write_report(tmp_path / "trained", weights={"kind": "file", "path": "i3d.pyth", "sha256": "00ff"})
    assert "Warning: random features" not in trained
    assert trained.split("\n\n")[1].startswith("## Results")


def test_one_split_shows_no_deviation_and_counts_of_one_are_singular(tmp_path):
    report = write_report(tmp_path, splits=1, num_shards=1, epochs=1)
    assert "±" not in report  # the n-1 deviation of one split is undefined: none is shown
    assert "## Results: one split" in report and "no std: the n−1 deviation of one value is undefined" in report
    assert "| ASFormer (`small`) on `i3d` features | 1 | 51.0 | 40.0 | 30.0 | 20.0 | 10.0 |" in report
    assert "| **mean** | | **51.0** | **40.0** | **30.0** | **20.0** | **10.0** |" in report
    assert "extracted from the videos into 1 HDF5 shard (3 videos, stored as float16)" in report
    assert ", 1 epoch, learning rate" in report and "3 decoders, 2 layers" in report


def test_several_splits_show_mean_and_std_and_plural_counts(tmp_path):
    report = write_report(tmp_path, splits=3)
    assert "## Results: 3-fold cross-validation" in report and "(std with n−1)" in report
    assert "| ASFormer (`small`) on `i3d` features | 3 | 52.0 ± 1.0 | 40.0 ± 0.0 |" in report
    assert re.search(r"^\| \*\*mean ± std\*\* \| \| \*\*52\.0 ± 1\.0\*\* \|", report, re.MULTILINE)
    assert "into 4 HDF5 shards (3 videos," in report and ", 40 epochs, learning rate" in report


def test_the_ribbons_are_a_png_beside_the_report_linked_not_embedded(tmp_path):
    report = write_report(tmp_path, splits=3)
    assert "data:" not in report and max(len(line) for line in report.splitlines()) < 1000
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert links == ["ribbons.png"]
    assert (tmp_path / "results" / links[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ASFormer (`small`) on `i3d` features; test videos a, b.\n\n![ground truth against prediction]" in report
    assert "; test video a.\n\n" in write_report(tmp_path / "one", splits=1)
