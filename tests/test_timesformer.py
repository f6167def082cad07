"""TimeSformer extractor: a save_pretrained folder loaded strictly, the seeded random model, clips at centre frames.

The models are tiny (32x32 frames, 8x8 patches, 2 layers of width 32) so that
a forward pass costs milliseconds on a CPU; the folder is written by
save_pretrained in the test, in the layout of
facebook/timesformer-base-finetuned-k400 (a TimesformerForVideoClassification
checkpoint beside a VideoMAE preprocessor_config.json).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from mmfeat.errors import UserError
from mmfeat.features.extractors import kind_facts, timesformer
from mmfeat.features.extractors.items import FRAME_INDEX, VideoItem
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.video.decode import open_video
from mmfeat.video.encode import write_h264_video
from mmfeat.workflow_config import validate_config

TINY_CONFIG = {"image_size": 32, "patch_size": 8, "num_frames": 4, "hidden_size": 32, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": 64}
# a release's preprocessor_config.json with the tiny model's sizes and means that are not the random defaults
FOLDER_MEAN = [0.5, 0.4, 0.3]
FOLDER_STD = [0.2, 0.25, 0.3]
PREPROCESSOR = {
    "crop_size": {"height": 32, "width": 32},
    "do_center_crop": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": FOLDER_MEAN,
    "image_processor_type": "VideoMAEImageProcessor",
    "image_std": FOLDER_STD,
    "resample": 2,
    "rescale_factor": 1 / 255,
    "size": {"shortest_edge": 32},
}
SETTINGS = {  # every key, as parse_settings gives them from the schema
    "kind": "timesformer",
    "weights": None,
    "random_config": TINY_CONFIG,
    "random_preprocessor": {"image_mean": [0.45, 0.45, 0.45], "image_std": [0.225, 0.225, 0.225]},
    "seed": 0,
    "fps": None,
    "step_seconds": 1.0,
    "step_frames": None,
    "batch_size": 3,
    "device": "cpu",
}


def settings_with(**changes) -> timesformer.Settings:
    return timesformer.Settings.from_dict({**SETTINGS, **changes})


def decoded_frames(count: int, size: tuple[int, int] = (32, 32), missing: tuple[int, ...] = ()):
    """(stream index, random HxWx3 frame) pairs, with the `missing` stream indices skipped as damaged."""
    rng = np.random.default_rng(5)
    return [(index, rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for index in range(count) if index not in missing]


@pytest.fixture(scope="module")
def release_folder(tmp_path_factory):
    """A tiny release in facebook/timesformer-base-finetuned-k400's layout, and the classifier it was saved from."""
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    folder = tmp_path_factory.mktemp("timesformer-tiny-k400")
    torch.manual_seed(11)
    classifier = TimesformerForVideoClassification(TimesformerConfig(**TINY_CONFIG, num_labels=5)).eval()
    classifier.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
    return folder, classifier


@pytest.fixture(scope="module")
def random_encoder():
    return timesformer.build(settings_with())[0]


def by_hand_clip(frames, centre: int, before: int, num_frames: int, mean, std) -> torch.Tensor:
    """(1, T, 3, H, W) pixel values of the clip around decoded position `centre`, normalised the obvious way;
    frames are already the model's size, so resizing and cropping leave them as they are."""
    mean = torch.tensor(mean).view(3, 1, 1)
    std = torch.tensor(std).view(3, 1, 1)
    padding = torch.zeros(3, 32, 32)  # zeros after normalisation past either end
    clip = []
    for position in range(centre - before, centre - before + num_frames):
        if 0 <= position < len(frames):
            rgb = torch.from_numpy(frames[position][1]).permute(2, 0, 1).float()
            clip.append((rgb / 255.0 - mean) / std)
        else:
            clip.append(padding)
    return torch.stack(clip)[None]


