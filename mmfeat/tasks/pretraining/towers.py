"""One tower per modality behind one forward: what the contrastive step calls on a chunk.

    encoder = PairEncoder(model)                     # model.embed_video / embed_text / embed_audio
    encoder = PairEncoder(video=video_net, text=text_net)   # or one callable per modality
    embeddings = encoder(chunk, ("video", "text"))  # {"video": (n, d), "text": (n, K, d)}

The step goes through `forward` rather than calling the towers' methods itself so that a
DistributedDataParallel around the encoder sees every forward pass it must synchronise.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mmfeat.tasks.pretraining.pairs import PairBatch

Tower = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (inputs, mask) -> (rows, d)
MODALITIES = ("video", "text", "audio")


class PairEncoder(nn.Module):
    """Embeds the modalities of a PairBatch, one tower each, into (rows, d) tensors."""

    def __init__(self, model: nn.Module | None = None, *, video: Tower | None = None,
                 text: Tower | None = None, audio: Tower | None = None) -> None:
        super().__init__()
        given = {"video": video, "text": text, "audio": audio}
        if model is not None:
            if any(given.values()):
                raise ValueError("PairEncoder takes a model with embed_* methods or one tower per modality, not both")
            self.model = model  # registered, so that its parameters are the encoder's
            given = {name: getattr(model, f"embed_{name}", None) for name in MODALITIES}
        else:
            # register the modules behind the towers (a module, or a bound method of one)
            self.towers = nn.ModuleList(_modules_behind(given.values()))
        self._embed = given

    def forward(self, batch: PairBatch, modalities: tuple[str, ...]) -> dict[str, torch.Tensor]:
        embeddings = {}
        for name in modalities:
            tower = self._embed[name]
            if tower is None:
                raise ValueError(f"the objectives need {name} embeddings but the encoder has no {name} tower")
            if name == "video":
                embeddings[name] = tower(batch.video, batch.video_mask)
            elif name == "audio":
                if batch.audio is None:
                    raise ValueError("the video-audio objective needs audio features, and the batch has none")
                embeddings[name] = tower(batch.audio, batch.audio_mask)
            else:  # K captions per clip through the text tower as N*K texts, then back to (N, K, d)
                pairs, captions, tokens = batch.text_ids.shape
                flat = tower(batch.text_ids.reshape(pairs * captions, tokens),
                             batch.text_mask.reshape(pairs * captions, tokens))
                embeddings[name] = flat.reshape(pairs, captions, flat.shape[-1])
        return embeddings


def _modules_behind(towers) -> list[nn.Module]:
    modules: list[nn.Module] = []
    for tower in towers:
        owner = tower if isinstance(tower, nn.Module) else getattr(tower, "__self__", None)
        if isinstance(owner, nn.Module) and not any(owner is seen for seen in modules):
            modules.append(owner)
    return modules
