"""Fine-tune a VideoCLIP to action segmentation on a split's training videos, and score its test videos.

    from mmfeat.tasks.transfer.finetune import FinetuneSettings, finetune, predict_row_scores
    settings = FinetuneSettings.from_entry({"head": "linear"}, epochs=8, source="--finetune")
    segmenter = VideoCLIPSegmenter(model, settings.head, class_names, settings.train_text_tower, settings.seed)
    history = finetune(segmenter, [(rows_TxF, labels_T), ...], settings)     # one row per epoch
    scores = predict_row_scores(segmenter, rows_TxF, settings.window, settings.test_step)   # (T, classes)

VideoCLIP's COIN recipe (fairseq MMPT's projects/retri/videoclip/coin_videoclip.yaml): one label per feature
row (the label at the row's centre frame), windows of `window` rows every `train_step` rows, cross-entropy over
every row of every window, and one video per batch: a step is all the windows of one video, as MMPT's COIN
aligner cuts a video (batch_size 1) into its windows and runs them together. So every row of a video counts in
one step, each as often as windows hold it, and a step's gradient is a whole video's, not one window's. Each
epoch visits the training videos in an order drawn from the seed.

The optimiser is VideoCLIP's as pretraining builds it (mmfeat.tasks.pretraining.optimisation: Adam with betas
(0.9, 0.98), gradients clipped at norm 2, the schema's pretraining.optimiser defaults), started afresh (the
pretraining's state is not carried over), at `learning_rate` after a linear warmup over the `warmup` fraction
of the run's steps, then falling linearly to 0 at its last step.

At test time windows of `window` rows every `test_step` rows are scored, and each row's scores are averaged
over the windows holding it (mmfeat.tasks.transfer.windows), as MMPT's COIN predictor does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mmfeat.align import fill_to_label_rate
from mmfeat.errors import UserError
from mmfeat.tasks.transfer.windows import average_over_windows, sliding_windows

log = logging.getLogger(__name__)

SCHEMA_DEFINITION = "videoclip_finetune"


@dataclass(frozen=True)
class FinetuneSettings:
    """A dataset's `videoclip.finetune` section with the schema's defaults, and the epochs of one run."""

    head: str
    train_text_tower: bool
    epochs: int
    learning_rate: float
    warmup: float  # fraction of the run's steps
    window: int
    train_step: int
    test_step: int
    seed: int
    device: str
    entry: dict  # the section as given, defaults filled (for the model file's provenance)

    @classmethod
    def from_entry(cls, entry: dict, epochs: int, source: str) -> FinetuneSettings:
        """From the section (`epochs` in it lists every run's; this run's is `epochs`), defaults filled."""
        from mmfeat.workflow_config import with_defaults

        complete = with_defaults(SCHEMA_DEFINITION, dict(entry), source)
        if epochs < 1:
            raise UserError(f"--epochs {epochs}: fine-tuning needs at least one epoch")
        for step in ("train_step", "test_step"):
            if complete[step] > complete["window"]:
                raise UserError(f"{source}: {step} {complete[step]} is more than window {complete['window']}, so "
                                "rows would fall between windows; lower it to the window or less")
        fields = {key: complete[key] for key in cls.__dataclass_fields__ if key not in ("epochs", "entry")}
        return cls(**fields, epochs=epochs, entry=complete)


def finetune(segmenter: nn.Module, videos: Sequence[tuple[np.ndarray, np.ndarray]], settings: FinetuneSettings,
             on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `segmenter` in place on (rows (T, F), labels (T,)) per video; one history row per epoch.

    Everything random (the order of the videos, dropout) follows settings.seed, so that on the CPU the
    same settings give the same weights.
    """
    from mmfeat.devices import resolve_device
    from mmfeat.tasks.pretraining.optimisation import build_optimiser, build_schedule, clip_gradients

    if not videos:
        raise UserError("fine-tuning needs at least one training video with features")
    _check_window_fits(segmenter, settings.window)
    device = resolve_device(settings.device)
    segmenter.to(device).train()
    torch.manual_seed(settings.seed)  # dropout
    order_generator = np.random.default_rng(settings.seed)
    batches = [_training_batch(rows, labels, settings.window, settings.train_step) for rows, labels in videos]
    total_steps = settings.epochs * len(batches)
    optimiser_settings = _optimiser_settings(settings, total_steps)
    parameters = segmenter.trainable_parameters()
    optimiser = build_optimiser(parameters, optimiser_settings)
    schedule = build_schedule(optimiser, optimiser_settings, total_steps)
    history = []
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        losses, correct, counted = [], 0, 0
        order = order_generator.permutation(len(batches))
        for index in tqdm(order, desc=f"epoch {epoch}/{settings.epochs}", unit="video", disable=None, leave=False):
            windows, mask, targets = (tensor.to(device) for tensor in batches[index])
            scores = segmenter(windows, mask)[mask]  # (rows of all windows, classes)
            loss = nn.functional.cross_entropy(scores, targets[mask])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            clip_gradients(parameters, optimiser_settings)
            last_rate = optimiser.param_groups[0]["lr"]
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
            correct += int((scores.detach().argmax(dim=1) == targets[mask]).sum())
            counted += int(mask.sum())
        # lr: the rate of the epoch's last update
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "accuracy": correct / counted,
               "lr": last_rate, "seconds": round(time.perf_counter() - started, 3)}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    segmenter.eval()
    return history


