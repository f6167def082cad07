"""The narrated layout: captions.json in HowTo100M's format, its check, the stable holdout, and per-second rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmfeat.datasets.check_cache import check_once
from mmfeat.datasets.narrated import (
    CAPTION_END_TOLERANCE_S,
    Caption,
    NarratedDataset,
    is_held_out,
    second_intervals_of,
)
from mmfeat.errors import UserError
from mmfeat.video.encode import write_h264_video
from mmfeat.video.stream_header import seconds_in_stream

FPS = 10
VIDEO_FRAMES = 20  # 2.0 s: every tiny video of these tests
VIDEO_SECONDS = VIDEO_FRAMES / FPS


def write_video(path: Path, frames: int = VIDEO_FRAMES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h264_video(path, (np.full((32, 32, 3), 60 + index, np.uint8) for index in range(frames)), fps=FPS)
    return path


def write_layout(root: Path, captions: dict, videos: list[str]) -> NarratedDataset:
    """ROOT/captions.json as given, and a real 2 s H.264 clip ROOT/videos/<name> for each of `videos`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "captions.json").write_text(json.dumps(captions))
    (root / "videos").mkdir(exist_ok=True)
    for name in videos:
        write_video(root / "videos" / name)
    return NarratedDataset(root)


def entry(*captions: tuple) -> dict:
    """HowTo100M's three parallel lists from (start, end, text) triples."""
    return {"start": [c[0] for c in captions], "end": [c[1] for c in captions], "text": [c[2] for c in captions]}


def test_a_valid_layout_reads_back_in_time_order(tmp_path):
    captions = {"b-2": entry((1.0, 1.9, "now mix it"), (0.1, 0.8, "cut the tomato")),
                "a.1": entry((0.0, VIDEO_SECONDS + CAPTION_END_TOLERANCE_S / 2, "the whole clip"))}
    dataset = write_layout(tmp_path, captions, ["b-2.mp4", "a.1.mkv"])
    dataset.check()  # no problem: returns
    assert dataset.item_ids() == ["a.1", "b-2"]
    assert dataset.video_file("a.1") == tmp_path / "videos" / "a.1.mkv"
    assert dataset.captions("b-2") == [Caption(0.1, 0.8, "cut the tomato"), Caption(1.0, 1.9, "now mix it")]
    assert dataset.captions("b-2")[0] == (0.1, 0.8, "cut the tomato")  # plain (start, end, text) tuples too
    assert dataset.duration("b-2") == pytest.approx(VIDEO_SECONDS)
    assert dataset.problems() == []


def test_the_check_names_every_problem_by_id_and_file(tmp_path):
    good = (0.2, 1.0, "cut the tomato")
    captions = {
        "good": entry(good),
        "late": entry(good, (1.5, VIDEO_SECONDS + 0.5, "and that ends after the clip")),
        "early": entry((-0.4, 0.5, "before the clip starts")),
        "reversed": entry((1.5, 1.0, "ends before it starts")),
        "silent": entry(good, (1.1, 1.5, "   ")),
        "no-video": entry(good),
        "uneven": {"start": [0.1, 0.5], "end": [0.4], "text": ["a", "b"]},
        "empty": entry(),
        "not-a-number": entry(("soon", 1.0, "when?")),
        "broken": entry(good),
    }
    videos = [f"{video_id}.mp4" for video_id in captions if video_id not in ("no-video", "broken")]
    dataset = write_layout(tmp_path, captions, videos + ["orphan.mp4"])
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"not a video at all")
    (tmp_path / "videos" / ".orphan.mp4.1234.tmp").write_bytes(b"a file being written: hidden, not a video")

    with pytest.raises(UserError) as raised:
        dataset.check()
    message = str(raised.value)
    lines = message.splitlines()[1:]
    captions_path, videos_dir = tmp_path / "captions.json", tmp_path / "videos"
    expected = {  # id -> (file named, what the line says)
        "late": (captions_path, "caption 1 (1.5-2.5 s) is outside the video: late.mp4 lasts 2.000 s"),
        "early": (captions_path, "caption 0: starts at -0.4 s, outside the video"),
        "reversed": (captions_path, "caption 0: starts after it ends (1.5 > 1 s)"),
        "silent": (captions_path, "caption 1: its text is empty"),
        "no-video": (videos_dir, "is in captions.json but has no video file: expected videos/no-video.<ext>"),
        "uneven": (captions_path, "start, end and text must be lists of one length, found 2, 1 and 2"),
        "empty": (captions_path, "has no captions"),
        "not-a-number": (captions_path, "caption 0: start 'soon' and end 1.0 must be numbers of seconds"),
        "broken": (videos_dir / "broken.mp4", "its length cannot be read from its header"),
        "orphan": (videos_dir / "orphan.mp4", "a video without captions"),
    }
    for video_id, (path, what) in expected.items():
        assert any(line.strip().startswith(f"{path}: video {video_id}: {what}") for line in lines), (video_id, message)
    assert len(lines) == len(expected), message  # one line per problem: nothing about `good` or the hidden file
    assert f"{len(expected)} problem(s)" in message.splitlines()[0]
    assert {problem.video_id for problem in dataset.problems()} == set(expected)


