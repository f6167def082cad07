"""The demo-salads dataset: 50Salads layout, determinism, and decoding of its clean, damaged and unreadable videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.demo.salads import SALADS_LABELS, demo_video_ids, generate_demo_salads
from mmfeat.video.decode import BACKENDS, UnreadableVideoError, open_video

# Small but with every feature: 3 subjects, 2 damaged videos, 1 unreadable, 3 splits.
DEMO_ARGS = dict(
    seed=3, num_videos=6, frames=(40, 48), width=32, height=32, fps=15, num_splits=3, damaged=2, unreadable=1
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo-salads")
    return root, generate_demo_salads(root, **DEMO_ARGS)


def _lines(path: Path) -> list[str]:
    text = path.read_text()
    assert text.endswith("\n"), f"{path} must end with a newline"
    return text.splitlines()


def _clean_ids(summary: dict) -> list[str]:
    return [v for v in summary["videos"] if v not in summary["damaged"] and v not in summary["unreadable"]]


def test_ids_are_known_before_generating(demo):
    root, summary = demo
    assert demo_video_ids(6) == ["rgb-01-1", "rgb-01-2", "rgb-02-1", "rgb-02-2", "rgb-03-1", "rgb-03-2"]
    assert summary["videos"] == demo_video_ids(6)
    assert sorted(p.stem for p in (root / "videos").glob("*.mp4")) == summary["videos"]
    assert sorted(p.stem for p in (root / "groundTruth").glob("*.txt")) == summary["videos"]
    assert not list(root.rglob(".*.tmp")), "temporary files must be renamed or gone"


def test_mapping_lists_the_19_salads_labels_in_order(demo):
    root, _ = demo
    pairs = [line.split(" ") for line in _lines(root / "mapping.txt")]
    assert [int(index) for index, _ in pairs] == list(range(19))
    assert [name for _, name in pairs] == list(SALADS_LABELS)
    assert SALADS_LABELS[0] == "cut_tomato" and SALADS_LABELS[-2:] == ("action_start", "action_end")


def test_splits_are_cross_validation_by_subject(demo):
    root, summary = demo
    every_file = {f"{video_id}.txt" for video_id in summary["videos"]}
    tested = []
    for split in range(1, DEMO_ARGS["num_splits"] + 1):
        test = _lines(root / "splits" / f"test.split{split}.bundle")
        train = _lines(root / "splits" / f"train.split{split}.bundle")
        assert test and train
        assert set(train) == every_file - set(test) and len(train) + len(test) == len(every_file)
        test_subjects = {name.split("-")[1] for name in test}
        assert not test_subjects & {name.split("-")[1] for name in train}, "a subject on both sides"
        tested += test
    assert sorted(tested) == sorted(every_file), "each video is tested in exactly one split"


def test_ground_truth_is_start_actions_end_with_one_longer_file(demo):
    root, summary = demo
    longer = []
    for video_id in summary["videos"]:
        labels = _lines(root / "groundTruth" / f"{video_id}.txt")
        assert set(labels) <= set(SALADS_LABELS)
        assert labels[0] == "action_start" and labels[-1] == "action_end"
        segments = [label for i, label in enumerate(labels) if i == 0 or label != labels[i - 1]]
        assert len(segments) >= 5, f"{video_id}: start, at least 3 actions, end"
        assert DEMO_ARGS["frames"][0] <= summary["frames"][video_id] <= DEMO_ARGS["frames"][1]
        if len(labels) != summary["frames"][video_id]:
            longer.append((video_id, len(labels) - summary["frames"][video_id]))
    assert longer == [(summary["longer_groundtruth"], 2)]
    assert summary["longer_groundtruth"] in _clean_ids(summary)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clean_videos_decode_fully_with_frame_count_from_metadata(demo, backend):
    root, summary = demo
    for video_id in _clean_ids(summary):
        with open_video(root / "videos" / f"{video_id}.mp4", backend) as video:
            indices = [index for index, _ in video]
        record = video.record
        assert record.frames_expected == summary["frames"][video_id]
        assert indices == list(range(record.frames_expected)) and record.skipped_indices == []
        assert (record.width, record.height, record.fps) == (32, 32, 15.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_damaged_videos_skip_frames_in_the_middle_and_go_on(demo, backend):
    root, summary = demo
    assert len(summary["damaged"]) == 2
    for video_id, damaged in summary["damaged"].items():
        with open_video(root / "videos" / f"{video_id}.mp4", backend) as video:
            indices = [index for index, _ in video]
        skipped = video.record.skipped_indices
        assert set(damaged) <= set(skipped) and set(skipped) - set(damaged) <= {damaged[0] - 1, damaged[0] - 2}
        frame_count = summary["frames"][video_id]
        assert 0 < damaged[0] and damaged[-1] < frame_count - 1, "damage must be in the middle"
        assert indices[-1] == frame_count - 1 and damaged[-1] + 1 in indices, "decoding goes on after damage"


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreadable_video_raises_naming_the_file(demo, backend):
    root, summary = demo
    (video_id,) = summary["unreadable"]
    path = root / "videos" / f"{video_id}.mp4"
    with pytest.raises(UnreadableVideoError, match=str(path)):
        open_video(path, backend)
    assert (root / "groundTruth" / f"{video_id}.txt").exists()


def test_actions_look_different(demo):
    """Mean colour per label: segments of one action are closer to each other than to other actions."""
    root, summary = demo
    means: dict[str, list[np.ndarray]] = {}
    for video_id in _clean_ids(summary):
        labels = _lines(root / "groundTruth" / f"{video_id}.txt")
        with open_video(root / "videos" / f"{video_id}.mp4", "opencv") as video:
            for index, frame in video:
                means.setdefault(labels[index], []).append(frame.reshape(-1, 3).mean(axis=0))
    centres = {label: np.mean(values, axis=0) for label, values in means.items()}
    for label, values in means.items():
        spread = max(np.linalg.norm(v - centres[label]) for v in values)
        nearest_other = min(np.linalg.norm(centres[label] - c) for other, c in centres.items() if other != label)
        assert nearest_other > 2 * spread or nearest_other > 30, f"{label} is not told apart by colour alone"


def _decoded(path: Path) -> np.ndarray:
    with open_video(path, "opencv") as video:
        return np.stack([frame for _, frame in video])


def test_same_seed_gives_identical_files_and_decoded_frames(demo, tmp_path):
    root, summary = demo
    again = generate_demo_salads(tmp_path / "again", **DEMO_ARGS)
    assert {k: v for k, v in again.items() if k != "root"} == {k: v for k, v in summary.items() if k != "root"}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        copy = tmp_path / "again" / path.relative_to(root)
        if path.suffix == ".mp4" and path.stem not in summary["unreadable"]:
            # decoded frames, not bytes: the demo is lossless, but libx264's choices can vary (see encode.py)
            assert np.array_equal(_decoded(copy), _decoded(path)), f"{path.name} decodes differently"
        else:
            assert copy.read_bytes() == path.read_bytes(), f"{path.relative_to(root)} differs between two runs"


def test_another_seed_gives_another_dataset(demo, tmp_path):
    root, summary = demo
    other = generate_demo_salads(tmp_path / "other", **{**DEMO_ARGS, "seed": 4})
    first_truth = (root / "groundTruth" / "rgb-01-1.txt").read_text()
    assert (tmp_path / "other" / "groundTruth" / "rgb-01-1.txt").read_text() != first_truth
    assert other["frames"] != summary["frames"]


def test_command_prints_the_summary_as_json(tmp_path, capsys):
    argv = ["make-demo-salads", "--root", str(tmp_path / "cli"), "--seed", "1", "--videos", "4", "--frames", "40", "44"]
    argv += ["--size", "32", "32", "--fps", "10", "--splits", "2", "--damaged", "1", "--unreadable", "1"]
    assert mmfeat_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == demo_video_ids(4) and len(summary["damaged"]) == 1
    assert (summary["fps"], summary["width"], summary["height"]) == (10, 32, 32)
    assert (tmp_path / "cli" / "splits" / "test.split2.bundle").exists()


def test_command_reports_impossible_requests_as_user_errors(tmp_path, capsys):
    argv = ["make-demo-salads", "--root", str(tmp_path / "cli"), "--videos", "2", "--splits", "5"]
    assert mmfeat_main(argv) == 2
    assert "num_splits" in capsys.readouterr().err