def predict_row_scores(segmenter: nn.Module, rows: np.ndarray, window: int, step: int) -> np.ndarray:
    """(T, classes): each row's scores averaged over the windows (of `window` rows every `step`) holding it."""
    _check_window_fits(segmenter, window)
    device = next(segmenter.parameters()).device
    windows = sliding_windows(len(rows), window, step)
    batch, mask = _window_batch(rows, windows, window)
    segmenter.eval()
    with torch.inference_mode():
        scores = segmenter(batch.to(device), mask.to(device)).float().cpu().numpy()
    outputs = [scores[index, : end - first] for index, (first, end) in enumerate(windows)]
    return average_over_windows(outputs, windows, len(rows))


def frame_labels(row_scores: np.ndarray, sequence, class_names: Sequence[str], fill: str) -> list[str]:
    """Each label frame of `sequence` (a VideoSequence) named by its row's best class, filled as `fill` says."""
    per_frame = fill_to_label_rate(np.asarray(row_scores).argmax(axis=1), sequence.label_indices,
                                   sequence.alignment.label_frames, fill=fill)
    return [class_names[index] for index in per_frame]


def _training_batch(rows: np.ndarray, labels: np.ndarray, window: int,
                    step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One video's windows (B, window, F), which rows are real (B, window), and their labels (B, window)."""
    windows = sliding_windows(len(rows), window, step)
    batch, mask = _window_batch(rows, windows, window)
    targets = torch.zeros(mask.shape, dtype=torch.long)
    for index, (first, end) in enumerate(windows):
        targets[index, : end - first] = torch.as_tensor(labels[first:end], dtype=torch.long)
    return batch, mask, targets


def _window_batch(rows: np.ndarray, windows: list[tuple[int, int]], window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows' rows padded to `window` (a shorter last window: zeros, masked out) and the mask."""
    rows = np.asarray(rows, dtype=np.float32)
    longest = min(window, max(end - first for first, end in windows))
    batch = torch.zeros(len(windows), longest, rows.shape[1])
    mask = torch.zeros(len(windows), longest, dtype=torch.bool)
    for index, (first, end) in enumerate(windows):
        batch[index, : end - first] = torch.from_numpy(rows[first:end])
        mask[index, : end - first] = True
    return batch, mask


def _check_window_fits(segmenter: nn.Module, window: int) -> None:
    limit = segmenter.videoclip.settings.max_video_tokens
    if window > limit:
        raise UserError(f"fine-tuning window {window} rows is more than the model's max_video_tokens {limit}; "
                        f"lower the window to {limit} or less, or use a model with more video tokens")


def _optimiser_settings(settings: FinetuneSettings, total_steps: int):
    """VideoCLIP's optimiser (pretraining.optimiser's schema defaults) at this run's rate and warmup."""
    from mmfeat.tasks.pretraining.optimisation import OptimiserSettings
    from mmfeat.workflow_config import with_defaults

    warmup_steps = round(settings.warmup * total_steps)
    optimiser = {"learning_rate": settings.learning_rate, "warmup_steps": warmup_steps, "decay_steps": None,
                 "end_learning_rate": 0.0, "decay_power": 1.0}
    entry = with_defaults("pretraining", {"optimiser": optimiser}, source="the fine-tuning optimiser")
    return OptimiserSettings.from_config(entry["optimiser"])
