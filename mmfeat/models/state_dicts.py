"""One strict check that a state_dict fits a model, shared by every weight loader.

    from mmfeat.models.state_dicts import check_state_dict_fits
    weights = load_torch_file(Path("models/s3d_howto100m.pth"), release="the release's s3d_howto100m.pth")
    check_state_dict_fits(model, weights, source="models/s3d_howto100m.pth", expected="S3D (HowTo100M release)")
    model.load_state_dict(weights, strict=True)

torch's own strict load stops at the first mismatch with a message that names
no file; this one lists what is missing, unexpected and misshapen, names the
file, and says which checkpoint was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from mmfeat.errors import UserError

EXAMPLES_SHOWN = 3  # names listed per kind of mismatch; a full list of 300 keys helps nobody


def load_torch_file(path: Path, release: str):
    """What a local weights file holds, read without running code from it; UserError naming the file.

    `release` names the file the setting should point at, for the message
    (e.g. "pytorchvideo's I3D_8x8_R50.pyth").
    """
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist; point `weights` at a local copy of {release}, "
                        f"or set it to null for seeded random weights")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file ends here, whatever torch's reason
        raise UserError(f"{path}: not a readable torch checkpoint ({error}); use {release}") from error


def check_state_dict_fits(model: nn.Module, weights: Mapping[str, torch.Tensor], source: str, expected: str) -> None:
    """Raise UserError naming `source` unless `weights` has exactly the model's keys and shapes."""
    if not isinstance(weights, Mapping) or not all(isinstance(value, torch.Tensor) for value in weights.values()):
        raise UserError(f"{source}: not a state_dict (a mapping of names to tensors); expected {expected}")
    wanted = model.state_dict()
    missing = sorted(set(wanted) - set(weights))
    unexpected = sorted(set(weights) - set(wanted))
    misshapen = sorted(name for name in set(wanted) & set(weights) if wanted[name].shape != weights[name].shape)
    if missing or unexpected or misshapen:
        raise UserError(
            f"{source}: weights do not fit {expected} "
            f"({len(missing)} missing, e.g. {missing[:EXAMPLES_SHOWN]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:EXAMPLES_SHOWN]}; "
            f"{len(misshapen)} of another shape, e.g. {misshapen[:EXAMPLES_SHOWN]})"
        )
