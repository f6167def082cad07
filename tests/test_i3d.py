"""I3D features: windowing and zero padding at both edges, stride, preprocessing, weights.

Frames are tiny (crop 32) so that a clip costs ~10 ms on a CPU; the windowing
and the weights handling do not depend on the frame size.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch

from mmfeat.errors import UserError
from mmfeat.features.extractors import parse_settings
from mmfeat.features.extractors.i3d import (
    FEATURE_DIM,
    Settings,
    build_i3d_trunk,
    extract_i3d_features,
    preprocess_frame,
)

TINY = dict(resize_short=36, crop=32, batch_size=4, device="cpu")
CPU = torch.device("cpu")


def I3DSettings(**values) -> Settings:
    """I3D settings as the workflow makes them: the schema's defaults, then these values."""
    return parse_settings({"kind": "i3d", **values})


@pytest.fixture(scope="module")
def settings() -> Settings:
    return I3DSettings(**TINY)


@pytest.fixture(scope="module")
def trunk(settings):
    model, _ = build_i3d_trunk(settings)
    return model


def decoded_frames(count: int, missing: tuple[int, ...] = ()) -> list[tuple[int, np.ndarray]]:
    """(stream index, 40x48 random frame) pairs, with the `missing` stream indices skipped as damaged."""
    rng = np.random.default_rng(7)
    stream_indices = [index for index in range(count + len(missing)) if index not in missing]
    return [(index, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for index in stream_indices]


def explicit_clip(frames, position: int, settings: Settings) -> torch.Tensor:
    """The zero-padded clip around decoded `position`, built the obvious way, as (1, 3, T, H, W)."""
    half = settings.window // 2
    zeros = torch.zeros(3, settings.crop, settings.crop)
    clip = [
        preprocess_frame(frames[p][1], settings, CPU) if 0 <= p < len(frames) else zeros
        for p in range(position - half, position + half + 1)
    ]
    return torch.stack(clip, dim=1)[None]


@pytest.fixture(scope="module")
def gapped_stream(trunk, settings):
    """22 decoded frames, stream indices 5 and 6 skipped as damaged, and their features."""
    frames = decoded_frames(22, missing=(5, 6))
    features, frame_indices = extract_i3d_features(iter(frames), trunk, settings)
    return frames, features, frame_indices


def test_features_have_one_row_per_kept_frame_with_stream_indices(gapped_stream):
    frames, features, frame_indices = gapped_stream
    assert features.shape == (22, FEATURE_DIM) and features.dtype == np.float32
    assert frame_indices.dtype == np.int64
    assert frame_indices.tolist() == [index for index, _ in frames]  # the gap 5, 6 stays a gap


def test_stride_keeps_every_kth_decoded_frame(trunk, gapped_stream):
    frames, all_features, _ = gapped_stream
    features, frame_indices = extract_i3d_features(frames, trunk, I3DSettings(**TINY, stride=8))
    # decoded positions 0, 8, 16 are stream indices 0, 10, 18
    assert frame_indices.tolist() == [0, 10, 18]
    np.testing.assert_allclose(features, all_features[[0, 8, 16]], rtol=1e-4, atol=1e-5)


def test_each_feature_is_the_trunk_on_its_zero_padded_centred_clip(trunk, settings, gapped_stream):
    # 22 frames with a window of 21: positions 0..9 are padded on the left,
    # 12..21 on the right, 10 and 11 not at all. Positions count decoded
    # frames, so the clips run across the skipped stream indices 5 and 6.
    frames, features, _ = gapped_stream
    with torch.inference_mode():
        for position in (0, 4, 10, 11, 17, 21):
            expected = trunk(explicit_clip(frames, position, settings))[0].numpy()
            np.testing.assert_allclose(features[position], expected, rtol=1e-4, atol=1e-5, err_msg=f"frame {position}")

    short = frames[:6]  # shorter than half a window: every clip is padded on both sides
    short_features, _ = extract_i3d_features(short, trunk, settings)
    with torch.inference_mode():
        expected = trunk(explicit_clip(short, 3, settings))[0].numpy()
    np.testing.assert_allclose(short_features[3], expected, rtol=1e-4, atol=1e-5)


def test_no_frames_give_no_features(trunk, settings):
    features, frame_indices = extract_i3d_features([], trunk, settings)
    assert features.shape == (0, FEATURE_DIM) and frame_indices.shape == (0,)


def test_preprocessing_resizes_the_short_side_crops_and_normalises(settings):
    frame = np.full((40, 60, 3), 153, dtype=np.uint8)
    frame[:, :10] = 0  # a border the centre crop must cut away (60 -> 54 wide, crop 32 from 11)
    clip_frame = preprocess_frame(frame, settings, CPU)
    assert clip_frame.shape == (3, 32, 32)
    np.testing.assert_allclose(clip_frame.numpy(), (153 / 255 - 0.45) / 0.225, atol=1e-5)

    per_channel = I3DSettings(**TINY, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.5])
    values = preprocess_frame(np.full((36, 36, 3), 255, np.uint8), per_channel, CPU)[:, 0, 0]
    np.testing.assert_allclose(values.numpy(), [3.0, 2.0, 0.8], atol=1e-5)


