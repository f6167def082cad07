"""Bad dataset inputs caught before training, each error naming its file and the fix:
labels, mapping and bundles, precomputed .npy shapes, a relative root that does not exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.precomputed_features import dimension_problems, orientation_problems
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.datasets.segmentation_check import check_segmentation_dataset
from mmfeat.datasets.urfunny import URFunnyDataset
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.tasks.segmentation.sequences import load_sequences

CLASSES = ("cut", "mix", "serve")


def write_dataset(root: Path, frames: dict[str, int], dims: int = 6) -> Path:
    """MS-TCN layout, one split, with (D, T) features of the labels' length."""
    for folder in ("groundTruth", "splits", "features"):
        (root / folder).mkdir(parents=True)
    (root / "mapping.txt").write_text("".join(f"{index} {name}\n" for index, name in enumerate(CLASSES)))
    for video, count in frames.items():
        (root / "groundTruth" / f"{video}.txt").write_text("".join(f"{CLASSES[i % 3]}\n" for i in range(count)))
        np.save(root / "features" / f"{video}.npy", np.zeros((dims, count), dtype=np.float32))
    videos = list(frames)
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{v}.txt\n" for v in videos[1:]))
    (root / "splits" / "test.split1.bundle").write_text(f"{videos[0]}.txt\n")
    return root


@pytest.fixture
def root(tmp_path) -> Path:
    return write_dataset(tmp_path / "salads", {"a": 60, "b": 80, "c": 70, "d": 50})


def test_a_clean_dataset_passes_and_features_a_few_frames_off_are_left_to_alignment(root):
    np.save(root / "features" / "a.npy", np.zeros((6, 63), dtype=np.float32))  # 3 frames past its labels
    check_segmentation_dataset(root, splits=1, precomputed=True)


def test_a_duplicated_index_in_the_mapping_names_the_line(root):
    (root / "mapping.txt").write_text("0 cut\n1 mix\n1 serve\n")
    with pytest.raises(UserError, match=r"mapping\.txt, line 3: index 1 is already used on line 2"):
        check_segmentation_dataset(root, splits=1, precomputed=False)


def test_every_problem_is_listed_at_once_each_naming_its_file(root):
    (root / "groundTruth" / "a.txt").write_text("cut\nchop\n")                        # label not in the mapping
    (root / "groundTruth" / "b.txt").write_text("\n\n")                                # empty
    (root / "splits" / "train.split1.bundle").write_text("b.txt\nghost.txt\n")        # no ground truth
    np.save(root / "features" / "c.npy", np.zeros((70, 6), dtype=np.float32))         # saved as (T, D)
    np.save(root / "features" / "d.npy", np.zeros((4, 50), dtype=np.float32))         # D 4 where the rest have 6
    with pytest.raises(UserError) as raised:
        check_segmentation_dataset(root, splits=1, precomputed=True)
    message = str(raised.value)
    assert "has 5 problem(s)" in message
    assert f"{root / 'groundTruth' / 'a.txt'}, line 2: label 'chop' is not in" in message
    assert f"{root / 'groundTruth' / 'b.txt'}: the ground-truth file holds no labels" in message
    assert (f"{root / 'splits' / 'train.split1.bundle'} lists video 'ghost', but "
            f"{root / 'groundTruth' / 'ghost.txt'} is missing") in message
    assert f"{root / 'features' / 'c.npy'}: shape (70, 6) looks saved as (T, D)" in message
    assert f"{root / 'features' / 'd.npy'}: 4 feature dimensions, where 2 other file(s) have 6" in message


