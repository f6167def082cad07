"""A narrated dataset through `mmfeat extract-features`: S3D and wav2vec2 rows, one per second, aligned.

Two real H.264 clips with an AAC track (3.0 s and 2.5 s at 10 fps, 32x32); S3D at
window 16 and crop 16, and the schema's small random wav2vec2, keep it to seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.narrated import NarratedDataset
from mmfeat.features.extractors.items import FRAME_INDEX, SAMPLE_RANGE
from mmfeat.features.store import FeatureStore
from mmfeat.video.encode import write_h264_video

FPS = 10
AUDIO_RATE = 22050
CLIP_FRAMES = {"clip-a": 30, "clip-b": 25}  # 3 s and 2.5 s: 3 rows each (ceil of the seconds)
S3D = {"kind": "s3d", "window": 16, "fps": None, "step_seconds": 1.0, "resize_short": 16, "crop": 16,
       "device": "cpu", "dtype": "float32"}
WAV2VEC2 = {"kind": "wav2vec2", "weights": None, "device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="module")
def narrated_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("narrated")
    (root / "videos").mkdir()
    rng = np.random.default_rng(0)
    captions = {}
    for video_id, frames in CLIP_FRAMES.items():
        seconds = frames / FPS
        speech = (0.1 * rng.standard_normal(int(seconds * AUDIO_RATE))).astype(np.float32)
        write_h264_video(root / "videos" / f"{video_id}.mp4",
                         (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(frames)),
                         fps=FPS, audio=speech, audio_rate=AUDIO_RATE)
        captions[video_id] = {"start": [0.2], "end": [seconds - 0.2], "text": ["cut the tomato"]}
    (root / "captions.json").write_text(json.dumps(captions))
    NarratedDataset(root).check()
    return root


def extract(root: Path, output: Path, name: str, settings: dict) -> FeatureStore:
    arguments = ["extract-features", "--dataset-root", str(root), "--dataset-kind", "narrated",
                 "--output", str(output), "--extractor-name", name, "--extractor", json.dumps(settings)]
    for video_id in CLIP_FRAMES:
        arguments += ["--item", video_id]
    assert mmfeat_main(arguments) == 0
    return FeatureStore(output)


@pytest.mark.usefixtures("one_torch_thread")
def test_video_and_audio_rows_are_the_videos_seconds(narrated_root, tmp_path):
    dataset = NarratedDataset(narrated_root)
    video = extract(narrated_root, tmp_path / "s3d.h5", "s3d-narrated", S3D)
    audio = extract(narrated_root, tmp_path / "wav2vec2.h5", "wav2vec2-narrated", WAV2VEC2)
    for video_id in CLIP_FRAMES:
        seconds = dataset.second_intervals(video_id)
        assert len(seconds) == 3
        # S3D: a row centred on each whole second, at that second's frame
        assert video.position_kind(video_id) == FRAME_INDEX
        assert video.positions(video_id).tolist() == [second * FPS for second in range(len(seconds))]
        assert video.features(video_id, "video_embedding").shape == (len(seconds), 512)
        # wav2vec2: the whole track pooled over the same seconds, named by their number
        assert audio.position_kind(video_id) == SAMPLE_RANGE
        expected = [[round(start * 16000), round(end * 16000)] for start, end in seconds]
        assert audio.positions(video_id).tolist() == expected
        assert audio.provenance(video_id)["row_names"] == ["0", "1", "2"]
        assert np.isfinite(audio.features(video_id)).all()
