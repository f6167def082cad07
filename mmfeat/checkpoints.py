"""One file for a trained model of any kind: its settings entry, its weights and where they came from.

    from mmfeat.checkpoints import load_model, save_model
    save_model("results/demo-howto/pretrain/videoclip/model.pt", "videoclip", entry, model.state_dict(), provenance)
    entry, state_dict, provenance = load_model("results/.../model.pt", expected_kind="videoclip")

The file is a torch.save of a plain dict, {"format": "mmfeat-model", "format_version": 1, "kind",
"settings" (the model's config entry, defaults filled), "state_dict", "provenance" (how the weights
were made: data, settings, steps)}, written atomically (a killed writer leaves no file that looks
complete) and read with torch.load(weights_only=True), which runs no code from the file. settings
and provenance hold JSON values only, checked before writing, so that a bad value fails the writer,
not a reader later. Rebuilding a model of a kind from its entry is the kind's business (for
VideoCLIP, mmfeat.tasks.pretraining.saved).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import torch

from mmfeat.atomic import replaced_on_success, write_failure
from mmfeat.errors import UserError

FORMAT_NAME = "mmfeat-model"
FORMAT_VERSION = 1  # raised when the dict's keys change meaning; a reader refuses a newer file


def save_model(path: str | os.PathLike, model_kind: str, settings_entry: dict,
               state_dict: Mapping[str, torch.Tensor], provenance: dict) -> None:
    """Write the model atomically; ValueError when settings_entry or provenance hold non-JSON values."""
    path = Path(path)
    for name, value in (("settings_entry", settings_entry), ("provenance", provenance)):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {name} must hold JSON values only (a weights-only load reads them): "
                             f"{error}") from error
    contents = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": model_kind,
        "settings": settings_entry,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "provenance": provenance,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replaced_on_success(path) as temporary:
            torch.save(contents, temporary)
    except OSError as error:
        raise write_failure(path, error) from error


def load_model(path: str | os.PathLike, expected_kind: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """(settings entry, state_dict, provenance) of a file save_model wrote; UserError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist; make it first (the workflow's rule that writes it, "
                        f"or the command that trains a {expected_kind} model)")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file ends here, whatever torch's reason
        raise UserError(f"{path}: not a readable mmfeat model file ({error}); write it again") from error
    if not isinstance(contents, dict) or contents.get("format") != FORMAT_NAME:
        raise UserError(f"{path} is not an mmfeat model file (format {FORMAT_NAME!r}); "
                        f"write it with mmfeat.checkpoints.save_model")
    version = contents.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{path}: format_version {version!r}, newer than the {FORMAT_VERSION} this mmfeat reads; "
                        "upgrade mmfeat, or write the file again with this one")
    if contents.get("kind") != expected_kind:
        raise UserError(f"{path} holds a model of kind {contents.get('kind')!r}, not {expected_kind!r}; "
                        f"point at a {expected_kind} model file")
    return contents["settings"], contents["state_dict"], contents["provenance"]
