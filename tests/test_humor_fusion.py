"""Late fusion rules, stacking and the degenerate flag."""

from __future__ import annotations

import numpy as np
import pytest

from mmfeat.tasks.humor.fusion import (
    early_fusion_features,
    fit_stacking,
    is_degenerate,
    majority_vote,
    mean_probability_fusion,
    out_of_fold_stacking,
    predictions_from_probabilities,
    strength_order,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only wait


def test_mean_of_probabilities():
    fused = mean_probability_fusion({"text": np.array([0.9, 0.2, 0.6]), "audio": np.array([0.3, 0.4, 0.3])})
    assert fused == pytest.approx([0.6, 0.3, 0.45])
    assert predictions_from_probabilities(fused).tolist() == [1, 0, 0]
    assert predictions_from_probabilities(np.array([0.5])).tolist() == [1]  # 0.5 counts as humour


def test_a_two_modality_tie_goes_to_the_stronger_modality():
    votes = {"text": np.array([1, 0, 1, 0]), "audio": np.array([0, 1, 1, 0])}
    assert majority_vote(votes, ["text", "audio"]).tolist() == [1, 0, 1, 0]
    assert majority_vote(votes, ["audio", "text"]).tolist() == [0, 1, 1, 0]


def test_a_three_modality_majority_overrules_the_strongest():
    votes = {"text": np.array([1, 0, 1, 0]), "audio": np.array([0, 1, 1, 0]), "video": np.array([0, 1, 0, 1])}
    # per sample: 1/3, 2/3, 2/3, 1/3 humour votes; text (strongest) loses samples 0 and 1
    assert majority_vote(votes, ["text", "audio", "video"]).tolist() == [0, 1, 1, 0]


def test_a_four_modality_tie_goes_to_the_strongest_present():
    votes = {"a": np.array([1, 1]), "b": np.array([1, 0]), "c": np.array([0, 1]), "d": np.array([0, 0])}
    assert majority_vote(votes, ["x", "c", "a", "b", "d"]).tolist() == [0, 1]


def test_vote_needs_a_strength_for_every_modality():
    with pytest.raises(ValueError, match="audio"):
        majority_vote({"text": np.array([1]), "audio": np.array([0])}, ["text"])


def test_strength_order_by_dev_accuracy_then_the_study_order():
    assert strength_order({"video": 0.6, "text": 0.55, "audio": 0.7}) == ["audio", "video", "text"]
    assert strength_order({"video": 0.6, "audio": 0.6, "text": 0.6}) == ["text", "audio", "video"]
    assert strength_order({"pose": 0.6, "video": 0.6}) == ["video", "pose"]


def test_degenerate_flag_at_the_threshold():
    nearly_all_humour = np.array([1] * 19 + [0])  # 95 % one class
    assert is_degenerate(nearly_all_humour, 0.95)
    assert not is_degenerate(nearly_all_humour, 0.96)
    assert is_degenerate(np.zeros(10, dtype=int), 0.95)
    assert not is_degenerate(np.array([0, 1] * 5), 0.95)


def test_stacking_weighs_an_informative_modality_over_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    informative = np.clip(np.where(labels == 1, 0.75, 0.25) + rng.normal(0, 0.1, 300), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 300)
    stacking = fit_stacking({"text": informative, "video": noise}, labels)
    weights = stacking.weights()
    assert weights["text"] > 1.0
    assert abs(weights["video"]) < 0.3 * weights["text"]
    accuracy = np.mean(predictions_from_probabilities(stacking.predict_proba({"text": informative,
                                                                               "video": noise})) == labels)
    assert accuracy > 0.9


def test_out_of_fold_stacking_scores_each_sample_with_a_model_that_did_not_see_it():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 40)
    probabilities = {"text": np.clip(labels * 0.6 + 0.2 + rng.normal(0, 0.05, 40), 0.01, 0.99),
                     "audio": rng.uniform(0.01, 0.99, 40)}
    first = out_of_fold_stacking(probabilities, labels, folds=5, seed=3)
    assert first.shape == (40,) and np.all((first > 0) & (first < 1))
    assert np.array_equal(first, out_of_fold_stacking(probabilities, labels, folds=5, seed=3))
    assert np.mean(predictions_from_probabilities(first) == labels) > 0.9
    # a training-set fit would score its own samples differently from a held-out fit
    in_sample = fit_stacking(probabilities, labels).predict_proba(probabilities)
    assert not np.allclose(first, in_sample)


def test_early_fusion_concatenates_aligned_rows():
    fused = early_fusion_features([np.ones((3, 2)), np.zeros((3, 4))])
    assert fused.shape == (3, 6) and fused.dtype == np.float32
    with pytest.raises(ValueError, match="same samples"):
        early_fusion_features([np.ones((3, 2)), np.ones((4, 2))])
