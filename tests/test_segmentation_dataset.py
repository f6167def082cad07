"""Reading a dataset in the MS-TCN layout: labels, splits, and errors that name the file."""

import numpy as np
import pytest

from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError


@pytest.fixture()
def tiny_root(tmp_path):
    root = tmp_path / "salads"
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("0 cut\n1 mix\n2 serve\n")
    (root / "groundTruth" / "a.txt").write_text("cut\ncut\nmix\nserve\n")
    (root / "groundTruth" / "b.txt").write_text("mix\nmix\n")
    (root / "splits" / "train.split1.bundle").write_text("a.txt\n")
    (root / "splits" / "test.split1.bundle").write_text("b.txt\n")
    return root


def test_reads_labels_classes_and_splits(tiny_root):
    dataset = SegmentationDataset(tiny_root)
    assert dataset.class_names == ["cut", "mix", "serve"]
    assert dataset.video_ids() == ["a", "b"]
    np.testing.assert_array_equal(dataset.labels("a"), [0, 0, 1, 2])
    assert dataset.split_video_ids("train", 1) == ["a"]
    assert dataset.split_video_ids("test", 1) == ["b"]


def test_missing_root_names_the_path_and_the_readme(tmp_path):
    with pytest.raises(UserError, match=r"dataset root .*nowhere does not exist; see README.md, section 'Data'"):
        SegmentationDataset(tmp_path / "nowhere")


def test_unknown_label_names_file_and_line(tiny_root):
    (tiny_root / "groundTruth" / "a.txt").write_text("cut\ncut\nchop\n")
    with pytest.raises(UserError, match=r"a\.txt, line 3: label 'chop' is not in .*mapping\.txt"):
        SegmentationDataset(tiny_root).labels("a")


def test_missing_bundle_names_the_file(tiny_root):
    with pytest.raises(UserError, match=r"test\.split2\.bundle is missing"):
        SegmentationDataset(tiny_root).split_video_ids("test", 2)
