"""The humour report: its tables, the reference rows only when asked, skipped samples, pictures, demo note,
the warning on a real dataset whose features come from random weights."""

from __future__ import annotations

import copy
import json
import pickle
import re
import shlex

import pytest
import yaml
from conftest import TINY_HUMOR_CONFIG, run_snakemake

from humor_synthetic import synthetic_modalities
from mmfeat.tasks.humor.settings import ExperimentSettings, MLPSettings
from mmfeat.tasks.humor.experiment import run_humor_experiment
from mmfeat.tasks.humor.report import write_humor_report

SETTINGS = {"features": {
    "text": {"extractor": "roberta-demo", "weights": {"kind": "random", "seed": 3}, "layers": 2},
    "audio": {"extractor": "wav2vec2-base", "weights": {"kind": "pretrained", "name": "facebook/wav2vec2-base"}},
    "video": {"extractor": "s3d-demo", "weights": {"kind": "file", "path": "s3d.pt", "sha256": "00ff"},
              "small": "8 channels"},
}}


@pytest.fixture(scope="module")
def results() -> dict:
    modalities = synthetic_modalities()
    text = modalities["text"]
    modalities["text"] = text.subset(text.ids[1:])  # one sample without text features
    settings = ExperimentSettings(seeds=(0, 1), mlp=MLPSettings(hidden_size=16, learning_rate=1e-2, max_epochs=15,
                                                               patience=5))
    return run_humor_experiment(modalities, settings, SETTINGS)


def write(results: dict, tmp_path, **options) -> str:
    write_humor_report(results, tmp_path / "report.md", tmp_path / "figures", **options)
    return (tmp_path / "report.md").read_text()


def table_lines(report: str, heading: str) -> list[str]:
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_tables_in_the_studys_layout_with_the_majority_baseline(results, tmp_path):
    report = write(results, tmp_path)
    single = table_lines(report, "Single modality")
    assert single[0] == "| Modality | Classifier | Accuracy | Precision | Recall | F1 | Degenerate |"
    assert single[1].startswith("| — | majority class of train")
    assert [line.split(" | ")[0:2] for line in single[2:]] == [
        ["| text", "MLP"], ["| text", "logistic regression"], ["| audio", "MLP"], ["| audio", "logistic regression"],
        ["| video", "MLP"], ["| video", "logistic regression"]]
    assert re.search(r"\| text \| MLP \| \d\.\d{3} ± \d\.\d{3} \|", report)
    combinations = ["text + audio", "text + video", "audio + video", "text + audio + video"]
    for heading in ("Late fusion: mean of probabilities", "Late fusion: majority vote"):
        assert [line.split(" | ")[0][2:] for line in table_lines(report, heading)[1:]] == combinations
    learned = table_lines(report, "Learned and early fusion")[1:]
    assert [line.split(" | ")[1] for line in learned] == combinations * 2
    assert "mean weights text" in learned[0] and "kept epoch" in learned[-1]
    assert "Precision is 0 for a run that predicts no humour" in report


def test_reference_rows_only_when_asked(results, tmp_path):
    plain = write(results, tmp_path)
    assert "0.714" not in plain and "HKT" not in plain and "UR-FUNNY study, fine-tuned" not in plain
    with_reference = write(results, tmp_path, reference="urfunny")
    assert "| text | reference: UR-FUNNY study, fine-tuned end to end on a 70/30 split | 0.714 | 0.706 | 0.751 |" \
        in with_reference
    assert "| video | reference: UR-FUNNY study, fine-tuned end to end on a 70/30 split | 0.478 | 0.506 | 0.597 |" \
        in with_reference
    assert "not the same protocol" in with_reference
    published = table_lines(with_reference, "Published accuracies on UR-FUNNY")
    assert [line.split(" | ")[-1] for line in published[1:]] == ["65.23 |", "70.61 |", "71.68 |", "77.36 |"]
    assert "HKT" in published[-1]


def test_skipped_samples_given_and_missing_from_a_modality(results, tmp_path):
    report = write(results, tmp_path, skipped={"clip-9999": "video could not be decoded"})
    rows = table_lines(report, "Samples skipped")
    assert rows[1:] == ["| clip-0000 | no text features |", "| clip-9999 | video could not be decoded |"]
    assert "2 samples are in no table" in report


