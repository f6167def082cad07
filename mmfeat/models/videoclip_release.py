"""Reading the released VideoCLIP checkpoint (checkpoint_best.pt of fairseq MMPT's projects/retri/videoclip).

    weights = read_release_state_dict(Path("models/videoclip/checkpoint_best.pt"))
    load_release_weights(model, weights, source="models/videoclip/checkpoint_best.pt")

The file is a fairseq checkpoint: {"model": state_dict, "args" or "cfg": the run's settings, "extra_state",
"optimizer_history", ...}. Its state_dict is that of fairseq's `FairseqMMModel`, whose one child `mmmodel` is
MMPT's `MMFusionSeparate`: keys "mmmodel.video_encoder.videomlp.*", "mmmodel.video_encoder.bert.*",
"mmmodel.text_encoder.*", which are mmfeat's VideoCLIP keys with "mmmodel." in front (the table is written out
in tests/test_videoclip_model.py). Two facts of its time are accepted: tensors in float16 (fairseq's fp16
training keeps the model in half precision) are loaded into the model's dtype, and each BERT's
`embeddings.position_ids` buffer (0..max_positions - 1, saved by transformers 3.x, which MMPT pins; later
versions no longer save it) is checked to be that range and dropped. Any other key missing, unexpected or of
another shape fails, naming the file.

Reading without running code from the file: torch.load(weights_only=True) first; it refuses the settings objects
fairseq pickles beside the weights (argparse.Namespace, omegaconf's DictConfig), and then the file is read again
by an unpickler that rebuilds tensors and plain containers and puts an inert stand-in, which calls nothing, in
place of any other object.
"""

from __future__ import annotations

import pickle
import types
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from mmfeat.errors import UserError
from mmfeat.models.state_dicts import check_state_dict_fits

RELEASE = "the VideoCLIP release (checkpoint_best.pt of fairseq MMPT's projects/retri/videoclip)"
RELEASE_PREFIX = "mmmodel."  # fairseq's FairseqMMModel holds MMPT's model as `mmmodel`
# transformers 3.x buffers the release has and a current BertModel does not save
POSITION_BUFFERS = ("video_encoder.bert.embeddings.position_ids", "text_encoder.embeddings.position_ids")
# what a checkpoint's tensors are rebuilt from; every other global becomes an inert stand-in
TENSOR_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
}


def read_release_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in the file (under "model" in a fairseq checkpoint), read without running code from it."""
    if not path.is_file():
        raise UserError(f"release checkpoint {path} does not exist; point release_checkpoint at a local copy of "
                        f"{RELEASE}, or use text_weights instead")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # fairseq's settings objects are beyond weights_only; read tensors only
        contents = _load_tensors_only(path)
    except Exception as error:  # any other unreadable file ends here, whatever torch's reason
        raise UserError(f"{path}: not a readable torch checkpoint ({error}); use {RELEASE}") from error
    if isinstance(contents, Mapping) and isinstance(contents.get("model"), Mapping):
        contents = contents["model"]
    if not isinstance(contents, Mapping):
        raise UserError(f"{path}: holds a {type(contents).__name__}, not a state_dict; use {RELEASE}")
    return dict(contents)


def load_release_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Load the release's `weights` into mmfeat's VideoCLIP key for key; UserError naming `source` otherwise."""
    weights = dict(weights)
    for name in POSITION_BUFFERS:
        found = weights.pop(RELEASE_PREFIX + name, None)
        if found is not None:
            positions = model.get_buffer(name)
            if found.shape != positions.shape or not torch.equal(found.to(positions.dtype), positions):
                raise UserError(f"{source}: {RELEASE_PREFIX}{name} is not the range 0..{positions.shape[-1] - 1} "
                                f"the BERT config gives; the checkpoint does not match the config.json given")
    layout = _ReleaseLayout(model)
    check_state_dict_fits(layout, weights, source=source, expected=RELEASE)
    layout.load_state_dict(weights, strict=True)


class _ReleaseLayout(nn.Module):
    """The model under fairseq's wrapper name, so that its state_dict keys are the release's."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.mmmodel = model


class _Inert:
    """Stands in for any unpickled object other than tensors and plain containers; accepts everything, does nothing."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


class _TensorsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in TENSOR_GLOBALS:
            return super().find_class(module, name)
        return _Inert


def _load_tensors_only(path: Path):
    # torch.load subclasses pickle_module.Unpickler (adding its storages); ours turns every other global inert
    tensors_only = types.SimpleNamespace(Unpickler=_TensorsOnlyUnpickler, load=pickle.load, __name__="tensors_only")
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=tensors_only)
    except Exception as error:  # any unreadable file ends here, whatever torch's reason
        raise UserError(f"{path}: not a readable torch checkpoint ({error}); use {RELEASE}") from error
