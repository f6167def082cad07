"""S3D-G with its text tower, laid out as the HowTo100M (MIL-NCE) release so that its weights load strictly.

    from mmfeat.models.s3d import load_s3d
    model, weights_identity = load_s3d("models/s3d_howto100m.pth", "models/s3d_dict.npy", seed=0)
    video_embedding, mixed_5c = model.embed_video(clips)  # clips (B, 3, 32, 224, 224), RGB in [0, 1]
    text_embedding = model.embed_text(["cut tomato", "peel cucumber"])  # (2, 512)
    similarity = text_embedding @ video_embedding.T

The release (antoine77340/S3D_HowTo100M) is a state_dict, `s3d_howto100m.pth`,
and a word list, `s3d_dict.npy`. Parameter names, shapes and the layer order
here follow its `s3dg.py`; the code is our own. As there, the word embedding
has 66,250 rows whatever the word list holds (word i is row i + 1, row 0
pads), so a shorter list loads the released weights too; a weights file
with another row count gives the table its size. The video tower is fully
convolutional with a global average at the end: 32 frames were used in
training, 16 also work, and any even height and width (the space-to-depth stem
halves T, H and W). Inputs are RGB in [0, 1] with no mean/std normalisation,
as in the release's README.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256
from mmfeat.models.state_dicts import check_state_dict_fits, load_torch_file

EMBEDDING_DIM = 512  # the joint text-video space of the release
MIXED_5C_DIM = 1024  # channels of mixed_5c, the pooled visual feature
WORD_VECTOR_DIM = 300  # word2vec size of the release's word embedding
TEXT_HIDDEN_DIM = 2048  # fc1 width of the text tower
RELEASE_WORD_ROWS = 66_250  # rows of the release's word embedding, fixed in its s3dg.py, not taken from s3d_dict.npy
MAX_WORDS = 16  # words kept per sentence by the release's tokeniser
WORD_PATTERN = re.compile(r"[\w']+")  # the release's word split: apostrophes stay inside words
RELEASE_NAME = "S3D text-video (HowTo100M MIL-NCE release, s3d_howto100m.pth)"

# Inception blocks in order: (name, input channels, branch widths
# b0, b1 reduce, b1, b2 reduce, b2, b3 after pooling), as in the release.
INCEPTION_BLOCKS = (
    ("mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)


def load_s3d(
    weights: str | Path | None, vocabulary: str | Path | Sequence[str] | None, seed: int
) -> tuple[S3D, dict]:
    """S3D with the release's weights, or seeded random ones; on the CPU, in eval mode.

    `weights` None gives random weights from `seed` and the identity
    {"kind": "random", "seed"}; `vocabulary` may then be None (a text tower
    that knows no word). With a weights file, `vocabulary` must be the word
    list released with it, of at most rows - 1 words for the file's word
    embedding; the identity is {"kind": "file", "path", "sha256",
    "vocabulary": {"path", "sha256"}}.
    """
    if weights is not None and vocabulary is None:
        raise UserError(
            f"S3D weights {weights} need the word list they were trained with: set `vocabulary` "
            "to the s3d_dict.npy released beside s3d_howto100m.pth"
        )
    if weights is not None and not isinstance(vocabulary, (str, Path)):
        raise UserError(f"S3D weights {weights} need `vocabulary` as a path to the released s3d_dict.npy")
    if weights is None:
        model = _seeded_s3d([] if vocabulary is None else vocabulary, RELEASE_WORD_ROWS, seed)
        return model, {"kind": "random", "seed": seed}

    weights_path, vocabulary_path = Path(weights), Path(vocabulary)
    state_dict = _read_state_dict(weights_path)
    word_rows = _word_rows(state_dict)
    words = load_vocabulary(vocabulary_path)
    check_vocabulary_fits(len(words), word_rows, str(vocabulary_path), f"the word embedding in {weights_path}")
    model = _seeded_s3d(words, word_rows, seed)
    check_state_dict_fits(model, state_dict, source=str(weights_path), expected=RELEASE_NAME)
    model.load_state_dict(state_dict, strict=True)
    weights_identity = {
        "kind": "file",
        "path": str(weights_path),
        "sha256": file_sha256(weights_path),
        "vocabulary": {"path": str(vocabulary_path), "sha256": file_sha256(vocabulary_path)},
    }
    return model.eval(), weights_identity


def _seeded_s3d(vocabulary: str | Path | Sequence[str], word_rows: int, seed: int) -> S3D:
    """S3D in eval mode with its random initialisation drawn from `seed`."""
    # fork_rng: seeding the initialisation must not change the caller's random stream
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return S3D(vocabulary, word_rows=word_rows).eval()


class S3D(nn.Module):
    """S3D-G video tower (space-to-depth stem, gated inception blocks) and the release's text tower.

    `vocabulary` is the path of the release's s3d_dict.npy or a sequence of
    words; word i becomes token i + 1 (token 0 pads). The word embedding has
    `word_rows` rows, the release's 66,250 unless a weights file says
    otherwise, and the vocabulary may hold up to `word_rows` - 1 words.
    """

    def __init__(
        self,
        vocabulary: str | Path | Sequence[str],
        num_embeddings: int = EMBEDDING_DIM,
        word_rows: int = RELEASE_WORD_ROWS,
    ) -> None:
        super().__init__()
        # Stem: on the space-to-depth input (8 * 3 channels at half T, H, W) a 2x4x4 conv
        # stands for the 3x7x7 stride-2 conv of S3D-G.
        self.conv1 = ConvBnRelu(24, 64, (2, 4, 4), padding=(1, 2, 2))
        self.maxpool_2a = MaxPoolSamePadding((1, 3, 3), (1, 2, 2))
        self.conv_2b = ConvBnRelu(64, 64, (1, 1, 1))
        self.conv_2c = ConvBnRelu(64, 192, (3, 3, 3), padding=1, separable=True)
        self.gating = SelfGating(192)
        self.maxpool_3a = MaxPoolSamePadding((1, 3, 3), (1, 2, 2))
        self.maxpool_4a = MaxPoolSamePadding((3, 3, 3), (2, 2, 2))
        self.maxpool_5a = MaxPoolSamePadding((2, 2, 2), (2, 2, 2))
        for name, input_channels, widths in INCEPTION_BLOCKS:
            self.add_module(name, GatedInceptionBlock(input_channels, *widths))
        self.fc = nn.Linear(MIXED_5C_DIM, num_embeddings)
        self.text_module = SentenceEmbedding(vocabulary, num_embeddings, word_rows)
        self._init_random_weights()

    def _init_random_weights(self) -> None:
        """Random weights under which a clip's features still depend on its content.

        With torch's default initialisation every conv shrinks its input and
        every gate halves it, so mixed_5c comes out ~1e-10 whatever the clip.
        He-normal convs keep the scale through the ReLUs and gates that start
        mostly open (sigmoid(3) ~ 0.95) keep it through the gating; random
        weights then make a usable stand-in for the release in tests and demos.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif isinstance(module, SelfGating):
                nn.init.constant_(module.fc.bias, 3.0)

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, T, H, W) RGB in [0, 1], T, H, W even -> (joint embedding (B, 512), mixed_5c (B, 1024))."""
        if video.ndim != 5 or video.shape[1] != 3 or any(size % 2 for size in video.shape[2:]):
            raise ValueError(f"S3D takes (B, 3, T, H, W) clips with T, H and W even; got {tuple(video.shape)}")
        net = self.conv1(space_to_depth(video))
        net = net[:, :, 1:, 1:, 1:]  # the release drops the first row of each axis to match TF "SAME" padding
        net = self.maxpool_2a(net)
        net = self.gating(self.conv_2c(self.conv_2b(net)))
        net = self.maxpool_3a(net)
        net = self.mixed_3c(self.mixed_3b(net))
        net = self.maxpool_4a(net)
        for name in ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e", "mixed_4f"):
            net = getattr(self, name)(net)
        net = self.maxpool_5a(net)
        net = self.mixed_5c(self.mixed_5b(net))
        mixed_5c = net.mean(dim=(2, 3, 4))
        return self.fc(mixed_5c), mixed_5c

    def embed_video(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The joint-space embedding (B, 512) and the pooled mixed_5c (B, 1024) of each clip; call in eval mode."""
        return self(video)

    def embed_text(self, sentences: Sequence[str]) -> torch.Tensor:
        """(N, 512) joint-space embeddings of N sentences, on the model's device."""
        return self.text_module(sentences)


