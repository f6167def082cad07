"""A batch of clip pairs for contrastive pretraining, and its slicing into chunks.

    batch = PairBatch(video, video_mask, text_ids, text_mask)   # N clips, K captions each
    for chunk in batch.chunks(64): ...                           # rows 0-63, 64-127, ...

Row i of every tensor belongs to clip i: its video seconds, its K captions (caption 0
is the clip's own, the pair VideoCLIP trains on; the others are the extra positives
MIL-NCE adds) and, for VATT's video-audio objective, its audio seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass(frozen=True)
class PairBatch:
    """N clip pairs; masks are True where a row holds a real second or token."""

    video: torch.Tensor  # (N, seconds, feature size): one feature row per second
    video_mask: torch.Tensor  # (N, seconds) bool
    text_ids: torch.Tensor  # (N, K, tokens) token ids, K captions per clip
    text_mask: torch.Tensor  # (N, K, tokens) bool
    audio: torch.Tensor | None = None  # (N, audio seconds, feature size), for the video-audio objective
    audio_mask: torch.Tensor | None = None  # (N, audio seconds) bool

    def __post_init__(self) -> None:
        pairs = self.video.shape[0]
        problems = [
            f"{item.name} has {value.shape[0]} rows"
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None and value.shape[0] != pairs
        ]
        if self.text_ids.dim() != 3 or self.text_ids.shape != self.text_mask.shape:
            problems.append(
                f"text_ids {tuple(self.text_ids.shape)} and text_mask {tuple(self.text_mask.shape)} "
                "must both be (pairs, captions per clip, tokens)"
            )
        if (self.audio is None) != (self.audio_mask is None):
            problems.append("audio and audio_mask come together")
        if problems:
            raise ValueError(f"PairBatch of {pairs} video rows: " + "; ".join(problems))

    def __len__(self) -> int:
        return self.video.shape[0]

    @property
    def captions_per_clip(self) -> int:
        return self.text_ids.shape[1]

    def rows(self, start: int, stop: int) -> PairBatch:
        """Clips start..stop-1, as views of this batch's tensors (no copy)."""
        return PairBatch(**{
            item.name: None if (value := getattr(self, item.name)) is None else value[start:stop]
            for item in fields(self)
        })

    def chunks(self, chunk_size: int) -> list[PairBatch]:
        """Consecutive chunks of chunk_size clips, the last one shorter when N is not a multiple."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        return [self.rows(start, start + chunk_size) for start in range(0, len(self), chunk_size)]

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(**{
            item.name: None if (value := getattr(self, item.name)) is None else value.to(device)
            for item in fields(self)
        })
