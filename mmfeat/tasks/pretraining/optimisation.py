"""VideoCLIP's optimiser: Adam (0.9, 0.98), linear warmup then polynomial decay, gradient clipping.

    settings = OptimiserSettings.from_config(pretraining["optimiser"])
    optimiser = build_optimiser(parameters, settings)
    schedule = build_schedule(optimiser, settings, total_steps=epochs * steps_per_epoch)
    ...; clip_gradients(parameters, settings); optimiser.step(); schedule.step()

The schedule is fairseq's polynomial_decay as MMPT's videoclip/how2.yaml uses it: the rate
climbs linearly to learning_rate over warmup_steps updates, then falls as
(1 - progress) ** power to end_learning_rate at decay_steps updates (the run's end when
null), and stays there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch


@dataclass(frozen=True)
class OptimiserSettings:
    """The schema's `pretraining.optimiser`, where every default lives."""

    learning_rate: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    warmup_steps: int
    decay_steps: int | None  # None: the run's last step
    decay_power: float
    end_learning_rate: float
    clip_norm: float | None  # None: no clipping

    @classmethod
    def from_config(cls, entry: dict) -> OptimiserSettings:
        """From a `pretraining.optimiser` entry with its defaults filled (workflow_config.with_defaults)."""
        return cls(**{**entry, "betas": tuple(entry["betas"])})


def build_optimiser(parameters: Iterable[torch.nn.Parameter], settings: OptimiserSettings) -> torch.optim.Optimizer:
    """AdamW: fairseq's Adam decouples weight decay from the gradient (at VideoCLIP's 0.0, plain Adam).

    Fused: one kernel updates every weight, where torch's default on a CPU is a Python loop of
    several passes over each tensor. Over the 19 million weights of benchmarks/pretraining_step_ratio.py
    (81% of them the towers' dense word embeddings) the loop took 0.12-0.17 s a step on 2 cores,
    half the towers' forward and backward at 32 pairs; the fused kernel 0.02 s. Its update is the
    loop's to the last bit of a float32. A resume state keeps the kind it was written with, so a
    run resumed from a state written by the loop goes on with the loop, bit for bit.
    """
    return torch.optim.AdamW(parameters, lr=settings.learning_rate, betas=settings.betas, eps=settings.eps,
                             weight_decay=settings.weight_decay, fused=True)


def build_schedule(optimiser: torch.optim.Optimizer, settings: OptimiserSettings,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once after each optimiser step; its state is saved with a checkpoint like the optimiser's."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda done: learning_rate_at(done, settings, total_steps) / settings.learning_rate)


def learning_rate_at(done: int, settings: OptimiserSettings, total_steps: int) -> float:
    """The learning rate of the update that follows `done` updates, in a run of total_steps updates.

    Warmup counts the coming update (the first one is not wasted at rate 0); the decay, as
    fairseq's, the updates done, so the last update of a run still moves the weights.
    """
    peak, end = settings.learning_rate, settings.end_learning_rate
    if done < settings.warmup_steps:
        return peak * (done + 1) / settings.warmup_steps
    decay_end = settings.decay_steps if settings.decay_steps is not None else total_steps
    if done >= decay_end:
        return end
    remaining = 1.0 - (done - settings.warmup_steps) / (decay_end - settings.warmup_steps)
    return (peak - end) * remaining ** settings.decay_power + end


def clip_gradients(parameters: Iterable[torch.nn.Parameter], settings: OptimiserSettings) -> float:
    """Scale the gradients down to a global L2 norm of clip_norm at most; return the norm before."""
    parameters = [parameter for parameter in parameters if parameter.grad is not None]
    if settings.clip_norm is None:
        norms = [parameter.grad.detach().norm() for parameter in parameters]
        return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
    return float(torch.nn.utils.clip_grad_norm_(parameters, settings.clip_norm))