def test_a_release_folder_loads_strictly_and_gives_the_models_own_rows(release_folder):
    folder, classifier = release_folder
    encoder, identity = timesformer.build(settings_with(weights=str(folder)))
    assert identity["kind"] == "directory" and identity["path"] == str(folder)
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= set(identity["files"])
    assert encoder.preprocessing == timesformer.FramePreprocessing(
        resize_short=32, crop=32, rescale_factor=pytest.approx(1 / 255), mean=tuple(FOLDER_MEAN), std=tuple(FOLDER_STD))

    frames = decoded_frames(10, missing=(4,))  # decoded positions 0..8, stream index 4 skipped as damaged
    extracted = timesformer.extract(VideoItem(iter(frames), fps=25.0), encoder, settings_with(step_frames=3))

    assert extracted.position_kind == FRAME_INDEX
    assert extracted.positions.tolist() == [0, 3, 7]  # positions 0, 3, 6; stream 7 is position 6
    assert extracted.features.shape == (3, 32) and extracted.features.dtype == np.float32
    assert extracted.outputs["patch_mean"].shape == (3, 32)
    with torch.inference_mode():
        for row, centre in enumerate((0, 3, 6)):  # padded before, inside, padded after
            pixel_values = by_hand_clip(frames, centre, before=2, num_frames=4, mean=FOLDER_MEAN, std=FOLDER_STD)
            hidden = classifier.timesformer(pixel_values).last_hidden_state[0]
            np.testing.assert_allclose(extracted.features[row], hidden[0].numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(extracted.outputs["patch_mean"][row], hidden[1:].mean(0).numpy(),
                                       rtol=1e-4, atol=1e-5)
    # the release's classifier reads the same [CLS] state
    assert not np.allclose(extracted.features[0], extracted.outputs["patch_mean"][0])


def test_frames_are_preprocessed_as_the_folders_image_processor_does(release_folder):
    """Resizing in torch (floats) instead of PIL (bytes) moves a value by about one grey level, no more."""
    from transformers import AutoImageProcessor

    folder, _ = release_folder
    processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    preprocessing = timesformer.folder_preprocessing(folder, image_size=32)
    frames = [rgb for _, rgb in decoded_frames(2, size=(48, 60))]  # resized to 32x40, cropped to 32x32
    smooth = np.clip(np.add.outer(np.arange(48) * 4, np.arange(60) * 3)[..., None] + [0, 40, 80], 0, 255)
    frames.append(smooth.astype(np.uint8))  # a smooth picture, where resizing differs least

    reference = processor(frames, return_tensors="pt")["pixel_values"][0]  # (T, 3, 32, 32)
    ours = torch.stack([timesformer.preprocess_frame(rgb, preprocessing, torch.device("cpu")) for rgb in frames])

    one_grey_level = 1 / 255 / min(FOLDER_STD)
    assert ours.shape == reference.shape
    assert (ours - reference).abs().mean() < 0.5 * one_grey_level
    assert (ours[2] - reference[2]).abs().max() < 2 * one_grey_level


def test_weights_that_do_not_fit_their_config_fail_naming_the_folder(release_folder, tmp_path):
    folder, _ = release_folder
    for name in ("config.json", "preprocessor_config.json"):
        (tmp_path / name).write_text((folder / name).read_text())
    weights = load_file(folder / "model.safetensors")
    del weights["timesformer.embeddings.cls_token"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError, match=rf"{tmp_path}: the weights do not fit.*1 missing.*cls_token"):
        timesformer.build(settings_with(weights=str(tmp_path)))


def test_a_folder_needs_a_preprocessor_whose_crop_is_the_models_size(release_folder, tmp_path):
    folder, _ = release_folder
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(UserError, match=r"has no preprocessor_config\.json.*copy it from the release"):
        timesformer.build(settings_with(weights=str(tmp_path)))

    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**PREPROCESSOR, "crop_size": {"height": 24,
                                                                                                   "width": 24}}))
    with pytest.raises(UserError, match=r"preprocessor_config\.json: a square centre crop of the model's image_size "
                                        r"\(32\) is needed"):
        timesformer.build(settings_with(weights=str(tmp_path)))


