"""The pretraining run: epochs of contrastive steps over clip pairs of narrated videos, resumable, on 1..W processes.

    settings = PretrainingSettings.from_config(with_defaults("pretraining", entry, "--pretraining"))
    with distributed_from_environment(settings.device) as placement:      # torchrun / srun: W processes
        run = pretrain(model, TrainingVideos(rows, captions_by_id, training_ids), settings,
                       RunFiles(history="history.jsonl", resume_state="resume.pt"), placement)

Each step takes one batch of the epoch's plan (samplers: videos_per_batch = batch_size /
clips.per_video videos, each giving clips.per_video clip pairs, `clips`), and each of the W
processes makes and embeds its own batch_size / W rows of it; the negatives are every
process's (`negatives`), and a process's share is embedded in chunks when it does not fit
(`grad_cache`). Then the gradients are clipped, Adam steps and the schedule moves on
(`optimisation`). The next step's pairs are made in a reader thread while a step runs.

Progress, per step: epoch, step, each objective's loss, the learning rate and pairs per second,
in the log, on a tqdm bar on a terminal, and as one JSON line of history.jsonl. A resume state
(`resume`) is written at the end of every epoch and on SIGTERM (after the step under way,
then the run stops with `Stopped`); a rerun goes on from it. Under several processes only
rank 0 writes files. Dropout draws from torch's generator seeded by seed + rank.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from mmfeat.atomic import write_text_atomically
from mmfeat.datasets.narrated import Caption
from mmfeat.devices import resolve_device
from mmfeat.errors import UserError
from mmfeat.features.prefetch import prefetched
from mmfeat.tasks.pretraining.clips import ClipMaker, ClipSettings, FeatureRows
from mmfeat.tasks.pretraining.grad_cache import contrastive_step
from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
from mmfeat.tasks.pretraining.optimisation import (
    OptimiserSettings, build_optimiser, build_schedule, clip_gradients)
from mmfeat.tasks.pretraining.resume import ResumeState, capture_random_states, restore_random_states
from mmfeat.tasks.pretraining.samplers import build_sampler, embed_videos
from mmfeat.tasks.pretraining.towers import PairEncoder

log = logging.getLogger(__name__)

AUTOCAST_DTYPES = {"none": None, "bfloat16": torch.bfloat16}
TOWER_OF_MODALITY = {"video": "video_encoder", "text": "text_encoder", "audio": "audio_encoder"}  # VideoCLIP's
BATCHES_AHEAD = 2  # steps whose pairs the reader thread makes ahead of the model
# settings that change how a run computes, not what: a resume state survives a change of them
EXECUTION_SETTINGS = ("chunk_size", "device")


@dataclass(frozen=True)
class PretrainingSettings:
    """The schema's `pretraining` entry, where every default lives."""

    objectives: ObjectiveSettings
    optimiser: OptimiserSettings
    clips: ClipSettings
    batch_size: int
    chunk_size: int | None
    epochs: int
    sampler: str
    neighbours: int
    seed: int
    autocast: str
    device: str
    entry: dict = field(compare=False, repr=False)  # as given, defaults filled: the run's fingerprint

    @classmethod
    def from_config(cls, entry: dict) -> PretrainingSettings:
        """From a `pretraining` entry with its defaults filled (workflow_config.with_defaults)."""
        settings = cls(
            objectives=ObjectiveSettings.from_config(entry["objectives"]),
            optimiser=OptimiserSettings.from_config(entry["optimiser"]), clips=ClipSettings.from_config(entry["clips"]),
            batch_size=entry["batch_size"], chunk_size=entry["chunk_size"], epochs=entry["epochs"],
            sampler=entry["sampler"]["kind"], neighbours=entry["sampler"]["neighbours"], seed=entry["seed"],
            autocast=entry["autocast"], device=entry["device"], entry=entry)
        if settings.batch_size % settings.clips.per_video:
            raise UserError(f"pretraining.batch_size {settings.batch_size} is not a multiple of clips.per_video "
                            f"{settings.clips.per_video}: a batch is whole videos' clips")
        return settings

    @property
    def videos_per_batch(self) -> int:
        return self.batch_size // self.clips.per_video


