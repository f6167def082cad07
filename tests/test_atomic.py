"""Temp-and-rename writing of files and folders, and the clean-up of temporaries left by killed writers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmfeat.atomic import directory_replaced_on_success, remove_stale_temporaries, replaced_on_success


def _dead_pid() -> int:
    """The PID of a process that has ended (and been reaped), so that nothing runs under it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_dead_writers_temporaries_are_removed_when_the_file_is_written_again(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".shard-0.h5.{dead}.tmp"
    stale_folder = tmp_path / f".predictions.{dead}.tmp"
    stale_file.write_bytes(b"half a shard")
    stale_folder.mkdir()
    (stale_folder / "video-a").write_text("half the predictions")
    with replaced_on_success(tmp_path / "shard-0.h5") as temporary:
        temporary.write_bytes(b"a whole shard")
    with directory_replaced_on_success(tmp_path / "predictions") as staging:
        (staging / "video-a").write_text("cut\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions", "shard-0.h5"]


def test_temporaries_of_running_writers_and_of_other_files_are_kept(tmp_path):
    running = tmp_path / f".shard-0.h5.{os.getppid()}.tmp"  # our parent runs, so its PID is taken
    other_destination = tmp_path / f".shard-1.h5.{_dead_pid()}.tmp"  # not the file being written
    not_a_temporary = tmp_path / ".shard-0.h5.notes.tmp"
    for path in (running, other_destination, not_a_temporary):
        path.write_bytes(b"")
    assert remove_stale_temporaries(tmp_path / "shard-0.h5") == []
    assert all(path.exists() for path in (running, other_destination, not_a_temporary))


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    destination = tmp_path / "metrics.json"
    destination.write_text("old")
    with pytest.raises(RuntimeError):
        with replaced_on_success(destination) as temporary:
            temporary.write_text("new, half written")
            raise RuntimeError("the job failed")
    assert destination.read_text() == "old" and list(tmp_path.iterdir()) == [destination]


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    destination = tmp_path / "predictions"
    destination.mkdir()
    (destination / "old-video").write_text("from an earlier run")
    with pytest.raises(RuntimeError):
        with directory_replaced_on_success(destination) as staging:
            (staging / "new-video").write_text("half")
            raise RuntimeError("the job failed")
    assert [p.name for p in destination.iterdir()] == ["old-video"]
    with directory_replaced_on_success(destination) as staging:
        (staging / "new-video").write_text("cut\n")
    assert [p.name for p in destination.iterdir()] == ["new-video"]  # nothing of the earlier run stays
    assert [p.name for p in tmp_path.iterdir()] == ["predictions"]


def test_a_folder_replaces_a_file_of_the_same_name(tmp_path):
    destination = tmp_path / "predictions"
    destination.write_text("a file where the folder goes")
    with directory_replaced_on_success(destination) as staging:
        (staging / "video-a").write_text("cut\n")
    assert destination.is_dir() and [p.name for p in tmp_path.iterdir()] == ["predictions"]
