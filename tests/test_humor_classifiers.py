"""The MLP with early stopping and the logistic regression, on synthetic feature vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfeat.tasks.humor.classifiers import (
    MLPSettings,
    Standardiser,
    fit_logistic_regression,
    log_loss,
    select_logistic_regression,
    train_mlp,
)
from mmfeat.tasks.humor.fusion import predictions_from_probabilities

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only wait

FAST = MLPSettings(hidden_size=32, max_epochs=60, patience=10, learning_rate=1e-2)


def separable(samples: int, seed: int, dimension: int = 20, shift: float = 4.0):
    """Labels 1 have their first 3 dimensions shifted by `shift` stds; 70 % humour, so the majority class is 1."""
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=samples) < 0.7).astype(np.int64)
    features = rng.normal(size=(samples, dimension)).astype(np.float32) * 3 + 10  # standardisation must undo this
    features[:, :3] += 3 * shift * labels[:, None]
    return features, labels


def test_mlp_beats_the_majority_class_on_a_separable_set():
    train_x, train_y = separable(200, seed=0)
    dev_x, dev_y = separable(60, seed=1)
    test_x, test_y = separable(100, seed=2)
    mlp = train_mlp(train_x, train_y, dev_x, dev_y, FAST, seed=0)
    accuracy = np.mean(predictions_from_probabilities(mlp.predict_proba(test_x)) == test_y)
    majority_accuracy = np.mean(test_y == 1)
    assert accuracy >= 0.95 > majority_accuracy + 0.15


def test_early_stopping_keeps_the_epoch_with_the_lowest_dev_loss():
    # few noisy samples and many dimensions: the dev loss turns up while training continues
    rng = np.random.default_rng(5)
    train_x, train_y = rng.normal(size=(40, 60)), rng.integers(0, 2, 40)
    dev_x, dev_y = rng.normal(size=(40, 60)), rng.integers(0, 2, 40)
    train_x[:, 0] += train_y
    dev_x[:, 0] += dev_y
    settings = MLPSettings(hidden_size=64, dropout=0.0, learning_rate=1e-2, max_epochs=200, patience=8)
    mlp = train_mlp(train_x, train_y, dev_x, dev_y, settings, seed=0)
    dev_losses = [row["dev_loss"] for row in mlp.history]
    assert len(mlp.history) < settings.max_epochs, "expected the run to stop early"
    assert mlp.best_epoch == int(np.argmin(dev_losses)) + 1
    assert len(mlp.history) == mlp.best_epoch + settings.patience
    assert dev_losses[-1] > dev_losses[mlp.best_epoch - 1]
    # the model returned is the one of that epoch, not the last
    assert log_loss(dev_y, mlp.predict_proba(dev_x)) == pytest.approx(dev_losses[mlp.best_epoch - 1], rel=1e-5)


def test_mlp_is_deterministic_for_a_seed_and_differs_between_seeds():
    train_x, train_y = separable(80, seed=3, shift=0.3)
    dev_x, dev_y = separable(30, seed=4, shift=0.3)
    first = train_mlp(train_x, train_y, dev_x, dev_y, FAST, seed=7)
    torch.manual_seed(123)  # the caller's random state must not matter
    again = train_mlp(train_x, train_y, dev_x, dev_y, FAST, seed=7)
    other = train_mlp(train_x, train_y, dev_x, dev_y, FAST, seed=8)
    assert first.history == again.history
    assert np.array_equal(first.predict_proba(dev_x), again.predict_proba(dev_x))
    assert not np.array_equal(first.predict_proba(dev_x), other.predict_proba(dev_x))


def test_training_leaves_the_callers_random_state_alone():
    train_x, train_y = separable(40, seed=0)
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    train_mlp(train_x, train_y, train_x, train_y, MLPSettings(max_epochs=2), seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_logistic_regression_fits_a_separable_set_and_l2_shrinks_weights():
    train_x, train_y = separable(200, seed=0, shift=2.0)
    test_x, test_y = separable(200, seed=2, shift=2.0)
    weak = fit_logistic_regression(train_x, train_y, l2=1e-4)
    strong = fit_logistic_regression(train_x, train_y, l2=1.0)
    assert np.mean(predictions_from_probabilities(weak.predict_proba(test_x)) == test_y) > 0.85
    assert np.linalg.norm(strong.weights) < 0.5 * np.linalg.norm(weak.weights)
    assert np.abs(weak.weights[:3]).min() > np.abs(weak.weights[3:]).max()  # the informative dimensions


def test_logistic_regression_chooses_the_l2_with_the_lowest_dev_loss():
    train_x, train_y = separable(30, seed=0, shift=0.2, dimension=40)
    dev_x, dev_y = separable(200, seed=1, shift=0.2, dimension=40)
    grid = (1e-4, 1.0)
    chosen = select_logistic_regression(train_x, train_y, dev_x, dev_y, l2_grid=grid)
    losses = {l2: log_loss(dev_y, fit_logistic_regression(train_x, train_y, l2).predict_proba(dev_x)) for l2 in grid}
    assert chosen.l2 == min(losses, key=losses.get)


def test_standardiser_uses_train_statistics_and_keeps_constant_dimensions_finite():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    standardiser = Standardiser.fit(train)
    assert standardiser.apply(train).tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    assert standardiser.apply(np.array([[5.0, 7.0]])).tolist() == [[3.0, 2.0]]