def test_random_weights_follow_the_seed_without_touching_the_global_rng(settings):
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first, identity = build_i3d_trunk(I3DSettings(**TINY, seed=5))
    assert torch.rand(1) == expected_next
    second, _ = build_i3d_trunk(I3DSettings(**TINY, seed=5))
    assert identity == {"kind": "random", "seed": 5}
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def random_i3d_state_dict(seed: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pytorchvideo.models.hub import i3d_r50
    torch.manual_seed(seed)
    return i3d_r50(pretrained=False).state_dict()


def test_checkpoint_file_gives_the_same_features_and_its_sha256(tmp_path, settings):
    state_dict = random_i3d_state_dict(seed=11)
    pyth_path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": state_dict, "epoch": 196}, pyth_path)  # the published layout
    bare_path = tmp_path / "bare_state_dict.pt"
    torch.save(state_dict, bare_path)

    frames = decoded_frames(2)
    from_random, _ = build_i3d_trunk(I3DSettings(**TINY, seed=11))
    from_pyth, pyth_identity = build_i3d_trunk(I3DSettings(**TINY, weights=str(pyth_path)))
    from_bare, _ = build_i3d_trunk(I3DSettings(**TINY, weights=str(bare_path)))
    expected, _ = extract_i3d_features(frames, from_random, settings)
    np.testing.assert_array_equal(extract_i3d_features(frames, from_pyth, settings)[0], expected)
    for name, weight in from_bare.state_dict().items():
        assert torch.equal(weight, state_dict[name]), name
    assert pyth_identity == {
        "kind": "file",
        "path": str(pyth_path),
        "sha256": hashlib.sha256(pyth_path.read_bytes()).hexdigest(),
    }


def test_checkpoint_that_does_not_fit_names_the_file(tmp_path):
    state_dict = random_i3d_state_dict(seed=0)
    state_dict.pop("blocks.6.proj.bias")
    state_dict["blocks.6.proj.weight"] = torch.zeros(10, 2048)  # a 10-class fine-tune
    wrong_path = tmp_path / "other_model.pyth"
    torch.save({"model_state": state_dict}, wrong_path)
    with pytest.raises(UserError, match=r"other_model\.pyth.*do not fit.*blocks\.6\.proj\.bias"):
        build_i3d_trunk(I3DSettings(**TINY, weights=str(wrong_path)))

    garbage_path = tmp_path / "garbage.pyth"
    garbage_path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"garbage\.pyth: not a readable torch checkpoint"):
        build_i3d_trunk(I3DSettings(**TINY, weights=str(garbage_path)))
    with pytest.raises(UserError, match=r"absent\.pyth does not exist"):
        build_i3d_trunk(I3DSettings(**TINY, weights=str(tmp_path / "absent.pyth")))


def test_settings_get_the_schema_defaults_and_are_checked():
    settings = parse_settings({"kind": "i3d", "stride": 2, "mean": [0.4, 0.5, 0.6]})
    assert settings.stride == 2 and settings.mean == (0.4, 0.5, 0.6)
    assert settings.window == 21 and settings.crop == 224 and settings.weights is None  # the schema's defaults
    assert parse_settings(settings.to_dict()) == settings
    with pytest.raises(UserError, match=r"Additional properties are not allowed \('strides' was unexpected"):
        parse_settings({"kind": "i3d", "strides": 2})
    with pytest.raises(UserError, match="odd number of frames"):
        I3DSettings(window=20)
    with pytest.raises(UserError, match="must not exceed resize_short"):
        I3DSettings(resize_short=200)
    with pytest.raises(UserError, match=r"crop: '224' is not of type 'integer'"):
        parse_settings({"kind": "i3d", "crop": "224"})
    with pytest.raises(UserError, match=r"unknown extractor kind 'i3d-r50'; the known kinds are \['i3d'"):
        parse_settings({"kind": "i3d-r50"})