def test_one_caption_with_several_problems_lists_each(tmp_path):
    dataset = write_layout(tmp_path, {"v": entry((-1.0, -2.0, ""))}, ["v.mp4"])
    whats = [problem.what for problem in dataset.problems()]
    assert whats == ["caption 0: its text is empty ('')", "caption 0: starts at -1 s, outside the video (times are "
                     "seconds from its start)", "caption 0: starts after it ends (-1 > -2 s)"]


def test_a_video_with_two_files_is_named_with_both(tmp_path):
    dataset = write_layout(tmp_path, {"v": entry((0.0, 1.0, "hello"))}, ["v.mp4", "v.mkv"])
    with pytest.raises(UserError, match=r"video v: has several video files \(v.mkv, v.mp4\); keep exactly one"):
        dataset.check()
    with pytest.raises(UserError, match="several video files"):
        dataset.video_file("v")


def test_captions_of_a_malformed_entry_raise_naming_the_file_and_id(tmp_path):
    dataset = write_layout(tmp_path, {"v": entry((0.5, 0.2, "backwards"))}, ["v.mp4"])
    with pytest.raises(UserError, match=rf"{tmp_path / 'captions.json'}: video v: caption 0: starts after it ends"):
        dataset.captions("v")


@pytest.mark.parametrize(("content", "what"), [
    (None, "captions.json is missing"),
    ("{not json", "captions.json is not valid JSON"),
    ("[1, 2]", "expected an object keyed by video id, found a list"),
])
def test_an_unreadable_captions_file_is_named(tmp_path, content, what):
    (tmp_path / "videos").mkdir()
    if content is not None:
        (tmp_path / "captions.json").write_text(content)
    with pytest.raises(UserError, match=what):
        NarratedDataset(tmp_path).check()


def test_the_holdout_keeps_every_id_in_its_set_when_videos_are_added(tmp_path):
    ids = [f"vid{number:05d}" for number in range(3000)]
    small = write_layout(tmp_path / "small", {video_id: entry((0, 1, "x")) for video_id in ids[:200]}, [])
    large = write_layout(tmp_path / "large", {video_id: entry((0, 1, "x")) for video_id in ids}, [])
    held_small, held_large = small.holdout_ids(0.05), large.holdout_ids(0.05)
    assert held_small == [video_id for video_id in held_large if video_id in set(ids[:200])]
    assert 0.04 < len(held_large) / len(ids) < 0.06  # about the fraction asked for
    assert set(large.holdout_ids(0.1)) > set(held_large)  # a larger fraction only adds videos
    assert large.holdout_ids(0.0) == []
    assert all(large.is_held_out(video_id, 0.05) == (video_id in held_large) for video_id in ids[:100])
    with pytest.raises(ValueError, match=r"holdout fraction must be in \[0, 1\)"):
        is_held_out("vid", 1.0)


def test_the_holdout_is_the_same_in_another_process(tmp_path):
    """No per-process salt (Python's hash() has one): a cluster job sees the planner's sets."""
    ids = [f"clip-{number}" for number in range(300)]
    script = ("import sys, json; from mmfeat.datasets.narrated import is_held_out; "
              "print(json.dumps([i for i in json.loads(sys.argv[1]) if is_held_out(i, 0.1)]))")
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", script, json.dumps(ids)], capture_output=True, text=True,
                            check=True, env=environment)
    assert json.loads(result.stdout) == [video_id for video_id in ids if is_held_out(video_id, 0.1)]


@pytest.mark.parametrize(("frames", "fps"), [(20, 10), (24, 10), (121, 15), (90, 30), (7, 15)])
def test_one_second_interval_per_s3d_row(frames, fps):
    """As many intervals as S3D makes rows at step_seconds 1 (10 fps resampling), row k's around k s."""
    from mmfeat.features.extractors.clips import resampled

    duration = frames / fps
    resampled_frames = sum(1 for _ in resampled(((index, None) for index in range(frames)), fps, 10))
    s3d_rows = len(range(0, resampled_frames, 10))  # windows centred on resampled frames 0, 10, 20, ...
    intervals = second_intervals_of(duration)
    assert len(intervals) == s3d_rows
    for row, (start, end) in enumerate(intervals):
        assert start <= row <= end or row > duration  # the row's centre is inside its interval
        assert (start, end) == (max(0.0, row - 0.5), min(duration, row + 0.5))


def test_seconds_in_stream_is_frames_over_rate(tmp_path):
    path = write_video(tmp_path / "clip.mp4", frames=37)
    assert seconds_in_stream(path) == pytest.approx(37 / FPS)
    (tmp_path / "junk.mp4").write_bytes(b"junk")
    assert seconds_in_stream(tmp_path / "junk.mp4") is None


def test_the_planning_check_runs_again_only_when_a_watched_file_changes(tmp_path):
    dataset = write_layout(tmp_path / "data", {"v": entry((0.0, 1.0, "hi"))}, ["v.mp4"])
    marker = tmp_path / "marker.json"
    watched = dataset.files_watched()
    assert check_once(dataset.check, watched, {}, marker) is True
    assert check_once(dataset.check, watched, {}, marker) is False
    write_video(tmp_path / "data" / "videos" / "w.mp4")  # a video without captions appears
    with pytest.raises(UserError, match="video w: a video without captions"):
        check_once(NarratedDataset(tmp_path / "data").check, watched, {}, marker)
