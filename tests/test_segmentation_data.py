"""Feature standardisation for training, kept in the checkpoint for prediction."""

import numpy as np

from mmfeat.align import align
from mmfeat.training.segmentation_data import VideoSequence, feature_statistics, standardize


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
