"""Every humour classifier and fusion for given modalities and seeds, as one JSON-ready dict.

    modalities = {name: load_modality_features(path) for name, path in [("text", "text.npz"), ...]}
    results = run_humor_experiment(modalities, ExperimentSettings(seeds=(0, 1, 2, 3, 4)), settings={...})

Per seed: an MLP per modality (early stopping on dev); for every combination of two or
more modalities, the mean of probabilities, a majority vote (ties to the modality with
the higher dev accuracy that seed), stacking on dev probabilities, and one MLP on the
concatenated features. Once: a logistic regression per modality (convex, so seed-free)
and the majority class of train. Every row is scored on dev and test; each test run is
flagged degenerate when one class takes >= `degenerate_threshold` of its predictions.
The same inputs and seeds give the same dict, to the bit.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
import torch
from tqdm import tqdm

from mmfeat.tasks.humor.classifiers import select_logistic_regression, train_mlp
from mmfeat.tasks.humor.features import FOLDS, ModalityFeatures, align_modalities
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
from mmfeat.tasks.humor.metrics import (
    METRIC_NAMES, binary_metrics, confusion_matrix, majority_class_fraction, summarise,
)
from mmfeat.tasks.humor.results import RESULTS_FORMAT
from mmfeat.tasks.humor.settings import ExperimentSettings

FUSION_GROUPS = ("mean", "vote", "stacking", "early")  # candidates for the best fusion, chosen on dev
log = logging.getLogger(__name__)


def run_humor_experiment(modalities: dict[str, ModalityFeatures], settings: ExperimentSettings,
                         report_settings: dict | None = None) -> dict:
    """Train, fuse and score everything; `report_settings` (features and weights used) is carried along."""
    with _torch_threads(settings.threads):
        return _run(modalities, settings, report_settings)


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch CPU threads, then restore the caller's number."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(modalities: dict[str, ModalityFeatures], settings: ExperimentSettings, report_settings: dict | None) -> dict:
    aligned, skipped = align_modalities(modalities)
    names = list(aligned)
    first = aligned[names[0]]
    labels = first.labels
    masks = {fold: first.fold_mask(fold) for fold in FOLDS}
    scorer = _Scorer(labels, masks, settings.degenerate_threshold)
    log.info("%d samples in every modality (%s); %d left out", len(labels),
             ", ".join(f"{fold} {mask.sum()}" for fold, mask in masks.items()), len(skipped))

    rows = {}  # (group, modalities) -> row; insertion order is the order of the tables
    majority_class = int(labels[masks["train"]].mean() > 0.5)  # on an exact tie: not humour
    _add_run(rows, "majority", (), scorer.score_predictions(np.full(len(labels), majority_class), seed=None,
                                                            class_predicted=majority_class))
    for name in names:
        model = select_logistic_regression(*_fold_arrays(aligned[name].features, labels, masks))
        _add_run(rows, "logistic", (name,), scorer.score_probabilities(model.predict_proba(aligned[name].features),
                                                                       seed=None, l2=model.l2))
    combinations = [combo for size in range(2, len(names) + 1) for combo in itertools.combinations(names, size)]
    for seed in tqdm(settings.seeds, desc="seeds", unit="seed", disable=None):
        probabilities, dev_accuracy = {}, {}
        for name in names:
            mlp = train_mlp(*_fold_arrays(aligned[name].features, labels, masks), settings.mlp, seed)
            probabilities[name] = mlp.predict_proba(aligned[name].features)
            run = scorer.score_probabilities(probabilities[name], seed, best_epoch=mlp.best_epoch)
            dev_accuracy[name] = run["dev"]["accuracy"]
            _add_run(rows, "mlp", (name,), run)
        order = strength_order(dev_accuracy)
        for combo in combinations:
            chosen = {name: probabilities[name] for name in combo}
            _add_run(rows, "mean", combo, scorer.score_probabilities(mean_probability_fusion(chosen), seed))
            votes = {name: predictions_from_probabilities(p) for name, p in chosen.items()}
            _add_run(rows, "vote", combo, scorer.score_predictions(
                majority_vote(votes, order), seed, strength_order=[name for name in order if name in combo]))
            _add_run(rows, "stacking", combo, _stacking_run(chosen, labels, masks, scorer, seed, settings))
            early_features = early_fusion_features([aligned[name].features for name in combo])
            mlp = train_mlp(*_fold_arrays(early_features, labels, masks), settings.mlp, seed)
            _add_run(rows, "early", combo, scorer.score_probabilities(mlp.predict_proba(early_features), seed,
                                                                      best_epoch=mlp.best_epoch))
        log.info("seed %d: dev accuracy %s", seed, ", ".join(f"{n} {a:.3f}" for n, a in dev_accuracy.items()))

    table = [_summarised(row) for row in rows.values()]
    return {
        "format": RESULTS_FORMAT,
        "modalities": {name: {"path": modality.path, "dimension": modality.dimension}
                       for name, modality in aligned.items()},
        "samples": {fold: {"count": int(mask.sum()), "humour": int(labels[mask].sum())}
                    for fold, mask in masks.items()},
        "skipped": skipped,
        "seeds": list(settings.seeds),
        "experiment_settings": asdict(settings),
        "settings": report_settings or {},
        "majority_class": majority_class,
        "rows": table,
        "best_fusion": best_fusion(table),
    }


class _Scorer:
    """Scores one run's per-sample outputs on dev and test."""

    def __init__(self, labels: np.ndarray, masks: dict[str, np.ndarray], degenerate_threshold: float):
        self.labels, self.masks, self.degenerate_threshold = labels, masks, degenerate_threshold

    def score_probabilities(self, probabilities: np.ndarray, seed: int | None, **extra) -> dict:
        return self.score_predictions(predictions_from_probabilities(probabilities), seed, **extra)

    def score_predictions(self, predictions: np.ndarray, seed: int | None, dev_predictions: np.ndarray | None = None,
                          **extra) -> dict:
        """`dev_predictions` replaces the dev part of `predictions` where dev was used for fitting."""
        dev = predictions[self.masks["dev"]] if dev_predictions is None else dev_predictions
        test = predictions[self.masks["test"]]
        test_labels = self.labels[self.masks["test"]]
        return {
            "seed": seed,
            "dev": binary_metrics(self.labels[self.masks["dev"]], dev),
            "test": binary_metrics(test_labels, test),
            "test_confusion": confusion_matrix(test_labels, test),
            "test_one_class_fraction": majority_class_fraction(test),
            "degenerate": is_degenerate(test, self.degenerate_threshold),
            **extra,
        }


