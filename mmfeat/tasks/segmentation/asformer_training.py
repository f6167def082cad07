"""Train an ASFormer on per-video features and frame labels; predict with it.

    history = train_asformer(model, [(features_DxT, labels_T), ...], TrainSettings.from_config({"epochs": 120}))
    labels = predict_asformer(model, features_DxT)

Its file (save_asformer, load_asformer) is mmfeat.tasks.segmentation.asformer_saved's.

The loss and optimiser follow the official ASFormer recipe (cross-entropy plus a
clamped smoothing term, Adam, ReduceLROnPlateau), Adam as one fused kernel; unlike it, videos
can be batched: they are padded to the longest, with target -100 and mask 0 on the padding.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mmfeat.devices import resolve_device
from mmfeat.models.asformer import ASFormer
from mmfeat.workflow_config import with_defaults

IGNORE_LABEL = -100  # cross-entropy's ignore_index: marks padded frames in targets


@dataclass
class TrainSettings:
    """Optimisation settings.

    The configurable ones take their defaults (the official recipe's) from the
    schema's `asformer_training`, through `from_config`; the official
    constants below are not configurable.
    """

    epochs: int
    learning_rate: float
    weight_decay: float
    batch_size: int
    seed: int
    device: str  # "auto": cuda if available, else cpu
    plateau_factor: float = 0.5  # the official recipe: lr multiplier when the epoch loss stops falling
    plateau_patience: int = 3  # the official recipe: epochs without improvement before the lr drops
    smoothing_weight: float = 0.15  # the official recipe's weight of the smoothing loss

    @classmethod
    def from_config(cls, training: dict) -> TrainSettings:
        """From a model's `training` entry (schema defaults filled in); data settings are not optimisation's."""
        complete = with_defaults("asformer_training", dict(training), "the training settings")
        return cls(**{key: value for key, value in complete.items() if key not in DATA_SETTINGS})


# in `training`, but read by the data loading and by the job that runs the training
DATA_SETTINGS = ("sample_rate", "normalize_features", "threads")


def asformer_loss(stage_logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                  smoothing_weight: float = 0.15) -> torch.Tensor:
    """Sum over stages of cross-entropy plus the clamped smoothing term, on valid frames.

    stage_logits (S, B, C, T); targets (B, T) long, -100 on padding; mask (B, T).
    The smoothing term is the mean over valid transitions t-1 -> t (and classes) of
    clamp(MSE(log_softmax(logits_t), log_softmax(logits_{t-1}).detach()), 0, 16).
    """
    mask = mask.to(stage_logits.dtype)
    transition_mask = (mask[:, 1:] * mask[:, :-1]).unsqueeze(1)  # (B, 1, T-1)
    num_classes = stage_logits.shape[2]
    transition_count = (transition_mask.sum() * num_classes).clamp_min(1.0)
    total = stage_logits.new_zeros(())
    for logits in stage_logits:
        total = total + F.cross_entropy(logits, targets, ignore_index=IGNORE_LABEL)
        squared_change = F.mse_loss(
            F.log_softmax(logits[:, :, 1:], dim=1),
            F.log_softmax(logits.detach()[:, :, :-1], dim=1),
            reduction="none",
        )
        smoothing = (squared_change.clamp(0, 16) * transition_mask).sum() / transition_count
        total = total + smoothing_weight * smoothing
    return total


def train_asformer(
    model: ASFormer,
    sequences: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: TrainSettings,
    on_epoch: Callable[[dict, float], None] | None = None,
) -> list[dict]:
    """Train in place on (features (D, T), labels (T,)) pairs; one history row per epoch.

    Each row holds epoch (from 1), loss (mean over batches), accuracy (training frame
    accuracy of the last stage) and lr (the rate used in that epoch). on_epoch gets
    (that row, the epoch's wall-clock seconds) after each epoch; the seconds stay out
    of the history so that the same settings give the same history.
    """
    _check_sequences(sequences, model.num_classes)
    _seed_everything(settings.seed)
    order_generator = np.random.default_rng(settings.seed)
    device = resolve_device(settings.device)
    model.to(device)
    optimizer = build_asformer_optimiser(model.parameters(), settings)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=settings.plateau_factor, patience=settings.plateau_patience
    )
    history: list[dict] = []
    progress = tqdm(range(1, settings.epochs + 1), desc="ASFormer epochs", disable=None)
    for epoch in progress:
        started = time.perf_counter()
        model.train()
        lr = float(optimizer.param_groups[0]["lr"])
        order = order_generator.permutation(len(sequences))
        loss_sum, correct, counted, num_batches = 0.0, 0, 0, 0
        for start in range(0, len(order), settings.batch_size):
            batch = [sequences[i] for i in order[start : start + settings.batch_size]]
            features, targets, mask = (t.to(device) for t in pad_batch(batch))
            stage_logits = model(features, mask)
            loss = asformer_loss(stage_logits, targets, mask, settings.smoothing_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            num_batches += 1
            predicted = stage_logits[-1].argmax(dim=1)
            valid = mask.bool()
            correct += int((predicted[valid] == targets[valid]).sum())
            counted += int(valid.sum())
        epoch_loss = loss_sum / num_batches
        accuracy = correct / counted
        scheduler.step(epoch_loss)
        row = {"epoch": epoch, "loss": epoch_loss, "accuracy": accuracy, "lr": lr}
        history.append(row)
        progress.set_postfix(loss=f"{epoch_loss:.4f}", lr=f"{lr:.2g}")
        if on_epoch is not None:
            on_epoch(dict(row), time.perf_counter() - started)
    return history


def build_asformer_optimiser(parameters: Iterable[torch.nn.Parameter], settings: TrainSettings) -> torch.optim.Adam:
    """The official recipe's Adam (L2 weight decay added to the gradient), as one fused kernel."""
    # The same update in one pass over all the weight tensors (496 in the default model); torch's
    # default on a CPU loops over them in Python: a tenth of a short video's step (0.027 s against
    # 0.008 s on 2 cores). Results agree to float32 rounding, not bit for bit.
    return torch.optim.Adam(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=True)


def predict_asformer(model: ASFormer, features: np.ndarray) -> np.ndarray:
    """Frame labels (T,) int64: argmax of the last stage, in eval mode, for features (D, T)."""
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(features, dtype=torch.float32, device=device).unsqueeze(0)
        mask = torch.ones(1, x.shape[-1], device=device)
        stage_logits = model(x, mask)
    return stage_logits[-1, 0].argmax(dim=0).cpu().numpy().astype(np.int64)


def pad_batch(
    batch: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features (B, D, Tmax) zero-padded, targets (B, Tmax) -100-padded, mask (B, Tmax))."""
    longest = max(labels.shape[0] for _, labels in batch)
    input_dim = batch[0][0].shape[0]
    features = torch.zeros(len(batch), input_dim, longest)
    targets = torch.full((len(batch), longest), IGNORE_LABEL, dtype=torch.long)
    mask = torch.zeros(len(batch), longest)
    for row, (video_features, labels) in enumerate(batch):
        frames = labels.shape[0]
        features[row, :, :frames] = torch.as_tensor(video_features, dtype=torch.float32)
        targets[row, :frames] = torch.as_tensor(labels, dtype=torch.long)
        mask[row, :frames] = 1
    return features, targets, mask


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_sequences(sequences: Sequence[tuple[np.ndarray, np.ndarray]], num_classes: int) -> None:
    """Fail before training on shapes or labels that would fail, obscurely, mid-epoch."""
    if not sequences:
        raise ValueError("no training sequences")
    for index, (features, labels) in enumerate(sequences):
        if features.ndim != 2 or labels.ndim != 1 or features.shape[1] != labels.shape[0]:
            raise ValueError(f"sequence {index}: features {features.shape} and labels "
                             f"{labels.shape} must be (D, T) and (T,)")
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"sequence {index}: labels must lie in [0, {num_classes})")
