"""Alignment of feature rows to label frames under the three cut policies."""

import numpy as np
import pytest

from mmfeat.align import align, fill_to_label_rate


def test_equal_lengths_keep_every_row_on_its_own_frame():
    alignment = align(np.arange(10), video_frames=10, label_frames=10, policy="back")
    assert alignment.mismatch == 0
    np.testing.assert_array_equal(alignment.rows_kept, np.arange(10))
    np.testing.assert_array_equal(alignment.label_indices, np.arange(10))


@pytest.mark.parametrize("policy, first_label, first_video", [("back", 0, 0), ("front", 0, 4), ("symmetric", 0, 2)])
def test_longer_video_is_cut_where_the_policy_says(policy, first_label, first_video):
    alignment = align(np.arange(14), video_frames=14, label_frames=10, policy=policy)
    assert alignment.mismatch == 4
    assert len(alignment.rows_kept) == 10
    assert alignment.rows_kept[0] == first_video
    assert alignment.label_indices[0] == first_label
    np.testing.assert_array_equal(alignment.label_indices, np.arange(10))


@pytest.mark.parametrize("policy, first_label", [("back", 0), ("front", 3), ("symmetric", 1)])
def test_longer_labels_are_cut_where_the_policy_says(policy, first_label):
    alignment = align(np.arange(7), video_frames=7, label_frames=10, policy=policy)
    assert alignment.mismatch == -3
    np.testing.assert_array_equal(alignment.label_indices, np.arange(first_label, first_label + 7))


def test_strided_rows_with_skipped_frames_map_to_their_own_labels():
    # every 2nd frame kept, frames 6 and 7 skipped as damaged: rows describe frames 0, 2, 4, 8
    alignment = align(np.array([0, 2, 4, 8]), video_frames=10, label_frames=10, policy="back")
    np.testing.assert_array_equal(alignment.label_indices, [0, 2, 4, 8])


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown alignment policy 'middle'"):
        align(np.arange(3), 3, 3, "middle")


def test_fill_repeats_predictions_back_to_full_rate_like_asformer():
    # predictions on frames 0, 2, 4 of a 6-frame video: each is repeated twice
    filled = fill_to_label_rate(np.array([5, 6, 7]), np.array([0, 2, 4]), label_frames=6)
    np.testing.assert_array_equal(filled, [5, 5, 6, 6, 7, 7])


def test_fill_covers_frames_before_the_first_prediction_and_gaps():
    filled = fill_to_label_rate(np.array([1, 2]), np.array([2, 5]), label_frames=8)
    np.testing.assert_array_equal(filled, [1, 1, 1, 1, 1, 2, 2, 2])
