"""The run manifest (results/<dataset>/runs.json): the workflow writes the runs a report compares, and
the segmentation report lists them from it, not from folder names."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml
from conftest import TINY_CONFIG, run_snakemake
from test_segmentation_report import SETTINGS, write_outputs

from mmfeat.cli import main as mmfeat_main
from mmfeat.errors import UserError
from mmfeat.tasks.segmentation.run_manifest import FORMAT_VERSION, read_run_manifest, write_run_manifest


def _split(folder: str, number: int) -> dict:
    return {"split": number, "folder": f"{folder}/split{number}", "metrics": f"{folder}/split{number}/metrics.json"}


def test_a_manifest_keeps_its_runs_in_order_with_paths_relative_to_its_folder(tmp_path):
    manifest = tmp_path / "results" / "toy" / "runs.json"
    write_run_manifest(manifest, [
        {"method": "asformer", "model": "small", "feature_set": "i3d",
         "splits": [_split(str(tmp_path / "results/toy/small/i3d"), k) for k in (2, 1)]},
        {"method": "zero-shot", "model": None, "feature_set": "s3d",
         "splits": [_split(str(tmp_path / "results/toy/zero-shot/s3d"), 1)]},
    ])
    stored = json.loads(manifest.read_text())
    assert stored["runs"][0]["splits"][0] == {"split": 1, "folder": "small/i3d/split1",
                                              "metrics": "small/i3d/split1/metrics.json"}
    assert stored["runs"][1]["splits"][0]["folder"] == "zero-shot/s3d/split1"

    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "results" / "toy", moved)
    runs = read_run_manifest(moved / "runs.json")
    assert [(run.method, run.model, run.feature_set) for run in runs] == [("asformer", "small", "i3d"),
                                                                          ("zero-shot", None, "s3d")]
    assert [(split.number, split.folder, split.metrics) for split in runs[0].splits] == [
        (1, moved / "small/i3d/split1", moved / "small/i3d/split1/metrics.json"),
        (2, moved / "small/i3d/split2", moved / "small/i3d/split2/metrics.json")]


def test_a_videoclip_row_keeps_its_start_and_epochs_and_other_rows_have_none(tmp_path):
    manifest = tmp_path / "runs.json"
    write_run_manifest(manifest, [
        {"method": "asformer", "model": "small", "feature_set": "s3d", "splits": [_split("small/s3d", 1)]},
        {"method": "videoclip-zero-shot", "model": "clip", "start": "release", "epochs": None, "feature_set": "s3d",
         "splits": [_split("videoclip/release/zero-shot/s3d", 1)]},
        {"method": "videoclip-finetune", "model": "clip", "start": "howto", "epochs": 8, "feature_set": "s3d",
         "splits": [_split("videoclip/howto/finetune8/s3d", 1)]},
    ])
    assert [(run.method, run.start, run.epochs) for run in read_run_manifest(manifest)] == [
        ("asformer", None, None), ("videoclip-zero-shot", "release", None), ("videoclip-finetune", "howto", 8)]
    assert "start" not in json.loads(manifest.read_text())["runs"][0]  # absent where it means nothing


@pytest.mark.parametrize(("contents", "message"), [
    (None, r"run manifest \S*runs\.json does not exist; the workflow writes it \(rule segmentation_manifest\)"),
    ("{not json", r"runs\.json: not a readable run manifest"),
    ({"runs": []}, r"runs\.json is not a run manifest"),
    ({"format": "mmfeat-run-manifest", "format_version": FORMAT_VERSION + 1, "runs": []},
     rf"runs\.json: format_version {FORMAT_VERSION + 1}, newer than the {FORMAT_VERSION} this mmfeat reads"),
    ({"format": "mmfeat-run-manifest", "format_version": 1, "runs": [{"method": "asformer"}]},
     r"runs\.json: a run without its method, model, feature_set or splits"),
    ({"format": "mmfeat-run-manifest", "format_version": 1,
      "runs": [{"method": "asformer", "model": "m", "feature_set": "i3d", "splits": []}]},
     r"runs\.json: lists no run, or a run without splits"),
])
def test_a_file_that_is_not_a_readable_manifest_is_refused_naming_it(tmp_path, contents, message):
    manifest = tmp_path / "runs.json"
    if contents is not None:
        manifest.write_text(contents if isinstance(contents, str) else json.dumps(contents))
    with pytest.raises(UserError, match=message):
        read_run_manifest(manifest)


def test_the_report_names_each_run_by_its_manifest_entry_whatever_its_folders_are_called(tmp_path):
    write_outputs(tmp_path, splits=2)
    # the manifest, not the folder, says which model made these predictions
    (tmp_path / "results/small").rename(tmp_path / "results/fold-outputs")
    write_run_manifest(tmp_path / "results/runs.json", [
        {"method": "asformer", "model": "small", "feature_set": "i3d",
         "splits": [_split(str(tmp_path / "results/fold-outputs/i3d"), k) for k in (1, 2)]}])
    settings = {**SETTINGS, "dataset": {**SETTINGS["dataset"], "splits": 2}}
    assert mmfeat_main([
        "segmentation-report", "--name", "toy", "--dataset-root", str(tmp_path / "data"),
        "--features", str(tmp_path / "results/features/i3d/shard-0.h5"), "--runs", str(tmp_path / "results/runs.json"),
        "--report-settings", json.dumps(settings), "--output", str(tmp_path / "results/report.md"),
        "--ribbons", str(tmp_path / "results/ribbons.png"),
    ]) == 0
    report = (tmp_path / "results/report.md").read_text()
    assert "| ASFormer (`small`) on `i3d` features | 2 | 51.5 ± 0.7 |" in report
    assert "fold-outputs" not in report


@pytest.mark.slow
def test_the_workflow_writes_the_manifest_of_the_configs_runs_and_rewrites_it_when_they_change(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    run_snakemake(tmp_path, "--cores", "1", "results/tiny-salads/runs.json", config=config)
    runs = read_run_manifest(tmp_path / "results/tiny-salads/runs.json")
    dataset = config["datasets"]["tiny-salads"]
    zero_shot = dataset["zero_shot"]["extractor"]
    assert [(run.method, run.model, run.feature_set) for run in runs] == [
        *(("asformer", dataset["model"], feature_set) for feature_set in dataset["features"]["video"]),
        ("zero-shot", None, zero_shot)]
    # each split folder is the one the rules write into (train_asformer, zero_shot_split, evaluate_split)
    assert [(split.number, split.folder, split.metrics) for split in runs[-1].splits] == [
        (k, tmp_path / f"results/tiny-salads/zero-shot/{zero_shot}/split{k}",
         tmp_path / f"results/tiny-salads/zero-shot/{zero_shot}/split{k}/metrics.json")
        for k in range(1, dataset["splits"] + 1)]

    dataset["features"]["video"] = dataset["features"]["video"][:1]
    dry_run = run_snakemake(tmp_path, "--dry-run", "--cores", "1", "results/tiny-salads/runs.json", config=config)
    assert re.search(r"^segmentation_manifest\s+1$", dry_run.stdout, re.MULTILINE), dry_run.stdout
