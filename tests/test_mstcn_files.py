"""Reading and writing the MS-TCN / ASFormer text files: what is accepted, and errors that name file and line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mmfeat.datasets.mstcn_files import (
    PREDICTION_HEADER,
    prediction_name,
    read_bundle,
    read_frame_labels,
    read_mapping,
    read_prediction_file,
    write_prediction_file,
)
from mmfeat.errors import UserError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_50salads_mapping(reference_dir):
    mapping = read_mapping(reference_dir / "segmentation_metrics" / "mapping.txt")
    assert len(mapping) == 19
    assert mapping["cut_tomato"] == 0
    assert mapping["action_end"] == 18


@pytest.mark.parametrize(
    ("text", "bad_line"),
    [
        ("0 cut\n1 peel\ntwo mix\n", 3),  # index not a number
        ("0 cut\n1 peel extra\n", 2),  # three fields
        ("0 cut\n1\n", 2),  # no name
        ("0 cut\n-1 peel\n", 2),  # negative index
        ("0 cut\n1 peel\n2 cut\n", 3),  # label listed twice
        ("0 cut\n1 peel\n1 mix\n", 3),  # index used twice
    ],
)
def test_mapping_errors_name_file_and_line(tmp_path, text, bad_line):
    path = write(tmp_path / "mapping.txt", text)
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}, line {bad_line}:"):
        read_mapping(path)


def test_mapping_ignores_blank_lines_and_crlf(tmp_path):
    path = write(tmp_path / "mapping.txt", "0 cut\r\n\r\n1 peel\r\n\r\n")
    assert read_mapping(path) == {"cut": 0, "peel": 1}


@pytest.mark.parametrize("ending", ["", "\n", "\n\n", "\n \n", "\r\n"])
def test_frame_labels_tolerate_trailing_newlines(tmp_path, ending):
    path = write(tmp_path / "v.txt", "cut\ncut\npeel" + ending)
    assert read_frame_labels(path) == ["cut", "cut", "peel"]


def test_frame_labels_blank_line_in_the_middle_names_file_and_line(tmp_path):
    path = write(tmp_path / "v.txt", "cut\ncut\n\npeel\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}, line 3: empty line"):
        read_frame_labels(path)


def test_frame_labels_reject_a_line_with_two_words(tmp_path):
    path = write(tmp_path / "v.txt", "cut\n3 peel\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}, line 2:"):
        read_frame_labels(path)


def test_frame_labels_reject_an_empty_file(tmp_path):
    path = write(tmp_path / "v.txt", "\n")
    with pytest.raises(UserError, match="holds no labels"):
        read_frame_labels(path)


def test_missing_file_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserError, match=rf"{re.escape(str(tmp_path / 'absent.txt'))}: file not found"):
        read_frame_labels(tmp_path / "absent.txt")


def test_prediction_round_trip(tmp_path):
    labels = ["cut", "cut", "peel", "action_end"]
    path = tmp_path / "rgb-01-1"
    write_prediction_file(path, labels)
    assert read_prediction_file(path) == labels
    assert path.read_text().splitlines()[0] == PREDICTION_HEADER
    assert os.listdir(path.parent) == ["rgb-01-1"]  # no temporary file left behind


def test_reads_official_prediction_files(reference_dir):
    labels = read_prediction_file(reference_dir / "segmentation_metrics" / "predictions" / "split_1" / "rgb-01-4")
    assert len(labels) == 880
    assert labels[0] == "cut_tomato"


def test_prediction_without_header_names_the_file(tmp_path):
    path = write(tmp_path / "rgb-01-1", "cut cut peel\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: not a prediction file"):
        read_prediction_file(path)


def test_failed_prediction_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted_rename(source, target):
        raise KeyboardInterrupt  # as if the job were killed just before the rename

    monkeypatch.setattr(os, "replace", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        write_prediction_file(tmp_path / "rgb-01-1", ["cut", "peel"])
    assert os.listdir(tmp_path) == []


def test_prediction_write_replaces_an_older_file(tmp_path):
    path = tmp_path / "rgb-01-1"
    write_prediction_file(path, ["cut"] * 5)
    write_prediction_file(path, ["peel"] * 3)
    assert read_prediction_file(path) == ["peel"] * 3


def test_prediction_write_refuses_labels_that_would_not_read_back(tmp_path):
    with pytest.raises(ValueError, match="frame 1"):
        write_prediction_file(tmp_path / "rgb-01-1", ["cut", "cut tomato"])
    assert not (tmp_path / "rgb-01-1").exists()


def test_bundle_ignores_blank_lines(tmp_path):
    path = write(tmp_path / "test.split1.bundle", "rgb-01-1.txt\n\nrgb-01-2.txt\n\n")
    assert read_bundle(path) == ["rgb-01-1.txt", "rgb-01-2.txt"]


def test_a_video_listed_twice_in_a_bundle_names_both_lines(tmp_path):
    path = write(tmp_path / "train.split1.bundle", "rgb-01-1.txt\nrgb-01-2.txt\n\nrgb-01-1.txt\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}, line 4: video 'rgb-01-1.txt' is already "
                                        r"listed on line 1; list each video once"):
        read_bundle(path)


def test_empty_bundle_is_an_error(tmp_path):
    path = write(tmp_path / "test.split1.bundle", "\n\n")
    with pytest.raises(UserError, match=rf"{re.escape(str(path))}: the bundle lists no videos"):
        read_bundle(path)


def test_prediction_name_drops_the_extension_as_asformer_does():
    assert prediction_name("rgb-01-1.txt") == "rgb-01-1"
