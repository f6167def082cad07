"""Peak memory of the I3D feature-extraction job on no video, a short and a 10x longer video.

    .venv/bin/python benchmarks/extract_memory.py            # 0, 60 and 600 frames at 64x48, twice each

Writes the videos to a temporary folder, then runs the real job
(`python -m mmfeat extract-features`, I3D with random weights on 32x32 crops,
a 21-frame window, every frame kept, float16 shard) `--repeats` times per
case, each in a fresh process, and reports the lowest and highest peak
resident memory of those processes (ru_maxrss from wait4, so one run's peak
cannot hide another's; the spread between runs is the noise to judge the
rest by). The 0-frame case runs the same job with no video: imports, the
model and an empty shard. If extraction streams frames, a longer video costs
no more than its own features, which are held whole until the shard is
written; their float32 size is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed

from decode_memory import moving_pattern  # noqa: E402  the decoding benchmark's moving content
from mmfeat.features.extractors.i3d import FEATURE_DIM  # noqa: E402
from mmfeat.video.encode import write_h264_video  # noqa: E402

# Small crops and random weights keep a 600-frame run under half a minute on 2
# idle CPU cores; the window, batch and stride are the job's defaults.
SETTINGS = {"kind": "i3d", "window": 21, "resize_short": 32, "crop": 32, "stride": 1, "batch_size": 8, "device": "cpu"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=(0, 60, 600), help="video lengths; 0: no video")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"))
    parser.add_argument("--repeats", type=int, default=2, help="runs per case, each in a fresh process")
    args = parser.parse_args()

    width, height = args.size
    rows = []
    with tempfile.TemporaryDirectory(prefix="extract-memory-") as workdir:
        videos_dir = Path(workdir) / "videos"
        videos_dir.mkdir()
        for frame_count in args.frames:
            video_id = f"frames-{frame_count}"
            if frame_count > 0:
                write_h264_video(videos_dir / f"{video_id}.mp4", moving_pattern(frame_count, width, height), fps=25)
            shard_path = Path(workdir) / f"{video_id}.h5"
            runs = [
                run_extraction(videos_dir, video_id if frame_count > 0 else None, shard_path)
                for _ in range(args.repeats)
            ]
            peaks_mb = [peak_mb for peak_mb, _ in runs]
            best_seconds = min(seconds for _, seconds in runs)
            rows.append((frame_count, stored_feature_count(shard_path, video_id), best_seconds, peaks_mb))

    print(f"| frames | features stored | seconds (best) | peak RSS MB (lowest-highest of {args.repeats}) "
          f"| features as float32 MB |  ({width}x{height})")
    print("|-------:|----------------:|---------------:|------------------------------:|-----------------------:|")
    for frame_count, feature_count, seconds, peaks_mb in rows:
        features_mb = feature_count * FEATURE_DIM * 4 / 2**20
        print(
            f"| {frame_count} | {feature_count} | {seconds:.1f} | {min(peaks_mb):.1f}-{max(peaks_mb):.1f} "
            f"| {features_mb:.2f} |"
        )


def run_extraction(videos_dir: Path, video_id: str | None, shard_path: Path) -> tuple[float, float]:
    """Run the extraction job in a fresh process; return its peak RSS in MB and its wall time in seconds."""
    command = [
        sys.executable, "-m", "mmfeat", "extract-features",
        "--videos-dir", str(videos_dir),
        "--output", str(shard_path),
        "--extractor", "bench",
        "--settings", json.dumps(SETTINGS),
        "--backend", "decord", "--on-unreadable", "fail", "--dtype", "float16",
    ]  # fmt: skip
    if video_id is not None:
        command[4:4] = ["--video", video_id]
    log_path = shard_path.with_suffix(".log")
    started = time.perf_counter()
    with open(log_path, "w") as log_file:
        job = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        # wait4 gives this one child's resource usage; ru_maxrss is its peak RSS in KiB on Linux
        _, wait_status, usage = os.wait4(job.pid, 0)
    seconds = time.perf_counter() - started
    job.returncode = os.waitstatus_to_exitcode(wait_status)
    if job.returncode != 0:
        raise RuntimeError(f"extraction failed (exit {job.returncode}):\n{log_path.read_text()[-3000:]}")
    return usage.ru_maxrss / 1024, seconds


def stored_feature_count(shard_path: Path, video_id: str) -> int:
    """Rows of features the shard holds for `video_id` (0 when it has none)."""
    with h5py.File(shard_path, "r") as shard:
        return shard["features"][video_id].shape[0] if video_id in shard["features"] else 0


if __name__ == "__main__":
    main()
