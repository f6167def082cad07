"""Which videos make each batch of an epoch: random, or VideoCLIP's retrieval-augmented groups of similar videos.

    sampler = build_sampler(kind="retrieval", videos_per_batch=32, neighbours=64, seed=0)
    vectors = embed_videos(model.embed_video, rows.video, video_ids, window_seconds=32) if sampler.needs_vectors else None
    plan = sampler.plan(epoch, video_ids, vectors)    # [[id, ...] per batch], every batch videos_per_batch videos

An epoch is one pass over the training videos: ceil(n / videos_per_batch) batches, every video in
one of them; the last batch is filled up to full size with videos already placed (random: the
epoch's first ones; retrieval: those nearest its seed), so that every batch has the same
number of clip pairs and splits evenly over the processes.

- random: the videos in an order drawn from (seed, epoch), cut into batches.
- retrieval (VideoCLIP's retrieval-augmented training): each epoch every training video is
  embedded by the current model (`embed_videos`: the mean of its clips of window_seconds),
  and a batch is one group of similar videos, so that its negatives are hard ones. A group:
  a seed video not yet placed, drawn in a random order, and videos_per_batch - 1 others drawn
  from its `neighbours` nearest unplaced videos by cosine similarity (exact: every pair is
  compared, O(n^2 / videos_per_batch) dot products an epoch, seconds for tens of thousands of videos).

A plan depends only on (seed, epoch, ids, vectors), so every process makes the same one, and a
resumed run can keep the plan of the epoch it stopped in (saved in its resume state).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from mmfeat.errors import UserError

SAMPLER_KINDS = ("random", "retrieval")
WINDOWS_AT_ONCE = 64  # clips embedded per forward pass while embedding every video


class RandomBatches:
    """Each epoch, the videos in a random order cut into batches."""

    needs_vectors = False

    def __init__(self, videos_per_batch: int, seed: int) -> None:
        self.videos_per_batch = videos_per_batch
        self.seed = seed

    def plan(self, epoch: int, video_ids: Sequence[str], vectors: np.ndarray | None = None) -> list[list[str]]:
        _check_enough(video_ids, self.videos_per_batch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(video_ids))
        size = self.videos_per_batch
        batches = [order[start:start + size].tolist() for start in range(0, len(order), size)]
        last = batches[-1]
        last += [index for index in order.tolist() if index not in last][:size - len(last)]
        return [[video_ids[index] for index in batch] for batch in batches]


class RetrievalBatches:
    """Each epoch, groups of similar videos by the current model's video vectors (VideoCLIP's sampler)."""

    needs_vectors = True

    def __init__(self, videos_per_batch: int, neighbours: int, seed: int) -> None:
        self.videos_per_batch = videos_per_batch
        self.neighbours = neighbours
        self.seed = seed

    def plan(self, epoch: int, video_ids: Sequence[str], vectors: np.ndarray | None = None) -> list[list[str]]:
        _check_enough(video_ids, self.videos_per_batch)
        if vectors is None or len(vectors) != len(video_ids):
            raise ValueError(f"the retrieval sampler needs one vector per video ({len(video_ids)}), got "
                             f"{None if vectors is None else len(vectors)}")
        generator = np.random.default_rng([self.seed, epoch])
        groups = group_by_neighbours(vectors, self.videos_per_batch, self.neighbours, generator)
        return [[video_ids[index] for index in group] for group in groups]


def build_sampler(kind: str, videos_per_batch: int, neighbours: int, seed: int) -> RandomBatches | RetrievalBatches:
    """The sampler `pretraining.sampler.kind` names."""
    if kind == "random":
        return RandomBatches(videos_per_batch, seed)
    if kind == "retrieval":
        return RetrievalBatches(videos_per_batch, neighbours, seed)
    raise UserError(f"pretraining.sampler.kind is {kind!r}; use one of {list(SAMPLER_KINDS)}")


def group_by_neighbours(vectors: np.ndarray, group_size: int, neighbours: int,
                        generator: np.random.Generator) -> list[list[int]]:
    """Groups of `group_size` row indices covering every row: a seed and others from its nearest unplaced rows.

    Seeds are taken in a random order among the rows not yet placed; the others are drawn
    without replacement from the seed's max(group_size - 1, neighbours) most cosine-similar
    unplaced rows. The last group, when fewer rows are left, is filled with the seed's nearest placed rows.
    """
    unit = np.asarray(vectors, np.float64)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    placed = np.zeros(len(unit), bool)
    wanted = group_size - 1
    groups = []
    for seed in generator.permutation(len(unit)).tolist():
        if placed[seed]:
            continue
        placed[seed] = True
        candidates = np.flatnonzero(~placed)
        nearest = candidates[np.argsort(-(unit[candidates] @ unit[seed]), kind="stable")]
        pool = nearest[:max(wanted, neighbours)]
        members = pool if len(pool) <= wanted else np.sort(generator.choice(pool, wanted, replace=False))
        members = members.tolist()
        placed[members] = True
        if len(members) < wanted:  # the last group: fill with the nearest videos grouped before
            others = np.flatnonzero(placed)
            others = others[(others != seed) & ~np.isin(others, members)]
            members += others[np.argsort(-(unit[others] @ unit[seed]), kind="stable")][:wanted - len(members)].tolist()
        groups.append([seed, *members])
    return groups


@torch.no_grad()
def embed_videos(embed_video: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 video_rows: Callable[[str], np.ndarray], video_ids: Sequence[str], window_seconds: int,
                 device: torch.device | str = "cpu", autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """(n, H) float32: each video's vector, the mean of its consecutive clips of window_seconds (the last shorter).

    The caller puts the model in eval mode (no dropout: every process computes the same vectors).
    """
    windows, owners = [], []
    for number, video_id in enumerate(video_ids):
        rows = video_rows(video_id)
        for first in range(0, len(rows), window_seconds):
            windows.append(rows[first:first + window_seconds])
            owners.append(number)
    summed: torch.Tensor | None = None
    owners_tensor = torch.tensor(owners)
    for start in range(0, len(windows), WINDOWS_AT_ONCE):
        part = windows[start:start + WINDOWS_AT_ONCE]
        longest = max(len(window) for window in part)
        features = torch.zeros(len(part), longest, part[0].shape[1])
        kept = torch.zeros(len(part), longest, dtype=torch.bool)
        for row, window in enumerate(part):
            features[row, :len(window)] = torch.from_numpy(np.asarray(window, np.float32))
            kept[row, :len(window)] = True
        with torch.autocast(torch.device(device).type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            vectors = embed_video(features.to(device), kept.to(device)).float().cpu()
        if summed is None:
            summed = torch.zeros(len(video_ids), vectors.shape[1])
        summed.index_add_(0, owners_tensor[start:start + len(part)], vectors)
    counts = torch.bincount(owners_tensor, minlength=len(video_ids)).clamp(min=1)
    return (summed / counts[:, None]).numpy()


def _check_enough(video_ids: Sequence[str], videos_per_batch: int) -> None:
    if len(video_ids) < videos_per_batch:
        raise UserError(f"{len(video_ids)} training videos, fewer than the {videos_per_batch} videos a batch takes "
                        "(batch_size / clips.per_video); lower pretraining.batch_size or raise clips.per_video")
