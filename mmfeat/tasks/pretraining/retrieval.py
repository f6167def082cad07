"""Held-out retrieval: every caption of the held-out videos against the video seconds it was said over.

    from mmfeat.tasks.pretraining.retrieval import evaluate_retrieval, held_out_clips
    clips = held_out_clips(features, held_out_ids, model.settings.max_video_tokens)
    result = evaluate_retrieval(model, features, clips, similarity="dot")
    result["text_to_video"]["R@1"], result["video_to_text"]["median_rank"]

A held-out clip is one caption of a held-out video with the video rows of its
own interval: the rows whose second overlaps [start, end] (at least one, the
second the caption starts in), at most the model's `max_video_tokens`, the
middle ones kept when the caption is longer. Unlike training pairs, nothing is
jittered, so an evaluation is the same every time. Texts reach the text tower
as `model.tokenize` cuts them (at most max_text_tokens). Ranks and metrics are
retrieval_metrics' (ties counted against the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
from mmfeat.tasks.pretraining.retrieval_metrics import recall_summary, retrieval_ranks

CLIPS_PER_FORWARD = 64  # memory only: the vectors are the same at any batch size, to rounding
SIMILARITIES = ("dot", "cosine")  # pretraining.objectives.similarity's choices


@dataclass(frozen=True)
class HeldOutClip:
    """One caption and the video rows it is matched against."""

    video_id: str
    caption: int  # its place among the video's captions in time order
    text: str
    first_row: int  # the video row (second) the clip starts at
    rows: int  # how many seconds it holds, 1..max_video_tokens


def held_out_clips(features: NarratedFeatures, video_ids: Sequence[str], max_video_tokens: int) -> list[HeldOutClip]:
    """One clip per caption of each video, in the order of `video_ids` then time (module docstring)."""
    clips = []
    for video_id in video_ids:
        starts = features.second_intervals(video_id)[:, 0]
        for number, (start, end, text) in enumerate(features.dataset.captions(video_id)):
            first, rows = caption_rows(start, end, starts, max_video_tokens)
            clips.append(HeldOutClip(video_id, number, text, first, rows))
    return clips


def caption_rows(start: float, end: float, row_starts: np.ndarray, max_rows: int) -> tuple[int, int]:
    """(first row, row count) of the seconds a caption [start, end] overlaps; row k covers [row_starts[k], next).

    At least the row the caption starts in; at most `max_rows`, the middle ones of a longer caption.
    """
    last_row = len(row_starts) - 1
    first = min(last_row, max(0, int(np.searchsorted(row_starts, start, side="right")) - 1))
    last = min(last_row, max(first, int(np.searchsorted(row_starts, end, side="left")) - 1))
    count = last - first + 1
    if count > max_rows:
        first, count = first + (count - max_rows) // 2, max_rows
    return first, count


def evaluate_retrieval(model, features: NarratedFeatures, clips: Sequence[HeldOutClip],
                       similarity: str) -> dict[str, dict[str, float]]:
    """R@1, R@5, R@10 and median rank of `model` on `clips`, text to video and video to text."""
    video, text = embed_clips(model, features, clips)
    ranks = retrieval_ranks(similarities(video, text, similarity))
    return {direction: recall_summary(direction_ranks) for direction, direction_ranks in ranks.items()}


def similarities(video: torch.Tensor, text: torch.Tensor, similarity: str) -> np.ndarray:
    """(N texts, N clips) float64 scores, by the similarity the model was trained with (dot or cosine)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if similarity == "cosine":
        video, text = F.normalize(video, dim=-1), F.normalize(text, dim=-1)
    return (text.double() @ video.double().T).cpu().numpy()


def embed_clips(model, features: NarratedFeatures, clips: Sequence[HeldOutClip]) -> tuple[torch.Tensor, torch.Tensor]:
    """(clip vectors (N, H), caption vectors (N, H)) of `model` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    parameter = next(model.parameters())
    video_rows: dict[str, np.ndarray] = {}
    video_vectors, text_vectors = [], []
    try:
        with torch.inference_mode():
            for begin in range(0, len(clips), CLIPS_PER_FORWARD):
                batch = clips[begin:begin + CLIPS_PER_FORWARD]
                for clip in batch:
                    if clip.video_id not in video_rows:
                        video_rows[clip.video_id] = features.video(clip.video_id)
                seconds, kept = _padded([video_rows[clip.video_id][clip.first_row:clip.first_row + clip.rows]
                                         for clip in batch])
                video_vectors.append(model.embed_video(seconds.to(parameter.device, parameter.dtype),
                                                       kept.to(parameter.device)).float().cpu())
                input_ids, attention_mask = model.tokenize([clip.text for clip in batch])
                text_vectors.append(model.embed_text(input_ids.to(parameter.device),
                                                     attention_mask.to(parameter.device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(video_vectors), torch.cat(text_vectors)


def _padded(row_blocks: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, D) rows padded with zeros to the longest block, and the (B, T) mask of real rows."""
    longest = max(len(block) for block in row_blocks)
    seconds = torch.zeros(len(row_blocks), longest, row_blocks[0].shape[1])
    kept = torch.zeros(len(row_blocks), longest, dtype=torch.bool)
    for index, block in enumerate(row_blocks):
        seconds[index, :len(block)] = torch.from_numpy(block)
        kept[index, :len(block)] = True
    return seconds, kept
