"""A dataset check runs once per state of the files it reads, and a failed check is never remembered."""

from __future__ import annotations

import os

import pytest

from mmfeat.datasets.check_cache import check_once
from mmfeat.errors import UserError


@pytest.fixture()
def dataset(tmp_path):
    root = tmp_path / "dataset"
    (root / "groundTruth").mkdir(parents=True)
    (root / "mapping.txt").write_text("0 cut\n1 peel\n")
    for video in ("a", "b"):
        (root / "groundTruth" / f"{video}.txt").write_text("cut\npeel\n")
    return root


class CountingCheck:
    def __init__(self, fails: bool = False):
        self.runs, self.fails = 0, fails

    def __call__(self):
        self.runs += 1
        if self.fails:
            raise UserError("groundTruth/a.txt, line 2: label 'pel' is not in mapping.txt")


def _check(dataset, check, settings=None, marker=None):
    watched = [dataset / "mapping.txt", dataset / "groundTruth"]
    return check_once(check, watched, settings or {"splits": 5}, marker or dataset.parent / "checks" / "d.json")


def test_a_passed_check_is_not_run_again_while_nothing_changed(dataset):
    check = CountingCheck()
    assert _check(dataset, check) is True
    assert _check(dataset, check) is False
    assert check.runs == 1


@pytest.mark.parametrize("change", ["edit", "add", "remove", "touch"])
def test_any_change_to_a_watched_file_runs_the_check_again(dataset, change):
    check = CountingCheck()
    _check(dataset, check)
    label_file = dataset / "groundTruth" / "a.txt"
    if change == "edit":
        label_file.write_text("cut\ncut\n")  # same size: the modification time tells
        stat = label_file.stat()
        os.utime(label_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    elif change == "add":
        (dataset / "groundTruth" / "c.txt").write_text("cut\n")
    elif change == "remove":
        label_file.unlink()
    else:
        os.utime(dataset / "mapping.txt", ns=(1, 1))
    assert _check(dataset, check) is True
    assert check.runs == 2


def test_other_settings_run_the_check_again(dataset):
    check = CountingCheck()
    _check(dataset, check, {"splits": 5})
    assert _check(dataset, check, {"splits": 4}) is True
    assert check.runs == 2


def test_a_failed_check_raises_every_time_and_leaves_no_marker(dataset):
    check, marker = CountingCheck(fails=True), dataset.parent / "checks" / "d.json"
    for _ in range(2):
        with pytest.raises(UserError, match="label 'pel'"):
            _check(dataset, check, marker=marker)
    assert check.runs == 2
    assert not marker.exists()
