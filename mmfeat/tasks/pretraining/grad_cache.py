"""One pretraining step, in chunks with cached representation gradients (GradCache) when asked.

    losses = contrastive_step(encoder, objectives, batch, chunk_size=64)   # adds to each .grad
    clip_gradients(parameters, settings); optimiser.step(); optimiser.zero_grad()

The property, stated as luyug/GradCache's README states its own: the gradient this step
adds to every parameter (the towers' and a learned temperature's) and the losses it
returns equal those of one backward pass through the whole batch's graph, to rounding
(tested within 1e-10 in float64 and 1e-5 in float32, for every objective), whatever the
chunk size, while the towers hold one chunk's activations at a time. With dropout, "the
whole batch's graph" is the chunks embedded in order from the same random state: dropout
draws its masks per forward call, and the step replays each chunk's draws exactly.

How, for a batch cut into chunks:
1. embed every chunk without a graph, recording the random state before each;
2. gather every process's embeddings (`negatives`), take the objectives, and backpropagate
   the loss as far as the embeddings: the gradient with respect to each representation;
3. embed each chunk again, with a graph, from its recorded state (the same dropout masks),
   and backpropagate the cached gradient of its rows into the towers.
By the chain rule, the sum over chunks of step 3 is the whole batch's parameter gradient.
The price is one more forward pass of the towers.

Across processes: under DistributedDataParallel the gradients are all-reduced once per
step, in the last chunk's backward (the others run under `no_sync`); DDP's mean over the
processes, the objectives' mean over local rows and the gather's summed backward make the
gradient that of one process on the concatenated batch. The objectives stay outside the
DDP; their gradient (a learned temperature) is averaged here, as is the encoder's when it
is not wrapped in a DDP.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmfeat.tasks.pretraining.negatives import average_gradients, gather_everyone, mean_across_ranks, world
from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives
from mmfeat.tasks.pretraining.pairs import PairBatch


def contrastive_step(encoder: nn.Module, objectives: ContrastiveObjectives, batch: PairBatch,
                     chunk_size: int | None = None,
                     autocast_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Add one step's gradient to the parameters' .grad; return each objective's loss and "total".

    `encoder` maps (chunk, modalities) to embeddings (a PairEncoder, possibly inside a
    DistributedDataParallel); `batch` is this process's share of the step's clip pairs.
    `chunk_size` None, or at least len(batch), embeds the share in one graph. The losses are
    detached and are the whole batch's: means over the processes of their local losses.
    `autocast_dtype` (e.g. torch.bfloat16) runs the towers under autocast; the objectives
    then run in float32.
    """
    modalities = objectives.modalities
    if chunk_size is None or chunk_size >= len(batch):
        losses = _objectives_of(objectives, _embed(encoder, batch, modalities, autocast_dtype))
        losses["total"].backward()
    else:
        losses = _chunked_backward(encoder, objectives, batch.chunks(chunk_size), modalities, autocast_dtype)
    if world()[1] > 1:
        average_gradients(objectives.parameters())
        if not isinstance(encoder, DistributedDataParallel):
            average_gradients(encoder.parameters())
    return {name: mean_across_ranks(loss) for name, loss in losses.items()}


def _chunked_backward(encoder, objectives, chunks, modalities, autocast_dtype) -> dict[str, torch.Tensor]:
    states, pieces = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(RandomState.capture(chunk))
            pieces.append(_embed(encoder, chunk, modalities, autocast_dtype))
    representations = {name: torch.cat([piece[name] for piece in pieces]).requires_grad_() for name in modalities}
    del pieces
    losses = _objectives_of(objectives, representations)
    losses["total"].backward()  # reaches the representations (and a learned temperature) only
    first = 0
    for index, (chunk, state) in enumerate(zip(chunks, states)):
        rows = slice(first, first + len(chunk))
        first += len(chunk)
        with _synchronised_if(encoder, index == len(chunks) - 1), state.replayed():
            embeddings = _embed(encoder, chunk, modalities, autocast_dtype)
            surrogate = sum((embeddings[name] * representations[name].grad[rows]).sum() for name in modalities)
            surrogate.backward()
    return {name: loss.detach() for name, loss in losses.items()}


def _embed(encoder, batch: PairBatch, modalities, autocast_dtype) -> dict[str, torch.Tensor]:
    if autocast_dtype is None:
        return encoder(batch, modalities)
    with torch.autocast(batch.video.device.type, dtype=autocast_dtype):
        embeddings = encoder(batch, modalities)
    return {name: value.float() for name, value in embeddings.items()}


def _objectives_of(objectives: ContrastiveObjectives, local: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    everyone, first_row = gather_everyone(local)
    return objectives(local, everyone, first_row)


def _synchronised_if(encoder: nn.Module, synchronise: bool):
    """DDP all-reduces in the last chunk's backward only, over the gradients the chunks accumulated."""
    if isinstance(encoder, DistributedDataParallel) and not synchronise:
        return encoder.no_sync()
    return contextlib.nullcontext()


@dataclass(frozen=True)
class RandomState:
    """The CPU generator's state and that of every GPU a chunk lives on, to replay its dropout draws."""

    cpu: torch.Tensor
    cuda: dict[int, torch.Tensor]

    @classmethod
    def capture(cls, chunk: PairBatch) -> RandomState:
        devices = sorted({
            value.device.index if value.device.index is not None else torch.cuda.current_device()
            for item in fields(chunk)
            if (value := getattr(chunk, item.name)) is not None and value.is_cuda
        })
        return cls(torch.get_rng_state(), {device: torch.cuda.get_rng_state(device) for device in devices})

    @contextlib.contextmanager
    def replayed(self):
        """Run from the recorded states; the generators are put back after, so the step draws
        what one pass over the batch draws."""
        with torch.random.fork_rng(devices=list(self.cuda)):
            torch.set_rng_state(self.cpu)
            for device, state in self.cuda.items():
                torch.cuda.set_rng_state(state, device)
            yield
