"""VideoCLIP's zero-shot action segmentation: each feature row scored against the class names' text embeddings.

    from mmfeat.tasks.transfer.zero_shot import (background_threshold, class_embeddings, row_scores,
                                                 zero_shot_row_labels)
    texts = class_embeddings(model, dataset.class_names, prompt="{label}")          # (C, H)
    scores = row_scores(model, features, texts, window=32, step=16)                  # (T, C) numpy
    labels = zero_shot_row_labels(scores, excluded={0, 1}, background=None)          # (T,) class indices

What fairseq MMPT's COIN zero-shot evaluation (mmpt/evaluators/predictor.py, COINZSPredictor) computes,
with feature rows for its seconds:
- each class name (underscores as spaces, put into the prompt template) goes through the text tower and is
  pooled as in pretraining (VideoCLIP.embed_text);
- the video tower runs over sliding windows (mmfeat.tasks.transfer.windows); a row's scores in a window are
  the raw dot products of its last-layer token state (VideoCLIP.video_token_states, the positions between
  [CLS] and [SEP]) with the class embeddings, and a row's scores are their mean over the windows holding it;
- a row takes its best class. With the background rule, a row whose best score is not above the largest
  dot product between two different class embeddings takes the background class instead.

MMPT's background ("O") has no text; ours is a class of the dataset, so it is never scored, only given by the
rule. Classes that are excluded are never predicted, and neither they nor the background class set the
rule's threshold (they never compete for a row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from mmfeat.errors import UserError
from mmfeat.tasks.segmentation.zero_shot import class_prompts
from mmfeat.tasks.transfer.windows import average_over_windows, sliding_windows

WINDOWS_PER_BATCH = 64  # windows of one video through the video tower at once: memory stays bounded on long videos


def class_embeddings(model, class_names: Sequence[str], prompt: str) -> torch.Tensor:
    """(C, H): each class name through `prompt` (see class_prompts), embedded by the text tower."""
    input_ids, attention_mask = model.tokenize(class_prompts(class_names, prompt))
    device = next(model.parameters()).device
    with torch.inference_mode():
        return model.embed_text(input_ids.to(device), attention_mask.to(device)).float()


def row_scores(model, features: np.ndarray, texts: torch.Tensor, window: int, step: int) -> np.ndarray:
    """(T, C): each of the T rows' dot products with `texts` (C, H), averaged over the windows holding it.

    `features` is (T, F), one video's rows in order. Windows shorter than `window` (the last, or a short video)
    are padded and masked, which leaves the rows' states as they would be alone (VideoCLIP's mask).
    """
    limit = model.settings.max_video_tokens
    if window > limit:
        raise UserError(f"zero-shot window {window} is longer than the model's max_video_tokens {limit}; set the "
                        f"zero_shot window to at most {limit}")
    rows = features.shape[0]
    windows = sliding_windows(rows, window, step)
    device = texts.device
    video = torch.as_tensor(np.ascontiguousarray(features), dtype=torch.float32)
    outputs = []
    for start in range(0, len(windows), WINDOWS_PER_BATCH):
        batch = windows[start:start + WINDOWS_PER_BATCH]
        longest = max(end - first for first, end in batch)
        padded = torch.zeros(len(batch), longest, video.shape[1])
        kept = torch.zeros(len(batch), longest, dtype=torch.bool)
        for index, (first, end) in enumerate(batch):
            padded[index, :end - first] = video[first:end]
            kept[index, :end - first] = True
        with torch.inference_mode():
            states = model.video_token_states(padded.to(device), kept.to(device))  # (B, longest, H)
            scores = (states.float() @ texts.T).cpu().numpy()
        outputs.extend(scores[index, :end - first] for index, (first, end) in enumerate(batch))
    return average_over_windows(outputs, windows, rows)


def background_threshold(texts: torch.Tensor | np.ndarray, scored: Iterable[int]) -> float:
    """The largest dot product between two different class embeddings among the `scored` classes."""
    scored = sorted(scored)
    if len(scored) < 2:
        raise UserError(f"the background rule compares class embeddings with each other, and {len(scored)} class "
                        "is scored; score at least two classes (fewer in exclude), or set background to null")
    embeddings = np.asarray(texts.cpu() if isinstance(texts, torch.Tensor) else texts, dtype=np.float64)[scored]
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    return float(similarity.max())


def zero_shot_row_labels(scores: np.ndarray, excluded: Iterable[int] = frozenset(), background: int | None = None,
                         threshold: float | None = None) -> np.ndarray:
    """(T,) int64: each row's best class by `scores` (T, C), never an excluded one nor the background class.

    With `background` (a class index), a row whose best score is not above `threshold` (background_threshold)
    takes the background class. Ties go to the lowest class index.
    """
    scores = np.asarray(scores, dtype=np.float64)
    classes = scores.shape[1]
    never_scored = set(excluded) | ({background} if background is not None else set())
    outside = sorted(index for index in never_scored if not 0 <= index < classes)
    if outside:
        raise UserError(f"classes {outside} do not exist; there are {classes} classes (0..{classes - 1})")
    if len(never_scored) >= classes:
        raise UserError(f"all {classes} classes are excluded or the background; leave at least one to score")
    if background is not None and threshold is None:
        raise ValueError("the background rule needs its threshold (background_threshold)")
    allowed = scores.copy()
    allowed[:, sorted(never_scored)] = -np.inf
    labels = allowed.argmax(axis=1).astype(np.int64)
    if background is not None:
        labels[allowed.max(axis=1) <= threshold] = background
    return labels
