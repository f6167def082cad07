"""Tiny narrated datasets with real H.264 videos and real feature shards, for the pretraining tests.

    dataset = write_narrated(tmp_path / "data", {"v0": (3, [(0.0, 2.0, "cut the tomato")])})
    write_video_shard(tmp_path / "video.h5", {"v0": rows})       # S3D-like: frame_index at 10 fps, video_embedding
    write_audio_shard(tmp_path / "audio.h5", {"v0": (rows, sample_ranges)})
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmfeat.datasets.narrated import NarratedDataset
from mmfeat.features.store import ShardWriter
from mmfeat.video.encode import write_h264_video

FPS = 10
S3D_SETTINGS = {"kind": "s3d", "step_seconds": 1.0}
WAV2VEC2_SETTINGS = {"kind": "wav2vec2", "pooling": "mean"}


def write_narrated(root: Path, videos: dict[str, tuple[int, list[tuple[float, float, str]]]]) -> NarratedDataset:
    """ROOT/captions.json and a real H.264 clip of `seconds` whole seconds per id: {id: (seconds, captions)}."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    captions = {}
    for video_id, (seconds, timed_texts) in videos.items():
        frames = (np.full((16, 16, 3), 40 + 10 * index % 200, np.uint8) for index in range(seconds * FPS))
        write_h264_video(root / "videos" / f"{video_id}.mp4", frames, fps=FPS)
        captions[video_id] = {"start": [c[0] for c in timed_texts], "end": [c[1] for c in timed_texts],
                              "text": [c[2] for c in timed_texts]}
    (root / "captions.json").write_text(json.dumps(captions))
    return NarratedDataset(root)


def write_video_shard(path: Path, rows_by_id: dict[str, np.ndarray], excluded: dict[str, str] | None = None,
                      frame_indices: dict[str, np.ndarray] | None = None) -> Path:
    """A shard as S3D at step_seconds 1 writes it: row k at frame k * FPS, the rows as `video_embedding`."""
    with ShardWriter(path, "s3d", S3D_SETTINGS, dtype="float32") as shard:
        for video_id, rows in rows_by_id.items():
            indices = (frame_indices or {}).get(video_id, np.arange(len(rows)) * FPS)
            mixed_5c = np.zeros((len(rows), 3), np.float32)
            shard.add_video(video_id, mixed_5c, indices, {"source": "video", "fps": float(FPS)},
                            outputs={"video_embedding": rows})
        for video_id, reason in (excluded or {}).items():
            shard.exclude_video(video_id, reason)
    return path


def write_audio_shard(path: Path, rows_by_id: dict[str, tuple[np.ndarray, np.ndarray]], sample_rate: int = 16000,
                      excluded: dict[str, str] | None = None) -> Path:
    """A shard as wav2vec2 writes it: rows with [first, end) sample ranges at `sample_rate`."""
    with ShardWriter(path, "wav2vec2", WAV2VEC2_SETTINGS, dtype="float32") as shard:
        for video_id, (rows, sample_ranges) in rows_by_id.items():
            shard.add_video(video_id, rows, sample_ranges, {"source": "audio", "sample_rate": sample_rate},
                            position_kind="sample_range")
        for video_id, reason in (excluded or {}).items():
            shard.exclude_video(video_id, reason)
    return path
