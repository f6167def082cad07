"""Small towers and batches for the pretraining tests: fast, with dropout and masks like the real ones.

Each tower is Linear + tanh + dropout + Linear on every second or token, then a masked
mean, the pooling VideoCLIP uses; a few thousand parameters, so a step takes milliseconds.
"""

from __future__ import annotations

import torch
from torch import nn

from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
from mmfeat.tasks.pretraining.pairs import PairBatch

VIDEO_SIZE, AUDIO_SIZE, VOCABULARY, EMBEDDING = 6, 5, 30, 8


class ToyTowers(nn.Module):
    """embed_video, embed_text, embed_audio: the interface the VideoCLIP model offers."""

    def __init__(self, dropout: float = 0.3, hidden: int = 16) -> None:
        super().__init__()
        self.video = _per_row_mlp(VIDEO_SIZE, hidden, dropout)
        self.tokens = nn.Embedding(VOCABULARY, VIDEO_SIZE)
        self.text = _per_row_mlp(VIDEO_SIZE, hidden, dropout)
        self.audio = _per_row_mlp(AUDIO_SIZE, hidden, dropout)

    def embed_video(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.video(features), mask)

    def embed_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.text(self.tokens(ids)), mask)

    def embed_audio(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return masked_mean(self.audio(features), mask)


def _per_row_mlp(size: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(size, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, EMBEDDING))


def masked_mean(rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(rows.dtype).unsqueeze(-1)
    return (rows * weights).sum(dim=-2) / weights.sum(dim=-2)


def toy_towers(seed: int = 0, dtype: torch.dtype = torch.float64, dropout: float = 0.3) -> ToyTowers:
    torch.manual_seed(seed)
    return ToyTowers(dropout=dropout).to(dtype)


def toy_batch(pairs: int, captions: int = 1, seed: int = 1, dtype: torch.dtype = torch.float64,
              seconds: int = 7, tokens: int = 5) -> PairBatch:
    """Random features and ids with ragged lengths (every row keeps at least one second or token)."""
    generator = torch.Generator().manual_seed(seed)

    def mask(*shape: int) -> torch.Tensor:
        lengths = torch.randint(1, shape[-1] + 1, shape[:-1], generator=generator)
        return torch.arange(shape[-1]) < lengths.unsqueeze(-1)

    return PairBatch(
        video=torch.randn(pairs, seconds, VIDEO_SIZE, generator=generator, dtype=dtype),
        video_mask=mask(pairs, seconds),
        text_ids=torch.randint(0, VOCABULARY, (pairs, captions, tokens), generator=generator),
        text_mask=mask(pairs, captions, tokens),
        audio=torch.randn(pairs, seconds, AUDIO_SIZE, generator=generator, dtype=dtype),
        audio_mask=mask(pairs, seconds),
    )


def objectives_for(weights: dict[str, float], temperature_mode: str = "none", similarity: str = "dot",
                   temperature: float = 0.5, dtype: torch.dtype = torch.float64) -> ContrastiveObjectives:
    settings = ObjectiveSettings(weights=weights, similarity=similarity, temperature_mode=temperature_mode,
                                 temperature=temperature)
    return ContrastiveObjectives(settings).to(dtype)


# one entry per objective alone, and all of them together with a learned temperature on cosines
OBJECTIVE_CASES = {
    "video_text_nce": dict(weights={"video_text_nce": 1.0}),
    "mil_nce": dict(weights={"mil_nce": 1.0}),
    "video_audio_nce": dict(weights={"video_audio_nce": 1.0}),
    "all_learned_temperature": dict(weights={"video_text_nce": 1.0, "mil_nce": 0.5, "video_audio_nce": 0.25},
                                    temperature_mode="learnable", similarity="cosine"),
}
