"""Where a transferred VideoCLIP starts: `--init-from`'s three forms, loaded into one model.

    from mmfeat.tasks.transfer.starts import load_start
    model, identity = load_start("results/demo-howto/pretrain/videoclip-demo/model.pt", model_entry)
    model, identity = load_start("release", model_entry)   # the entry's release_checkpoint
    model, identity = load_start("random", model_entry)    # seeded random towers of the entry's sizes

`model_entry` is the config's `videoclip` models entry (defaults filled here from the schema's
`$defs/videoclip_model`). It is the architecture of the `release` and `random` starts; a pretrain
output carries its own, which must equal the entry's (a different entry means the row is not the
model the config names, so it fails, naming each setting that differs).

`random` draws every weight from the entry's seed: the entry's sizes with its tokenizer's vocabulary;
for a `text_weights` entry the sizes and vocabulary of that BERT folder, so that random and pretrained
starts share the architecture, and only what the weights learnt differs.

The identity is what a report and a checkpoint's provenance state about the start:
{"kind": "pretrained", "path", "sha256"}, {"kind": "release", "path", "sha256"} or {"kind": "random", "seed"}.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mmfeat.errors import UserError

RELEASE = "release"
RANDOM = "random"
FORMS = "a pretrain output (results/<narrated dataset>/pretrain/<model>/model.pt), `release` or `random`"


def load_start(init_from: str, model_entry: dict, device: str = "cpu"):
    """(VideoCLIP in eval mode on `device`, identity) for `init_from`; UserError naming the file and the fix."""
    from mmfeat.features.provenance import file_sha256
    from mmfeat.workflow_config import with_defaults

    if not isinstance(init_from, str) or not init_from:
        raise UserError(f"--init-from {init_from!r}: give {FORMS}")
    entry = with_defaults("videoclip_model", dict(model_entry), source="--model")
    if init_from == RELEASE:
        model, identity = _release(entry)
    elif init_from == RANDOM:
        model, identity = _random(entry)
    else:
        path = Path(init_from)
        if not path.is_file():
            raise UserError(f"--init-from {path}: no such file; give {FORMS} (a pretrain output is made by the "
                            "workflow's pretrain rule or `mmfeat pretrain`)")
        model = _pretrained(path, entry)
        identity = {"kind": "pretrained", "path": str(path), "sha256": file_sha256(path)}
    return model.to(device).eval(), identity


def _pretrained(path: Path, entry: dict):
    """The pretrain output at `path`, after checking that it was built from the entry the config names."""
    from mmfeat.checkpoints import load_model
    from mmfeat.tasks.pretraining.saved import load_pretrained_videoclip
    from mmfeat.workflow_config import with_defaults

    saved_entry, _, _ = load_model(path, expected_kind="videoclip")  # a file of another kind fails here
    saved_entry = with_defaults("videoclip_model", dict(saved_entry), source=f"{path} (its settings)")
    differences = [f"{key}: --model {entry.get(key)!r}, the file {saved_entry.get(key)!r}"
                   for key in sorted(set(entry) | set(saved_entry)) if entry.get(key) != saved_entry.get(key)]
    if differences:
        raise UserError(f"{path} was pretrained from other model settings than --model's; "
                        f"{'; '.join(differences)}. Point --model at the models entry the file was pretrained "
                        "from, or pretrain again with this one")
    return load_pretrained_videoclip(path)


def _release(entry: dict):
    from mmfeat.features.provenance import file_sha256
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings

    settings = videoclip_settings(entry, source="--model")
    if not settings.release_checkpoint:
        raise UserError("--init-from release: the --model entry has no release_checkpoint; set it to a local copy "
                        "of the released VideoCLIP (checkpoint_best.pt of fairseq MMPT's projects/retri/videoclip)")
    path = Path(settings.release_checkpoint)
    if not path.is_file():
        raise UserError(f"--init-from release: release_checkpoint {path} does not exist; download the released "
                        "VideoCLIP there (README, Data), or give another start")
    return build_videoclip(settings), {"kind": "release", "path": str(path), "sha256": file_sha256(path)}


def _random(entry: dict):
    from mmfeat.models.videoclip import VideoCLIP
    from mmfeat.models.videoclip_settings import videoclip_settings

    settings = videoclip_settings(entry, source="--model")
    if settings.text_weights:
        settings = _random_sizes_of(settings)
    # the release's settings describe random towers of its sizes (the schema's defaults are bert-base's)
    settings = dataclasses.replace(settings, release_checkpoint=None)
    return VideoCLIP.random(settings, settings.seed), {"kind": "random", "seed": settings.seed}


def _random_sizes_of(settings):
    """Settings for random towers shaped as the text_weights BERT (its vocabulary, sizes and text depth)."""
    from transformers import BertConfig

    from mmfeat.features.extractors.local_models import model_directory

    folder = model_directory(settings.text_weights)
    config = BertConfig.from_pretrained(folder, local_files_only=True)
    return dataclasses.replace(settings, text_weights=None, tokenizer=settings.text_weights,
                               hidden_size=config.hidden_size, heads=config.num_attention_heads,
                               intermediate_size=config.intermediate_size, text_layers=config.num_hidden_layers)
