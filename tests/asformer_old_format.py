"""A model.pt in the format train-asformer wrote before mmfeat.checkpoints (`mmfeat-asformer-v1`).

    write_old_asformer_file(path, model, extra)

The dict is the one the old save_checkpoint wrote (at e4d7a94 and before): results folders
trained then hold such files, and prediction and init_from must keep reading them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mmfeat.models.asformer import ASFormer


def write_old_asformer_file(path: Path, model: ASFormer, extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": "mmfeat-asformer-v1",
        "model_config": dict(model.config),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "extra": extra,
    }, path)
