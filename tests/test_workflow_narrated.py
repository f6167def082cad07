"""A narrated dataset through the workflow's planning: its demo rule and its feature shards.

Dry runs only (a few seconds each); the extraction itself is tests/test_narrated_extraction.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.slow

CONFIG = {
    "datasets": {"howto": {"kind": "narrated", "root": "results/howto/dataset",
                           "demo": {"videos": 3, "seconds": [8, 9]},
                           "features": {"video": "s3d-seconds", "audio": "speech", "num_shards": 1}}},
    "extractors": {"s3d-seconds": {"kind": "s3d", "window": 16, "fps": None, "crop": 32, "resize_short": 32},
                   "speech": {"kind": "wav2vec2", "weights": None}},
}


def dry_run(workdir: Path, *targets: str) -> str:
    """The terminal's text of `snakemake -n -p` in `workdir` with CONFIG; fails the test on a nonzero status."""
    result = run_snakemake(workdir, "--cores", "2", "-n", "-p", *targets, config=CONFIG)
    return result.stdout + result.stderr


def test_a_narrated_demo_plans_its_generator_and_its_video_and_audio_shards(tmp_path):
    terminal = dry_run(tmp_path, "results/howto/features/s3d-seconds/shard-0.h5",
                       "results/howto/features/speech/shard-0.h5")
    assert "make-demo-howto --size 64 48 --fps 15 --seed 0 --videos 3 --seconds 8 9" in terminal
    assert terminal.count("extract-features --dataset-root results/howto/dataset --dataset-kind narrated") == 2
    for video_id in ("howto-000", "howto-001", "howto-002"):
        assert f"results/howto/dataset/videos/{video_id}.mp4" in terminal


def test_a_narrated_dataset_nothing_reports_on_adds_no_default_target(tmp_path):
    """Without a model to pretrain, no rule makes its report: `snakemake` alone plans nothing for it."""
    terminal = dry_run(tmp_path)
    assert "make_demo_howto" not in terminal and "extract_shard" not in terminal