def test_a_video_listed_twice_in_a_bundle_is_a_dataset_problem(root):
    (root / "splits" / "train.split1.bundle").write_text("b.txt\nc.txt\nb.txt\nd.txt\n")  # trained on twice
    (root / "splits" / "test.split1.bundle").write_text("a.txt\na.txt\n")  # one prediction for two entries
    with pytest.raises(UserError) as raised:
        check_segmentation_dataset(root, splits=1, precomputed=False)
    message = str(raised.value)
    assert "has 2 problem(s)" in message
    assert f"{root / 'splits' / 'train.split1.bundle'}, line 3: video 'b.txt' is already listed on line 1" in message
    assert f"{root / 'splits' / 'test.split1.bundle'}, line 2: video 'a.txt' is already listed on line 1" in message


def test_a_background_label_not_in_the_mapping_names_it_and_the_known_ones(root):
    check_segmentation_dataset(root, splits=1, precomputed=False, background=["mix"])
    with pytest.raises(UserError) as raised:
        check_segmentation_dataset(root, splits=1, precomputed=False, background=["mix", "zzz"])
    message = str(raised.value)
    assert "has 1 problem(s)" in message
    assert (f"background label 'zzz' is not in {root / 'mapping.txt'} (its labels: cut, mix, serve); "
            "correct the dataset's `background` in the config") in message


def test_a_missing_features_file_names_it(root):
    (root / "features" / "b.npy").unlink()
    with pytest.raises(UserError, match=r"b\.npy: no such features file"):
        check_segmentation_dataset(root, splits=1, precomputed=True)
    check_segmentation_dataset(root, splits=1, precomputed=False)  # not needed without precomputed features


@pytest.mark.parametrize(("shape", "label_frames", "transposed"), [
    ((2048, 11687), 11687, False),   # as published
    ((2048, 11680), 11687, False),   # a few frames short: alignment's business
    ((11687, 2048), 11687, True),    # saved as (T, D)
    ((64, 60), 60, False),           # both readings fit, (D, T) exactly: the documented (D, T) is trusted
    ((20, 16), 20, True),            # both readings fit, (T, D) better, nothing says 20 is the feature dimension
    ((2048, 5000), 11687, False),    # neither fits: not an orientation error (alignment logs the mismatch)
])
def test_a_file_is_called_transposed_only_when_the_transposed_reading_fits_better(shape, label_frames, transposed):
    problems = orientation_problems({Path("v.npy"): shape}, {Path("v.npy"): label_frames})
    assert (Path("v.npy") in problems) == transposed
    if transposed:
        assert "save the array transposed, as (D, T)" in problems[Path("v.npy")]


def test_transposed_files_whose_d_is_close_to_t_are_named_as_transposed(tmp_path):
    """Three 20-frame videos saved as (20, 16), then 20/24/22-frame ones: a transposition, not disagreeing D."""
    root = write_dataset(tmp_path / "same", {"a": 20, "b": 20, "c": 20}, dims=16)
    for video in "abc":
        np.save(root / "features" / f"{video}.npy", np.zeros((20, 16), dtype=np.float32))
    with pytest.raises(UserError) as raised:
        check_segmentation_dataset(root, splits=1, precomputed=True)
    message = str(raised.value)
    assert "has 3 problem(s)" in message
    for video in "abc":
        assert (f"{root / 'features' / f'{video}.npy'}: shape (20, 16) looks saved as (T, D): its ground truth has "
                "20 frames, which matches 20, better than 16; save the array transposed, as (D, T)") in message
    root = write_dataset(tmp_path / "varied", {"a": 20, "b": 24, "c": 22}, dims=16)
    for video, frames in (("a", 20), ("b", 24), ("c", 22)):
        np.save(root / "features" / f"{video}.npy", np.zeros((frames, 16), dtype=np.float32))
    with pytest.raises(UserError) as raised:
        check_segmentation_dataset(root, splits=1, precomputed=True)
    message = str(raised.value)
    assert "has 3 problem(s)" in message and "feature dimensions" not in message
    assert f"{root / 'features' / 'b.npy'}: shape (24, 16) looks saved as (T, D)" in message