def test_the_random_model_follows_its_seed_and_leaves_the_callers_random_stream_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, identity = timesformer.build(settings_with(seed=4))
    assert torch.equal(torch.rand(1), expected_next)
    second, _ = timesformer.build(settings_with(seed=4))
    other, _ = timesformer.build(settings_with(seed=5))

    assert identity == {"kind": "random", "seed": 4, "config": TINY_CONFIG,
                        "preprocessing": {"resize_short": 32, "crop": 32, "rescale_factor": 1 / 255,
                                          "mean": (0.45, 0.45, 0.45), "std": (0.225, 0.225, 0.225)}}
    first_state, second_state = first.state_dict(), second.state_dict()
    assert all(torch.equal(tensor, second_state[name]) for name, tensor in first_state.items())
    assert not torch.equal(first.model.embeddings.cls_token, other.model.embeddings.cls_token)
    assert not first.training and next(first.parameters()).dtype == torch.float32

    frames = decoded_frames(6)
    rows = [timesformer.extract(VideoItem(iter(frames), fps=10.0), encoder, settings_with()).features
            for encoder in (first, second, other)]
    np.testing.assert_array_equal(rows[0], rows[1])
    assert not np.allclose(rows[0], rows[2])


def test_rows_follow_step_seconds_after_resampling_and_describe_their_centre(random_encoder):
    # 3 s at 30 fps -> 15 frames at 5 fps (stream 0, 6, ..., 84); a row every 5 of them
    extracted = timesformer.extract(VideoItem(iter(decoded_frames(90)), fps=30.0), random_encoder,
                                    settings_with(fps=5.0, step_seconds=1.0))
    assert extracted.positions.tolist() == [0, 30, 60]

    # without resampling a row every second is a row every 10 frames at 10 fps
    own_rate = timesformer.extract(VideoItem(iter(decoded_frames(25)), fps=10.0), random_encoder, settings_with())
    assert own_rate.positions.tolist() == [0, 10, 20]

    # random weights still tell clips apart
    assert np.abs(own_rate.features[0] - own_rate.features[1]).max() > 0.1 * np.abs(own_rate.features).mean()


def test_a_short_video_gives_one_row_and_an_empty_one_none(random_encoder):
    short = timesformer.extract(VideoItem(iter(decoded_frames(2)), fps=25.0), random_encoder, settings_with())
    assert short.positions.tolist() == [0] and short.features.shape == (1, 32)
    empty = timesformer.extract(VideoItem(iter([]), fps=25.0), random_encoder, settings_with())
    assert empty.features.shape == (0, 32) and empty.outputs["patch_mean"].shape == (0, 32)


