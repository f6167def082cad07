"""ASFormer against the official implementation's outputs, and batching with padding."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from mmfeat.errors import UserError
from mmfeat.models.asformer import ASFormer, build_window_mask, masked_instance_norm, sliding_window_attention

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def official(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "asformer_official_small_io.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def _all_frames(official: dict[str, np.ndarray]) -> np.ndarray:
    """The (1, T) mask of the reference input: one unpadded video."""
    return np.ones((1, official["x"].shape[-1]), dtype=np.float32)
@pytest.fixture(scope="module")
def official_loop(repo_root: Path):
    """benchmarks/asformer_official_loop.py: the official code's way, a Python loop over blocks."""
    spec = importlib.util.spec_from_file_location(
        "asformer_official_loop", repo_root / "benchmarks" / "asformer_official_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _official_state_dict(official: dict[str, np.ndarray], prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + key[3:]: torch.from_numpy(value) for key, value in official.items()
            if key.startswith("sd/")}


def _run(model: ASFormer, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x), torch.from_numpy(mask)).numpy()


def test_reproduces_official_outputs(official):
    model = ASFormer.from_official(_official_state_dict(official))
    stage_logits = _run(model, official["x"], _all_frames(official))
    assert stage_logits.shape == official["out"].shape == (4, 1, 7, 613)
    assert np.abs(stage_logits - official["out"]).max() < 1e-5


def test_per_query_window_changes_the_output(official):
    model = ASFormer.from_official(_official_state_dict(official), window="per_query")
    stage_logits = _run(model, official["x"], _all_frames(official))
    assert np.abs(stage_logits - official["out"]).max() > 1e-3


def test_parameter_count_matches_official(official):
    model = ASFormer(input_dim=2048, num_classes=19)
    assert sum(p.numel() for p in model.parameters()) == 1_134_476  # the official 50Salads-sized model
    small = ASFormer.from_official(_official_state_dict(official))
    assert sum(p.numel() for p in small.parameters()) == int(official["params"]) == 66_732


def test_from_official_infers_sizes_and_strips_data_parallel_prefix(official):
    model = ASFormer.from_official(_official_state_dict(official, prefix="module."))
    num_decoders, num_layers, r1, r2, num_f_maps, input_dim, num_classes = official["config"].tolist()
    assert (model.config["input_dim"], model.config["num_classes"]) == (input_dim, num_classes) == (96, 7)
    assert (model.config["num_layers"], model.config["num_decoders"]) == (num_layers, num_decoders) == (10, 3)
    assert (model.config["num_f_maps"], model.config["r1"], model.config["r2"]) == (num_f_maps, r1, r2) == (16, 2, 2)


def test_from_official_rejects_foreign_state_dicts(official):
    with pytest.raises(UserError, match="encoder.conv_1x1.weight"):
        ASFormer.from_official({"backbone.weight": torch.zeros(3)})
    weights = _official_state_dict(official)
    weights.pop("decoders.1.layers.4.conv_1x1.bias")
    weights["decoders.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(UserError, match=r"decoders\.1\.layers\.4\.conv_1x1\.bias") as raised:
        ASFormer.from_official(weights)
    assert "decoders.0.extra.weight" in str(raised.value)


@pytest.mark.parametrize("window", ["official", "per_query"])
def test_padded_batch_matches_each_video_alone(window):
    torch.manual_seed(3)
    model = ASFormer(input_dim=16, num_classes=5, window=window).eval()
    lengths = (300, 131)  # 131 is not a multiple of any block length above 1
    videos = [torch.randn(1, 16, n) for n in lengths]
    batch = torch.zeros(2, 16, max(lengths))
    mask = torch.zeros(2, max(lengths))
    for row, video in enumerate(videos):
        batch[row, :, : video.shape[-1]] = video
        mask[row, : video.shape[-1]] = 1
    batch[1, :, lengths[1]:] = 7.0  # padding content must not matter
    with torch.no_grad():
        batched = model(batch, mask)
        for row, video in enumerate(videos):
            alone = model(video, torch.ones(1, video.shape[-1]))
            frames = video.shape[-1]
            torch.testing.assert_close(batched[:, row, :, :frames], alone[:, 0], atol=1e-5, rtol=1e-5)
        assert torch.all(batched[:, 1, :, lengths[1]:] == 0)


def test_masked_instance_norm_equals_instance_norm_without_padding():
    x = torch.randn(2, 8, 50) * 3 + 1
    expected = torch.nn.InstanceNorm1d(8)(x)
    torch.testing.assert_close(masked_instance_norm(x, torch.ones(2, 1, 50)), expected)
    mask = torch.ones(1, 1, 50)
    mask[..., 30:] = 0
    torch.testing.assert_close(masked_instance_norm(x[:1], mask)[..., :30],
                               torch.nn.InstanceNorm1d(8)(x[:1, :, :30]))


def test_window_masks():
    official = build_window_mask(2, "official")
    assert official.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
    per_query = build_window_mask(2, "per_query")
    assert per_query.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0]]
    assert build_window_mask(1, "official").tolist() == [[1]]
    assert build_window_mask(4, "per_query").sum(dim=1).tolist() == [4, 4, 4, 4]