@dataclass(frozen=True)
class TrainingVideos:
    """The videos trained on: their per-second feature rows and their captions, time order."""

    rows: FeatureRows
    captions: Mapping[str, Sequence[Caption]]
    ids: list[str]


@dataclass(frozen=True)
class RunFiles:
    history: Path  # history.jsonl: one line per step
    resume_state: Path


@dataclass(frozen=True)
class Placement:
    """Where this process runs: its device, and its rank among world_size processes."""

    device: torch.device
    rank: int = 0
    world_size: int = 1


@dataclass
class PretrainedRun:
    model: nn.Module  # the trained towers (not wrapped), on the run's device
    objectives: ContrastiveObjectives  # with a learned temperature, if any
    steps: int  # updates over the whole run
    last_losses: dict[str, float]
    seconds: float  # training time over every run that made it


class Stopped(UserError):
    """The run was told to stop (SIGTERM) and wrote its resume state: run it again to go on."""


@contextlib.contextmanager
def distributed_from_environment(device_setting: str):
    """A Placement from torchrun's (RANK, WORLD_SIZE, LOCAL_RANK) or srun's (SLURM_PROCID, ...) environment.

    With more than one process, the process group is set up here (NCCL on GPUs, gloo on CPUs;
    MASTER_ADDR and MASTER_PORT from the environment, as torchrun sets them) and torn down after.
    """
    rank, world, local = _ranks_from_environment()
    device = resolve_device(device_setting)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    try:
        yield Placement(device, rank, world)
    finally:
        if world > 1:
            dist.destroy_process_group()