def test_a_real_h264_clip_streams_through_the_extractor_into_a_float16_shard(random_encoder, tmp_path):
    video_path = tmp_path / "clip.mp4"
    rows, cols = np.mgrid[0:48, 0:64]
    pictures = [np.stack([(rows * 5 + t * 9) % 256, (cols * 4 + t * 3) % 256, np.full_like(rows, 100)],
                         axis=-1).astype(np.uint8) for t in range(20)]
    write_h264_video(video_path, pictures, fps=10)
    settings = settings_with(step_frames=4)
    with open_video(video_path, backend="pyav") as frames:
        decoded = list(frames)
    with open_video(video_path, backend="pyav") as frames:
        shard_path = tmp_path / "features" / "shard-0.h5"
        with ShardWriter(shard_path, "timesformer_tiny", settings.to_dict(), dtype="float16") as shard:
            shard.add_extracted_chunks("clip", timesformer.extract_chunks(VideoItem(frames, fps=frames.record.fps),
                                                                          random_encoder, settings), {})
    expected = timesformer.extract(VideoItem(iter(decoded), fps=10.0), random_encoder, settings)

    store = FeatureStore(shard_path.parent)
    assert len(decoded) == 20 and store.frame_indices("clip").tolist() == [0, 4, 8, 12, 16]
    with h5py.File(shard_path) as shard:
        assert shard["features/clip"].dtype == np.float16 and shard["outputs/patch_mean/clip"].dtype == np.float16
    # the rows read back are the extractor's, rounded to float16
    np.testing.assert_array_equal(store.features("clip"), expected.features.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(store.features("clip", output="patch_mean"),
                                  expected.outputs["patch_mean"].astype(np.float16).astype(np.float32))
    assert store.provenance("clip")["settings"] == json.loads(json.dumps(settings.to_dict()))


def test_settings_round_trip_and_refuse_what_the_schema_cannot_check(random_encoder):
    settings = settings_with()
    assert timesformer.Settings.from_dict(settings.to_dict()) == settings
    assert settings.to_dict()["random_config"] == TINY_CONFIG
    with pytest.raises(UserError, match=r"hidden_size \(30\) must be a multiple of num_attention_heads \(4\)"):
        settings_with(random_config={**TINY_CONFIG, "hidden_size": 30, "num_attention_heads": 4})
    with pytest.raises(UserError, match=r"image_size \(36\) must be a multiple of patch_size \(8\)"):
        settings_with(random_config={**TINY_CONFIG, "image_size": 36})
    with pytest.raises(UserError, match=r"step_frames \(5\) must not exceed the clip's 4 frames"):
        timesformer.build(settings_with(step_frames=5))


# --- through the registry: the workflow's config and `mmfeat extract-features` -------------------


def test_a_timesformer_extractor_feeds_a_humor_video_modality_and_a_segmentation_feature_set():
    config = {
        "datasets": {
            "salads": {"kind": "segmentation", "root": "data/salads", "features": {"video": ["tsf", "i3d"]},
                       "model": "asformer"},
            "funny": {"kind": "humor", "root": "data/funny", "features": {"video": "tsf"}},
        },
        "extractors": {"tsf": {"kind": "timesformer"}, "i3d": {"kind": "i3d"}},
        "models": {"asformer": {"kind": "asformer"}},
    }
    without_text_tower = copy.deepcopy(config)
    without_text_tower["datasets"]["salads"]["zero_shot"] = {"extractor": "tsf"}
    with pytest.raises(UserError, match=r"salads\.zero_shot\.extractor: extractor 'tsf' is of kind 'timesformer'"):
        validate_config(without_text_tower)

    config = validate_config(config)
    tsf = config["extractors"]["tsf"]
    assert tsf["random_config"]["num_frames"] == 8 and tsf["random_preprocessor"]["image_std"] == [0.225] * 3
    assert timesformer.Settings.from_dict(tsf).to_dict() == {key: value for key, value in tsf.items()
                                                             if key != "dtype"}
    assert kind_facts("timesformer").input == "video" and kind_facts("timesformer").fill == "nearest"


def test_extract_features_runs_timesformer_from_its_config_entry(tmp_path):
    root = tmp_path / "dataset"
    (root / "videos").mkdir(parents=True)
    rows, cols = np.mgrid[0:48, 0:64]
    write_h264_video(root / "videos" / "take.mp4", (np.stack([(rows * 5 + t * 9) % 256, (cols * 4 + t * 3) % 256,
                                                              np.full_like(rows, 100)], axis=-1).astype(np.uint8)
                                                    for t in range(12)), fps=10)
    shard_path = tmp_path / "features" / "tsf" / "shard-0.h5"
    settings = {"kind": "timesformer", "fps": None, "step_frames": 3, "device": "cpu"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mmfeat")), "extract-features", "--dataset-root", str(root),
         "--item", "take", "--output", str(shard_path), "--extractor-name", "tsf",
         "--extractor", json.dumps(settings), "--decode", json.dumps({"backend": "pyav"})],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr

    store = FeatureStore(shard_path.parent)
    assert store.frame_indices("take").tolist() == [0, 3, 6, 9]
    assert store.features("take").shape == (4, 32) and store.features("take", output="patch_mean").shape == (4, 32)
    provenance = store.provenance("take")
    assert provenance["stored_dtype"] == "float16"  # the schema's default
    assert provenance["settings"]["random_config"]["image_size"] == 32  # defaults filled from the schema
    assert provenance["weights"]["kind"] == "random" and provenance["weights"]["config"]["num_frames"] == 8
