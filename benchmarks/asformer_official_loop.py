"""ASFormer computed the way the official code computes it, for comparisons only.

    from asformer_official_loop import OfficialLoopASFormer
    loop_model = OfficialLoopASFormer(input_dim=2048, num_classes=19)
    loop_model.load_state_dict(mmfeat_model.state_dict())  # same parameter names
    stage_logits = loop_model(x, class_mask)  # class_mask (1, num_classes, T), as the official trainer passes

Our own re-implementation of the official ChinaYi/ASFormer `MyTransformer` with the
sliding-window attention, operation for operation: each layer pads the block tails
with `torch.cat` of zeros, cuts every block's key, value and mask window out with a
Python loop over blocks (`torch.cat` of slices), repeats the window mask for every
block, adds log(mask + 1e-6) to the scores, multiplies the softmax by the mask, and
uses `nn.InstanceNorm1d` and `nn.Conv1d` throughout. Batch size 1 only, as the
official code. Parameter names are the official ones, which mmfeat's ASFormer
shares, so the two load each other's state_dicts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class OfficialLoopASFormer(nn.Module):
    def __init__(self, input_dim: int, num_classes: int, num_decoders: int = 3, num_layers: int = 10,
                 num_f_maps: int = 64, r1: int = 2, r2: int = 2, channel_masking_rate: float = 0.3) -> None:
        super().__init__()
        shared = dict(num_layers=num_layers, num_f_maps=num_f_maps, r1=r1, r2=r2, num_classes=num_classes)
        self.encoder = _LoopStage(input_dim, alpha=1.0, is_decoder=False,
                                  channel_masking_rate=channel_masking_rate, **shared)
        self.decoders = nn.ModuleList(
            _LoopStage(num_classes, alpha=math.exp(-3.0 * s), is_decoder=True, channel_masking_rate=0.0, **shared)
            for s in range(num_decoders)
        )

    def forward(self, x: torch.Tensor, class_mask: torch.Tensor) -> torch.Tensor:
        frame_mask = class_mask[:, 0:1, :]
        logits, features = self.encoder(x, None, class_mask)
        outputs = logits.unsqueeze(0)
        for decoder in self.decoders:
            logits, features = decoder(F.softmax(logits, dim=1) * frame_mask, features * frame_mask, class_mask)
            outputs = torch.cat((outputs, logits.unsqueeze(0)), dim=0)
        return outputs


class _LoopStage(nn.Module):
    def __init__(self, input_dim: int, num_layers: int, num_f_maps: int, r1: int, r2: int, num_classes: int,
                 alpha: float, is_decoder: bool, channel_masking_rate: float) -> None:
        super().__init__()
        self.channel_masking_rate = channel_masking_rate
        self.dropout = nn.Dropout2d(p=channel_masking_rate)
        self.conv_1x1 = nn.Conv1d(input_dim, num_f_maps, 1)
        self.layers = nn.ModuleList(
            _LoopLayer(2**i, num_f_maps, r1, r2, alpha, is_decoder) for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, x, encoder_features, class_mask):
        if self.channel_masking_rate > 0:
            x = self.dropout(x.unsqueeze(2)).squeeze(2)
        features = self.conv_1x1(x)
        for layer in self.layers:
            features = layer(features, encoder_features, class_mask)
        return self.conv_out(features) * class_mask[:, 0:1, :], features


class _LoopLayer(nn.Module):
    def __init__(self, dilation: int, channels: int, r1: int, r2: int, alpha: float, is_decoder: bool) -> None:
        super().__init__()
        self.feed_forward = _LoopFeedForward(dilation, channels)
        self.instance_norm = nn.InstanceNorm1d(channels, track_running_stats=False)
        self.att_layer = _LoopAttention(channels, r1, r2, dilation, is_decoder)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout()
        self.alpha = alpha

    def forward(self, x, encoder_features, class_mask):
        local = self.feed_forward(x)
        out = self.alpha * self.att_layer(self.instance_norm(local), encoder_features, class_mask) + local
        out = self.dropout(self.conv_1x1(out))
        return (x + out) * class_mask[:, 0:1, :]


class _LoopFeedForward(nn.Module):
    def __init__(self, dilation: int, channels: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation), nn.ReLU())

    def forward(self, x):
        return self.layer(x)


class _LoopAttention(nn.Module):
    def __init__(self, channels: int, r1: int, r2: int, block_length: int, is_decoder: bool) -> None:
        super().__init__()
        self.query_conv = nn.Conv1d(channels, channels // r1, 1)
        self.key_conv = nn.Conv1d(channels, channels // r1, 1)
        self.value_conv = nn.Conv1d(channels, channels // r2, 1)
        self.conv_out = nn.Conv1d(channels // r2, channels, 1)
        self.is_decoder = is_decoder
        width = block_length + 2 * (block_length // 2)
        window = torch.zeros(1, block_length, width)
        for i in range(block_length):  # the official mask: every row gets columns i..i+bl-1 set
            window[:, :, i : i + block_length] = 1
        self.window_mask = window  # a plain attribute, as in the official code (no state_dict entry)

    def forward(self, x, encoder_features, class_mask):
        query = self.query_conv(x)
        key = self.key_conv(x)
        value = self.value_conv(encoder_features if self.is_decoder else x)
        attended = sliding_window_attention_loop(query, key, value, class_mask, self.window_mask)
        return self.conv_out(F.relu(attended)) * class_mask[:, 0:1, :]


def sliding_window_attention_loop(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, class_mask: torch.Tensor,
                                  window_mask: torch.Tensor) -> torch.Tensor:
    """The official sliding-window attention before its output convolution: (1, Cv, T).

    (The official code applies that pointwise convolution block by block before cutting
    the blocks back into frames; per frame it is the same arithmetic.)

    q, k (1, Cq, T), v (1, Cv, T), class_mask (1, any, T), window_mask (1, bl, bl + 2 * (bl // 2)).
    """
    batch, query_channels, frames = q.shape
    assert batch == 1, "the official sliding-window attention takes one video at a time"
    bl = window_mask.shape[-2]
    half = bl // 2
    num_blocks = frames // bl
    valid = torch.ones(batch, 1, frames) * class_mask[:, 0:1, :]
    if frames % bl:
        tail = bl - frames % bl
        q = torch.cat([q, torch.zeros(batch, q.shape[1], tail)], dim=-1)
        k = torch.cat([k, torch.zeros(batch, k.shape[1], tail)], dim=-1)
        v = torch.cat([v, torch.zeros(batch, v.shape[1], tail)], dim=-1)
        num_blocks += 1
    valid = torch.cat([valid, torch.zeros(batch, 1, bl * num_blocks - frames)], dim=-1)
    q = q.reshape(batch, query_channels, num_blocks, bl).permute(0, 2, 1, 3).reshape(num_blocks, query_channels, bl)

    def sides(t):
        zeros = torch.zeros(batch, t.shape[1], half)
        return torch.cat([zeros, t, zeros], dim=-1)

    k, v, valid = sides(k), sides(v), sides(valid)
    span = bl + 2 * half
    k = torch.cat([k[:, :, i * bl : i * bl + span] for i in range(num_blocks)], dim=0)
    v = torch.cat([v[:, :, i * bl : i * bl + span] for i in range(num_blocks)], dim=0)
    valid = torch.cat([valid[:, :, i * bl : i * bl + span] for i in range(num_blocks)], dim=0)
    final_mask = window_mask.repeat(num_blocks, 1, 1) * valid

    energy = torch.bmm(q.permute(0, 2, 1), k) / math.sqrt(query_channels)
    attention = F.softmax(energy + torch.log(final_mask + 1e-6), dim=-1) * final_mask
    out = torch.bmm(v, attention.permute(0, 2, 1))
    out = out.reshape(batch, num_blocks, -1, bl).permute(0, 2, 1, 3).reshape(batch, -1, num_blocks * bl)
    return out[:, :, :frames] * class_mask[:, 0:1, :]