def test_features_whose_d_is_close_to_t_pass_when_saved_as_d_t(tmp_path):
    check_segmentation_dataset(write_dataset(tmp_path / "short", {"a": 20, "b": 24, "c": 22}, dims=16),
                               splits=1, precomputed=True)
    # 64 is closer to its 63 labels than its 60 frames are, but 64 is the dimension the other files have
    root = write_dataset(tmp_path / "close", {"a": 63, "b": 80, "c": 90}, dims=64)
    np.save(root / "features" / "a.npy", np.zeros((64, 60), dtype=np.float32))
    check_segmentation_dataset(root, splits=1, precomputed=True)


def test_without_a_majority_dimension_every_file_is_named():
    problems = dimension_problems({Path("a.npy"): (4, 10), Path("b.npy"): (6, 10)})
    assert len(problems) == 2 and "do not agree on D" in problems[0]
    assert dimension_problems({Path("a.npy"): (6, 10), Path("b.npy"): (6, 12)}) == []


def test_import_refuses_a_transposed_file_and_an_odd_dimension_naming_them(root, tmp_path, capsys):
    np.save(root / "features" / "c.npy", np.zeros((70, 6), dtype=np.float32))
    output = tmp_path / "shard-0.h5"
    arguments = ["import-features", "--features-dir", str(root / "features"), "--item", "b", "--item", "c",
                 "--output", str(output), "--dtype", "float32"]
    assert mmfeat_main([*arguments, "--ground-truth-dir", str(root / "groundTruth")]) == 2
    assert f"{root / 'features' / 'c.npy'}: shape (70, 6) looks saved as (T, D)" in capsys.readouterr().err
    assert not output.exists()
    np.save(root / "features" / "c.npy", np.zeros((4, 70), dtype=np.float32))
    np.save(root / "features" / "d.npy", np.zeros((6, 50), dtype=np.float32))
    assert mmfeat_main([*arguments, "--item", "d"]) == 2
    assert f"{root / 'features' / 'c.npy'}: 4 feature dimensions, where 2 other file(s) have 6" in capsys.readouterr().err


def test_a_bundled_video_without_ground_truth_names_the_missing_file(root, tmp_path):
    (root / "groundTruth" / "b.txt").unlink()
    dataset = SegmentationDataset(root)
    missing = root / "groundTruth" / "b.txt"
    with pytest.raises(UserError, match=rf"lists video 'b', but {missing} is missing; add its ground truth"):
        dataset.split_video_ids("train", 1)
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}, dtype="float32") as shard:
        shard.add_video("c", np.zeros((70, 2)), np.arange(70), {"source": "video"})
    store = FeatureStore(tmp_path / "shard-0.h5")
    with pytest.raises(UserError, match=rf"video 'b' has no ground truth: {missing} is missing"):
        load_sequences(dataset, store, ["c", "b"], "back", sample_rate=1)


def test_videos_with_different_feature_dimensions_fail_naming_the_video(root, tmp_path):
    with ShardWriter(tmp_path / "shard-0.h5", "precomputed", {"kind": "precomputed"}, dtype="float32") as shard:
        shard.add_video("a", np.zeros((60, 6)), np.arange(60), {"source_file": "features/a.npy"})
        shard.add_video("b", np.zeros((80, 4)), np.arange(80), {"source_file": "features/b.npy"})
    store = FeatureStore(tmp_path / "shard-0.h5")
    with pytest.raises(UserError, match=r"video 'b' has 4 feature dimensions, video 'a' 6.*replace features/b\.npy"):
        load_sequences(SegmentationDataset(root), store, ["a", "b"], "back", sample_rate=1)


@pytest.mark.parametrize("dataset_class", [SegmentationDataset, URFunnyDataset])
def test_a_relative_root_that_does_not_exist_names_the_working_directory(dataset_class, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=rf"dataset root data/nowhere does not exist \(resolved against the "
                                        rf"working directory {tmp_path}\)"):
        dataset_class("data/nowhere")
