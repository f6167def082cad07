"""The audio tower VideoCLIP lacks, for VATT's video-audio objective: per-second audio rows to one vector.

    encoder = AudioEncoder(token_mlp, hidden_size=384, heads=12, intermediate_size=1536, layers=6,
                           dropout=0.1, max_seconds=32)
    vectors = encoder(audio_rows, seconds_kept)   # (B, T, Fa) float, (B, T) bool -> (B, H)

Built as the video tower is, so that the two compare by dot product in one space: each second's
row through a token MLP (VideoCLIP's Linear, GELU, LayerNorm, Linear), learned positions, then a
post-LayerNorm transformer encoder of BERT's shape (GELU, LayerNorm eps 1e-12), and the mean of
the last layer over the kept seconds. VATT's audio transformer reads raw waveform patches; here
the rows are stored features (wav2vec2 pooled over each second), as the video tower reads S3D's.
Weights are drawn as BERT draws them (normal, std 0.02; zero biases), from the caller's random
state: VideoCLIP builds it inside its seeded construction.
"""

from __future__ import annotations

import torch
from torch import nn

INITIALIZER_RANGE = 0.02  # BERT's std, as the other towers
LAYER_NORM_EPS = 1e-12  # BERT's


class AudioEncoder(nn.Module):
    """Audio rows (B, T, Fa) with a mask of kept seconds (B, T) to vectors (B, H)."""

    def __init__(self, token_mlp: nn.Module, hidden_size: int, heads: int, intermediate_size: int, layers: int,
                 dropout: float, max_seconds: int) -> None:
        super().__init__()
        self.audiomlp = token_mlp  # feature size -> hidden_size
        self.position_embeddings = nn.Embedding(max_seconds, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(hidden_size, heads, intermediate_size, dropout, activation="gelu",
                                           layer_norm_eps=LAYER_NORM_EPS, batch_first=True, norm_first=False)
        # no nested-tensor fast path: the same kernels in training and evaluation, and gradients everywhere
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self._draw_weights()

    def forward(self, audio_rows: torch.Tensor, seconds_kept: torch.Tensor) -> torch.Tensor:
        batch, seconds, _ = audio_rows.shape
        if seconds > self.position_embeddings.num_embeddings:
            raise ValueError(f"audio_rows {tuple(audio_rows.shape)}: more than the "
                             f"{self.position_embeddings.num_embeddings} seconds the audio tower has positions for")
        if seconds_kept.shape != (batch, seconds) or seconds_kept.dtype != torch.bool:
            raise ValueError(f"seconds_kept {tuple(seconds_kept.shape)} {seconds_kept.dtype}: "
                             f"expected ({batch}, {seconds}) bool")
        tokens = self.audiomlp(audio_rows.to(self.position_embeddings.weight.dtype))
        positions = self.position_embeddings(torch.arange(seconds, device=tokens.device))
        states = self.encoder(self.dropout(self.LayerNorm(tokens + positions)), src_key_padding_mask=~seconds_kept)
        weights = seconds_kept.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(dim=1) / weights.sum(dim=1)

    def _draw_weights(self) -> None:
        for module in self.modules():
            if module is self.audiomlp:
                continue
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=INITIALIZER_RANGE)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=INITIALIZER_RANGE)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for layer in self.encoder.layers:  # attention's in-projection is a bare parameter, not a Linear
            nn.init.normal_(layer.self_attn.in_proj_weight, std=INITIALIZER_RANGE)
            nn.init.zeros_(layer.self_attn.in_proj_bias)
