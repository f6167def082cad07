"""A trained ASFormer as a file: written by `mmfeat train-asformer`, read by prediction and by `init_from`.

    from mmfeat.tasks.segmentation.asformer_saved import load_asformer, save_asformer
    save_asformer("results/D/asformer/i3d/split1/model.pt", model, model_settings, provenance)
    saved = load_asformer("results/D/asformer/i3d/split1/model.pt")   # .model (CPU), .settings, .provenance

The file is mmfeat.checkpoints' format with kind `asformer`: the models entry the model was trained
with (defaults filled), its weights, and how they were made (provenance: classes, split, data
settings, training videos, history, the checkpoint it started from, and the input_dim and
num_classes its data gave it, which the entry cannot know). Files in the format ASFormer had before
(`mmfeat-asformer-v1`: model_config, state_dict, extra) are still read, so that a results folder
trained before predicts as it did.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from mmfeat.checkpoints import load_model, save_model
from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256
from mmfeat.models.asformer import ASFormer
from mmfeat.models.state_dicts import check_state_dict_fits

MODEL_KIND = "asformer"
OLD_FORMAT = "mmfeat-asformer-v1"  # train-asformer's own format before mmfeat.checkpoints; read, never written
# the models entry's keys that are ASFormer constructor arguments (input_dim and num_classes come from the data)
ARCHITECTURE_KEYS = ("num_decoders", "num_layers", "num_f_maps", "r1", "r2", "channel_masking_rate", "window")
# what init_from's model must share with the one it starts: all but channel_masking_rate, a dropout of training
WEIGHT_KEYS = ("input_dim", "num_classes", "num_decoders", "num_layers", "num_f_maps", "r1", "r2", "window")

log = logging.getLogger(__name__)


@dataclass
class SavedASFormer:
    model: ASFormer  # on the device load_asformer was given
    settings: dict  # the models entry it was trained with (for an old file: rebuilt from its constructor arguments)
    provenance: dict  # how it was made: class_names, split, sample_rate, alignment, training, history, ...


def save_asformer(path: str | os.PathLike, model: ASFormer, settings_entry: dict, provenance: dict) -> None:
    """Write `model`'s weights with the models entry it was built from and its provenance, atomically."""
    shape = {"input_dim": model.config["input_dim"], "num_classes": model.config["num_classes"]}
    save_model(path, MODEL_KIND, settings_entry, model.state_dict(), {**provenance, **shape})


def load_asformer(path: str | os.PathLike, device: str = "cpu") -> SavedASFormer:
    """The ASFormer saved at `path` (either format), weights loaded strictly; UserError naming the file otherwise."""
    path = Path(path)
    try:
        settings, state_dict, provenance = load_model(path, expected_kind=MODEL_KIND)
        constructor = {"input_dim": provenance["input_dim"], "num_classes": provenance["num_classes"],
                       **{key: settings[key] for key in ARCHITECTURE_KEYS}}
    except UserError:
        old = _old_format(path)
        if old is None:
            raise
        constructor, state_dict, provenance = old
        architecture = {key: value for key, value in constructor.items() if key in ARCHITECTURE_KEYS}
        settings = {"kind": MODEL_KIND, **architecture, "training": provenance.get("training", {})}
    except KeyError as error:
        raise UserError(f"{path}: an asformer model file without {error}; train it again") from error
    model = ASFormer(**constructor)
    check_state_dict_fits(model, state_dict, source=str(path), expected="the ASFormer its settings describe")
    model.load_state_dict(state_dict, strict=True)
    return SavedASFormer(model.to(device), settings, provenance)


def initialise_from(model: ASFormer, path: str | os.PathLike, class_names: list[str]) -> dict:
    """Load the weights saved at `path` into `model`, a new ASFormer of the same shape; its provenance record.

    `path` is a models entry's `init_from`: a file of another kind, or an ASFormer whose constructor
    arguments differ from `model`'s in anything that shapes or places its weights, is a UserError
    naming the file and each difference. Classes of other names (but as many) are a warning: the
    weights are taken class index for class index.
    """
    try:
        saved = load_asformer(path)
    except UserError as error:
        raise UserError(f"the model's init_from: {error}") from error
    differences = [f"{key} {saved.model.config[key]!r} there, {model.config[key]!r} here" for key in WEIGHT_KEYS
                   if saved.model.config[key] != model.config[key]]
    if differences:
        raise UserError(f"init_from {path}: its ASFormer is not the one to train ({'; '.join(differences)}); point "
                        "init_from at an ASFormer trained with the same architecture on features of the same size "
                        "and as many classes, or change the model's settings to match it")
    if saved.provenance.get("class_names", class_names) != class_names:
        log.warning("init_from %s was trained on the classes %s, not %s: its weights are taken index for index",
                    path, saved.provenance["class_names"], class_names)
    model.load_state_dict(saved.model.state_dict(), strict=True)
    return {"path": str(path), "sha256": file_sha256(Path(path))}


def _old_format(path: Path) -> tuple[dict, dict[str, torch.Tensor], dict] | None:
    """(constructor arguments, state_dict, extra) of a file in OLD_FORMAT; None for any other file."""
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable: load_model's error already says so
        return None
    if not isinstance(contents, dict) or contents.get("format") != OLD_FORMAT:
        return None
    try:
        return dict(contents["model_config"]), contents["state_dict"], dict(contents["extra"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: an {OLD_FORMAT} file without a readable {error}; train it again") from error