def test_confusion_matrices_are_written_and_linked(results, tmp_path):
    write(results, tmp_path)
    pictures = sorted(path.name for path in (tmp_path / "figures").iterdir())
    assert pictures == ["confusion-best-fusion.png", "confusion-mlp-audio.png", "confusion-mlp-text.png",
                        "confusion-mlp-video.png"]
    for name in pictures:
        assert (tmp_path / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text()
    assert "](figures/confusion-mlp-text.png)" in report and "](figures/confusion-best-fusion.png)" in report
    assert "data:" not in report


def test_best_fusion_is_named_from_dev(results, tmp_path):
    best = results["best_fusion"]
    report = write(results, tmp_path)
    titles = {"mean": "mean of probabilities", "vote": "majority vote", "stacking": "stacking (logistic regression)",
              "early": "early fusion (MLP)"}
    assert f"**{titles[best['group']]} of {' + '.join(best['modalities'])}**, dev accuracy " \
           f"{best['dev_accuracy']:.3f}" in report


def test_degenerate_rows_are_marked_and_listed(results, tmp_path):
    flagged = copy.deepcopy(results)
    vote = next(row for row in flagged["rows"] if row["group"] == "vote" and len(row["modalities"]) == 3)
    vote["runs"][1]["degenerate"] = True
    vote["runs"][1]["test_one_class_fraction"] = 1.0
    vote["summary"]["degenerate_runs"] = 1
    for row in flagged["rows"]:
        if row is not vote and row["group"] != "majority":
            row["summary"]["degenerate_runs"] = 0
    report = write(flagged, tmp_path)
    assert table_lines(report, "Late fusion: majority vote")[-1].endswith("| ⚠ 1/2 |")
    listed = table_lines(report, "Degenerate results")
    assert len(listed) == 2 and listed[1].startswith("| majority vote | text + audio + video | 1/2 |")
    assert "at least 95% of its test predictions" in report
    for row in flagged["rows"]:
        if row is not vote:
            row["summary"]["degenerate_runs"] = 0
    vote["summary"]["degenerate_runs"] = 0
    assert "No classifier or fusion is degenerate in any seed." in write(flagged, tmp_path)


def test_demo_note_names_random_and_small_networks_and_features_are_listed(results, tmp_path):
    assert "**Demo.**" not in write(results, tmp_path)
    report = write(results, tmp_path, demo=True, name="demo-funny")
    assert report.startswith("# demo-funny: humour detection from text, audio, video")
    demo_note = report.split("\n\n## ", 1)[0]
    assert "the text, video features come from randomly initialised or small networks" in demo_note
    assert "not comparable" in demo_note
    assert "random initialisation, seed 3" in demo_note and "a small network (8 channels)" in demo_note
    features = report.split("## Features and weights\n", 1)[1]
    assert "pretrained `facebook/wav2vec2-base`" in features and "file `s3d.pt` (sha256 00ff)" in features
    assert "settings: layers 2" in features


def test_time_per_stage_closes_the_report(results, tmp_path):
    report = write(results, tmp_path, stage_times={"extract_shard": [3.0, 5.0], "humor_experiment": [40.25]})
    assert report.rstrip().endswith("| humor_experiment | 1 | 40.2 | 40.2 | 40.2 |")
    assert table_lines(report, "Time per stage")[1] == "| extract_shard | 2 | 8.0 | 4.0 | 5.0 |"
    assert "## Time per stage" not in write(results, tmp_path)


def opening_warning(report: str) -> str | None:
    """The blockquote that follows the title, if the report opens with one."""
    second = report.split("\n\n")[1]
    return second if second.startswith("> ") else None


def test_a_real_dataset_with_random_extractors_opens_with_a_warning_naming_them(results, tmp_path):
    real = copy.deepcopy(results)
    real["settings"] = {"features": {  # as the workflow states them for entries without `weights`
        "text": {"extractor": "roberta", "kind": "roberta", "weights": "models/roberta-base"},
        "audio": {"extractor": "wav2vec2", "kind": "wav2vec2", "seed": 0, "weights": {"kind": "random", "seed": 0}},
        "video": {"extractor": "i3d", "kind": "i3d", "seed": 0, "weights": {"kind": "random", "seed": 0}},
    }}
    report = write(real, tmp_path, reference="urfunny")
    assert report.startswith("# ur-funny: humour detection from text, audio, video\n\n")
    warning = opening_warning(report)
    assert warning is not None and warning.startswith("> **Warning: random features.**")
    assert re.search(r"The features of (.+?) come from randomly initialised", warning).group(1) \
        == "audio (`wav2vec2`), video (`i3d`)"
    assert "reference and published rows are not comparable" in warning
    assert "**Demo.**" not in report

    trained = copy.deepcopy(real)
    for modality in ("audio", "video"):
        trained["settings"]["features"][modality]["weights"] = {"kind": "file", "path": f"{modality}.pt",
                                                                "sha256": "00ff"}
    assert opening_warning(write(trained, tmp_path, reference="urfunny")) is None
    assert "Warning: random features" not in write(trained, tmp_path)


def test_the_demo_note_stands_in_for_the_warning(results, tmp_path):
    report = write(results, tmp_path, demo=True)  # the fixture's text features are random
    assert opening_warning(report).startswith("> **Demo.**")
    assert "Warning: random features" not in report


@pytest.mark.slow
def test_the_workflow_states_random_weights_that_the_report_then_warns_of(results, tmp_path):
    """A UR-FUNNY-layout dataset without `demo`, wav2vec2 and i3d without `weights`: the settings the
    planned humor-experiment job is given make the report open with the warning (a dry run: seconds)."""
    root = tmp_path / "data" / "funny"
    (root / "videos").mkdir(parents=True)
    entry = {"punchline_sentence": "a duck", "context_sentences": [], "punchline_intervals": [[0.1, 0.3], [0.4, 0.6]],
             "context_intervals": [], "punchline_embedding_indexes": [0, 1], "context_embedding_indexes": []}
    (root / "data_folds.pkl").write_bytes(pickle.dumps({"train": [1, 2], "dev": [3], "test": [4]}))
    (root / "language_sdk.pkl").write_bytes(pickle.dumps({sample: entry for sample in (1, 2, 3, 4)}))
    (root / "humor_label_sdk.pkl").write_bytes(pickle.dumps({1: 1, 2: 0, 3: 1, 4: 0}))
    for sample in (1, 2, 3, 4):
        (root / "videos" / f"{sample}.mp4").write_bytes(b"never decoded by a dry run")
    config = yaml.safe_load(TINY_HUMOR_CONFIG.read_text())
    dataset = config["datasets"].pop("tiny-funny")
    dataset.pop("demo")
    config["datasets"]["funny"] = {**dataset, "root": "data/funny", "reference_results": "urfunny"}
    assert "weights" not in config["extractors"]["wav2vec2-tiny"] and "weights" not in config["extractors"]["i3d-tiny"]
    planned = run_snakemake(tmp_path, "--cores", "1", "--dry-run", "--printshellcmds", "results/funny/report.md",
                            config=config)
    commands = [line for line in planned.stdout.splitlines() if "mmfeat humor-" in line]
    experiment = shlex.split(next(line for line in commands if "humor-experiment" in line).split(": ", 1)[1])
    report_command = next(line for line in commands if "humor-report" in line)
    assert "--demo" not in report_command

    real = copy.deepcopy(results)
    real["settings"] = json.loads(experiment[experiment.index("--report-settings") + 1])
    warning = opening_warning(write(real, tmp_path / "report", name="funny", reference="urfunny"))
    assert warning is not None
    assert re.search(r"The features of (.+?) come from", warning).group(1) \
        == "audio (`wav2vec2-tiny`), video (`i3d-tiny`)"


def test_one_seed_one_epoch_and_one_skipped_sample_are_worded_as_one(results, tmp_path):
    one_seed = run_humor_experiment(synthetic_modalities(), ExperimentSettings(
        seeds=(4,), mlp=MLPSettings(hidden_size=1, max_epochs=1, patience=1)), SETTINGS)
    report = write(one_seed, tmp_path, skipped={"clip-9999": "video could not be decoded"})
    assert "±" not in report  # one seed: the n-1 deviation is undefined, so none is shown
    assert re.search(r"^\| text \| MLP \| \d\.\d{3} \| \d\.\d{3} \|", report, re.MULTILINE)
    assert "Seed: 4; each figure is the test metric of that seed (no std" in report
    assert "one hidden layer of 1 unit," in report and "at most 1 epoch," in report
    assert "1 sample is in no table" in report
    assert re.search(r"dev accuracy \d\.\d{3}, test accuracy \d\.\d{3}\. ", report)
    two_seeds = write(results, tmp_path)
    assert "Seeds: 0, 1; each figure is the mean ± std over the seeds (std with n−1)" in two_seeds
    assert "one hidden layer of 16 units," in two_seeds and "at most 15 epochs," in two_seeds
