"""ASFormer loss, training loop and determinism on a tiny synthetic problem (its file: test_asformer_saved.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfeat.models.asformer import ASFormer
from mmfeat.tasks.segmentation.asformer_training import (
    TrainSettings,
    asformer_loss,
    build_asformer_optimiser,
    predict_asformer,
    train_asformer,
)

torch.set_num_threads(1)

INPUT_DIM, NUM_CLASSES = 16, 5
SMALL_MODEL = dict(input_dim=INPUT_DIM, num_classes=NUM_CLASSES, num_decoders=2, num_layers=4,
                   num_f_maps=32)


def _synthetic_sequences(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """4 videos of 50-70 frames: segments of one class, features around a class mean."""
    rng = np.random.default_rng(seed)
    class_means = rng.normal(0, 1.5, size=(NUM_CLASSES, INPUT_DIM))
    sequences = []
    for length in (60, 52, 70, 57):
        labels = np.empty(length, dtype=np.int64)
        start = 0
        while start < length:
            end = min(length, start + int(rng.integers(8, 20)))
            labels[start:end] = rng.integers(NUM_CLASSES)
            start = end
        features = class_means[labels].T + rng.normal(0, 0.5, size=(INPUT_DIM, length))
        sequences.append((features.astype(np.float32), labels))
    return sequences


def _new_model(seed: int = 0) -> ASFormer:
    torch.manual_seed(seed)
    return ASFormer(**SMALL_MODEL)


def _hand_loss(stage_logits: np.ndarray, labels: np.ndarray, weight: float, clamp: float = 16) -> float:
    """The loss for batch size 1, frame by frame."""
    total = 0.0
    for logits in stage_logits[:, 0].astype(np.float64):  # (C, T)
        shifted = logits - logits.max(axis=0)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=0))
        total += -np.mean([log_probs[label, t] for t, label in enumerate(labels)])
        squared = (log_probs[:, 1:] - log_probs[:, :-1]) ** 2
        total += weight * np.clip(squared, 0, clamp).mean()
    return total


def test_loss_matches_hand_computation():
    rng = np.random.default_rng(1)
    stage_logits = rng.normal(0, 4, size=(3, 1, NUM_CLASSES, 40))  # large: the clamp bites
    labels = rng.integers(0, NUM_CLASSES, size=40)
    loss = asformer_loss(torch.tensor(stage_logits, dtype=torch.float32),
                         torch.tensor(labels[None]), torch.ones(1, 40))
    assert loss.item() == pytest.approx(_hand_loss(stage_logits, labels, 0.15), rel=1e-5)
    unclamped = _hand_loss(stage_logits, labels, 0.15, clamp=np.inf)
    assert unclamped > _hand_loss(stage_logits, labels, 0.15) + 0.01  # the clamp is exercised


def test_loss_ignores_padded_frames():
    rng = np.random.default_rng(2)
    stage_logits = torch.tensor(rng.normal(size=(2, 1, NUM_CLASSES, 30)), dtype=torch.float32)
    labels = torch.tensor(rng.integers(0, NUM_CLASSES, size=(1, 30)))
    alone = asformer_loss(stage_logits, labels, torch.ones(1, 30))
    padded_logits = torch.cat([stage_logits, 50 * torch.randn(2, 1, NUM_CLASSES, 10)], dim=-1)
    padded_labels = torch.cat([labels, torch.full((1, 10), -100)], dim=-1)
    mask = torch.cat([torch.ones(1, 30), torch.zeros(1, 10)], dim=-1)
    torch.testing.assert_close(asformer_loss(padded_logits, padded_labels, mask), alone)


@pytest.fixture(scope="module")
def trained() -> tuple[ASFormer, list[dict], list[tuple[np.ndarray, np.ndarray]]]:
    sequences = _synthetic_sequences()
    model = _new_model()
    settings = TrainSettings.from_config(dict(epochs=25, learning_rate=3e-3, batch_size=2, device="cpu"))
    history = train_asformer(model, sequences, settings)
    return model, history, sequences


def test_training_learns_the_synthetic_problem(trained):
    model, history, sequences = trained
    assert [row["epoch"] for row in history] == list(range(1, 26))
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    correct = sum(int((predict_asformer(model, f) == y).sum()) for f, y in sequences)
    assert correct / sum(len(y) for _, y in sequences) > 0.9


def test_same_seed_gives_identical_weights():
    sequences = _synthetic_sequences()
    settings = TrainSettings.from_config(dict(epochs=2, batch_size=2, device="cpu", seed=5))
    weights = []
    for _ in range(2):
        model = _new_model()
        train_asformer(model, sequences, settings)
        weights.append(model.state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    other = _new_model()
    train_asformer(other, sequences, TrainSettings.from_config(dict(epochs=2, batch_size=2, device="cpu", seed=6)))
    assert not torch.equal(other.state_dict()["encoder.conv_out.weight"],
                           weights[0]["encoder.conv_out.weight"])


def test_on_epoch_reports_each_epoch():
    reported = []
    model = _new_model()
    history = train_asformer(model, _synthetic_sequences()[:2], TrainSettings.from_config(dict(epochs=2, device="cpu")),
                             on_epoch=lambda row, seconds: reported.append((row, seconds)))
    assert [row for row, _ in reported] == history
    assert all(row.keys() == {"epoch", "loss", "accuracy", "lr"} for row in history)
    assert all(0 < seconds < 60 for _, seconds in reported)


def test_the_fused_optimiser_steps_as_the_recipes_adam():
    settings = TrainSettings.from_config(dict(learning_rate=0.002, weight_decay=0.001, device="cpu"))
    fused_model, recipe_model = _new_model(), _new_model()
    fused = build_asformer_optimiser(fused_model.parameters(), settings)
    recipe = torch.optim.Adam(recipe_model.parameters(), lr=0.002, weight_decay=0.001, foreach=False)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        for fused_weight, recipe_weight in zip(fused_model.parameters(), recipe_model.parameters()):
            gradient = torch.randn(recipe_weight.shape, generator=generator)
            fused_weight.grad, recipe_weight.grad = gradient.clone(), gradient
        fused.step()
        recipe.step()
    initial, moved = _new_model().state_dict(), 0
    for (name, fused_weight), recipe_weight in zip(fused_model.named_parameters(), recipe_model.parameters()):
        torch.testing.assert_close(fused_weight, recipe_weight, rtol=1e-6, atol=1e-7, msg=name)
        moved += int(not torch.equal(fused_weight, initial[name]))
    assert moved == len(list(recipe_model.parameters()))  # every weight took the five steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        fused.step()
    assert [event.name for event in profile.events()].count("aten::_fused_adam_") == 1


def test_training_rejects_mismatched_labels():
    features = np.zeros((INPUT_DIM, 10), dtype=np.float32)
    with pytest.raises(ValueError, match="sequence 0"):
        train_asformer(_new_model(), [(features, np.zeros(9, dtype=np.int64))], TrainSettings.from_config(dict(epochs=1)))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        train_asformer(_new_model(), [(features, np.full(10, 5))], TrainSettings.from_config(dict(epochs=1)))
