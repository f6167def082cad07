"""Zero-shot labels: cosine (not dot product) similarity, excluded classes, prompts from class names."""

from __future__ import annotations

import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.tasks.segmentation.zero_shot import class_prompts, zero_shot_row_labels

# Class 0 points along x with a large norm, class 1 along the diagonal, class 2 along -x.
TEXT_EMBEDDINGS = np.array([[10.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
# Row 0 is 50 degrees from x: nearest in angle to class 1 (45 degrees) though its dot product
# with class 0 (10) beats class 1 (2.2). Row 1 is 10 degrees from x; row 2 points along -x.
VIDEO_EMBEDDINGS = np.array(
    [[np.cos(np.radians(50)), np.sin(np.radians(50))], [3.0, 3.0 * np.tan(np.radians(10))], [-0.5, 0.1]]
)


def test_each_row_takes_the_class_of_highest_cosine_similarity():
    labels = zero_shot_row_labels(VIDEO_EMBEDDINGS, TEXT_EMBEDDINGS, excluded=set())
    assert labels.dtype == np.int64
    assert labels.tolist() == [1, 0, 2]


def test_excluded_classes_are_never_chosen():
    # without class 0, row 1 (10 degrees) goes to the diagonal class, the nearer of those left
    assert zero_shot_row_labels(VIDEO_EMBEDDINGS, TEXT_EMBEDDINGS, excluded={0}).tolist() == [1, 1, 2]
    assert zero_shot_row_labels(VIDEO_EMBEDDINGS, TEXT_EMBEDDINGS, excluded={0, 1}).tolist() == [2, 2, 2]


def test_excluding_every_class_or_an_unknown_one_fails():
    with pytest.raises(UserError, match="all 3 classes are excluded"):
        zero_shot_row_labels(VIDEO_EMBEDDINGS, TEXT_EMBEDDINGS, excluded={0, 1, 2})
    with pytest.raises(UserError, match=r"excluded classes \[7\] do not exist"):
        zero_shot_row_labels(VIDEO_EMBEDDINGS, TEXT_EMBEDDINGS, excluded={7})
    with pytest.raises(ValueError, match="one size E"):
        zero_shot_row_labels(VIDEO_EMBEDDINGS, np.zeros((3, 5)), excluded=set())


def test_class_prompts_put_readable_names_into_the_template():
    names = ["cut_tomato", "add_oil", "peel_cucumber_prep"]
    assert class_prompts(names) == ["cut tomato", "add oil", "peel cucumber prep"]
    assert class_prompts(names[:1], template="a person is going to {label}.") == ["a person is going to cut tomato."]
    with pytest.raises(UserError, match="no {label}"):
        class_prompts(["cut_tomato"], template="a person cooks")
