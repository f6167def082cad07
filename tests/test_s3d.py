"""S3D: the release's parameter layout, strict loading, forward shapes, tokenisation, and the extractor's windows.

Clips are tiny (16 frames of 32x32) so that a forward pass costs ~50 ms on a
CPU; only one test, marked slow, runs the full 32x224x224 clip (~1 s idle).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from mmfeat.errors import UserError
from mmfeat.features.extractors import s3d as s3d_extractor
from mmfeat.features.extractors.clips import resampled
from mmfeat.features.extractors.items import FRAME_INDEX, VideoItem
from mmfeat.models.s3d import S3D, SentenceEmbedding, load_s3d, tokenise

# Taken from the public model definition (s3dg.py in antoine77340/S3D_HowTo100M), whose
# state_dict is the released s3d_howto100m.pth: a sample of its 537 keys with their shapes.
RELEASE_KEY_COUNT = 537
RELEASE_PARAMETER_COUNT = 31_232_424  # all tensors but the BatchNorm counters
RELEASE_WORD_EMBEDDING_ROWS = 66_250  # nn.Embedding(66250, 300); word i of s3d_dict.npy is token i + 1
RELEASE_SHAPES = {
    "conv1.conv1.weight": (64, 24, 2, 4, 4),
    "conv1.bn1.weight": (64,),
    "conv1.bn1.running_var": (64,),
    "conv1.bn1.num_batches_tracked": (),
    "conv_2b.conv1.weight": (64, 64, 1, 1, 1),
    "conv_2c.conv1.weight": (192, 64, 1, 3, 3),
    "conv_2c.bn1.running_mean": (192,),
    "conv_2c.conv2.weight": (192, 192, 3, 1, 1),
    "conv_2c.bn2.bias": (192,),
    "gating.fc.weight": (192, 192),
    "gating.fc.bias": (192,),
    "mixed_3b.conv_b0.conv1.weight": (64, 192, 1, 1, 1),
    "mixed_3b.conv_b1_a.conv1.weight": (96, 192, 1, 1, 1),
    "mixed_3b.conv_b1_b.conv1.weight": (128, 96, 1, 3, 3),
    "mixed_3b.conv_b1_b.conv2.weight": (128, 128, 3, 1, 1),
    "mixed_3b.conv_b2_a.conv1.weight": (16, 192, 1, 1, 1),
    "mixed_3b.conv_b2_b.conv1.weight": (32, 16, 1, 3, 3),
    "mixed_3b.conv_b2_b.conv2.weight": (32, 32, 3, 1, 1),
    "mixed_3b.conv_b3_b.conv1.weight": (32, 192, 1, 1, 1),
    "mixed_3b.gating_b0.fc.weight": (64, 64),
    "mixed_3b.gating_b1.fc.weight": (128, 128),
    "mixed_3b.gating_b2.fc.weight": (32, 32),
    "mixed_3b.gating_b3.fc.weight": (32, 32),
    "mixed_3c.conv_b0.conv1.weight": (128, 256, 1, 1, 1),
    "mixed_4b.conv_b0.conv1.weight": (192, 480, 1, 1, 1),
    "mixed_4f.conv_b0.conv1.weight": (256, 528, 1, 1, 1),
    "mixed_4f.conv_b1_b.conv1.weight": (320, 160, 1, 3, 3),
    "mixed_4f.conv_b1_b.conv2.weight": (320, 320, 3, 1, 1),
    "mixed_4f.conv_b2_b.conv2.weight": (128, 128, 3, 1, 1),
    "mixed_4f.gating_b1.fc.weight": (320, 320),
    "mixed_5b.conv_b0.conv1.weight": (256, 832, 1, 1, 1),
    "mixed_5c.conv_b0.conv1.weight": (384, 832, 1, 1, 1),
    "mixed_5c.conv_b1_a.conv1.weight": (192, 832, 1, 1, 1),
    "mixed_5c.conv_b1_b.conv1.weight": (384, 192, 1, 3, 3),
    "mixed_5c.conv_b2_a.conv1.weight": (48, 832, 1, 1, 1),
    "mixed_5c.conv_b2_b.conv1.weight": (128, 48, 1, 3, 3),
    "mixed_5c.conv_b3_b.conv1.weight": (128, 832, 1, 1, 1),
    "mixed_5c.conv_b3_b.bn1.running_var": (128,),
    "mixed_5c.gating_b0.fc.weight": (384, 384),
    "mixed_5c.gating_b3.fc.bias": (128,),
    "fc.weight": (512, 1024),
    "fc.bias": (512,),
    "text_module.word_embd.weight": (RELEASE_WORD_EMBEDDING_ROWS, 300),
    "text_module.fc1.weight": (2048, 300),
    "text_module.fc1.bias": (2048,),
    "text_module.fc2.weight": (512, 2048),
    "text_module.fc2.bias": (512,),
}

WORDS = ["cut", "tomato", "don't", "peel", "cucumber", "add", "oil"]
TINY_SETTINGS = {
    "kind": "s3d",
    "window": 16,
    "step_seconds": 1.0,
    "step_frames": None,
    "resize_short": 32,
    "crop": 32,
    "fps": None,
    "batch_size": 3,
    "weights": None,
    "vocabulary": None,
    "seed": 0,
    "device": "cpu",
    "dtype": "float32",
}


@pytest.fixture(scope="module")
def model() -> S3D:
    model, _ = load_s3d(None, WORDS, seed=0)
    return model


@pytest.fixture
def vocabulary_file(tmp_path):
    path = tmp_path / "s3d_dict.npy"
    np.save(path, np.array(WORDS))
    return path


def decoded_frames(count: int, missing: tuple[int, ...] = ()) -> list[tuple[int, np.ndarray]]:
    """(stream index, 36x40 random frame) pairs, with the `missing` stream indices skipped as damaged."""
    rng = np.random.default_rng(3)
    stream_indices = [index for index in range(count + len(missing)) if index not in missing]
    return [(index, rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)) for index in stream_indices]


# --- the model and its weights -------------------------------------------------------------


def test_layout_matches_the_release_whatever_the_vocabularys_length():
    state_dict = S3D(WORDS).state_dict()
    assert len(state_dict) == RELEASE_KEY_COUNT
    assert {name: tuple(state_dict[name].shape) for name in RELEASE_SHAPES} == RELEASE_SHAPES
    assert sum(t.numel() for name, t in state_dict.items() if not name.endswith("num_batches_tracked")) == (
        RELEASE_PARAMETER_COUNT
    )


def test_word_embedding_has_the_releases_rows_whatever_the_word_list(vocabulary_file):
    for vocabulary in (WORDS, vocabulary_file, []):
        assert SentenceEmbedding(vocabulary).word_embd.weight.shape == (RELEASE_WORD_EMBEDDING_ROWS, 300)
    assert SentenceEmbedding(WORDS, word_rows=len(WORDS) + 1).word_embd.weight.shape == (len(WORDS) + 1, 300)
    with pytest.raises(UserError, match=r"s3d_dict\.npy has 7 words but the S3D word embedding has 7 rows, room for 6"):
        SentenceEmbedding(vocabulary_file, word_rows=len(WORDS))


def test_the_seeded_random_tower_does_not_depend_on_the_tables_size():
    """Only the rows a token reaches are drawn, so the demo's random weights stay as they were with a table of
    len(words) + 1 rows; the rows beyond are zeros, never read."""
    torch.manual_seed(0)
    release_sized = S3D(WORDS).state_dict()
    torch.manual_seed(0)
    word_sized = S3D(WORDS, word_rows=len(WORDS) + 1).state_dict()
    table = release_sized.pop("text_module.word_embd.weight")
    assert torch.equal(table[: len(WORDS) + 1], word_sized.pop("text_module.word_embd.weight"))
    assert not table[len(WORDS) + 1 :].any()
    assert all(torch.equal(tensor, word_sized[name]) for name, tensor in release_sized.items())


@pytest.fixture(scope="module")
def saved_weights(tmp_path_factory, model):
    """The fixture model's state_dict written with torch.save, as the release's file was."""
    path = tmp_path_factory.mktemp("weights") / "s3d_howto100m.pth"
    torch.save(model.state_dict(), path)
    return path


def test_saved_state_dict_loads_back_strictly_with_its_identity(saved_weights, vocabulary_file, model):
    loaded, identity = load_s3d(str(saved_weights), str(vocabulary_file), seed=1)

    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert identity == {
        "kind": "file",
        "path": str(saved_weights),
        "sha256": hashlib.sha256(saved_weights.read_bytes()).hexdigest(),
        "vocabulary": {
            "path": str(vocabulary_file),
            "sha256": hashlib.sha256(vocabulary_file.read_bytes()).hexdigest(),
        },
    }
    assert not loaded.training


def test_a_file_without_batchnorm_counters_loads_as_torch_would(tmp_path, vocabulary_file, model):
    old_style = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    weights_path = tmp_path / "old.pth"
    torch.save(old_style, weights_path)
    loaded, _ = load_s3d(weights_path, vocabulary_file, seed=1)
    assert torch.equal(loaded.fc.weight, model.fc.weight)


def test_weights_that_do_not_fit_fail_naming_the_file(tmp_path, vocabulary_file):
    weights_path = tmp_path / "other_model.pth"
    torch.save({"fc.weight": torch.zeros(256, 1024), "head.weight": torch.zeros(3)}, weights_path)
    misfit = r"other_model\.pth: weights do not fit S3D.*1 unexpected.*head\.weight.*fc\.weight"
    with pytest.raises(UserError, match=misfit):
        load_s3d(weights_path, vocabulary_file, seed=0)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match=r"garbage\.pth: not a readable torch checkpoint"):
        load_s3d(garbage, vocabulary_file, seed=0)

    with pytest.raises(UserError, match=r"absent\.pth does not exist"):
        load_s3d(tmp_path / "absent.pth", vocabulary_file, seed=0)


def test_weights_need_a_vocabulary_that_fits_their_word_embedding(tmp_path, saved_weights, vocabulary_file, model):
    with pytest.raises(UserError, match="set `vocabulary`"):
        load_s3d(saved_weights, None, seed=0)
    with pytest.raises(UserError, match=r"missing_dict\.npy does not exist"):
        load_s3d(saved_weights, tmp_path / "missing_dict.npy", seed=0)

    # the table takes its size from the file: 9 rows hold the 7 words, 7 rows do not
    for rows in (9, 7):
        state_dict = {**model.state_dict(), "text_module.word_embd.weight": torch.randn(rows, 300)}
        torch.save(state_dict, tmp_path / f"rows{rows}.pth")
    loaded, _ = load_s3d(tmp_path / "rows9.pth", vocabulary_file, seed=0)
    assert loaded.text_module.word_embd.weight.shape == (9, 300)
    too_many_words = r"s3d_dict\.npy has 7 words but the word embedding in .*rows7\.pth has 7 rows, room for 6 words"
    with pytest.raises(UserError, match=too_many_words):
        load_s3d(tmp_path / "rows7.pth", vocabulary_file, seed=0)


# The public text tower, restated from a reading of Sentence_Embedding in s3dg.py of
# antoine77340/S3D_HowTo100M (commit b8cd0bb): word i of the dictionary is token i + 1
# (`word_to_token[t] = i + 1`) whatever the table's 66,250 rows; a sentence is lower-cased,
# split by re.findall(r"[\w']+"), its unknown words dropped, the first 16 tokens kept and
# the row padded with token 0 (all zeros when no word is known); then word_embd, fc1, ReLU,
# max over the 16 positions (padding included) and fc2.
SENTENCES = ["Cut the TOMATO!", "don't peel", "nothing known here", "cut " * 20 + "oil", "Peel, add oil; add OIL"]
RELEASE_TOKENS = [  # the tokens the public code gives SENTENCES with WORDS as its dictionary
    [1, 2] + [0] * 14,
    [3, 4] + [0] * 14,
    [0] * 16,
    [1] * 16,
    [4, 6, 7, 6, 7] + [0] * 11,
]


def release_text_embedding(state_dict: dict[str, torch.Tensor], tokens: list[list[int]]) -> torch.Tensor:
    """The public Sentence_Embedding's output for token rows, in float64, from the state_dict's own tensors."""
    weights = {name: state_dict[f"text_module.{name}"].double() for name in
               ("word_embd.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    word_vectors = weights["word_embd.weight"][torch.tensor(tokens)]  # (N, 16, 300)
    hidden = torch.relu(word_vectors @ weights["fc1.weight"].T + weights["fc1.bias"])  # (N, 16, 2048)
    return hidden.max(dim=1).values @ weights["fc2.weight"].T + weights["fc2.bias"]  # (N, 512)


def test_a_short_dictionary_loads_a_release_shaped_state_dict_and_embeds_text_as_the_release(
    tmp_path, vocabulary_file, model
):
    # our model's keys and video tensors (whose layout the first test checks against the release),
    # with a text tower drawn anew: 66,250 distinct word vectors, so a wrong token or row shows
    generator = torch.Generator().manual_seed(7)
    state_dict = {
        **model.state_dict(),
        "text_module.word_embd.weight": torch.randn(RELEASE_WORD_EMBEDDING_ROWS, 300, generator=generator),
        "text_module.fc1.weight": torch.randn(2048, 300, generator=generator) / 300**0.5,
        "text_module.fc1.bias": torch.randn(2048, generator=generator) / 10,
        "text_module.fc2.weight": torch.randn(512, 2048, generator=generator) / 2048**0.5,
        "text_module.fc2.bias": torch.randn(512, generator=generator) / 10,
    }
    weights_path = tmp_path / "s3d_howto100m.pth"
    torch.save(state_dict, weights_path)

    loaded, identity = load_s3d(weights_path, vocabulary_file, seed=0)  # 7 words, strict load

    assert identity["kind"] == "file"
    assert all(torch.equal(loaded.state_dict()[name], tensor) for name, tensor in state_dict.items())
    assert tokenise(SENTENCES, loaded.text_module.word_to_token).tolist() == RELEASE_TOKENS
    with torch.inference_mode():
        embeddings = loaded.embed_text(SENTENCES)
    torch.testing.assert_close(embeddings.double(), release_text_embedding(state_dict, RELEASE_TOKENS),
                               rtol=1e-5, atol=1e-5)


def test_random_weights_follow_the_seed_and_leave_the_callers_random_stream_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, identity = load_s3d(None, None, seed=4)
    assert torch.equal(torch.rand(1), expected_next)
    second, _ = load_s3d(None, None, seed=4)
    other, _ = load_s3d(None, None, seed=5)
    assert identity == {"kind": "random", "seed": 4}
    assert torch.equal(first.conv1.conv1.weight, second.conv1.conv1.weight)
    assert not torch.equal(first.conv1.conv1.weight, other.conv1.conv1.weight)


@pytest.mark.parametrize("frames, height, width", [(16, 32, 32), (16, 34, 50)])
def test_video_embeddings_for_16_frames_and_any_even_size(model, frames, height, width):
    clips = torch.stack([torch.rand(3, frames, height, width), torch.zeros(3, frames, height, width)])
    with torch.inference_mode():
        video_embedding, mixed_5c = model.embed_video(clips)
    assert video_embedding.shape == (2, 512) and mixed_5c.shape == (2, 1024)
    assert torch.isfinite(video_embedding).all() and (mixed_5c >= 0).all()  # mixed_5c averages ReLU outputs
    # random weights must still tell clips apart (torch's default init gives ~1e-10 whatever the clip)
    assert (mixed_5c[0] - mixed_5c[1]).abs().max() > 0.1 * mixed_5c.abs().mean()


@pytest.mark.slow  # ~1 s on an idle CPU, several on a busy one
def test_full_size_clip_of_32_frames(model):
    with torch.inference_mode():
        video_embedding, mixed_5c = model.embed_video(torch.rand(1, 3, 32, 224, 224))
    assert video_embedding.shape == (1, 512) and mixed_5c.shape == (1, 1024)


def test_odd_clip_sizes_are_refused(model):
    with pytest.raises(ValueError, match="even"):
        model.embed_video(torch.rand(1, 3, 15, 32, 32))


# --- text ------------------------------------------------------------------------------------


def test_tokenise_lowers_drops_unknown_words_keeps_apostrophes_and_pads():
    word_to_token = {word: index + 1 for index, word in enumerate(WORDS)}
    tokens = tokenise(["Cut the TOMATO!", "don't peel", "nothing known here", "cut " * 20 + "oil"], word_to_token)
    assert tokens.dtype == torch.int64 and tokens.shape == (4, 16)
    assert tokens[0].tolist() == [1, 2] + [0] * 14
    assert tokens[1].tolist() == [3, 4] + [0] * 14  # "don't" is one word
    assert tokens[2].tolist() == [0] * 16
    assert tokens[3].tolist() == [1] * 16  # the first 16 known words; "oil" is the 21st


def test_text_embeddings_ignore_unknown_words(model):
    with torch.inference_mode():
        embeddings = model.embed_text(["cut tomato", "Cut the tomato, please", "peel cucumber"])
    assert embeddings.shape == (3, 512)
    torch.testing.assert_close(embeddings[0], embeddings[1])
    assert not torch.allclose(embeddings[0], embeddings[2])


# --- the extractor ---------------------------------------------------------------------------


def settings_with(**changes) -> s3d_extractor.Settings:
    return s3d_extractor.Settings.from_dict({**TINY_SETTINGS, **changes})


def explicit_clip(frames, centre: int, settings) -> torch.Tensor:
    """The zero-padded clip around decoded `centre`, built the obvious way, as (1, 3, T, H, W)."""
    zeros = torch.zeros(3, settings.crop, settings.crop)
    clip = [
        s3d_extractor.preprocess_frame(frames[p][1], settings, torch.device("cpu")) if 0 <= p < len(frames) else zeros
        for p in range(centre - settings.window // 2, centre + settings.window // 2)
    ]
    return torch.stack(clip, dim=1)[None]


def test_rows_every_step_at_window_centres_with_zero_padding(model):
    settings = settings_with(step_frames=10)
    frames = decoded_frames(38, missing=(5, 6))  # decoded positions 0..37
    extracted = s3d_extractor.extract(VideoItem(iter(frames), fps=25.0), model, settings)

    assert extracted.position_kind == FRAME_INDEX
    assert extracted.positions.tolist() == [0, 12, 22, 32]  # positions 0, 10, 20, 30; stream gap at 5, 6
    assert extracted.features.shape == (4, 1024) and extracted.features.dtype == np.float32
    assert extracted.outputs["video_embedding"].shape == (4, 512)
    with torch.inference_mode():
        for row, centre in ((0, 0), (1, 10), (3, 30)):  # padded at the start, inside, padded at the end
            video_embedding, mixed_5c = model.embed_video(explicit_clip(frames, centre, settings))
            np.testing.assert_allclose(extracted.features[row], mixed_5c[0].numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(
                extracted.outputs["video_embedding"][row], video_embedding[0].numpy(), rtol=1e-4, atol=1e-5
            )


def test_step_seconds_and_resampling_give_one_row_per_second(model):
    settings = settings_with(fps=10.0, step_seconds=1.0)
    extracted = s3d_extractor.extract(VideoItem(iter(decoded_frames(45)), fps=30.0), model, settings)
    # 1.5 s at 30 fps -> 15 frames at 10 fps (stream 0, 3, ..., 42); a row every 10 of them
    assert extracted.positions.tolist() == [0, 30]


def test_a_video_shorter_than_a_window_gives_one_row_and_an_empty_one_none(model):
    short = s3d_extractor.extract(VideoItem(iter(decoded_frames(5)), fps=25.0), model, settings_with())
    assert short.positions.tolist() == [0] and short.features.shape == (1, 1024)
    empty = s3d_extractor.extract(VideoItem(iter([]), fps=25.0), model, settings_with())
    assert empty.features.shape == (0, 1024) and empty.outputs["video_embedding"].shape == (0, 512)


def test_resampling_takes_the_nearest_decoded_frame():
    frames = decoded_frames(30)
    assert [index for index, _ in resampled(frames, 30.0, 10.0)] == list(range(0, 30, 3))
    gapped = [frame for frame in frames if frame[0] != 3]
    # time 0.1 s is as near to frame 2 as to frame 4: the later one wins
    assert [index for index, _ in resampled(gapped, 30.0, 10.0)][:3] == [0, 4, 6]
    assert [index for index, _ in resampled(frames[:4], 4.0, 10.0)] == [0, 0, 1, 1, 2, 2, 2, 3, 3, 3]


def test_settings_round_trip_and_refuse_what_the_schema_cannot_check():
    settings = settings_with()
    assert s3d_extractor.Settings.from_dict(settings.to_dict()) == settings
    assert settings.to_dict()["kind"] == "s3d"
    with pytest.raises(UserError, match=r"unknown s3d settings \['strid'\]; the known ones are \[.*'window'"):
        s3d_extractor.Settings.from_dict({**TINY_SETTINGS, "strid": 2})
    with pytest.raises(UserError, match=r"\['seed'\] are missing"):
        s3d_extractor.Settings.from_dict({k: v for k, v in TINY_SETTINGS.items() if k != "seed"})
    with pytest.raises(UserError, match="crop must be even"):
        settings_with(crop=31, resize_short=33)
    with pytest.raises(UserError, match="window must be even"):
        settings_with(window=15)
    with pytest.raises(UserError, match=r"step_frames \(20\) must not exceed window \(16\)"):
        settings_with(step_frames=20)


def test_build_gives_an_eval_model_and_its_identity():
    model, identity = s3d_extractor.build(settings_with(seed=2))
    assert identity == {"kind": "random", "seed": 2}
    assert not model.training and next(model.parameters()).device.type == "cpu"
