"""Assign each video to one of N shards, the same way on every machine and run.

    from mmfeat.features.sharding import shard_of, videos_in_shard
    shard_of("rgb-01-1", num_shards=8)          # -> an int in 0..7
    videos_in_shard(video_ids, shard=3, num_shards=8)
    videos_by_shard(video_ids, num_shards=8)[3]   # the same, every shard at once

The shard depends only on the video's id and the shard count, never on the
other videos, so adding a video to a dataset re-runs only the one shard it
lands in. Python's built-in hash() is salted per process, hence sha1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_of(video_id: str, num_shards: int) -> int:
    """The shard (0..num_shards-1) that `video_id` belongs to."""
    _check_num_shards(num_shards)
    digest = hashlib.sha1(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def videos_in_shard(video_ids: Iterable[str], shard: int, num_shards: int) -> list[str]:
    """The ids among `video_ids` that belong to `shard`, in their given order."""
    _check_num_shards(num_shards)
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is out of range for {num_shards} shards (0..{num_shards - 1})")
    return [video_id for video_id in video_ids if shard_of(video_id, num_shards) == shard]


def videos_by_shard(video_ids: Iterable[str], num_shards: int) -> list[list[str]]:
    """`videos_in_shard` of every shard, hashing each id once: what planning all shards needs."""
    _check_num_shards(num_shards)
    shards: list[list[str]] = [[] for _ in range(num_shards)]
    for video_id in video_ids:
        shards[shard_of(video_id, num_shards)].append(video_id)
    return shards


def _check_num_shards(num_shards: int) -> None:
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