def pretrain(model: nn.Module, videos: TrainingVideos, settings: PretrainingSettings, files: RunFiles,
             placement: Placement, identity: dict | None = None) -> PretrainedRun:
    """Train `model` (embed_video, embed_text, embed_audio, tokenize, settings.max_video_tokens) in place.

    `identity` (JSON values, e.g. the model's settings entry) joins the settings and the videos in
    the fingerprint a resume state must match.
    """
    device, rank, world = placement.device, placement.rank, placement.world_size
    if settings.batch_size % world:
        raise UserError(f"pretraining.batch_size {settings.batch_size} does not split over {world} processes; "
                        "make it a multiple of the number of processes")
    objectives = ContrastiveObjectives(settings.objectives).to(device)
    _check_towers(model, objectives.modalities)
    model.to(device).train()
    _freeze_unread_towers(model, objectives.modalities)
    parameters = [p for p in model.parameters() if p.requires_grad] + list(objectives.parameters())
    optimiser = build_optimiser(parameters, settings.optimiser)
    steps_per_epoch = math.ceil(len(videos.ids) / settings.videos_per_batch)
    schedule = build_schedule(optimiser, settings.optimiser, total_steps=settings.epochs * steps_per_epoch)
    sampler = build_sampler(settings.sampler, settings.videos_per_batch, settings.neighbours, settings.seed)
    captions_per_clip = settings.clips.captions if "mil_nce" in objectives.weights else 1
    maker = ClipMaker(videos.rows, videos.captions, settings.clips, model.settings.max_video_tokens,
                      captions_per_clip, model.tokenize, with_audio="audio" in objectives.modalities)
    autocast_dtype = AUTOCAST_DTYPES[settings.autocast]

    torch.manual_seed(settings.seed + rank)  # dropout's draws, unless a resume state has them
    fingerprint = _fingerprint(settings, videos.ids, identity or {})
    state = ResumeState.read(files.resume_state, fingerprint)
    epoch, step, plan, seconds_before, history_lines = 0, 0, None, 0.0, 0
    if state is not None:
        epoch, step, plan, seconds_before, history_lines = (state.epoch, state.step, state.plan, state.seconds,
                                                            state.history_lines)
        model.load_state_dict(state.model)
        objectives.load_state_dict(state.objectives)
        optimiser.load_state_dict(state.optimiser)
        schedule.load_state_dict(state.schedule)
        if len(state.random_states) == world:
            restore_random_states(state.random_states[rank])
        else:
            log.warning("%s was written by %d process(es), this run has %d: dropout draws anew from here",
                        files.resume_state, len(state.random_states), world)
        log.info("resuming from %s: epoch %d, step %d", files.resume_state, epoch + 1, step + 1)
    history = _History(files.history, history_lines) if rank == 0 else None
    encoder = PairEncoder(model)
    if world > 1:
        encoder = DistributedDataParallel(encoder, device_ids=[device.index] if device.type == "cuda" else None)
    share = settings.batch_size // world
    rows_of_rank = range(rank * share, (rank + 1) * share)
    started = time.perf_counter()
    last_losses: dict[str, float] = {}

    def write_state(next_epoch: int, next_step: int, next_plan) -> None:
        random_states = _gathered(capture_random_states(), world)
        if rank == 0:
            ResumeState(fingerprint, next_epoch, next_step, next_plan, model.state_dict(), objectives.state_dict(),
                        optimiser.state_dict(), schedule.state_dict(), random_states,
                        seconds_before + time.perf_counter() - started, history.lines).write(files.resume_state)

    with _stop_requested_by_sigterm() as stop_requested:
        while epoch < settings.epochs:
            if plan is None:
                plan = _plan_epoch(sampler, epoch, model, videos, placement, autocast_dtype)
            steps = range(step, len(plan))
            pairs = (maker.pairs(plan[index], rows_of_rank, (settings.seed, epoch, index)) for index in steps)
            bar = tqdm(total=len(plan), initial=step, desc=f"epoch {epoch + 1}/{settings.epochs}", unit="step",
                       disable=rank != 0 or not sys.stderr.isatty(), leave=False)
            previous_end = time.perf_counter()
            with contextlib.closing(prefetched(pairs, depth=BATCHES_AHEAD)) as batches, bar:
                for index, batch in zip(steps, batches):
                    losses = contrastive_step(encoder, objectives, batch.to(device),
                                              settings.chunk_size, autocast_dtype)
                    clip_gradients(parameters, settings.optimiser)  # its global norm waits for the backward
                    # the losses read here cost no second wait, and on a GPU the update then runs while
                    # the host writes the progress (read after optimiser.step, they waited for it)
                    last_losses = {name: float(loss) for name, loss in losses.items()}
                    learning_rate = optimiser.param_groups[0]["lr"]
                    optimiser.step()
                    schedule.step()
                    optimiser.zero_grad(set_to_none=True)
                    now = time.perf_counter()
                    row = {"epoch": epoch + 1, "step": index + 1,
                           "losses": {name: value for name, value in last_losses.items() if name != "total"},
                           "learning_rate": learning_rate, "pairs_per_second": settings.batch_size / (now - previous_end),
                           "seconds": seconds_before + now - started}
                    previous_end = now
                    _report(row, last_losses["total"], len(plan), settings.epochs, bar, history)
                    if _agreed(stop_requested(), device, world):
                        finished_epoch = index + 1 == len(plan)
                        write_state(epoch + 1 if finished_epoch else epoch, 0 if finished_epoch else index + 1,
                                    None if finished_epoch else plan)
                        raise Stopped(f"stopped by SIGTERM after epoch {epoch + 1}, step {index + 1}; "
                                      f"{files.resume_state} holds the run: run the same command again to go on")
            epoch, step, plan = epoch + 1, 0, None
            write_state(epoch, 0, None)
    done = settings.epochs * steps_per_epoch
    return PretrainedRun(model, objectives, done, last_losses, seconds_before + time.perf_counter() - started)


def _plan_epoch(sampler, epoch: int, model: nn.Module, videos: TrainingVideos, placement: Placement,
                autocast_dtype) -> list[list[str]]:
    """The epoch's batches; for the retrieval sampler every video embedded by the current model first,
    each process a share of them, gathered."""
    vectors = None
    if sampler.needs_vectors:
        rank, world = placement.rank, placement.world_size
        mine = videos.ids[rank::world]
        model.eval()  # no dropout: the vectors are the model's, the same on every process
        try:
            vectors_of_mine = embed_videos(model.embed_video, videos.rows.video, mine, model.settings.max_video_tokens,
                                           placement.device, autocast_dtype)
        finally:
            model.train()
        parts = _gathered(vectors_of_mine, world)
        vectors = parts[0] if world == 1 else _interleaved(parts, len(videos.ids))
    return sampler.plan(epoch, videos.ids, vectors)


