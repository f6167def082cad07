"""Across processes: one step on 2 processes (gloo, CPU) equals one step of one process on the
concatenated batch, within 1e-6, with and without chunking, with and without DistributedDataParallel.

Each process embeds its half of the batch and scores it against both halves (negatives
gathered with their gradient), so the losses, the gradients, and the weights after one
clipped Adam update are the single process's. Dropout is off here: two processes draw
other masks than one (the chunked step's dropout replay is tested in test_grad_cache.py).
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as multiprocessing
from torch.nn.parallel import DistributedDataParallel

from mmfeat.tasks.pretraining import grad_cache
from mmfeat.tasks.pretraining.grad_cache import contrastive_step
from mmfeat.tasks.pretraining.optimisation import OptimiserSettings, build_optimiser, clip_gradients
from mmfeat.tasks.pretraining.towers import PairEncoder
from pretraining_toys import OBJECTIVE_CASES, objectives_for, toy_batch, toy_towers

PAIRS, CAPTIONS, PROCESSES = 8, 2, 2  # 4 pairs per process
RUNS = {  # name: (encoder wrapped in DDP, chunk size on each process)
    "ddp": (True, None),
    "ddp_chunked": (True, 3),  # chunks of 3 and 1
    "plain_chunked": (False, 2),  # the step averages the gradients itself
}
OPTIMISER = OptimiserSettings(learning_rate=0.01, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0, warmup_steps=0,
                              decay_steps=None, decay_power=1.0, end_learning_rate=0.0, clip_norm=0.5)


def one_step(encoder: torch.nn.Module, batch, chunk_size: int | None) -> dict:
    """One clipped Adam update of the towers and the learned temperature; what it saw and did."""
    objectives = objectives_for(**OBJECTIVE_CASES["all_learned_temperature"])
    towers = encoder.module if isinstance(encoder, DistributedDataParallel) else encoder
    parameters = list(towers.parameters()) + list(objectives.parameters())
    optimiser = build_optimiser(parameters, OPTIMISER)
    losses = contrastive_step(encoder, objectives, batch, chunk_size=chunk_size)
    gradients = {name: p.grad.clone() for name, p in [*towers.named_parameters(), *objectives.named_parameters()]}
    clip_gradients(parameters, OPTIMISER)
    optimiser.step()
    weights = {name: p.detach().clone() for name, p in [*towers.named_parameters(), *objectives.named_parameters()]}
    return {"losses": losses, "gradients": gradients, "weights": weights}


def _process(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=PROCESSES)
    try:
        share = PAIRS // PROCESSES
        batch = toy_batch(PAIRS, CAPTIONS).rows(rank * share, (rank + 1) * share)
        results = {}
        for name, (wrapped, chunk_size) in RUNS.items():
            encoder = PairEncoder(toy_towers(dropout=0.0))
            results[name] = one_step(DistributedDataParallel(encoder) if wrapped else encoder, batch, chunk_size)
        # each process's own negatives only, as VideoCLIP's code: not the single process's step
        grad_cache.gather_everyone = lambda local: (local, 0)
        results["own_negatives"] = one_step(DistributedDataParallel(PairEncoder(toy_towers(dropout=0.0))), batch, None)
        torch.save(results, os.path.join(folder, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("distributed")
    # fork, after importing what DistributedDataParallel imports on first use (torch._dynamo, 3 s):
    # the processes start with it loaded instead of each loading torch and it (12 s on 2 cores)
    import torch._dynamo  # noqa: F401
    multiprocessing.start_processes(_process, args=(_free_port(), str(folder)), nprocs=PROCESSES, join=True,
                                    start_method="fork")
    return [torch.load(folder / f"rank{rank}.pt") for rank in range(PROCESSES)]


@pytest.fixture(scope="module")
def one_process() -> dict:
    torch.set_num_threads(1)
    return one_step(PairEncoder(toy_towers(dropout=0.0)), toy_batch(PAIRS, CAPTIONS), None)


def _largest_difference(found: dict, expected: dict) -> float:
    assert found.keys() == expected.keys()
    return max(float((found[name] - expected[name]).abs().max()) for name in expected)


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("what", ["losses", "gradients", "weights"])
def test_two_processes_step_as_one_process_on_the_concatenated_batch(two_processes, one_process, run, what):
    for rank in range(PROCESSES):
        assert _largest_difference(two_processes[rank][run][what], one_process[what]) <= 1e-6


def test_each_process_scoring_only_its_own_pairs_would_not(two_processes, one_process):
    """The check above can fail: without the gather a step sees 4 pairs' negatives, not 8."""
    assert _largest_difference(two_processes[0]["own_negatives"]["losses"], one_process["losses"]) > 1e-2
    assert _largest_difference(two_processes[0]["own_negatives"]["gradients"], one_process["gradients"]) > 1e-3
