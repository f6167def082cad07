"""The two heads that turn VideoCLIP's per-row token states into class scores, for fine-tuning to segmentation.

    from mmfeat.tasks.transfer.heads import build_head
    head = build_head("linear", model, class_names, train_text_tower=False, seed=0)
    scores = head(model.video_token_states(windows, mask))      # (B, T, H) -> (B, T, classes)

- `linear`: VideoCLIP's COIN recipe (MMPT's MMBertForTokenClassification): dropout at the towers' rate, then
  a linear layer from the hidden size to the classes, drawn as BERT draws a linear layer (normal with std 0.02,
  zero bias). The text tower is not used.
- `text`: the 50Salads study's variant. The class weights are the class names' text embeddings (`cut_tomato`
  -> "cut tomato") from the model's own text tower, and a row's score for a class is the dot product of its
  token state with that embedding, as VideoCLIP compares video and text; so the cross-entropy over the
  classes is a contrastive loss between each row and the class texts. With the text tower trained along,
  the embeddings are recomputed at every forward (each step sees the tower it is updating); frozen, they are
  computed once, in eval mode, and kept as a buffer (saved with the head, identical at prediction).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mmfeat.errors import UserError
from mmfeat.tasks.segmentation.zero_shot import class_prompts

HEADS = ("linear", "text")
INITIALIZER_RANGE = 0.02  # BERT's std for a linear layer it draws, as MMPT's token classifier is drawn


def build_head(name: str, model: nn.Module, class_names: Sequence[str], train_text_tower: bool,
               seed: int) -> nn.Module:
    """The head `name` for `model` (a VideoCLIP) over `class_names`; any weight it draws comes from `seed`."""
    if name == "linear":
        with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
            torch.manual_seed(seed)
            return LinearHead(model.settings.dropout, _hidden_size(model), len(class_names))
    if name == "text":
        return TextHead(model, class_names, train_text_tower)
    raise UserError(f"fine-tuning head {name!r}: choose one of {', '.join(HEADS)}")


class LinearHead(nn.Module):
    """Dropout, then one linear layer from each row's token state to the class scores."""

    def __init__(self, dropout: float, hidden_size: int, classes: int):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, classes)
        nn.init.normal_(self.classifier.weight, std=INITIALIZER_RANGE)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, token_states: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(token_states))


class TextHead(nn.Module):
    """Dot products of each row's token state with the class names' text embeddings (the model's text tower).

    The model is held outside this module's parameters (it is the segmenter's own, saved there once): the
    head's state is the class names' token ids and, when the tower is frozen, their embeddings.
    """

    def __init__(self, model: nn.Module, class_names: Sequence[str], train_text_tower: bool):
        super().__init__()
        self._model = [model]  # a list, so that nn.Module does not register the towers a second time
        self.train_text_tower = train_text_tower
        input_ids, attention_mask = model.tokenize(class_prompts(class_names))
        self.register_buffer("input_ids", input_ids)
        self.register_buffer("attention_mask", attention_mask)
        if train_text_tower:
            self.frozen_embeddings = None
        else:
            self.register_buffer("frozen_embeddings", self._embed_classes_in_eval_mode())

    def class_embeddings(self) -> torch.Tensor:
        """(classes, H): the class names through the text tower as it is now (or as it was, frozen)."""
        if self.frozen_embeddings is not None:
            return self.frozen_embeddings
        return self._model[0].embed_text(self.input_ids, self.attention_mask)

    def forward(self, token_states: torch.Tensor) -> torch.Tensor:
        return token_states @ self.class_embeddings().to(token_states.dtype).T

    def _embed_classes_in_eval_mode(self) -> torch.Tensor:
        """The frozen weights: without dropout and without a graph, whatever mode the model is in."""
        text_encoder = self._model[0].text_encoder
        was_training = text_encoder.training
        text_encoder.eval()
        try:
            with torch.no_grad():
                return self._model[0].embed_text(self.input_ids, self.attention_mask).detach().clone()
        finally:
            text_encoder.train(was_training)


def _hidden_size(model: nn.Module) -> int:
    return model.video_encoder.bert.config.hidden_size