def test_rejects_unknown_window():
    with pytest.raises(ValueError, match="per_query"):
        ASFormer(input_dim=4, num_classes=3, window="global")


@pytest.mark.parametrize("window", ["official", "per_query"])
@pytest.mark.parametrize("block_length", [1, 2, 4, 16, 64])
def test_vectorised_attention_equals_block_loop(official_loop, window, block_length):
    torch.manual_seed(block_length)
    frames = 131  # not a multiple of any block length above 1: the last block is padded
    query, key = torch.randn(1, 8, frames), torch.randn(1, 8, frames)
    value = torch.randn(1, 6, frames)
    window_mask = build_window_mask(block_length, window)
    valid = torch.ones(1, 1, frames)
    valid[..., 100:] = 0  # a masked tail, as the official code's mask argument allows
    expected = official_loop.sliding_window_attention_loop(query, key, value, valid, window_mask.unsqueeze(0))
    attended = sliding_window_attention(query, key, value, valid, window_mask, block_length)
    torch.testing.assert_close(attended * valid, expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("window", ["official", "per_query"])
def test_vectorised_attention_of_a_padded_batch_equals_block_loop_per_video(official_loop, window):
    torch.manual_seed(5)
    block_length, lengths = 16, (75, 40)
    query, key = torch.randn(2, 8, 75), torch.randn(2, 8, 75)
    value = torch.randn(2, 6, 75)
    frame_mask = torch.zeros(2, 1, 75)
    for row, frames in enumerate(lengths):
        frame_mask[row, :, :frames] = 1
    window_mask = build_window_mask(block_length, window)
    batched = sliding_window_attention(query, key, value, frame_mask, window_mask, block_length)
    for row, frames in enumerate(lengths):
        alone = official_loop.sliding_window_attention_loop(
            query[row : row + 1, :, :frames], key[row : row + 1, :, :frames], value[row : row + 1, :, :frames],
            torch.ones(1, 1, frames), window_mask.unsqueeze(0))
        torch.testing.assert_close(batched[row : row + 1, :, :frames], alone, atol=1e-6, rtol=1e-5)


def test_block_loop_model_reproduces_official_outputs_and_matches_mmfeat(official_loop, reference_dir):
    """The benchmark's loop model is the official computation, so mmfeat's speed is compared like for like."""
    with np.load(reference_dir / "asformer_official_small_io.npz") as arrays:
        reference = {key: arrays[key] for key in arrays.files}
    num_decoders, num_layers, r1, r2, num_f_maps, input_dim, num_classes = (int(v) for v in reference["config"])
    loop_model = official_loop.OfficialLoopASFormer(input_dim, num_classes, num_decoders, num_layers,
                                                    num_f_maps, r1, r2).eval()
    loop_model.load_state_dict(_official_state_dict(reference), strict=True)
    x = torch.from_numpy(reference["x"])
    with torch.no_grad():
        loop_out = loop_model(x, torch.ones(1, num_classes, x.shape[-1])).numpy()
    assert np.abs(loop_out - reference["out"]).max() < 1e-5
    model = ASFormer.from_official(_official_state_dict(reference))
    assert np.abs(_run(model, reference["x"], np.ones((1, x.shape[-1]), np.float32)) - loop_out).max() < 1e-5


def test_official_window_runs_on_the_fused_attention_kernel():
    """The speed comes from the fused kernel: inputs it refuses (e.g. strided channels) fail here."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    model = ASFormer(input_dim=8, num_classes=3, num_layers=4)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        model(torch.randn(1, 8, 64), torch.ones(1, 64)).sum().backward()  # no block padding
        mask = torch.ones(2, 61)
        mask[1, 40:] = 0
        model(torch.randn(2, 8, 61), mask).sum().backward()
