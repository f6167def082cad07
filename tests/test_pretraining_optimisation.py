"""VideoCLIP's optimiser as the schema sets it: Adam (0.9, 0.98), warmup then polynomial decay, clipping."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from mmfeat.tasks.pretraining.optimisation import (
    OptimiserSettings, build_optimiser, build_schedule, clip_gradients, learning_rate_at)
from mmfeat.workflow_config import with_defaults


def _settings(**changes) -> OptimiserSettings:
    defaults = OptimiserSettings.from_config(with_defaults("pretraining", {}, "test")["optimiser"])
    return dataclasses.replace(defaults, **changes)


def test_the_schema_defaults_are_videoclips_optimiser():
    assert _settings() == OptimiserSettings(
        learning_rate=5e-5, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0, warmup_steps=1000,
        decay_steps=None, decay_power=1.0, end_learning_rate=0.0, clip_norm=2.0)


def test_learning_rate_climbs_linearly_through_warmup_then_decays_polynomially_to_the_end_rate():
    settings = _settings(learning_rate=1.0, warmup_steps=4, end_learning_rate=0.1)
    rates = [learning_rate_at(done, settings, total_steps=10) for done in range(12)]
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    # after warmup: (1 - 0.1) * (1 - (done - 4) / 6) + 0.1, the end rate after the run's 10th update
    assert rates[4:] == pytest.approx([0.1 + 0.9 * (1 - k / 6) for k in range(6)] + [0.1, 0.1])
    squared = _settings(learning_rate=1.0, warmup_steps=0, decay_power=2.0)
    assert learning_rate_at(5, squared, total_steps=10) == pytest.approx(0.25)
    # VideoCLIP's decay horizon of 1,000,000 updates: over a 10,000-update run the rate barely falls
    videoclip = _settings(decay_steps=1_000_000)
    assert learning_rate_at(9_999, videoclip, total_steps=10_000) == pytest.approx(5e-5 * (1 - 8_999 / 999_000))


def test_the_schedule_sets_each_updates_rate():
    settings = _settings(learning_rate=0.5, warmup_steps=2)
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimiser = build_optimiser([parameter], settings)
    schedule = build_schedule(optimiser, settings, total_steps=6)
    seen = []
    for _ in range(6):
        seen.append(optimiser.param_groups[0]["lr"])
        parameter.grad = torch.ones(3)
        optimiser.step()
        schedule.step()
    assert seen == pytest.approx([0.25, 0.5, 0.5, 0.375, 0.25, 0.125])
    assert optimiser.param_groups[0]["lr"] == 0.0  # after the run


def test_without_weight_decay_the_optimiser_makes_adams_updates_with_betas_0_9_0_98():
    settings = _settings(learning_rate=0.01)
    torch.manual_seed(0)
    ours, reference = torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(4))
    reference.data.copy_(ours.data)
    optimisers = [build_optimiser([ours], settings),
                  torch.optim.Adam([reference], lr=0.01, betas=(0.9, 0.98), eps=1e-8)]
    assert optimisers[0].param_groups[0]["betas"] == (0.9, 0.98)
    for step in range(3):
        gradient = torch.randn(4)
        for parameter, optimiser in zip((ours, reference), optimisers):
            parameter.grad = gradient.clone()
            optimiser.step()
    torch.testing.assert_close(ours.data, reference.data, atol=1e-7, rtol=0)


def test_clipping_scales_the_global_norm_down_to_clip_norm_and_reports_the_norm_before():
    parameters = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    parameters[0].grad, parameters[1].grad = torch.tensor([3.0, 4.0]), torch.tensor([12.0])  # norm 13
    assert clip_gradients(parameters, _settings(clip_norm=2.0)) == pytest.approx(13.0)
    total = torch.linalg.vector_norm(torch.cat([p.grad for p in parameters]))
    assert float(total) == pytest.approx(2.0, rel=1e-5)
    assert clip_gradients(parameters, _settings(clip_norm=None)) == pytest.approx(2.0, rel=1e-5)
    assert parameters[1].grad.tolist() == pytest.approx([12.0 * 2.0 / 13.0], rel=1e-5)


def test_one_fused_kernel_updates_every_weight_in_a_step():
    parameters = [torch.nn.Parameter(torch.randn(50, 8)) for _ in range(4)]
    optimiser = build_optimiser(parameters, _settings(learning_rate=0.01))
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        optimiser.step()
    calls = [event.name for event in profile.events()]
    # torch's default on a CPU loops over the tensors in Python, several element-wise passes each
    assert calls.count("aten::_fused_adamw_") == 1 and "aten::addcdiv_" not in calls


def test_a_resume_state_of_the_unfused_optimiser_goes_on_with_it_bit_for_bit():
    torch.manual_seed(0)
    written, resumed = torch.nn.Parameter(torch.randn(300)), torch.nn.Parameter(torch.zeros(300))
    settings = _settings(learning_rate=0.01)
    unfused = torch.optim.AdamW([written], lr=0.01, betas=settings.betas, eps=settings.eps, weight_decay=0.0,
                                foreach=False)  # what build_optimiser made before it asked for the fused kernel
    written.grad = torch.randn(300)
    unfused.step()
    resumed.data.copy_(written.data)
    optimiser = build_optimiser([resumed], settings)
    optimiser.load_state_dict(copy.deepcopy(unfused.state_dict()))  # as read from resume.pt: no shared moments
    for _ in range(5):
        gradient = torch.randn(300)
        for parameter, each in ((written, unfused), (resumed, optimiser)):
            parameter.grad = gradient.clone()
            each.step()
    assert torch.equal(resumed.data, written.data)
