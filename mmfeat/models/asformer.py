"""ASFormer (Yi et al., BMVC 2021): a transformer for temporal action segmentation.

    model = ASFormer(input_dim=2048, num_classes=19)
    stage_logits = model(features, mask)  # (num_decoders + 1, B, C, T)

Written from the paper and the behaviour of the official code (ChinaYi/ASFormer):
parameter names follow its state_dict, so `ASFormer.from_official(torch.load(...))`
loads its checkpoints strictly and reproduces its outputs. Two deliberate
departures, both identical to the official code at batch size 1 without padding:
instance norm and attention ignore padded frames, so a padded batch gives each
video the same result as running it alone (the official code supports B = 1 only).
"""

from __future__ import annotations

import math
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.errors import UserError
from mmfeat.models.state_dicts import check_state_dict_fits

WindowKind = Literal["official", "per_query"]
WINDOW_KINDS: tuple[str, ...] = ("official", "per_query")


class ASFormer(nn.Module):
    """An encoder and `num_decoders` decoders, each refining the previous stage's logits."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        num_decoders: int = 3,
        num_layers: int = 10,  # block lengths 1..512 frames
        num_f_maps: int = 64,
        r1: int = 2,  # query/key channels = num_f_maps // r1
        r2: int = 2,  # value channels = num_f_maps // r2
        channel_masking_rate: float = 0.3,  # whole input channels dropped in training
        window: WindowKind = "official",
    ) -> None:
        super().__init__()
        if window not in WINDOW_KINDS:
            raise ValueError(f"window must be one of {WINDOW_KINDS}, got {window!r}")
        self.config = dict(
            input_dim=input_dim,
            num_classes=num_classes,
            num_decoders=num_decoders,
            num_layers=num_layers,
            num_f_maps=num_f_maps,
            r1=r1,
            r2=r2,
            channel_masking_rate=channel_masking_rate,
            window=window,
        )
        self.num_classes = num_classes
        shared = dict(num_layers=num_layers, num_f_maps=num_f_maps, r1=r1, r2=r2, window=window)
        self.encoder = _Stage(input_dim, num_classes, alpha=1.0, values_from_previous=False,
                              channel_masking_rate=channel_masking_rate, **shared)
        # Later decoders trust their own attention less: alpha = exp(-3 s).
        self.decoders = nn.ModuleList(
            _Stage(num_classes, num_classes, alpha=math.exp(-3.0 * s), values_from_previous=True,
                   channel_masking_rate=0.0, **shared)
            for s in range(num_decoders)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Stage logits (num_decoders + 1, B, C, T) for features x (B, D, T), mask (B, T)."""
        frame_mask = mask.to(x.dtype).unsqueeze(1)
        logits, features = self.encoder(x, frame_mask)
        stage_logits = [logits]
        for decoder in self.decoders:
            logits, features = decoder(
                F.softmax(logits, dim=1) * frame_mask, frame_mask, features * frame_mask
            )
            stage_logits.append(logits)
        return torch.stack(stage_logits, dim=0)

    @classmethod
    def from_official(
        cls, state_dict: Mapping[str, torch.Tensor], window: WindowKind = "official", source: str = "the state_dict"
    ) -> "ASFormer":
        """Build an ASFormer whose sizes match an official state_dict, and load it strictly.

        `source` names where the state_dict came from (its file) in errors.
        """
        weights = {_strip_data_parallel(key): value for key, value in state_dict.items()}
        required = ["encoder.conv_1x1.weight", "encoder.conv_out.weight",
                    "encoder.layers.0.att_layer.query_conv.weight",
                    "encoder.layers.0.att_layer.value_conv.weight"]
        missing = [key for key in required if key not in weights]
        if missing:
            raise UserError(f"{source}: not an ASFormer state_dict, missing keys {missing}")
        num_f_maps, input_dim = weights["encoder.conv_1x1.weight"].shape[:2]
        query_channels = weights["encoder.layers.0.att_layer.query_conv.weight"].shape[0]
        value_channels = weights["encoder.layers.0.att_layer.value_conv.weight"].shape[0]
        model = cls(
            input_dim=int(input_dim),
            num_classes=int(weights["encoder.conv_out.weight"].shape[0]),
            num_decoders=_count_indices(weights, "decoders."),
            num_layers=_count_indices(weights, "encoder.layers."),
            num_f_maps=int(num_f_maps),
            r1=int(num_f_maps) // int(query_channels),
            r2=int(num_f_maps) // int(value_channels),
            window=window,
        )
        check_state_dict_fits(model, weights, source, expected="an ASFormer of the size its keys give")
        model.load_state_dict(weights, strict=True)
        return model