class SentenceEmbedding(nn.Module):
    """The release's text tower: word vectors, ReLU(fc1), max over words, fc2."""

    def __init__(
        self,
        vocabulary: str | Path | Sequence[str],
        num_embeddings: int = EMBEDDING_DIM,
        word_rows: int = RELEASE_WORD_ROWS,
    ) -> None:
        super().__init__()
        if isinstance(vocabulary, (str, Path)):
            words, vocabulary_name = load_vocabulary(vocabulary), str(vocabulary)
        else:
            words, vocabulary_name = list(vocabulary), "the S3D word list"
        check_vocabulary_fits(len(words), word_rows, vocabulary_name, "the S3D word embedding")
        self.word_to_token = {word: index + 1 for index, word in enumerate(words)}
        # Only the rows a token can reach (padding and one per word) are drawn, from the
        # stream and in the amount a table of just those rows would take: the seeded
        # random tower is then the same whatever the table's size. The other rows exist
        # so that the release's state_dict fits; zeros until weights are loaded.
        table = torch.zeros(word_rows, WORD_VECTOR_DIM)
        nn.init.normal_(table[: len(words) + 1])  # nn.Embedding's own initialisation
        self.word_embd = nn.Embedding.from_pretrained(table, freeze=False)
        self.fc1 = nn.Linear(WORD_VECTOR_DIM, TEXT_HIDDEN_DIM)
        self.fc2 = nn.Linear(TEXT_HIDDEN_DIM, num_embeddings)

    def forward(self, sentences: Sequence[str]) -> torch.Tensor:
        tokens = tokenise(sentences, self.word_to_token).to(self.word_embd.weight.device)
        # Padding rows take part in the max, as in the release (its embedding has no padding_idx).
        hidden = F.relu(self.fc1(self.word_embd(tokens)))
        return self.fc2(hidden.max(dim=1).values)


