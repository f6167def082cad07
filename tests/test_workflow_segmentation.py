"""Real Snakemake runs of the segmentation workflow on tiny named configs.

The demo run goes from generated H.264 videos (one damaged, one unreadable)
through I3D features in HDF5 shards, ASFormer per split, to the report.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT, TINY_CONFIG, run_snakemake

from mmfeat.datasets.mstcn_files import read_bundle, read_prediction_file
from mmfeat.features.store import FeatureStore
from mmfeat.metrics.segmentation import evaluate_bundle
from snakemake_report import build_snakemake_report

pytestmark = pytest.mark.slow(seconds=100)


def planned_jobs(workdir: Path, config: Path) -> dict[str, int]:
    """Rule -> job count of what a run would do now (a dry run's job stats)."""
    result = run_snakemake(workdir, "--dry-run", "--cores", "1", "results/tiny-salads/report.md", config=config)
    stats = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            stats[match.group(1)] = int(match.group(2))
    return stats


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny-run")
    config = workdir / "tiny.yaml"
    shutil.copy(TINY_CONFIG, config)
    run_snakemake(workdir, "--cores", "2", "results/tiny-salads/report.md", config=config)
    return workdir, config


def test_report_compares_i3d_s3d_and_zero_shot_on_the_same_splits(demo_run):
    workdir, _ = demo_run
    report = (workdir / "results/tiny-salads/report.md").read_text()
    for title in ("ASFormer (`asformer-tiny`) on `i3d-tiny` features", "ASFormer (`asformer-tiny`) on `s3d-tiny` features",
                  "zero-shot from action names, on `s3d-tiny`"):
        assert re.search(rf"^\| {re.escape(title)} \| 2 \|( [\d.]+ ± [\d.]+ \|){{5}}$", report, re.MULTILINE), title
    assert "Zero-shot is at chance by construction here" in report
    for method, features in (("asformer-tiny", "i3d-tiny"), ("asformer-tiny", "s3d-tiny"), ("zero-shot", "s3d-tiny")):
        for split in (1, 2):
            assert (workdir / f"results/tiny-salads/{method}/{features}/split{split}/metrics.json").is_file()
    # zero-shot never predicts the excluded labels
    for predictions in (workdir / "results/tiny-salads/zero-shot/s3d-tiny").glob("split*/predictions/[!.]*"):
        assert not {"action_start", "action_end"} & set(read_prediction_file(predictions))
    s3d = FeatureStore(sorted((workdir / "results/tiny-salads/features/s3d-tiny").glob("shard-*.h5")))
    video = s3d.videos()[0]
    assert s3d.features(video).shape[1] == 1024 and s3d.features(video, "video_embedding").shape[1] == 512
    assert s3d.provenance(video)["settings"]["kind"] == "s3d"


def test_report_has_every_split_the_mean_the_baseline_and_the_demo_notice(demo_run):
    workdir, _ = demo_run
    report = (workdir / "results/tiny-salads/report.md").read_text()
    for split in (1, 2):
        assert re.search(rf"^\| split {split} \| \d+ \|( [\d.]+ \|){{5}}$", report, re.MULTILINE), report
    assert re.search(r"^\| \*\*mean ± std\*\* \| \|( \*\*[\d.]+ ± [\d.]+\*\* \|){5}$", report, re.MULTILINE)
    assert re.search(r"^\| majority-class baseline \(mean\) \|\s+\|( [\d.]+ \|){5}$", report, re.MULTILINE)
    assert "**Demo.**" in report and "randomly initialised" in report
    assert "random initialisation, seed 0" in report
    assert "![ground truth against prediction](ribbons.png)" in report and "data:" not in report
    assert (workdir / "results/tiny-salads/ribbons.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 2 extractors x 2 shards; 2 feature sets x 2 splits trained and predicted; 2 zero-shot splits
    for stage, jobs in (("extract_shard", 4), ("train_asformer", 4), ("predict_asformer", 4), ("zero_shot_split", 2)):
        assert re.search(rf"^\| {stage} \| {jobs} \|( [\d.]+ \|){{3}}$", report, re.MULTILINE), stage


def test_damaged_frames_unreadable_file_and_length_mismatch_are_reported(demo_run):
    workdir, _ = demo_run
    summary = json.loads(_demo_summary(workdir))
    report = (workdir / "results/tiny-salads/report.md").read_text()
    store = FeatureStore(sorted((workdir / "results/tiny-salads/features/i3d-tiny").glob("shard-*.h5")))
    (unreadable,) = summary["unreadable"]
    assert unreadable in store.excluded()
    assert re.search(rf"^\| {unreadable} \| .+ \|$", report, re.MULTILINE)
    damaged_records = {video: r for video, r in store.decode_records().items() if r["skipped_indices"]}
    assert set(damaged_records) == set(summary["damaged"])
    for video in damaged_records:
        assert re.search(rf"^\| {video} \| \d+ \| \d+ \| [\d, -]+ \| - \| decord \|$", report, re.MULTILINE)
    assert re.search(r"^- [1-9]\d* videos? whose decoded length differs from the ground truth\.$", report, re.MULTILINE)
    # the longer ground truth is listed where it is trained on, too (train_alignment.json), not only tested
    longer = summary["longer_groundtruth"]
    listed_where = rf"^\| {longer} \| \d+ \| \d+ \| 2 at the back \| train \d(, \d)*; test \d \|$"
    assert re.search(listed_where, report, re.MULTILINE)


def _demo_summary(workdir: Path) -> str:
    """The JSON summary `mmfeat make-demo-salads` printed into its log."""
    text = (workdir / "results/tiny-salads/logs/make_demo.log").read_text()
    return text[text.index("{"): text.rindex("}") + 1]


def test_store_holds_every_readable_video_with_provenance(demo_run):
    workdir, _ = demo_run
    shards = sorted((workdir / "results/tiny-salads/features/i3d-tiny").glob("shard-*.h5"))
    assert [path.name for path in shards] == ["shard-0.h5", "shard-1.h5"]
    store = FeatureStore(shards)
    ground_truth = sorted(path.stem for path in (workdir / "results/tiny-salads/dataset/groundTruth").glob("*.txt"))
    assert sorted([*store.videos(), *store.excluded()]) == ground_truth
    video = store.videos()[0]
    features = store.features(video)
    assert features.shape[1] == 2048 and np.isfinite(features).all()
    assert store.provenance(video)["weights"] == {"kind": "random", "seed": 0}


def test_predictions_cover_every_ground_truth_frame_and_metrics_agree(demo_run):
    workdir, _ = demo_run
    ground_truth_dir = workdir / "results/tiny-salads/dataset/groundTruth"
    for split in (1, 2):
        split_dir = workdir / f"results/tiny-salads/asformer-tiny/i3d-tiny/split{split}"
        assert (split_dir / "model.pt").is_file()
        for name in read_bundle(split_dir / "evaluated.bundle"):
            truth = (ground_truth_dir / name).read_text().split()
            assert len(read_prediction_file(split_dir / "predictions" / Path(name).stem)) == len(truth)
        recorded = json.loads((split_dir / "metrics.json").read_text())["mean"]
        recomputed = evaluate_bundle(ground_truth_dir, split_dir / "predictions", split_dir / "evaluated.bundle")
        for key in ("acc", "edit", "f1@10", "f1@25", "f1@50"):
            assert recorded[key] == pytest.approx(recomputed[key], abs=1e-9)


def test_no_partial_or_temporary_files_are_left(demo_run):
    workdir, _ = demo_run
    # .snakemake_timestamp: snakemake's own marker in a directory output
    leftovers = [p for p in (workdir / "results").rglob(".*") if p.name != ".snakemake_timestamp"]
    assert leftovers == []


def test_snakemake_report_holds_the_report_ribbons_and_every_split_metrics_with_captions(demo_run, tmp_path):
    """`snakemake --report report.zip` after the run: the dataset is a category, each stage a subcategory."""
    workdir, config = demo_run
    report = build_snakemake_report(workdir, config, tmp_path / "report.zip")
    dataset = workdir / "results/tiny-salads"
    markdown = report.files["results/tiny-salads/report.md"]
    assert markdown.content == (dataset / "report.md").read_bytes()
    assert (markdown.category, markdown.subcategory) == ("tiny-salads", "Report")
    assert markdown.caption.startswith("The action-segmentation report of dataset tiny-salads (Markdown)")
    ribbons = report.files["results/tiny-salads/ribbons.png"]
    assert ribbons.content == (dataset / "ribbons.png").read_bytes() and ribbons.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert (ribbons.category, ribbons.subcategory) == ("tiny-salads", "Figures")
    assert ribbons.caption.startswith("Ground truth against prediction on test videos of dataset tiny-salads")
    runs = [("asformer-tiny", "i3d-tiny"), ("asformer-tiny", "s3d-tiny"), ("zero-shot", "s3d-tiny")]
    metrics = {path: reported for path, reported in report.files.items() if path.endswith("/metrics.json")}
    assert sorted(metrics) == sorted(f"results/tiny-salads/{method}/{features}/split{split}/metrics.json"
                                     for method, features in runs for split in (1, 2))
    for path, reported in metrics.items():
        labels = reported.labels
        assert path == f"results/tiny-salads/{labels['method']}/{labels['features']}/split{labels['split']}/metrics.json"
        assert reported.content == (workdir / path).read_bytes()
        assert (reported.category, reported.subcategory) == ("tiny-salads", "Metrics per split")
        assert reported.caption.startswith(f"Metrics of {labels['method']} on {labels['features']} features, "
                                           f"test split {labels['split']} of dataset tiny-salads (JSON)")
    assert "Each dataset of the run is one category of this report" in report.description


def test_nothing_reruns_when_nothing_changed(demo_run):
    workdir, config = demo_run
    assert planned_jobs(workdir, config) == {}


@pytest.mark.parametrize("change", ["params", "input", "code"])
def test_list_changes_lists_nothing_when_nothing_changed(demo_run, change):
    """`snakemake -R $(snakemake --list-changes params)` must rerun nothing on an unchanged config
    (Snakemake 9 alone lists every output for params: mmfeat.snakemake_list_changes)."""
    workdir, config = demo_run
    result = run_snakemake(workdir, "--list-changes", change, "results/tiny-salads/report.md", config=config)
    assert result.stdout.strip() == "", result.stdout[-3000:]


def test_changing_one_extractor_setting_reruns_that_stage_and_what_depends_on_it(demo_run, tmp_path):
    workdir, config = demo_run
    changed = yaml.safe_load(config.read_text())
    changed["extractors"]["i3d-tiny"]["crop"] = 24
    changed_config = tmp_path / "changed.yaml"
    changed_config.write_text(yaml.safe_dump(changed))
    assert planned_jobs(workdir, changed_config) == {
        "extract_shard": 2, "train_asformer": 2, "predict_asformer": 2, "evaluate_split": 2,
        "segmentation_report": 1,
    }


def test_changing_the_model_reruns_training_but_not_the_features(demo_run, tmp_path):
    workdir, config = demo_run
    changed = yaml.safe_load(config.read_text())
    changed["models"]["asformer-tiny"]["training"]["epochs"] = 4
    changed_config = tmp_path / "changed.yaml"
    changed_config.write_text(yaml.safe_dump(changed))
    assert planned_jobs(workdir, changed_config) == {  # both feature sets retrain; zero-shot trains nothing
        "train_asformer": 4, "predict_asformer": 4, "evaluate_split": 4, "segmentation_report": 1,
    }


def test_changing_one_label_file_reruns_what_reads_labels_but_not_the_features(demo_run, tmp_path):
    """The jobs depend on one digest of the label files (rule label_digest), not on each file."""
    workdir, config = demo_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)  # copy2 keeps the times snakemake compares
    ground_truth = next((copy / "results/tiny-salads/dataset/groundTruth").glob("*.txt"))
    lines = ground_truth.read_text().splitlines()
    ground_truth.write_text("\n".join(lines[1:] + lines[:1]) + "\n")
    assert planned_jobs(copy, config) == {
        "label_digest": 1, "train_asformer": 4, "predict_asformer": 4, "zero_shot_split": 2,
        "evaluate_split": 6, "segmentation_report": 1,
    }
    digest = (workdir / "results/tiny-salads/labels.sha256").read_text().splitlines()
    assert len(digest) == 1 + len(list(ground_truth.parent.glob("*.txt"))) + 2 * 2  # mapping, labels, bundles
    assert any(line.endswith(f"groundTruth/{ground_truth.name}") for line in digest)


def test_a_config_typo_fails_before_any_job_with_the_key_path(tmp_path):
    broken = yaml.safe_load(TINY_CONFIG.read_text())
    broken["extractors"]["i3d-tiny"]["strid"] = 2
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump(broken))
    result = run_snakemake(tmp_path, "--dry-run", "--cores", "1", config=config, check=False)
    assert result.returncode != 0
    assert "extractors.i3d-tiny: Additional properties are not allowed ('strid'" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_a_missing_dataset_root_names_the_path_and_the_readme(tmp_path):
    result = run_snakemake(tmp_path, "--dry-run", "--cores", "1", "results/50salads/report.md",
                           config=REPO_ROOT / "config.yaml", check=False)
    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert "data/50salads does not exist" in output
    assert "README.md, section 'Data'" in output


