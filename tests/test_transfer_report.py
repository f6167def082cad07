"""The segmentation report's VideoCLIP rows, written from constructed split outputs whose answer is
known: their titles, the study's question answered per epoch budget with its spread from split to
split, whether zero-shot beat the majority baseline, and the study's reference rows with their note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_segmentation_report import LABELS, SPLITS, write_outputs

from mmfeat.datasets.mstcn_files import write_prediction_file
from mmfeat.tasks.segmentation.report import runs_from_manifest, write_segmentation_report
from mmfeat.tasks.segmentation.run_manifest import read_run_manifest, write_run_manifest
from mmfeat.workflow_config import with_defaults

SECTION = {"features": "i3d", "model": "clip", "starts": ["howto", "random"],
           "zero_shot": {"exclude": ["serve"]}, "finetune": {"epochs": [8]}}
TOWERS = {"kind": "videoclip", "hidden_size": 16, "video_layers": 1, "text_layers": 1}


def _row(tmp_path: Path, folder: str, accuracy: list[float], f1_at_50: list[float]) -> list[dict]:
    """Split folders of one row: per split, the given accuracy and F1@50 (the other metrics at 10)."""
    splits = []
    for number, (acc, f1) in enumerate(zip(accuracy, f1_at_50), start=1):
        directory = tmp_path / "results" / folder / f"split{number}"
        (directory / "predictions").mkdir(parents=True)
        (directory / "evaluated.bundle").write_text("".join(f"{video}.txt\n" for video in SPLITS[number]))
        for video in SPLITS[number]:
            write_prediction_file(directory / "predictions" / video, ["cut"] * len(LABELS[video]))
        metrics = {"acc": acc, "edit": 10.0, "f1@10": 10.0, "f1@25": 10.0, "f1@50": f1}
        (directory / "metrics.json").write_text(json.dumps({"mean": metrics}))
        splits.append({"split": number, "folder": directory, "metrics": directory / "metrics.json"})
    return splits


def _report(tmp_path: Path, rows: dict, reference_results: str | None = None) -> str:
    """The report of ASFormer (write_outputs, three splits) beside the VideoCLIP `rows`:
    {(method, start, epochs): (accuracy per split, F1@50 per split)}."""
    arguments = write_outputs(tmp_path, splits=3)
    manifest = tmp_path / "results/runs.json"
    runs = json.loads(manifest.read_text())["runs"]
    runs[0]["splits"] = [{"split": split["split"], "folder": manifest.parent / split["folder"],
                          "metrics": manifest.parent / split["metrics"]} for split in runs[0]["splits"]]
    for (method, start, epochs), (accuracy, f1) in rows.items():
        folder = f"videoclip/{start}/{'zero-shot' if epochs is None else f'finetune{epochs}'}/i3d"
        runs.append({"method": method, "model": "clip", "start": start, "epochs": epochs, "feature_set": "i3d",
                     "splits": _row(tmp_path, folder, accuracy, f1)})
    write_run_manifest(manifest, runs)
    arguments["runs"] = runs_from_manifest(read_run_manifest(manifest))
    arguments["settings"]["dataset"]["videoclip"] = with_defaults("segmentation_videoclip", SECTION, "test")
    arguments["settings"]["videoclip_models"] = {start: {"name": "clip", "settings": TOWERS}
                                                 for start in SECTION["starts"]}
    if reference_results:
        arguments["settings"]["dataset"]["reference_results"] = reference_results
    write_segmentation_report(**arguments)
    return arguments["report_path"].read_text()


def test_the_gain_of_pretraining_over_random_is_stated_per_budget_with_its_spread(tmp_path):
    report = _report(tmp_path, {
        ("videoclip-finetune", "howto", 8): ([60.0, 70.0, 80.0], [20.0, 25.0, 30.0]),
        ("videoclip-finetune", "random", 8): ([50.0, 50.0, 50.0], [20.0, 20.0, 20.0]),
    })
    # per split: +10, +20, +30 accuracy (mean 20, std 10) and +0, +5, +10 F1@50 (mean 5, std 5)
    assert ("Fine-tuned 8 epochs, starting from pretraining on `howto` beat starting from random towers: "
            "+20.0 ± 10.0 points of accuracy and +5.0 ± 5.0 of F1@50 (mean ± std over 3 splits of the per-split "
            "difference, with std n−1; from +10.0 to +30.0 points of accuracy and +0.0 to +10.0 of F1@50 from split "
            "to split).") in report
    assert "| VideoCLIP fine-tuned 8 epochs from pretraining on `howto`, on `i3d` | 3 | 70.0 ± 10.0 |" in report
    assert "| VideoCLIP fine-tuned 8 epochs from random towers, on `i3d` | 3 | 50.0 ± 0.0 |" in report
    assert "Towers: pretraining on `howto`: `clip` (width 16, 1 video layer and 1 text layer" in report
    assert "labels never predicted: `serve`" in report and "head linear, 8 epochs" in report


@pytest.mark.parametrize(("pretrained", "verdict"), [
    (([40.0, 40.0, 40.0], [10.0, 10.0, 10.0]), "did not beat starting from random towers: −10.0 ± 0.0 points"),
    (([60.0, 60.0, 60.0], [10.0, 10.0, 10.0]), "beat only on accuracy starting from random towers: +10.0"),
])
def test_a_loss_or_a_split_verdict_is_stated_as_it_went(tmp_path, pretrained, verdict):
    report = _report(tmp_path, {("videoclip-finetune", "howto", 8): pretrained,
                                ("videoclip-finetune", "random", 8): ([50.0] * 3, [20.0] * 3)})
    assert f"Fine-tuned 8 epochs, starting from pretraining on `howto` {verdict}" in report


def test_zero_shot_is_compared_with_the_majority_baseline_whichever_way_it_went(tmp_path):
    # write_outputs' videos: no split's training majority label occurs in its test video, so the baseline
    # scores 0.0; a tie is no win
    report = _report(tmp_path, {("videoclip-zero-shot", "howto", None): ([90.0, 90.0, 90.0], [1.0] * 3),
                                ("videoclip-zero-shot", "release", None): ([0.0, 0.0, 0.0], [0.0] * 3)})
    assert "VideoCLIP zero-shot from pretraining on `howto` beat the majority-class baseline: 90.0 against 0.0" in report
    assert ("VideoCLIP zero-shot from the released weights did not beat the majority-class baseline: 0.0 against 0.0"
            in report)
    # no random start fine-tuned beside a pretrained one: the question is said to be open, not answered
    assert "Whether pretraining helps fine-tuning" not in report
    only_pretrained = _report(tmp_path / "open", {("videoclip-finetune", "howto", 8): ([50.0] * 3, [1.0] * 3)})
    assert "Whether pretraining helps fine-tuning is not answered here" in only_pretrained


def test_the_studys_rows_are_marked_as_references_and_its_zero_shot_edit_is_unavailable_with_a_note(tmp_path):
    report = _report(tmp_path, {("videoclip-finetune", "release", 8): ([50.0] * 3, [1.0] * 3)},
                     reference_results="50salads")
    assert ("| reference: VideoCLIP fine-tuned 15 epochs from public weights, 50Salads study |  | 81.6 | 69.6 | 56.8 "
            "| 54.3 | 46.4 |") in report
    assert "| reference: VideoCLIP fine-tuned 8 epochs from the study's own pretraining, 50Salads study |  | 79.9 |" in report
    assert "| reference: zero-shot (VideoCLIP, public weights), 50Salads study |  | 45.7 | — | 17.2 |" in report
    assert "The study printed an Edit score above 100 for both zero-shot rows" in report
