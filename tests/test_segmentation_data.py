"""Aligned sequences from the feature store, and feature standardisation kept in the checkpoint for prediction."""

import numpy as np
import pytest

from mmfeat.align import align
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.tasks.segmentation.sequences import VideoSequence, feature_statistics, load_sequences, standardize


def sequence(features: np.ndarray) -> VideoSequence:
    frames = features.shape[1]
    return VideoSequence("v", features.astype(np.float32), np.zeros(frames, dtype=np.int64), np.arange(frames),
                         align(np.arange(frames), frames, frames))


def test_standardised_training_features_have_zero_mean_and_unit_std_per_dimension():
    rng = np.random.default_rng(0)
    sequences = [sequence(rng.normal(5, 0.01, size=(3, 40))), sequence(rng.normal(5, 0.01, size=(3, 25)))]
    mean, std = feature_statistics(sequences)
    standardize(sequences, mean, std)
    frames = np.concatenate([s.features for s in sequences], axis=1)
    np.testing.assert_allclose(frames.mean(axis=1), 0, atol=1e-3)
    np.testing.assert_allclose(frames.std(axis=1), 1, atol=1e-3)


def test_test_features_use_the_training_statistics_not_their_own():
    train = [sequence(np.array([[0.0, 2.0, 4.0]]))]
    test = [sequence(np.array([[2.0, 2.0]]))]
    mean, std = feature_statistics(train)
    standardize(test, mean, std)
    np.testing.assert_allclose(test[0].features, [[0.0, 0.0]], atol=1e-5)


def test_a_constant_dimension_stays_finite():
    sequences = [sequence(np.ones((2, 10)))]
    mean, std = feature_statistics(sequences)
    standardize(sequences, mean, std)
    assert np.isfinite(sequences[0].features).all()


def _dataset_and_store(tmp_path, label_frames: int, decoded_frames: int, frames_expected: int | None):
    """A video with one label per frame (its label is its frame index) whose decoding stopped early or not."""
    root = tmp_path / "dataset"
    (root / "groundTruth").mkdir(parents=True)
    (root / "mapping.txt").write_text("".join(f"{index} frame{index}\n" for index in range(label_frames)))
    (root / "groundTruth" / "take.txt").write_text("".join(f"frame{index}\n" for index in range(label_frames)))
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}, dtype="float32") as shard:
        shard.add_video("take", np.zeros((decoded_frames, 2)), np.arange(decoded_frames), {"source": "video"})
        shard.add_decode_record("take", {"path": "take.mp4", "frames_expected": frames_expected,
                                         "frames_decoded": decoded_frames, "skipped_indices": []})
    return SegmentationDataset(root), FeatureStore(tmp_path / "shard-0.h5")


@pytest.mark.parametrize("policy", ["back", "front", "symmetric"])
def test_a_file_truncated_at_the_end_keeps_every_frame_on_its_own_label(tmp_path, policy):
    # 30 frames annotated and promised by the container; the file breaks off after 24
    dataset, store = _dataset_and_store(tmp_path, label_frames=30, decoded_frames=24, frames_expected=30)
    [sequence], _ = load_sequences(dataset, store, ["take"], policy, sample_rate=1)
    np.testing.assert_array_equal(sequence.labels, np.arange(24))
    assert sequence.alignment.video_frames == 30 and sequence.alignment.mismatch == 0


@pytest.mark.parametrize("policy, first_label", [("back", 0), ("front", 6), ("symmetric", 3)])
def test_a_video_shorter_than_its_labels_by_its_own_count_is_still_cut_by_the_policy(tmp_path, policy, first_label):
    # the container itself says 24 frames: the labels are the longer ones, the policy decides
    dataset, store = _dataset_and_store(tmp_path, label_frames=30, decoded_frames=24, frames_expected=24)
    [sequence], _ = load_sequences(dataset, store, ["take"], policy, sample_rate=1)
    np.testing.assert_array_equal(sequence.labels, np.arange(first_label, first_label + 24))
    assert sequence.alignment.mismatch == -6
