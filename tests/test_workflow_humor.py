"""A real Snakemake run of the humour workflow on the tiny UR-FUNNY demo, to its report.

The demo's clips are real H.264 with real synthetic speech (AAC); one has no audio
track and one id has no video, so both exclusion paths run; text is encoded by the
real all-MiniLM-L6-v2 that a pip package ships.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import TINY_HUMOR_CONFIG, run_snakemake

from mmfeat.features.store import FeatureStore
from mmfeat.tasks.humor.features import load_modality_features
from snakemake_report import build_snakemake_report

pytestmark = pytest.mark.slow(seconds=85)

TARGET = "results/tiny-funny/report.md"


@pytest.fixture(scope="module")
def humor_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny-humor")
    config = workdir / "tiny-humor.yaml"
    shutil.copy(TINY_HUMOR_CONFIG, config)
    run_snakemake(workdir, "--cores", "2", TARGET, config=config)
    return workdir


def test_the_report_has_the_study_tables_the_baseline_and_the_demo_notice(humor_run):
    report = (humor_run / TARGET).read_text()
    for heading in ("## Single modality", "## Late fusion: mean of probabilities", "## Late fusion: majority vote"):
        assert heading in report
    for modality in ("text", "audio", "video"):
        assert re.search(rf"^\| {modality} \| MLP \| [\d.]+ ± [\d.]+ \|", report, re.MULTILINE), modality
    assert re.search(r"^\| text \+ audio \+ video \| [\d.]+ ± [\d.]+ \|", report, re.MULTILINE)
    assert "majority class of train" in report and "**Demo.**" in report
    assert "random" in report  # the random wav2vec2 and I3D are named as such
    assert list((humor_run / "results/tiny-funny/figures").glob("*.png"))
    # text, audio and video extractors, one shard each; one experiment
    for stage, jobs in (("extract_shard", 3), ("humor_experiment", 1)):
        assert re.search(rf"^\| {stage} \| {jobs} \|( [\d.]+ \|){{3}}$", report, re.MULTILINE), stage


def test_snakemake_report_holds_the_report_the_results_and_every_figure_with_captions(humor_run, tmp_path):
    """`snakemake --report report.zip` after the run: the dataset is a category, each stage a subcategory."""
    report = build_snakemake_report(humor_run, humor_run / "tiny-humor.yaml", tmp_path / "report.zip")
    markdown = report.files[TARGET]
    assert markdown.content == (humor_run / TARGET).read_bytes()
    assert (markdown.category, markdown.subcategory) == ("tiny-funny", "Report")
    assert markdown.caption.startswith("The humour-detection report of dataset tiny-funny (Markdown)")
    results = report.files["results/tiny-funny/humor/results.json"]
    assert results.content == (humor_run / "results/tiny-funny/humor/results.json").read_bytes()
    assert (results.category, results.subcategory) == ("tiny-funny", "Classifiers and fusions")
    assert results.caption.startswith("Every humour classifier and fusion trained on dataset tiny-funny (JSON)")
    figures = {path: reported for path, reported in report.files.items() if path.endswith(".png")}
    expected = [f"confusion-mlp-{modality}" for modality in ("text", "audio", "video")] + ["confusion-best-fusion"]
    assert sorted(figures) == sorted(f"results/tiny-funny/figures/{name}.png" for name in expected)
    for path, reported in figures.items():
        name = reported.labels["figure"]
        assert path == f"results/tiny-funny/figures/{name}.png"
        assert reported.content == (humor_run / path).read_bytes() and reported.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert (reported.category, reported.subcategory) == ("tiny-funny", "Figures")
        assert reported.caption.startswith(f"Test confusion matrix {name} of dataset tiny-funny")
    assert "Each dataset of the run is one category of this report" in report.description


def test_the_clip_without_audio_and_the_id_without_video_are_excluded_and_listed(humor_run):
    summary_log = (humor_run / "results/tiny-funny/logs/make_demo.log").read_text()
    summary = json.loads(summary_log[summary_log.index("{"): summary_log.rindex("}") + 1])
    no_audio, no_video = str(summary["no_audio"]), str(summary["no_video"])
    audio = FeatureStore(humor_run / "results/tiny-funny/features/wav2vec2-tiny")
    assert no_audio in audio.excluded() and "audio" in audio.excluded()[no_audio]
    assert no_video in FeatureStore(humor_run / "results/tiny-funny/features/i3d-tiny").excluded()
    skipped = json.loads((humor_run / "results/tiny-funny/humor/skipped.json").read_text())
    assert {no_audio, no_video} <= set(skipped)
    report = (humor_run / TARGET).read_text()
    assert re.search(rf"^\| {no_audio} \| .*audio", report, re.MULTILINE)
    assert re.search(rf"^\| {no_video} \| ", report, re.MULTILINE)


def test_every_modality_has_one_vector_per_kept_sample_with_positions_of_its_kind(humor_run):
    features_dir = humor_run / "results/tiny-funny/humor/features"
    files = {modality: load_modality_features(features_dir / f"{modality}.npz") for modality in ("text", "audio", "video")}
    assert files["text"].ids.tolist() == files["audio"].ids.tolist() == files["video"].ids.tolist()
    assert files["text"].dimension == 2 * 384  # MiniLM: punchline and context rows
    text = FeatureStore(humor_run / "results/tiny-funny/features/minilm-tiny")
    sample = text.videos()[0]
    assert text.position_kind(sample) == "time_interval"
    assert text.provenance(sample)["row_names"][0] == "punchline"
    audio = FeatureStore(humor_run / "results/tiny-funny/features/wav2vec2-tiny")
    assert audio.position_kind(audio.videos()[0]) == "sample_range"
