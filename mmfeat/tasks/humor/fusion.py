"""Combining modalities: late fusion of the classifiers' outputs, stacking, early fusion, degenerate flags.

    mean_probability_fusion({"text": p_text, "audio": p_audio})          # (N,) mean P(humour)
    order = strength_order({"text": 0.70, "audio": 0.55, "video": 0.52})  # strongest first, by dev accuracy
    majority_vote({"text": y_text, "audio": y_audio}, order)             # a tie goes to the strongest
    stacking = fit_stacking(dev_probabilities, dev_labels); stacking.predict_proba(test_probabilities)
    early_fusion_features([text.features, audio.features])               # (N, D_text + D_audio)
    is_degenerate(predictions, threshold=0.95)                           # one class for >= 95 % of samples

Probabilities are P(humour) per sample; predictions are 0/1 with P >= 0.5 meaning humour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmfeat.tasks.humor.classifiers import LogisticRegression, fit_logistic_regression, log_odds
from mmfeat.tasks.humor.metrics import majority_class_fraction

# The UR-FUNNY study ranked text > audio > video; this order breaks ties in dev accuracy,
# and any other modality name comes after these, alphabetically.
STUDY_STRENGTH_ORDER = ("text", "audio", "video")
STACKING_L2 = 1e-2  # light: two or three inputs and a dev set of a few hundred samples (a few on the demo)


def predictions_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """1 where P(humour) >= 0.5, else 0."""
    return (np.asarray(probabilities) >= 0.5).astype(np.int64)


def mean_probability_fusion(probabilities: dict[str, np.ndarray]) -> np.ndarray:
    """The mean over modalities of P(humour)."""
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in probabilities.values()]), axis=0)


def strength_order(dev_accuracy: dict[str, float]) -> list[str]:
    """Modality names, strongest first: higher dev accuracy, then the study's order, then the name."""
    def rank(name: str) -> tuple:
        study_rank = STUDY_STRENGTH_ORDER.index(name) if name in STUDY_STRENGTH_ORDER else len(STUDY_STRENGTH_ORDER)
        return (-dev_accuracy[name], study_rank, name)
    return sorted(dev_accuracy, key=rank)


def majority_vote(predictions: dict[str, np.ndarray], order: list[str]) -> np.ndarray:
    """The class most modalities predict; where votes tie, the prediction of the strongest modality in `order`."""
    missing = set(predictions) - set(order)
    if missing:
        raise ValueError(f"no strength given for {sorted(missing)}; order lists {order}")
    stacked = np.stack([np.asarray(predictions[name], dtype=np.int64) for name in predictions])
    positive_votes = stacked.sum(axis=0)
    voters = len(predictions)
    strongest = next(name for name in order if name in predictions)
    fused = (2 * positive_votes > voters).astype(np.int64)
    tied = 2 * positive_votes == voters
    fused[tied] = np.asarray(predictions[strongest], dtype=np.int64)[tied]
    return fused


def is_degenerate(predictions: np.ndarray, threshold: float) -> bool:
    """True when one class takes at least `threshold` of the predictions (e.g. 0.95)."""
    return majority_class_fraction(predictions) >= threshold


@dataclass
class Stacking:
    """Logistic regression on the modalities' log-odds of humour, fitted on dev."""

    modalities: list[str]
    model: LogisticRegression

    def predict_proba(self, probabilities: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.predict_proba(_stacking_inputs(probabilities, self.modalities))

    def weights(self) -> dict[str, float]:
        """The weight on each modality's log-odds (1.0 would take that modality's log-odds as they are)."""
        return {name: float(weight) for name, weight in zip(self.modalities, self.model.weights)}


def fit_stacking(probabilities: dict[str, np.ndarray], labels: np.ndarray, l2: float = STACKING_L2) -> Stacking:
    """Fit the stacking weights on (dev) probabilities of each modality's classifier and their labels.

    The inputs are log-odds, not standardised: they share one scale already, and left
    as they are the weights read directly as how much each modality is trusted.
    """
    names = list(probabilities)
    return Stacking(names, fit_logistic_regression(_stacking_inputs(probabilities, names), labels, l2,
                                                   standardise=False))


def out_of_fold_stacking(probabilities: dict[str, np.ndarray], labels: np.ndarray, folds: int,
                         seed: int, l2: float = STACKING_L2) -> np.ndarray:
    """P(humour) for each sample from a stacking fitted on the other folds (k-fold over the given samples).

    Stacking is fitted on dev, so its accuracy on dev would be measured on its own training
    data; these out-of-fold probabilities give a dev accuracy comparable with the other fusions'.
    """
    labels = np.asarray(labels)
    folds = max(2, min(folds, len(labels)))
    fold_of = np.random.default_rng(seed).permutation(len(labels)) % folds
    out_of_fold = np.empty(len(labels), dtype=np.float64)
    for fold in range(folds):
        held_out = fold_of == fold
        fitted = fit_stacking({name: p[~held_out] for name, p in probabilities.items()}, labels[~held_out], l2)
        out_of_fold[held_out] = fitted.predict_proba({name: p[held_out] for name, p in probabilities.items()})
    return out_of_fold


def early_fusion_features(features: list[np.ndarray]) -> np.ndarray:
    """The modalities' features side by side, one row per sample (rows must be the same samples, aligned).

    Each dimension is then standardised with train statistics by the classifier itself,
    so a modality with large raw values does not dominate the concatenation.
    """
    rows = {array.shape[0] for array in features}
    if len(rows) != 1:
        raise ValueError(f"early fusion needs the same samples in every modality, got row counts {sorted(rows)}")
    return np.concatenate([np.asarray(array, dtype=np.float32) for array in features], axis=1)


def _stacking_inputs(probabilities: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.stack([log_odds(probabilities[name]) for name in names], axis=1)