def _stacking_run(probabilities: dict[str, np.ndarray], labels: np.ndarray, masks: dict[str, np.ndarray],
                  scorer: _Scorer, seed: int, settings: ExperimentSettings) -> dict:
    """Fit on all of dev for test; score dev out of fold, so that dev accuracy is not training accuracy."""
    dev_probabilities = {name: p[masks["dev"]] for name, p in probabilities.items()}
    stacking = fit_stacking(dev_probabilities, labels[masks["dev"]])
    out_of_fold = out_of_fold_stacking(dev_probabilities, labels[masks["dev"]], settings.stacking_folds, seed)
    return scorer.score_predictions(predictions_from_probabilities(stacking.predict_proba(probabilities)), seed,
                                    dev_predictions=predictions_from_probabilities(out_of_fold),
                                    weights=stacking.weights())


def _fold_arrays(features: np.ndarray, labels: np.ndarray, masks: dict[str, np.ndarray]):
    """train features, train labels, dev features, dev labels."""
    return features[masks["train"]], labels[masks["train"]], features[masks["dev"]], labels[masks["dev"]]


def _add_run(rows: dict, group: str, modalities: tuple[str, ...], run: dict) -> None:
    rows.setdefault((group, modalities), {"group": group, "modalities": list(modalities), "runs": []})
    rows[(group, modalities)]["runs"].append(run)


def _summarised(row: dict) -> dict:
    runs = row["runs"]
    row["summary"] = {
        fold: {metric: summarise([run[fold][metric] for run in runs]) for metric in METRIC_NAMES}
        for fold in ("dev", "test")
    }
    row["summary"]["test_confusion_mean"] = np.mean([run["test_confusion"] for run in runs], axis=0).tolist()
    row["summary"]["degenerate_runs"] = sum(run["degenerate"] for run in runs)
    return row


def best_fusion(table: list[dict]) -> dict | None:
    """The fusion row with the highest mean dev accuracy (the first in table order on a tie); never test."""
    fusions = [row for row in table if row["group"] in FUSION_GROUPS]
    if not fusions:
        return None
    best = max(fusions, key=lambda row: row["summary"]["dev"]["accuracy"]["mean"])
    return {"group": best["group"], "modalities": best["modalities"],
            "dev_accuracy": best["summary"]["dev"]["accuracy"]["mean"]}
