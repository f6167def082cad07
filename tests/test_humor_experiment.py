"""The whole humour experiment on synthetic features: what it trains, how it scores, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from humor_synthetic import synthetic_modalities
from mmfeat.tasks.humor.settings import ExperimentSettings, MLPSettings
from mmfeat.tasks.humor.experiment import best_fusion, run_humor_experiment
from mmfeat.tasks.humor.features import ModalityFeatures
from mmfeat.tasks.humor.fusion import strength_order

SETTINGS = ExperimentSettings(seeds=(0, 1), mlp=MLPSettings(hidden_size=32, learning_rate=1e-2, max_epochs=30,
                                                           patience=5))


@pytest.fixture(scope="module")
def results() -> dict:
    return run_humor_experiment(synthetic_modalities(), SETTINGS, {"features": {"text": {"extractor": "x"}}})


def rows_of(results: dict, group: str) -> dict[tuple, dict]:
    return {tuple(row["modalities"]): row for row in results["rows"] if row["group"] == group}


def test_every_classifier_and_fusion_is_there_once_per_seed(results):
    combinations = {("text", "audio"), ("text", "video"), ("audio", "video"), ("text", "audio", "video")}
    singles = {("text",), ("audio",), ("video",)}
    assert set(rows_of(results, "mlp")) == singles == set(rows_of(results, "logistic"))
    for group in ("mean", "vote", "stacking", "early"):
        assert set(rows_of(results, group)) == combinations, group
    for row in results["rows"]:
        expected_seeds = [None] if row["group"] in ("majority", "logistic") else [0, 1]
        assert [run["seed"] for run in row["runs"]] == expected_seeds, row["group"]
    assert results["samples"] == {"train": {"count": 36, "humour": results["samples"]["train"]["humour"]},
                                  "dev": {"count": 12, "humour": results["samples"]["dev"]["humour"]},
                                  "test": {"count": 12, "humour": results["samples"]["test"]["humour"]}}
    assert results["settings"] == {"features": {"text": {"extractor": "x"}}}
    json.dumps(results)  # JSON-ready


def test_text_mlp_beats_the_majority_and_stacking_trusts_text_over_video(results):
    majority = results["rows"][0]
    assert majority["group"] == "majority"
    text = rows_of(results, "mlp")[("text",)]
    assert text["summary"]["test"]["accuracy"]["mean"] > majority["summary"]["test"]["accuracy"]["mean"] + 0.2
    for run in rows_of(results, "stacking")[("text", "video")]["runs"]:
        assert run["weights"]["text"] > abs(run["weights"]["video"])


def test_vote_tie_break_follows_each_seeds_dev_accuracy(results):
    mlp_rows = rows_of(results, "mlp")
    for seed_index, seed in enumerate(results["seeds"]):
        dev_accuracy = {name[0]: row["runs"][seed_index]["dev"]["accuracy"] for name, row in mlp_rows.items()}
        order = strength_order(dev_accuracy)
        for modalities, row in rows_of(results, "vote").items():
            assert row["runs"][seed_index]["strength_order"] == [name for name in order if name in modalities]


def test_summary_is_mean_and_std_of_the_runs(results):
    row = rows_of(results, "early")[("text", "audio")]
    accuracies = [run["test"]["accuracy"] for run in row["runs"]]
    assert row["summary"]["test"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert row["summary"]["test"]["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert np.sum(row["summary"]["test_confusion_mean"]) == pytest.approx(12)


def test_majority_baseline_uses_the_train_majority_and_is_flagged():
    ids = np.array([f"s{i}" for i in range(10)])
    labels = np.array([0, 0, 0, 1, 1, 0, 1, 1, 1, 1])  # train mostly 0, test all 1
    folds = np.array(["train"] * 5 + ["dev"] * 2 + ["test"] * 3)
    features = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    one_seed = ExperimentSettings(seeds=(0,), mlp=MLPSettings(max_epochs=2))
    results = run_humor_experiment({"text": ModalityFeatures(ids, features, labels, folds, "t.npz")}, one_seed)
    majority = results["rows"][0]
    assert results["majority_class"] == 0
    assert majority["runs"][0]["test"]["accuracy"] == 0.0
    assert majority["runs"][0]["degenerate"] and majority["summary"]["degenerate_runs"] == 1
    assert results["best_fusion"] is None  # one modality: nothing to fuse


def test_same_seeds_give_identical_results():
    modalities = {name: modality for name, modality in synthetic_modalities(seed=4).items() if name != "video"}
    settings = ExperimentSettings(seeds=(3,), mlp=MLPSettings(hidden_size=16, max_epochs=10))
    first = run_humor_experiment(modalities, settings)
    assert json.dumps(run_humor_experiment(modalities, settings)) == json.dumps(first)


def test_seeds_differ(results):
    first, second = rows_of(results, "stacking")[("text", "audio")]["runs"]
    assert first["weights"] != second["weights"]


def test_best_fusion_is_chosen_on_dev_never_on_test():
    def row(group, dev, test):
        return {"group": group, "modalities": ["text", "audio"],
                "summary": {"dev": {"accuracy": {"mean": dev}}, "test": {"accuracy": {"mean": test}}}}
    table = [row("mlp", 0.99, 0.99), row("mean", 0.70, 0.90), row("vote", 0.80, 0.60), row("early", 0.80, 0.95)]
    assert best_fusion(table) == {"group": "vote", "modalities": ["text", "audio"], "dev_accuracy": 0.80}
