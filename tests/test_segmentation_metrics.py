"""Segmentation metrics: agreement with the official ASFormer evaluation, its conventions, and the CLI."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.mstcn_files import write_prediction_file
from mmfeat.errors import UserError
from mmfeat.metrics.segmentation import (
    METRIC_NAMES,
    Segment,
    edit_score,
    evaluate_bundle,
    evaluate_sequences,
    extract_segments,
    f1_counts,
    levenshtein_distance,
    mean_of,
)

SPLITS = (1, 2, 3)
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def metrics_reference(reference_dir) -> Path:
    return reference_dir / "segmentation_metrics"


@pytest.fixture(scope="module")
def expected(metrics_reference) -> dict:
    return json.loads((metrics_reference / "expected.json").read_text())


def assert_metrics_agree(result: dict, expected_metrics: dict) -> None:
    for name in METRIC_NAMES:
        assert result[name] == pytest.approx(expected_metrics[name], abs=TOLERANCE, rel=0), name


# --- agreement with the official evaluation ---------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_bundle_agrees_with_official_evaluation(metrics_reference, expected, split):
    result = evaluate_bundle(
        metrics_reference / "groundTruth",
        metrics_reference / "predictions" / f"split_{split}",
        metrics_reference / "splits" / f"test.split{split}.bundle",
    )
    assert_metrics_agree(result, expected[f"split{split}"])
    assert result["videos"] == 4
    ground_truth_lines = sum(
        len((metrics_reference / "groundTruth" / name).read_text().splitlines())
        for name in (metrics_reference / "splits" / f"test.split{split}.bundle").read_text().split()
    )
    assert result["frames"] == ground_truth_lines


def cli_arguments(metrics_reference: Path, predictions_dirs: list[Path]) -> list[str]:
    arguments = ["segmentation-metrics", "--ground-truth", str(metrics_reference / "groundTruth")]
    for predictions_dir in predictions_dirs:
        arguments += ["--predictions", str(predictions_dir)]
    for split in SPLITS:
        arguments += ["--bundle", str(metrics_reference / "splits" / f"test.split{split}.bundle")]
    return arguments


def test_cli_agrees_with_official_evaluation(metrics_reference, expected, tmp_path):
    predictions_dirs = [metrics_reference / "predictions" / f"split_{split}" for split in SPLITS]
    output_path = tmp_path / "metrics" / "segmentation.json"
    mmfeat_script = Path(sys.executable).with_name("mmfeat")
    completed = subprocess.run(
        [str(mmfeat_script), *cli_arguments(metrics_reference, predictions_dirs), "--output", str(output_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert json.loads(output_path.read_text()) == report
    for split in SPLITS:
        bundle = str(metrics_reference / "splits" / f"test.split{split}.bundle")
        assert_metrics_agree(report["bundles"][bundle], expected[f"split{split}"])
        assert report["bundles"][bundle]["videos"] == 4
    expected_mean = {name: np.mean([expected[f"split{split}"][name] for split in SPLITS]) for name in METRIC_NAMES}
    assert_metrics_agree(report["mean"], expected_mean)
    assert set(report["mean"]) == set(METRIC_NAMES)


def test_cli_reads_one_predictions_folder_for_all_bundles(metrics_reference, expected, tmp_path, capsys):
    shared_folder = tmp_path / "all_predictions"
    for split in SPLITS:
        shutil.copytree(metrics_reference / "predictions" / f"split_{split}", shared_folder, dirs_exist_ok=True)
    assert mmfeat_main(cli_arguments(metrics_reference, [shared_folder])) == 0
    report = json.loads(capsys.readouterr().out)
    for split in SPLITS:
        bundle = str(metrics_reference / "splits" / f"test.split{split}.bundle")
        assert_metrics_agree(report["bundles"][bundle], expected[f"split{split}"])


def test_cli_rejects_predictions_that_do_not_pair_with_bundles(metrics_reference, capsys):
    two_folders = [metrics_reference / "predictions" / "split_1", metrics_reference / "predictions" / "split_2"]
    assert mmfeat_main(cli_arguments(metrics_reference, two_folders)) == 2
    assert "--predictions is given 2 times for 3 bundles" in capsys.readouterr().err


def test_cli_rejects_a_background_label_the_mapping_does_not_know(metrics_reference, capsys):
    """An unknown --background label would leave no segment out and change nothing, silently."""
    predictions = [metrics_reference / "predictions" / f"split_{split}" for split in SPLITS]
    assert mmfeat_main([*cli_arguments(metrics_reference, predictions), "--background", "action_start"]) == 0
    capsys.readouterr()
    assert mmfeat_main([*cli_arguments(metrics_reference, predictions), "--background", "action_start", "zzz"]) == 2
    error = capsys.readouterr().err
    assert f"background label 'zzz' is not in {metrics_reference / 'mapping.txt'} (its labels: cut_tomato," in error
    assert "action_end)" in error and "'action_start' is not" not in error


def test_cli_background_needs_a_mapping_to_check_against(metrics_reference, tmp_path, capsys):
    ground_truth = tmp_path / "labels"  # no mapping.txt beside it
    shutil.copytree(metrics_reference / "groundTruth", ground_truth)
    arguments = ["segmentation-metrics", "--ground-truth", str(ground_truth), "--predictions",
                 str(metrics_reference / "predictions" / "split_1"), "--bundle",
                 str(metrics_reference / "splits" / "test.split1.bundle"), "--background", "action_start"]
    assert mmfeat_main(arguments) == 2
    assert f"{tmp_path / 'mapping.txt'}: no such file, needed to check --background" in capsys.readouterr().err
    assert mmfeat_main([*arguments, "--mapping", str(metrics_reference / "mapping.txt")]) == 0


# --- conventions of the official code, on cases worked by hand ---------------------------------


def test_last_segment_ends_at_the_last_frame_index():
    assert extract_segments(list("AABBB")) == [Segment("A", 0, 2), Segment("B", 2, 4)]
    assert extract_segments(["A"]) == [Segment("A", 0, 0)]


def test_background_segments_are_left_out():
    labels = ["bg", "bg", "A", "A", "bg", "B", "B"]
    assert extract_segments(labels, background={"bg"}) == [Segment("A", 2, 4), Segment("B", 5, 6)]


def test_last_segment_end_changes_f1_as_officially():
    # Ground-truth B spans frames 4..5 and is stored as (4, 5); the predicted B is frame 5 alone,
    # stored as (5, 5): IoU 0, not the 0.5 that (5, 6) against (4, 6) would give.
    ground_truth = list("AAAABB")
    predicted = list("AAAAAB")
    assert f1_counts(predicted, ground_truth, 0.5) == (1, 1, 1)


def test_matching_one_frame_final_segment_counts_as_a_miss_as_officially():
    # Both final segments are (2, 2): IoU 0/0 is NaN, which argmax picks and the threshold rejects.
    assert f1_counts(list("AAB"), list("AAB"), 0.1) == (1, 1, 1)


def test_a_ground_truth_segment_is_matched_once():
    # Both predicted A segments pass 0.1 IoU with the one ground-truth A (0.6 and 0.2); only the first counts.
    assert f1_counts(list("AAABAA"), list("AAAAAA"), 0.1) == (1, 2, 0)


def test_labels_must_agree_for_a_match():
    assert f1_counts(list("BBBB"), list("AAAA"), 0.1) == (0, 1, 1)


def test_edit_score_is_normalised_by_the_longer_segment_sequence():
    assert edit_score(list("AABBCC"), list("AABBBB")) == pytest.approx(100 * (1 - 1 / 3))
    assert edit_score(list("AAAA"), list("ABAB")) == pytest.approx(100 * (1 - 3 / 4))


def test_edit_score_ignores_background_when_asked():
    ground_truth = ["bg", "bg", "A", "A", "bg", "B", "B"]
    predicted = ["A", "A", "A", "A", "B", "B", "B"]
    assert edit_score(predicted, ground_truth) == pytest.approx(50.0)
    assert edit_score(predicted, ground_truth, background={"bg"}) == pytest.approx(100.0)


def test_accuracy_pools_frames_edit_averages_videos_f1_sums_counts():
    long_video = (list("AAAAAAAABB"), list("AAAAAAAAAA"))  # 8 of 10 frames right, edit 50, tp 1 fp 0 fn 1
    short_video = (list("AB"), list("BB"))  # 1 of 2 frames right, edit 50, tp 0 fp 1 fn 2
    result = evaluate_sequences([long_video, short_video])
    assert result["acc"] == pytest.approx(100 * 9 / 12)  # not the mean of 80 and 50
    assert result["edit"] == pytest.approx(50.0)
    precision, recall = 1 / 2, 1 / 4
    for name in ("f1@10", "f1@25", "f1@50"):
        assert result[name] == pytest.approx(100 * 2 * precision * recall / (precision + recall))
    assert (result["videos"], result["frames"]) == (2, 12)


def test_longer_prediction_is_cut_for_accuracy_but_not_for_edit_and_f1():
    result = evaluate_sequences([(list("AABB"), list("AABBCC"))])
    assert result["acc"] == pytest.approx(100.0)
    assert result["edit"] == pytest.approx(100 * (1 - 1 / 3))
    assert result["frames"] == 4
    assert f1_counts(list("AABBCC"), list("AABB"), 0.1) == (2, 1, 0)


def test_shorter_prediction_file_is_an_error_naming_file_and_lengths(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt" / "rgb-01-1.txt").write_text("A\nA\nB\n")
    write_prediction_file(tmp_path / "pred" / "rgb-01-1", ["A", "A"])
    (tmp_path / "test.bundle").write_text("rgb-01-1.txt\n")
    expected_message = rf"{re.escape(str(tmp_path / 'pred' / 'rgb-01-1'))}: holds 2 predicted labels .* has 3 frames"
    with pytest.raises(UserError, match=expected_message):
        evaluate_bundle(tmp_path / "gt", tmp_path / "pred", tmp_path / "test.bundle")


def test_missing_prediction_names_the_expected_file(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt" / "rgb-01-1.txt").write_text("A\n")
    (tmp_path / "test.bundle").write_text("rgb-01-1.txt\n")
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "pred" / "rgb-01-1")) + ": no prediction"):
        evaluate_bundle(tmp_path / "gt", tmp_path / "pred", tmp_path / "test.bundle")


def test_all_background_ground_truth_counts_predictions_as_false_positives():
    result = evaluate_sequences([(["bg"] * 4, list("AABB"))], background={"bg"})
    assert result["edit"] == 0.0
    assert result["f1@10"] == 0.0
    assert evaluate_sequences([(["bg"] * 4, ["bg"] * 4)], background={"bg"})["edit"] == 100.0


def test_mean_of_averages_the_five_metrics():
    first = {"acc": 80.0, "edit": 60.0, "f1@10": 70.0, "f1@25": 65.0, "f1@50": 50.0, "videos": 4, "frames": 10}
    second = {"acc": 90.0, "edit": 70.0, "f1@10": 80.0, "f1@25": 75.0, "f1@50": 60.0, "videos": 5, "frames": 20}
    assert mean_of([first, second]) == {"acc": 85.0, "edit": 65.0, "f1@10": 75.0, "f1@25": 70.0, "f1@50": 55.0}


# --- fast implementations against plain ones, on seeded random cases ---------------------------


def plain_levenshtein(first, second) -> int:
    rows = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i in range(len(first) + 1):
        rows[i][0] = i
    for j in range(len(second) + 1):
        rows[0][j] = j
    for i in range(1, len(first) + 1):
        for j in range(1, len(second) + 1):
            substitution = rows[i - 1][j - 1] + (first[i - 1] != second[j - 1])
            rows[i][j] = min(substitution, rows[i - 1][j] + 1, rows[i][j - 1] + 1)
    return rows[-1][-1]


def plain_f1_counts(predicted, ground_truth, threshold) -> tuple[int, int, int]:
    """The stated matching rule, one IoU at a time; 0/0 is NaN and argmax picks the first NaN."""
    predicted_segments, ground_truth_segments = extract_segments(predicted), extract_segments(ground_truth)
    matched = [False] * len(ground_truth_segments)
    true_positives = false_positives = 0
    for segment in predicted_segments:
        overlaps = []
        for other in ground_truth_segments:
            intersection = min(segment.end, other.end) - max(segment.start, other.start)
            union = max(segment.end, other.end) - min(segment.start, other.start)
            overlap = math.nan if union == 0 else intersection / union
            overlaps.append(overlap * (segment.label == other.label))
        nan_indices = [index for index, overlap in enumerate(overlaps) if math.isnan(overlap)]
        best = nan_indices[0] if nan_indices else overlaps.index(max(overlaps))
        if overlaps[best] >= threshold and not matched[best]:
            true_positives += 1
            matched[best] = True
        else:
            false_positives += 1
    return true_positives, false_positives, len(ground_truth_segments) - sum(matched)


def random_labels(rng: np.random.Generator, length: int, alphabet: int) -> list[str]:
    return [f"a{code}" for code in rng.integers(0, alphabet, size=length)]


def test_levenshtein_matches_plain_dynamic_programme():
    rng = np.random.default_rng(7)
    for _ in range(300):
        first = random_labels(rng, int(rng.integers(0, 25)), int(rng.integers(1, 5)))
        second = random_labels(rng, int(rng.integers(0, 25)), int(rng.integers(1, 5)))
        assert levenshtein_distance(first, second) == plain_levenshtein(first, second), (first, second)


def test_f1_counts_match_plain_matching():
    rng = np.random.default_rng(11)
    for _ in range(300):
        length = int(rng.integers(1, 40))
        ground_truth = random_labels(rng, length, 3)
        predicted = random_labels(rng, length + int(rng.integers(0, 4)), 3)
        for threshold in (0.1, 0.25, 0.5):
            assert f1_counts(predicted, ground_truth, threshold) == plain_f1_counts(predicted, ground_truth, threshold)
