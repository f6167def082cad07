"""Binary classification metrics of the humour class (label 1), and their summary over seeds.

    binary_metrics(labels, predictions)   # {"accuracy", "precision", "recall", "f1"}
    confusion_matrix(labels, predictions) # [[TN, FP], [FN, TP]]: rows truth, columns prediction
    summarise([0.70, 0.72, 0.71])         # {"mean": 0.71, "std": 0.01} (std with n-1)

Conventions, stated in the report too: precision is 0 when nothing is predicted humorous
(no positive prediction), recall is 0 when the set holds no humorous sample, and F1 is 0
when precision and recall are both 0.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "f1")


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> list[list[int]]:
    """[[TN, FP], [FN, TP]] for 0/1 labels and predictions."""
    labels, predictions = _as_binary(labels, predictions)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix.tolist()


def binary_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 of class 1."""
    (true_negative, false_positive), (false_negative, true_positive) = confusion_matrix(labels, predictions)
    total = true_negative + false_positive + false_negative + true_positive
    predicted_positive = true_positive + false_positive
    actual_positive = true_positive + false_negative
    precision = true_positive / predicted_positive if predicted_positive else 0.0
    recall = true_positive / actual_positive if actual_positive else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (true_positive + true_negative) / total, "precision": precision, "recall": recall, "f1": f1}


def majority_class_fraction(predictions: np.ndarray) -> float:
    """The share of predictions that fall in the most predicted class (1.0: one class only)."""
    predictions = np.asarray(predictions)
    positive = float(np.mean(predictions == 1))
    return max(positive, 1.0 - positive)


def summarise(values: list[float]) -> dict[str, float]:
    """Mean and std (n-1; 0 for a single value) of one metric over seeds."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if array.size > 1 else 0.0}


def _as_binary(labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be 1-D of one length")
    if labels.size == 0:
        raise ValueError("no sample to score")
    for name, array in (("labels", labels), ("predictions", predictions)):
        if not np.isin(array, (0, 1)).all():
            raise ValueError(f"{name} must be 0 or 1")
    return labels.astype(np.int64), predictions.astype(np.int64)