def _report(row: dict, total: float, steps: int, epochs: int, bar, history) -> None:
    losses = ", ".join(f"{name} {value:.4f}" for name, value in row["losses"].items())
    log.info("epoch %d/%d step %d/%d: %s (total %.4f), learning rate %.3g, %.1f pairs/s", row["epoch"], epochs,
             row["step"], steps, losses, total, row["learning_rate"], row["pairs_per_second"])
    bar.set_postfix(loss=f"{total:.4f}", lr=f"{row['learning_rate']:.2g}", pairs_s=f"{row['pairs_per_second']:.0f}")
    bar.update(1)
    if history is not None:
        history.append(row)


class _History:
    """history.jsonl: rewritten to the lines a resume state has seen, then one line appended per step."""

    def __init__(self, path: Path, keep_lines: int) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = path.read_text().splitlines(keepends=True)[:keep_lines] if keep_lines and path.exists() else []
        write_text_atomically(path, "".join(kept))
        self.path, self.lines = path, len(kept)

    def append(self, row: dict) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(row) + "\n")
        self.lines += 1


@contextlib.contextmanager
def _stop_requested_by_sigterm():
    """Yield a function telling whether SIGTERM came; the previous handler is put back after."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handler(signum, frame) -> None:
        log.warning("SIGTERM: the run stops after this step and writes its resume state")
        requested.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGTERM, previous)


def _agreed(flag: bool, device: torch.device, world: int) -> bool:
    """True on every process when any one of them has the flag (each may get SIGTERM at another step)."""
    if world == 1:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _gathered(value, world: int) -> list:
    """[every process's value] in rank order; [value] alone on one process."""
    if world == 1:
        return [value]
    values = [None] * world
    dist.all_gather_object(values, value)
    return values


def _interleaved(parts: list, count: int):
    """Rows of the parts ids[rank::world] put back in the ids' order."""
    import numpy as np

    whole = np.zeros((count, parts[0].shape[1]), parts[0].dtype)
    for rank, part in enumerate(parts):
        whole[rank::len(parts)] = part
    return whole


def _fingerprint(settings: PretrainingSettings, video_ids: list[str], identity: dict) -> dict:
    what = {key: value for key, value in settings.entry.items() if key not in EXECUTION_SETTINGS}
    videos = hashlib.sha256("\n".join(video_ids).encode()).hexdigest()
    return {"settings": json.dumps(what, sort_keys=True), "videos": f"{len(video_ids)} videos, sha256 {videos}",
            "model": json.dumps(identity, sort_keys=True)}


def _check_towers(model: nn.Module, modalities: tuple[str, ...]) -> None:
    if "audio" in modalities and getattr(model, "audio_encoder", True) is None:
        raise UserError("the video-audio objective needs an audio tower: set audio_feature_size in the model's "
                        "settings (the audio rows' width, wav2vec2-base: 768), or its weight to 0")


def _freeze_unread_towers(model: nn.Module, modalities: tuple[str, ...]) -> None:
    """A tower no objective reads gets no gradient: frozen, so that the optimiser and DDP leave it alone."""
    for modality, name in TOWER_OF_MODALITY.items():
        tower = getattr(model, name, None)
        if tower is not None and modality not in modalities:
            tower.requires_grad_(False)
            log.info("the %s tower is not trained: no objective with a weight above 0 reads it", modality)


def _ranks_from_environment() -> tuple[int, int, int]:
    """(rank, world size, local rank): torchrun's variables, else srun's, else one process."""
    environment = os.environ
    if "RANK" in environment and "WORLD_SIZE" in environment:
        return int(environment["RANK"]), int(environment["WORLD_SIZE"]), int(environment.get("LOCAL_RANK", 0))
    if int(environment.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in environment:
        if "MASTER_ADDR" not in environment:
            raise UserError("srun started several tasks but MASTER_ADDR is not set; export MASTER_ADDR (the first "
                            "node's host name) and MASTER_PORT in the batch script, as the README shows")
        environment.setdefault("MASTER_PORT", "29500")
        return (int(environment["SLURM_PROCID"]), int(environment["SLURM_NTASKS"]),
                int(environment.get("SLURM_LOCALID", 0)))
    return 0, 1, 0
