"""Humour metrics on hand-computed cases, and their conventions when a class is never predicted."""

from __future__ import annotations

import pytest

from mmfeat.tasks.humor.metrics import binary_metrics, confusion_matrix, majority_class_fraction, summarise


def test_metrics_of_a_hand_computed_case():
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    predictions = [1, 0, 1, 1, 0, 0, 0, 0]
    # TP 2 (rows 0, 2), FN 2 (rows 1, 7), FP 1 (row 3), TN 3
    assert confusion_matrix(labels, predictions) == [[3, 1], [2, 2]]
    metrics = binary_metrics(labels, predictions)
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 4)
    assert metrics["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_no_positive_prediction_gives_precision_and_f1_zero():
    metrics = binary_metrics([1, 0, 1, 0], [0, 0, 0, 0])
    assert metrics == {"accuracy": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_everything_predicted_humour_has_recall_one():
    metrics = binary_metrics([1, 0, 0, 0], [1, 1, 1, 1])
    assert metrics["recall"] == 1.0
    assert metrics["precision"] == 0.25
    assert metrics["f1"] == pytest.approx(0.4)


def test_no_humour_in_the_set_gives_recall_zero():
    assert binary_metrics([0, 0], [0, 1])["recall"] == 0.0


def test_majority_class_fraction_counts_either_class():
    assert majority_class_fraction([1, 1, 1, 0]) == 0.75
    assert majority_class_fraction([0, 0, 0, 0]) == 1.0


def test_summarise_uses_n_minus_one_and_zero_for_one_value():
    assert summarise([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0}
    assert summarise([0.7]) == {"mean": 0.7, "std": 0.0}


@pytest.mark.parametrize("labels, predictions", [([1, 0], [1]), ([1, 2], [1, 0]), ([], [])])
def test_malformed_inputs_are_refused(labels, predictions):
    with pytest.raises(ValueError):
        confusion_matrix(labels, predictions)
