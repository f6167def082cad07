"""Classifiers on precomputed feature vectors: a small MLP with early stopping, and logistic regression.

    mlp = train_mlp(train_x, train_y, dev_x, dev_y, MLPSettings(), seed=0)
    humour_probability = mlp.predict_proba(test_x)          # (N,) P(label 1)
    mlp.best_epoch, mlp.history                             # the dev epoch kept, and every epoch's losses
    logistic = select_logistic_regression(train_x, train_y, dev_x, dev_y)   # L2 strength chosen on dev

Both standardise each feature dimension with the training samples' mean and std. Training
runs on the CPU, full-batch or in large batches, and is deterministic for a given seed
(the seed's random state is forked, so the caller's is left as it was). scikit-learn is
not a dependency: logistic regression is a linear layer fitted with L-BFGS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.tasks.humor.settings import MLPSettings

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # penalty on the mean loss; 1e-4 is nearly none, 1.0 is strong
PROBABILITY_EPSILON = 1e-6  # clip before taking log-odds, so a certain 0 or 1 stays finite


@dataclass
class Standardiser:
    """Per-dimension mean and std of the training samples; constant dimensions are only centred."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> "Standardiser":
        features = np.asarray(features, dtype=np.float64)
        std = features.std(axis=0)
        return cls(features.mean(axis=0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float32) - self.mean) / self.std


@dataclass
class TrainedMLP:
    """An MLP kept at its best dev epoch, with the standardiser of its training features."""

    network: nn.Module
    standardiser: Standardiser
    best_epoch: int
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, dev_loss

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        self.network.eval()
        with torch.no_grad():
            logits = self.network(torch.from_numpy(self.standardiser.apply(features)))
        return torch.sigmoid(logits).squeeze(1).numpy().astype(np.float64)


def train_mlp(train_features: np.ndarray, train_labels: np.ndarray, dev_features: np.ndarray,
              dev_labels: np.ndarray, settings: MLPSettings, seed: int) -> TrainedMLP:
    """Train with Adam on binary cross-entropy; keep the epoch with the lowest dev loss.

    Early stopping watches the dev loss rather than dev accuracy: on a dev set of a few
    dozen samples accuracy moves in coarse steps and ties often, the loss does not.
    """
    standardiser = Standardiser.fit(train_features)
    train_x = torch.from_numpy(standardiser.apply(train_features))
    train_y = torch.from_numpy(np.asarray(train_labels, dtype=np.float32))
    dev_x = torch.from_numpy(standardiser.apply(dev_features))
    dev_y = torch.from_numpy(np.asarray(dev_labels, dtype=np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initial weights, batch order and dropout all follow the seed
        network = nn.Sequential(
            nn.Linear(train_x.shape[1], settings.hidden_size),
            nn.ReLU(),
            nn.Dropout(settings.dropout),
            nn.Linear(settings.hidden_size, 1),
        )
        optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate,
                                     weight_decay=settings.weight_decay)
        history, best_loss, best_epoch, best_state = [], float("inf"), 0, None
        for epoch in range(1, settings.max_epochs + 1):
            network.train()
            order = torch.randperm(len(train_x))
            epoch_loss = 0.0
            for start in range(0, len(order), settings.batch_size):
                batch = order[start:start + settings.batch_size]
                loss = F.binary_cross_entropy_with_logits(network(train_x[batch]).squeeze(1), train_y[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                epoch_loss += float(loss.detach()) * len(batch)
            network.eval()
            with torch.no_grad():
                dev_loss = float(F.binary_cross_entropy_with_logits(network(dev_x).squeeze(1), dev_y))
            history.append({"epoch": epoch, "train_loss": epoch_loss / len(order), "dev_loss": dev_loss})
            if best_state is None or dev_loss < best_loss:
                best_loss, best_epoch, best_state = dev_loss, epoch, _copied(network.state_dict())
            elif epoch - best_epoch >= settings.patience:
                break
    network.load_state_dict(best_state)
    network.eval()
    return TrainedMLP(network, standardiser, best_epoch, history)


def _copied(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: tensor.detach().clone() for key, tensor in state.items()}


@dataclass
class LogisticRegression:
    """P(humour) = sigmoid(standardised features . weights + bias)."""

    weights: np.ndarray  # (D,)
    bias: float
    l2: float
    standardiser: Standardiser | None  # None: features used as given (e.g. log-odds in stacking)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if self.standardiser is not None:
            features = self.standardiser.apply(features).astype(np.float64)
        return 0.5 * (1.0 + np.tanh(0.5 * (features @ self.weights + self.bias)))  # sigmoid without overflow


def fit_logistic_regression(features: np.ndarray, labels: np.ndarray, l2: float, standardise: bool = True,
                            max_iterations: int = 200) -> LogisticRegression:
    """Minimise mean binary cross-entropy + l2/2 * |weights|^2 (the bias is not penalised) with L-BFGS.

    The problem is convex and starts from zero weights, so the result depends on no seed.
    """
    standardiser = Standardiser.fit(features) if standardise else None
    x = torch.from_numpy(standardiser.apply(features) if standardiser else np.asarray(features, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    weights = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], lr=1.0, max_iter=max_iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ weights + bias, y) + 0.5 * l2 * weights.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return LogisticRegression(weights.detach().numpy().astype(np.float64), float(bias.detach()), l2, standardiser)


def select_logistic_regression(train_features: np.ndarray, train_labels: np.ndarray, dev_features: np.ndarray,
                               dev_labels: np.ndarray, l2_grid: tuple[float, ...] = L2_GRID) -> LogisticRegression:
    """Fit one model per L2 strength on train; keep the one with the lowest dev loss (the smaller l2 on a tie)."""
    fitted = [fit_logistic_regression(train_features, train_labels, l2) for l2 in l2_grid]
    dev_losses = [log_loss(dev_labels, model.predict_proba(dev_features)) for model in fitted]
    return fitted[int(np.argmin(dev_losses))]


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy of P(label 1)."""
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    labels = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities)))


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p clipped away from 0 and 1."""
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON)
    return np.log(probabilities) - np.log1p(-probabilities)
