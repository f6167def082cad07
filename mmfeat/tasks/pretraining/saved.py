"""A pretrained VideoCLIP as a file: written by `mmfeat pretrain`, read back by evaluation and transfer.

    from mmfeat.tasks.pretraining.saved import load_pretrained_videoclip, save_pretrained_videoclip
    save_pretrained_videoclip("results/demo-howto/pretrain/videoclip/model.pt", model, entry, provenance)
    model = load_pretrained_videoclip("results/demo-howto/pretrain/videoclip/model.pt")   # eval mode, CPU

The file is mmfeat.checkpoints' format with kind `videoclip`: the models entry the run started from
and the trained weights. Loading rebuilds the model that entry describes (build_videoclip: the same
architecture and tokenizer, so the same sources must still be there: the text_weights folder or
package, the tokenizer folder, or the release checkpoint the run started from) and then loads the
trained weights key for key.
"""

from __future__ import annotations

import os

from mmfeat.checkpoints import load_model, save_model
from mmfeat.errors import UserError

MODEL_KIND = "videoclip"


def save_pretrained_videoclip(path: str | os.PathLike, model, settings_entry: dict, provenance: dict) -> None:
    """Write `model`'s weights with the models entry it was built from (kind videoclip, defaults filled)."""
    save_model(path, MODEL_KIND, settings_entry, model.state_dict(), provenance)


def load_pretrained_videoclip(path: str | os.PathLike, device: str = "cpu"):
    """The VideoCLIP saved at `path`, in eval mode on `device`; UserError naming the file when it does not fit."""
    from mmfeat.models.state_dicts import check_state_dict_fits
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings

    settings_entry, state_dict, _ = load_model(path, expected_kind=MODEL_KIND)
    model = build_videoclip(videoclip_settings(settings_entry, source=f"{path} (its settings)"))
    check_state_dict_fits(model, state_dict, source=str(path), expected="the VideoCLIP its settings describe")
    model.load_state_dict(state_dict, strict=True)
    return model.to(device).eval()


def saved_provenance(path: str | os.PathLike) -> dict:
    """How the weights at `path` were made (what `mmfeat pretrain` recorded); UserError for another file."""
    _, _, provenance = load_model(path, expected_kind=MODEL_KIND)
    if not isinstance(provenance, dict):
        raise UserError(f"{path}: provenance is a {type(provenance).__name__}, not a mapping; write the file again")
    return provenance
