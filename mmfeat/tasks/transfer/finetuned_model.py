"""A VideoCLIP fine-tuned to segmentation: the towers and a head, as one module and as one file.

    from mmfeat.tasks.transfer.finetuned_model import VideoCLIPSegmenter, load_finetuned, save_finetuned
    segmenter = VideoCLIPSegmenter(model, "linear", class_names, train_text_tower=False, seed=0)
    scores = segmenter(windows, mask)                           # (B, W, 512) rows, (B, W) bool -> (B, W, classes)
    save_finetuned("split1/model.pt", segmenter, provenance)
    segmenter, provenance = load_finetuned("split1/model.pt")   # eval mode, CPU

Which weights train: the video tower always; the text tower only with the `text` head and
train_text_tower (with the `linear` head it is never read); an audio tower never. The file is
mmfeat.checkpoints' format with kind `videoclip`: the settings are the towers' models entry (every
field, so that build_videoclip rebuilds the same architecture), the state_dict holds `videoclip.*` (the
towers) and `head.*`, and the provenance names the head, its classes and how the weights were made.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import torch
from torch import nn

from mmfeat.errors import UserError
from mmfeat.tasks.transfer.heads import build_head

MODEL_KIND = "videoclip"  # the towers' kind; the provenance's `task` says they carry a segmentation head
TASK = "segmentation fine-tuning"


class VideoCLIPSegmenter(nn.Module):
    """Per-row class scores: the video tower's token states of each window, through the head."""

    def __init__(self, videoclip: nn.Module, head: str, class_names: Sequence[str], train_text_tower: bool,
                 seed: int):
        super().__init__()
        self.videoclip = videoclip
        self.head_name = head
        self.class_names = list(class_names)
        self.train_text_tower = train_text_tower
        self.head = build_head(head, videoclip, self.class_names, train_text_tower, seed)
        text_trains = head == "text" and train_text_tower
        videoclip.text_encoder.requires_grad_(text_trains)
        if videoclip.audio_encoder is not None:
            videoclip.audio_encoder.requires_grad_(False)
        for pooler in (videoclip.video_encoder.bert.pooler, videoclip.text_encoder.pooler):
            pooler.requires_grad_(False)  # never read, as in pretraining (mmfeat.models.videoclip)

    def forward(self, windows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.videoclip.video_token_states(windows, mask))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    def towers_entry(self) -> dict:
        """The models entry that rebuilds these towers' architecture (every field, kind videoclip)."""
        return {"kind": MODEL_KIND, **dataclasses.asdict(self.videoclip.settings)}


def save_finetuned(path: str | os.PathLike, segmenter: VideoCLIPSegmenter, provenance: dict) -> None:
    """Write the towers and head; the provenance gains the head, its classes and the task."""
    from mmfeat.checkpoints import save_model

    provenance = {"task": TASK, "head": segmenter.head_name, "train_text_tower": segmenter.train_text_tower,
                  "class_names": segmenter.class_names, **provenance}
    save_model(path, MODEL_KIND, segmenter.towers_entry(), segmenter.state_dict(), provenance)


def load_finetuned(path: str | os.PathLike, device: str = "cpu") -> tuple[VideoCLIPSegmenter, dict]:
    """(the segmenter saved at `path` in eval mode on `device`, its provenance); UserError naming the file."""
    from mmfeat.checkpoints import load_model
    from mmfeat.models.state_dicts import check_state_dict_fits
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings

    entry, state_dict, provenance = load_model(path, expected_kind=MODEL_KIND)
    if not isinstance(provenance, dict) or provenance.get("task") != TASK:
        raise UserError(f"{path} holds VideoCLIP towers without a segmentation head (a pretrain output?); "
                        "point at a model.pt that `mmfeat finetune-videoclip` wrote")
    videoclip = build_videoclip(videoclip_settings(entry, source=f"{path} (its settings)"))
    segmenter = VideoCLIPSegmenter(videoclip, provenance["head"], provenance["class_names"],
                                   provenance["train_text_tower"], seed=0)  # every weight is then loaded
    check_state_dict_fits(segmenter, state_dict, source=str(path), expected="the fine-tuned VideoCLIP it describes")
    segmenter.load_state_dict(state_dict, strict=True)
    return segmenter.to(device).eval(), provenance