def tokenise(sentences: Sequence[str], word_to_token: Mapping[str, int], max_words: int = MAX_WORDS) -> torch.Tensor:
    """(N, max_words) int64 tokens as the release makes them.

    Each sentence is lower-cased and split into runs of word characters and
    apostrophes; words outside the vocabulary are dropped, the first
    `max_words` kept, the rest of the row padded with 0.
    """
    tokens = torch.zeros(len(sentences), max_words, dtype=torch.int64)
    for row, sentence in enumerate(sentences):
        known = [word_to_token[word] for word in WORD_PATTERN.findall(str(sentence).lower()) if word in word_to_token]
        known = known[:max_words]
        tokens[row, : len(known)] = torch.tensor(known, dtype=torch.int64)
    return tokens


def load_vocabulary(path: str | Path) -> list[str]:
    """The words of a vocabulary .npy (a 1-d array of strings, such as the release's s3d_dict.npy)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"S3D vocabulary {path} does not exist; point `vocabulary` at the s3d_dict.npy of the "
            "HowTo100M release or set it to null"
        )
    try:
        words = np.load(path, allow_pickle=False)  # no pickles: a vocabulary is plain strings
    except Exception as error:  # any unreadable file ends here, whatever numpy's reason
        raise UserError(
            f"{path}: not a readable .npy array of words ({error}); use the release's s3d_dict.npy"
        ) from error
    if words.ndim != 1 or words.dtype.kind not in "US":
        raise UserError(f"{path}: expected a 1-d array of strings, got shape {words.shape} and dtype {words.dtype}")
    return [word.decode() if isinstance(word, bytes) else str(word) for word in words.tolist()]


def space_to_depth(video: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, 8C, T/2, H/2, W/2): each 2x2x2 cell's values become channels.

    Channel order is (dt, dh, dw, c), the order the release's stem weights expect.
    """
    batch, channels, frames, height, width = video.shape
    cells = video.reshape(batch, channels, frames // 2, 2, height // 2, 2, width // 2, 2)
    cells = cells.permute(0, 3, 5, 7, 1, 2, 4, 6)
    return cells.reshape(batch, 8 * channels, frames // 2, height // 2, width // 2)


class ConvBnRelu(nn.Module):
    """Conv3d (no bias), BatchNorm, ReLU.

    `separable` splits a kxkxk kernel into 1xkxk then kx1x1, each followed by its own BatchNorm and ReLU.
    """

    def __init__(
        self,
        input_channels: int,
        output_channels: int,
        kernel: tuple[int, int, int],
        padding: int | tuple[int, int, int] = 0,
        separable: bool = False,
    ) -> None:
        super().__init__()
        self.separable = separable
        if separable:
            spatial_padding = (0, padding, padding)
            temporal_padding = (padding, 0, 0)
            self.conv1 = nn.Conv3d(
                input_channels, output_channels, (1, *kernel[1:]), padding=spatial_padding, bias=False
            )
            self.bn1 = nn.BatchNorm3d(output_channels)
            self.conv2 = nn.Conv3d(
                output_channels, output_channels, (kernel[0], 1, 1), padding=temporal_padding, bias=False
            )
            self.bn2 = nn.BatchNorm3d(output_channels)
        else:
            self.conv1 = nn.Conv3d(input_channels, output_channels, kernel, padding=padding, bias=False)
            self.bn1 = nn.BatchNorm3d(output_channels)

    def forward(self, net: torch.Tensor) -> torch.Tensor:
        net = F.relu(self.bn1(self.conv1(net)))
        if self.separable:
            net = F.relu(self.bn2(self.conv2(net)))
        return net


class SelfGating(nn.Module):
    """Scale each channel by sigmoid(fc(its mean over T, H, W)): the "G" of S3D-G."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, net: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.fc(net.mean(dim=(2, 3, 4))))
        return net * gates[:, :, None, None, None]


class GatedInceptionBlock(nn.Module):
    """Four branches (1x1; 1x1 then separable 3x3x3, twice; 3x3x3 max-pool then 1x1), each gated, concatenated."""

    def __init__(
        self,
        input_channels: int,
        branch0: int,
        branch1_reduce: int,
        branch1: int,
        branch2_reduce: int,
        branch2: int,
        branch3: int,
    ) -> None:
        super().__init__()
        self.conv_b0 = ConvBnRelu(input_channels, branch0, (1, 1, 1))
        self.conv_b1_a = ConvBnRelu(input_channels, branch1_reduce, (1, 1, 1))
        self.conv_b1_b = ConvBnRelu(branch1_reduce, branch1, (3, 3, 3), padding=1, separable=True)
        self.conv_b2_a = ConvBnRelu(input_channels, branch2_reduce, (1, 1, 1))
        self.conv_b2_b = ConvBnRelu(branch2_reduce, branch2, (3, 3, 3), padding=1, separable=True)
        self.maxpool_b3 = nn.MaxPool3d(3, stride=1, padding=1)
        self.conv_b3_b = ConvBnRelu(input_channels, branch3, (1, 1, 1))
        self.gating_b0 = SelfGating(branch0)
        self.gating_b1 = SelfGating(branch1)
        self.gating_b2 = SelfGating(branch2)
        self.gating_b3 = SelfGating(branch3)

    def forward(self, net: torch.Tensor) -> torch.Tensor:
        branches = (
            self.gating_b0(self.conv_b0(net)),
            self.gating_b1(self.conv_b1_b(self.conv_b1_a(net))),
            self.gating_b2(self.conv_b2_b(self.conv_b2_a(net))),
            self.gating_b3(self.conv_b3_b(self.maxpool_b3(net))),
        )
        return torch.cat(branches, dim=1)


class MaxPoolSamePadding(nn.Module):
    """Max-pool after zero padding of max(kernel - stride, 0) per axis, the smaller half first, with ceil mode.

    This is how the release approximates TF's "SAME" pooling; the zeros are
    harmless because every pooled input comes out of a ReLU.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        pads = [max(size - step, 0) for size, step in zip(kernel, stride)]
        # F.pad wants (W before, W after, H before, H after, T before, T after)
        self.padding = tuple(value for pad in reversed(pads) for value in (pad // 2, pad - pad // 2))
        self.pool = nn.MaxPool3d(kernel, stride, ceil_mode=True)

    def forward(self, net: torch.Tensor) -> torch.Tensor:
        return self.pool(F.pad(net, self.padding))


def _read_state_dict(weights_path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in a torch file, with any BatchNorm `num_batches_tracked` it lacks filled in.

    Files written before torch 0.4.1 have no `num_batches_tracked`; torch's own
    strict load fills them in, so we do too (they play no part in eval mode).
    """
    state_dict = load_torch_file(weights_path, release="the HowTo100M release's s3d_howto100m.pth")
    if not isinstance(state_dict, Mapping):
        raise UserError(
            f"{weights_path}: holds a {type(state_dict).__name__}, not a state_dict; expected {RELEASE_NAME}"
        )
    state_dict = dict(state_dict)
    for key in [key for key in state_dict if key.endswith(".running_mean")]:
        state_dict.setdefault(key.removesuffix("running_mean") + "num_batches_tracked", torch.tensor(0))
    return state_dict


def _word_rows(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Rows of the word embedding in `state_dict`; the release's count where it has none of a usable shape.

    A missing or misshapen embedding is then reported by the strict check, with the rest.
    """
    embedding = state_dict.get("text_module.word_embd.weight")
    if isinstance(embedding, torch.Tensor) and embedding.ndim == 2 and embedding.shape[0] > 0:
        return embedding.shape[0]
    return RELEASE_WORD_ROWS


def check_vocabulary_fits(word_count: int, word_rows: int, vocabulary_name: str, embedding_name: str) -> None:
    """Fail, naming both, when a word list has more words than a word embedding has rows for (row 0 pads)."""
    if word_count > word_rows - 1:
        raise UserError(
            f"{vocabulary_name} has {word_count} words but {embedding_name} has {word_rows} rows, room for "
            f"{word_rows - 1} words (word i is row i + 1, row 0 pads); use the s3d_dict.npy released with the weights"
        )
