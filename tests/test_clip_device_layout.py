"""The device layout of the windowed video extractors: float32 NCDHW on a CPU, float16 NDHWC on a GPU."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mmfeat.features.extractors.clips import as_model_input, for_device_speed


def _conv3d_model() -> nn.Module:
    return nn.Sequential(nn.Conv3d(3, 4, kernel_size=3, padding=1), nn.ReLU())


def test_on_a_cpu_the_model_and_its_input_stay_float32_and_channels_first():
    model = for_device_speed(_conv3d_model(), torch.device("cpu"))
    assert next(model.parameters()).dtype == torch.float32
    batch = torch.rand(2, 3, 5, 8, 8)
    assert as_model_input(batch, model) is batch  # no copy on the CPU path


def test_a_half_precision_model_gets_half_precision_channels_last_input():
    # the GPU path's layout, set up by hand: this machine may have no GPU
    model = _conv3d_model().half().to(memory_format=torch.channels_last_3d)
    batch = torch.rand(2, 3, 5, 8, 8)
    converted = as_model_input(batch, model)
    assert converted.dtype == torch.float16
    assert converted.is_contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(converted.float(), batch, atol=1e-3, rtol=1e-3)  # the same values, one rounding


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here: the CUDA path is checked where one is lent")
def test_on_a_gpu_the_model_runs_half_precision_channels_last_and_agrees_with_float32():
    device = torch.device("cuda")
    model = for_device_speed(_conv3d_model().to(device), device)
    assert next(model.parameters()).dtype == torch.float16
    reference = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format)
    batch = torch.rand(2, 3, 5, 8, 8, device=device)
    with torch.inference_mode():
        output = model(as_model_input(batch, model))
        expected = reference(batch)
    assert output.dtype == torch.float16
    torch.testing.assert_close(output.float(), expected, atol=1e-2, rtol=1e-2)
