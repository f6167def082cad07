"""Which negatives a step sees: the embeddings of every process, gathered with their gradient.

    everyone, first_row = gather_everyone(local)   # one process: (local, 0)

Each process scores its own rows against every process's columns, so a step's negatives
are all N x world-size pairs (VideoCLIP's public code never gathers: its negatives were a
GPU's own batch). The gather keeps the gradient: the backward pass sums, over the processes,
the gradient each one's loss sends to a row, and hands each process its own rows' share.
With the objectives' mean over local rows and DistributedDataParallel's mean over
processes, the parameters then get exactly the gradient of the whole batch's loss.

This module is the only place that knows about other processes; the objectives and the
step see tensors.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(this process's rank, number of processes); (0, 1) without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_everyone(local: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """Every process's embeddings, rank by rank, and the row where this process's begin.

    `local` maps a modality to (rows, ...) with the same rows for every modality and
    every process; all modalities travel in one collective, so the backward pass makes one.
    """
    rank, size = world()
    if size == 1:
        return local, 0
    rows = next(iter(local.values())).shape[0]
    _check_equal_rows(rows, size, next(iter(local.values())).device)
    names = list(local)
    widths = [local[name][0].numel() for name in names]
    packed = torch.cat([local[name].reshape(rows, -1) for name in names], dim=1)
    gathered = _GatherWithGradient.apply(packed)
    everyone = {
        name: part.reshape(rows * size, *local[name].shape[1:])
        for name, part in zip(names, gathered.split(widths, dim=1))
    }
    return everyone, rank * rows


def mean_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a (detached) tensor over the processes: a loss of the whole batch from its local means."""
    _, size = world()
    if size == 1:
        return value.detach()
    summed = value.detach().clone()
    dist.all_reduce(summed)
    return summed / size


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace each parameter's gradient by its mean over the processes, as DistributedDataParallel does."""
    _, size = world()
    if size == 1:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= size


def _check_equal_rows(rows: int, size: int, device: torch.device) -> None:
    counts = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(size)]
    dist.all_gather(counts, torch.tensor([rows], device=device))  # NCCL wants the tensors on the GPU
    if len({int(count) for count in counts}) > 1:
        raise ValueError(
            f"every process must embed the same number of clip pairs per step, got {[int(c) for c in counts]}; "
            "make the batch size a multiple of the number of processes and drop an uneven last batch"
        )


class _GatherWithGradient(torch.autograd.Function):
    """all_gather whose backward sums every process's gradient and keeps this process's rows."""

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        ctx.rank, ctx.rows = rank, local.shape[0]
        parts = [torch.empty_like(local) for _ in range(size)]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        summed = gradient.contiguous().clone()
        dist.all_reduce(summed)  # gloo has no reduce_scatter: sum everything, keep our rows
        return summed[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]