def test_planning_imports_no_model_library(tmp_path):
    """Snakemake plans again on every invocation and inside every cluster job: the rules' helpers
    read what they need of an extractor kind without torch (1.9 s to import here)."""
    result = run_snakemake(tmp_path, "--dry-run", "--cores", "1", "results/tiny-salads/report.md", config=TINY_CONFIG,
                           python_options=("-X", "importtime"))
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "zero_shot_split" in result.stdout  # the S3D and I3D rules were planned
    assert not imported & {"torch", "h5py", "cv2", "decord", "transformers"}


def test_snakemake_lint_passes():
    run_snakemake(REPO_ROOT, "--lint")  # fails the test on a finding, showing it


def test_a_real_layout_dataset_finds_its_videos_by_extension(demo_run, tmp_path):
    """The demo's files as a user's dataset (no `demo` section): videos are found on disk."""
    workdir, config = demo_run
    real = yaml.safe_load(config.read_text())
    dataset = real["datasets"].pop("tiny-salads")
    dataset.pop("demo")
    real["datasets"]["users-salads"] = dataset
    real_config = tmp_path / "real.yaml"
    real_config.write_text(yaml.safe_dump(real))
    result = run_snakemake(workdir, "--dry-run", "--cores", "1", "results/users-salads/report.md", config=real_config)
    # i3d and s3d, 2 shards each
    assert re.search(r"^extract_shard\s+4$", result.stdout, re.MULTILINE), result.stdout[-3000:]
    assert "results/tiny-salads/dataset/videos/rgb-01-1.mp4" in result.stdout
