"""The torch device a job runs on, from the config's `device` setting."""

from __future__ import annotations

import torch

from mmfeat.errors import UserError


def resolve_device(name: str) -> torch.device:
    """The torch device for "auto" (CUDA when available, else CPU), "cpu" or "cuda"."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    return torch.device(name)
