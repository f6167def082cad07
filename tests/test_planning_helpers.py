"""The planning helpers that answer many ids at once give what the per-id functions give."""

from __future__ import annotations

import pytest

from mmfeat.errors import UserError
from mmfeat.features.sharding import videos_by_shard, videos_in_shard
from mmfeat.features.video_files import find_video_file, find_video_files


def test_one_listing_finds_the_same_file_as_a_glob_per_id(tmp_path):
    for name in ("rgb-01-1.avi", "take.2.mp4", "take.mkv", "a[1].mp4", "notes.txt.bak"):
        (tmp_path / name).touch()
    (tmp_path / "take.2.mp4.d").mkdir()  # a folder is never a video
    ids = ["rgb-01-1", "take.2", "a[1]", "notes.txt", "notes"]
    assert find_video_files(tmp_path, ids) == {video_id: find_video_file(tmp_path, video_id) for video_id in ids}


@pytest.mark.parametrize("files, message", [
    (["take.mp4", "take.avi"], "several files for video 'take'"),
    (["other.mp4"], "no file for video 'take'"),
])
def test_one_listing_fails_as_the_glob_does(tmp_path, files, message):
    for name in files:
        (tmp_path / name).touch()
    with pytest.raises(UserError, match=message):
        find_video_file(tmp_path, "take")
    with pytest.raises(UserError, match=message):
        find_video_files(tmp_path, ["take"])


def test_every_shard_at_once_equals_each_shard_alone():
    ids = [f"video-{number:04d}" for number in range(500)]
    by_shard = videos_by_shard(ids, 7)
    assert by_shard == [videos_in_shard(ids, shard, 7) for shard in range(7)]
