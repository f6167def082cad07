"""A real Snakemake run of VideoCLIP's transfer to segmentation: from narrated features through
pretraining to zero-shot and fine-tuned predictions and the report, and what a new pretrained
checkpoint reruns.

    pytest tests/test_workflow_transfer.py

tests/configs/tiny-howto.yaml's `tiny-transfer`: six 36-44 frame videos in two splits, S3D rows of
the weights the tiny pretraining learnt from, one epoch of fine-tuning from the pretrained and from
random towers. It runs in a copy of conftest's `tiny_howto_run`, whose pretraining it reuses.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import TINY_HOWTO_CONFIG, copy_run, run_snakemake

pytestmark = pytest.mark.slow(seconds=200)  # with the tiny-howto run, when this file makes it

TARGET = "results/tiny-transfer/report.md"
PRETRAINED = "results/tiny-howto/pretrain/videoclip-tiny/model.pt"
ROWS = "results/tiny-transfer/videoclip"
STARTS = ("tiny-howto", "random")
SPLITS = (1, 2)


def planned_jobs(workdir: Path) -> dict[str, int]:
    """Rule -> job count of what building the report would do now (a dry run's job stats)."""
    stats = {}
    for line in run_snakemake(workdir, "--dry-run", TARGET, config=TINY_HOWTO_CONFIG).stdout.splitlines():
        match = re.fullmatch(r"([\w-]+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            stats[match.group(1)] = int(match.group(2))
    return stats


@pytest.fixture(scope="module")
def transfer_run(tiny_howto_run, tmp_path_factory) -> Path:
    """The transfer report built in a copy of the session's pretraining run."""
    workdir = copy_run(tiny_howto_run, tmp_path_factory.mktemp("tiny-transfer") / "run")
    pretrained_time = (workdir / PRETRAINED).stat().st_mtime_ns
    run_snakemake(workdir, "--cores", "2", TARGET, config=TINY_HOWTO_CONFIG)
    assert (workdir / PRETRAINED).stat().st_mtime_ns == pretrained_time, "the pretraining must not run again"
    return workdir


def test_fine_tuning_starts_from_the_pretrain_output_and_every_row_is_predicted_and_scored(transfer_run):
    from mmfeat.checkpoints import load_model
    from mmfeat.features.provenance import file_sha256

    pretrained_sha256 = file_sha256(transfer_run / PRETRAINED)
    for start in STARTS:
        for k in SPLITS:
            folder = transfer_run / ROWS / start / "finetune1" / "s3d-tiny-rows" / f"split{k}"
            _, _, provenance = load_model(folder / "model.pt", expected_kind="videoclip")
            if start == "random":
                assert provenance["init_from"]["kind"] == "random"
            else:
                assert provenance["init_from"] == {"kind": "pretrained", "path": PRETRAINED,
                                                   "sha256": pretrained_sha256}
            assert [json.loads(line)["epoch"] for line in (folder / "history.jsonl").read_text().splitlines()] == [1]
            tested = (folder / "evaluated.bundle").read_text().split()
            predicted = sorted(path.name for path in (folder / "predictions").iterdir() if not path.name.startswith("."))
            assert tested and predicted == sorted(Path(name).stem for name in tested)
            assert set(json.loads((folder / "metrics.json").read_text())["mean"]) >= {"acc", "edit", "f1@50"}
    # zero-shot from the pretrained towers only: random towers' text and video share no meaning
    assert (transfer_run / ROWS / "tiny-howto/zero-shot/s3d-tiny-rows/split2/metrics.json").is_file()
    assert not (transfer_run / ROWS / "random/zero-shot").exists()


def test_the_manifest_and_report_list_the_videoclip_rows_beside_asformer(transfer_run):
    runs = json.loads((transfer_run / "results/tiny-transfer/runs.json").read_text())["runs"]
    assert [(run["method"], run.get("start"), run.get("epochs")) for run in runs] == [
        ("asformer", None, None), ("videoclip-zero-shot", "tiny-howto", None),
        ("videoclip-finetune", "tiny-howto", 1), ("videoclip-finetune", "random", 1)]
    report = (transfer_run / TARGET).read_text()
    assert "VideoCLIP zero-shot from pretraining on `tiny-howto`" in report
    assert "VideoCLIP fine-tuned 1 epoch from random towers" in report
    assert re.search(r"Fine-tuned 1 epoch, starting from pretraining on `tiny-howto` (beat|did not beat|beat only on "
                     r"\S+) starting from random towers: [+−]\d+\.\d ± \d+\.\d points of accuracy and [+−]\d+\.\d ± "
                     r"\d+\.\d of F1@50 \(mean ± std over 2 splits", report)
    assert re.search(r"VideoCLIP zero-shot from pretraining on `tiny-howto` (beat|did not beat) the majority-class "
                     r"baseline", report)
    assert "| finetune_videoclip | 4 |" in report and "| videoclip_zero_shot | 2 |" in report


def test_a_new_pretrained_checkpoint_reruns_its_rows_and_the_report_not_the_features(transfer_run, tmp_path):
    workdir = copy_run(transfer_run, tmp_path / "run")
    assert planned_jobs(workdir) == {}
    os.utime(workdir / PRETRAINED)  # now, after every output of the copy: as a pretraining run again leaves it
    # the pretrained start's zero-shot and fine-tuning on both splits, their metrics, the report; not the
    # rows from random towers, not ASFormer, not the features
    assert planned_jobs(workdir) == {"videoclip_zero_shot": 2, "finetune_videoclip": 2, "evaluate_split": 4,
                                     "segmentation_report": 1}
