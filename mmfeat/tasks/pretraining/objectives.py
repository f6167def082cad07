"""The contrastive objectives of pretraining, each with a weight, over local rows and global columns.

    objectives = ContrastiveObjectives(ObjectiveSettings.from_config(settings["objectives"]))
    losses = objectives(local, everyone, first_row)   # {"video_text_nce": ..., "total": ...}

- video_text_nce: VideoCLIP's loss (MMContraLoss in fairseq's examples/MMPT/mmpt/losses/nce.py):
  cross-entropy of each video against every text plus of each text against every video,
  summed, on raw dot products (no temperature by default).
- mil_nce: MIL-NCE (Miech et al. 2020, antoine77340/MIL-NCE_HowTo100M loss.py; VATT's
  video-text loss): all K captions of a clip are positives. As in both public codes, the
  denominator of clip i holds its video against every caption and every video against its
  captions, so the positives are counted in both halves.
- video_audio_nce: VATT's video-audio loss, the same form with each clip's audio as its one
  positive (VATT's code computes it with its MIL-NCE function).

Each loss is a mean over the local rows (this process's clips) of a softmax over the global
columns (every process's clips), so that the mean over equally sized processes is the
loss of the whole batch; `negatives` decides what "every process" is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.errors import UserError

OBJECTIVES = ("video_text_nce", "mil_nce", "video_audio_nce")
MODALITIES_READ = {
    "video_text_nce": ("video", "text"), "mil_nce": ("video", "text"), "video_audio_nce": ("video", "audio")}
SMALLEST_TEMPERATURE = 0.01  # CLIP caps its learned logit scale at 100


@dataclass(frozen=True)
class ObjectiveSettings:
    """The schema's `pretraining.objectives`, where every default lives."""

    weights: dict[str, float]  # objective name -> weight; 0 leaves the objective out
    similarity: str  # "dot" | "cosine"
    temperature_mode: str  # "none" | "fixed" | "learnable"
    temperature: float  # the fixed value, or where the learned one starts

    @classmethod
    def from_config(cls, entry: dict) -> ObjectiveSettings:
        """From a `pretraining.objectives` entry with its defaults filled (workflow_config.with_defaults)."""
        return cls(weights=dict(entry["weights"]), similarity=entry["similarity"],
                   temperature_mode=entry["temperature"]["mode"], temperature=entry["temperature"]["value"])


class ContrastiveObjectives(nn.Module):
    """The weighted sum of the objectives whose weight is above 0; holds a learned temperature if asked."""

    def __init__(self, settings: ObjectiveSettings) -> None:
        super().__init__()
        unknown = set(settings.weights) - set(OBJECTIVES)
        if unknown:
            raise UserError(f"unknown objective(s) {sorted(unknown)} in pretraining.objectives.weights; "
                            f"known: {list(OBJECTIVES)}")
        self.weights = {name: float(weight) for name, weight in settings.weights.items() if weight > 0}
        if not self.weights:
            raise UserError("pretraining.objectives.weights: every weight is 0; "
                            "give at least one objective a weight above 0")
        if settings.similarity not in ("dot", "cosine"):
            raise UserError(f"pretraining.objectives.similarity is {settings.similarity!r}; use dot or cosine")
        self.cosine = settings.similarity == "cosine"
        self.temperature_mode = settings.temperature_mode
        # the logits are similarity x scale, scale = 1 / temperature; learned as its log, as CLIP does
        # held in float64 (a scalar does not change a float32 batch's dtype), so that float64 runs are exact
        start = torch.tensor(math.log(1.0 / settings.temperature), dtype=torch.float64)
        if settings.temperature_mode == "learnable":
            self.log_scale = nn.Parameter(start)
        elif settings.temperature_mode == "fixed":
            self.register_buffer("log_scale", start)
        elif settings.temperature_mode == "none":
            self.log_scale = None
        else:
            raise UserError(f"pretraining.objectives.temperature.mode is {settings.temperature_mode!r}; "
                            "use none, fixed or learnable")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The embeddings the objectives read, in the order video, text, audio."""
        needed = {modality for name in self.weights for modality in MODALITIES_READ[name]}
        return tuple(modality for modality in ("video", "text", "audio") if modality in needed)

    def scale(self) -> torch.Tensor | None:
        """What similarities are multiplied by (1 / temperature); None for raw similarities."""
        if self.log_scale is None:
            return None
        return self.log_scale.exp().clamp(max=1.0 / SMALLEST_TEMPERATURE)

    def forward(self, local: dict[str, torch.Tensor], everyone: dict[str, torch.Tensor],
                first_row: int = 0) -> dict[str, torch.Tensor]:
        """Each objective's loss and their weighted "total", for the rows `local` against the columns `everyone`.

        `local` and `everyone` map "video" and "audio" to (rows, d) and "text" to (rows, K, d);
        `local`'s rows are rows first_row, first_row + 1, ... of `everyone`. A single process
        passes the same embeddings twice.
        """
        if self.cosine:
            local = {name: F.normalize(value, dim=-1) for name, value in local.items()}
            everyone = {name: F.normalize(value, dim=-1) for name, value in everyone.items()}
        scale = self.scale()
        losses = {}
        if "video_text_nce" in self.weights:  # caption 0: the clip's own, VideoCLIP's pair
            losses["video_text_nce"] = symmetric_nce(local["video"], local["text"][:, 0], everyone["video"],
                                                     everyone["text"][:, 0], first_row, scale)
        if "mil_nce" in self.weights:
            losses["mil_nce"] = mil_nce(local["video"], local["text"], everyone["video"], everyone["text"], scale)
        if "video_audio_nce" in self.weights:
            losses["video_audio_nce"] = mil_nce(local["video"], local["audio"][:, None], everyone["video"],
                                                everyone["audio"][:, None], scale)
        losses["total"] = sum(self.weights[name] * loss for name, loss in losses.items())
        return losses


def symmetric_nce(video: torch.Tensor, text: torch.Tensor, all_video: torch.Tensor, all_text: torch.Tensor,
                  first_row: int, scale: torch.Tensor | None) -> torch.Tensor:
    """VideoCLIP's loss: mean cross-entropy of video i over all texts plus of text i over all videos,
    the target of row i being column first_row + i."""
    targets = torch.arange(first_row, first_row + video.shape[0], device=video.device)
    video_to_text = _scaled(video @ all_text.T, scale)
    text_to_video = _scaled(text @ all_video.T, scale)
    return F.cross_entropy(video_to_text, targets) + F.cross_entropy(text_to_video, targets)


def mil_nce(video: torch.Tensor, positives: torch.Tensor, all_video: torch.Tensor, all_positives: torch.Tensor,
            scale: torch.Tensor | None) -> torch.Tensor:
    """MIL-NCE: video i (d) against its K positives (K, d); the denominator holds video i against
    every positive of every clip and every video against clip i's positives. Mean over the rows.
    The positives are paired by row, so where the rows sit among the columns does not matter."""
    rows, captions, size = positives.shape
    positive_logits = _scaled(torch.einsum("nd,nkd->nk", video, positives), scale)
    video_to_all = _scaled(video @ all_positives.reshape(-1, size).T, scale)  # (rows, M * K)
    all_to_positives = _scaled(torch.einsum("nkd,md->nmk", positives, all_video), scale).reshape(rows, -1)
    denominator = torch.logsumexp(torch.cat([video_to_all, all_to_positives], dim=1), dim=1)
    return (denominator - torch.logsumexp(positive_logits, dim=1)).mean()


def _scaled(similarity: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    return similarity if scale is None else similarity * scale