class _Stage(nn.Module):
    """The encoder (values from its own input) or a decoder (values from the previous stage)."""

    def __init__(self, input_dim: int, num_classes: int, num_layers: int, num_f_maps: int,
                 r1: int, r2: int, alpha: float, values_from_previous: bool,
                 channel_masking_rate: float, window: WindowKind) -> None:
        super().__init__()
        # Dropout2d on (B, D, 1, T) zeroes whole feature channels, not single values.
        self.dropout = nn.Dropout2d(p=channel_masking_rate)
        self.conv_1x1 = nn.Conv1d(input_dim, num_f_maps, 1)
        self.layers = nn.ModuleList(
            _AttModule(2**i, num_f_maps, r1, r2, alpha, values_from_previous, window)
            for i in range(num_layers)
        )
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor,
                previous_features: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, features) for x (B, D, T); frame_mask is (B, 1, T)."""
        if self.dropout.p > 0:
            x = self.dropout(x.unsqueeze(2)).squeeze(2)
        # Masking here keeps the conv bias off padded frames, which the dilated
        # convolutions of the first layer would otherwise read.
        features = pointwise_conv(self.conv_1x1, x * frame_mask) * frame_mask
        for layer in self.layers:
            features = layer(features, frame_mask, previous_features)
        return pointwise_conv(self.conv_out, features) * frame_mask, features


class _DilatedFeedForward(nn.Module):
    """ReLU(dilated conv, kernel 3): the local half of each layer."""

    def __init__(self, dilation: int, channels: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class _AttModule(nn.Module):
    """One layer: dilated feed-forward, windowed attention added with weight alpha, residual."""

    def __init__(self, dilation: int, channels: int, r1: int, r2: int, alpha: float,
                 values_from_previous: bool, window: WindowKind) -> None:
        super().__init__()
        self.alpha = alpha
        self.feed_forward = _DilatedFeedForward(dilation, channels)
        self.att_layer = _AttLayer(channels, r1, r2, dilation, values_from_previous, window)
        self.conv_1x1 = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(p=0.5)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor,
                previous_features: torch.Tensor | None) -> torch.Tensor:
        local = self.feed_forward(x)
        normalised = masked_instance_norm(local, frame_mask)
        out = self.alpha * self.att_layer(normalised, frame_mask, previous_features) + local
        out = self.dropout(pointwise_conv(self.conv_1x1, out))
        return (x + out) * frame_mask


class _AttLayer(nn.Module):
    """Single-head attention restricted to a sliding window of about 2 * block_length frames."""

    def __init__(self, channels: int, r1: int, r2: int, block_length: int,
                 values_from_previous: bool, window: WindowKind) -> None:
        super().__init__()
        self.block_length = block_length
        self.values_from_previous = values_from_previous
        self.query_conv = nn.Conv1d(channels, channels // r1, 1)
        self.key_conv = nn.Conv1d(channels, channels // r1, 1)
        self.value_conv = nn.Conv1d(channels, channels // r2, 1)
        self.conv_out = nn.Conv1d(channels // r2, channels, 1)
        # Not persistent: derived from block_length, and absent from official state_dicts.
        self.register_buffer("window_mask", build_window_mask(block_length, window), persistent=False)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor,
                previous_features: torch.Tensor | None) -> torch.Tensor:
        values_source = previous_features if self.values_from_previous else x
        if values_source is None:
            raise ValueError("a decoder layer needs the previous stage's features")
        attended = sliding_window_attention(
            pointwise_conv(self.query_conv, x), pointwise_conv(self.key_conv, x),
            pointwise_conv(self.value_conv, values_source),
            frame_mask, self.window_mask, self.block_length,
        )
        return pointwise_conv(self.conv_out, F.relu(attended)) * frame_mask


def build_window_mask(block_length: int, window: WindowKind) -> torch.Tensor:
    """Which keys of a block's extended window (bl + 2 * (bl // 2) frames) each query sees.

    "official" reproduces the official code, which sets columns i..i+bl-1 for every
    row, so all queries of a block share one window; "per_query" gives query i its own
    centred window of bl frames, as the paper intends.
    """
    width = block_length + 2 * (block_length // 2)
    window_mask = torch.zeros(block_length, width)
    for i in range(block_length):
        if window == "official":
            window_mask[:, i : i + block_length] = 1
        else:
            window_mask[i, i : i + block_length] = 1
    return window_mask


def sliding_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             frame_mask: torch.Tensor, window_mask: torch.Tensor,
                             block_length: int) -> torch.Tensor:
    """Attention output (B, Cv, T) where each block of queries sees its extended window.

    query/key are (B, Cq, T), value (B, Cv, T), frame_mask (B, 1, T). Weights are the
    softmax of the scores plus log(mask + 1e-6), times the mask, not renormalised, as
    in the official code. Keys and values on padded frames are zeroed, so that their
    (masked) scores equal those of the zero padding a lone video gets, and batching
    does not change the softmax sum.
    """
    if torch.equal(window_mask, window_mask[:1].expand_as(window_mask)):
        return _shared_window_attention(query, key, value, frame_mask, window_mask[0], block_length)
    return _per_query_window_attention(query, key, value, frame_mask, window_mask, block_length)


def _shared_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             frame_mask: torch.Tensor, key_window: torch.Tensor,
                             block_length: int) -> torch.Tensor:
    """sliding_window_attention where all queries of a block share one window (the official one).

    The mask then depends on the key only: its log goes in as an additive bias of one
    row per block, and the multiplication after the softmax moves onto the values
    (exact, as the mask is 0 or 1), so a fused attention kernel does the rest without
    the (blocks, bl, width) scores, masks and weights ever being stored. Frames go
    last-but-one, channels last, as the kernel wants them.
    """
    batch, _, frames = query.shape
    half = block_length // 2
    num_blocks = -(-frames // block_length)
    block_padding = num_blocks * block_length - frames
    window_padding = (half, half + block_padding)
    key_windows = _block_windows(F.pad((key * frame_mask).transpose(1, 2), (0, 0, *window_padding)),
                                 block_length, key_window.shape[0])
    value_windows = _block_windows(F.pad((value * frame_mask).transpose(1, 2), (0, 0, *window_padding)),
                                   block_length, key_window.shape[0])
    key_valid = _block_windows(F.pad(frame_mask[:, 0], window_padding), block_length, key_window.shape[0])
    final_mask = (key_window * key_valid).unsqueeze(-1)  # (B, blocks, width, 1)
    query_blocks = F.pad(query.transpose(1, 2), (0, 0, 0, block_padding)).unflatten(1, (num_blocks, block_length))
    attended = F.scaled_dot_product_attention(  # blocks act as heads; the kernel needs channels contiguous
        query_blocks.contiguous(), key_windows.contiguous(), (value_windows * final_mask).contiguous(),
        attn_mask=torch.log(final_mask + 1e-6).transpose(2, 3),  # (B, blocks, 1, width)
        scale=1.0 / math.sqrt(query.shape[1]),
    )  # (B, blocks, bl, Cv)
    return attended.flatten(1, 2)[:, :frames].transpose(1, 2)


def _block_windows(padded: torch.Tensor, block_length: int, width: int) -> torch.Tensor:
    """(B, L, ...) padded frames -> (B, blocks, width, ...): block n's window starts at frame n * bl.

    A window of two block lengths is two neighbouring blocks side by side: built by one
    concatenation, whose gradient is two slices, not the scatter of an unfold.
    """
    if width == 2 * block_length:
        blocks = padded.unflatten(1, (-1, block_length))
        return torch.cat([blocks[:, :-1], blocks[:, 1:]], dim=2)
    return padded.unfold(1, width, block_length).movedim(-1, 2)


def _per_query_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                frame_mask: torch.Tensor, window_mask: torch.Tensor,
                                block_length: int) -> torch.Tensor:
    """sliding_window_attention with the (blocks, bl, width) masks and weights written out."""
    frames = query.shape[-1]
    half = block_length // 2
    num_blocks = -(-frames // block_length)
    block_padding = num_blocks * block_length - frames
    width = block_length + 2 * half

    def extended_windows(t: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, blocks, width)
        return F.pad(t, (half, half + block_padding)).unfold(-1, width, block_length)

    query_blocks = F.pad(query, (0, block_padding)).unflatten(-1, (num_blocks, block_length))
    key_windows = extended_windows(key * frame_mask)
    value_windows = extended_windows(value * frame_mask)
    key_valid = extended_windows(frame_mask).squeeze(1).unsqueeze(2)  # (B, blocks, 1, width)
    final_mask = window_mask * key_valid  # (B, blocks, bl, width)
    scores = torch.einsum("bcnq,bcnw->bnqw", query_blocks, key_windows) / math.sqrt(query.shape[1])
    weights = F.softmax(scores + torch.log(final_mask + 1e-6), dim=-1) * final_mask
    attended = torch.einsum("bnqw,bcnw->bcnq", weights, value_windows)
    return attended.flatten(2)[..., :frames]


def pointwise_conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """conv(x) for a kernel-size-1 Conv1d, as a matrix product: 2-3x faster than conv1d on CPU."""
    weight = conv.weight.squeeze(-1)
    bias = conv.bias.unsqueeze(-1)
    if x.shape[0] == 1:
        return torch.addmm(bias, weight, x[0]).unsqueeze(0)
    return torch.baddbmm(bias, weight.expand(x.shape[0], -1, -1), x)


def masked_instance_norm(x: torch.Tensor, frame_mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """InstanceNorm1d (no affine, biased variance) over valid frames only; padding stays 0."""
    count = frame_mask.sum(dim=-1, keepdim=True).clamp_min(1.0)
    mean = (x * frame_mask).sum(dim=-1, keepdim=True) / count
    centred = (x - mean) * frame_mask
    variance = centred.pow(2).sum(dim=-1, keepdim=True) / count
    return centred * torch.rsqrt(variance + eps)


def _strip_data_parallel(key: str) -> str:
    return key.removeprefix("module.")


def _count_indices(weights: Mapping[str, torch.Tensor], prefix: str) -> int:
    """Number of modules prefix.0, prefix.1, ... present in the state_dict."""
    indices = {int(key[len(prefix):].split(".", 1)[0]) for key in weights if key.startswith(prefix)}
    return max(indices) + 1 if indices else 0
