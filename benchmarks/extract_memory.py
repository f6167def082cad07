"""Peak memory of the I3D feature-extraction job on no video, a short and a 10x longer video.

    .venv/bin/python benchmarks/extract_memory.py            # 0, 60 and 600 frames at 64x48, twice each
    .venv/bin/python benchmarks/extract_memory.py --frames 1500 15000 --size 640 360 --stride 10 \
        --repeat-of 1500 --repeats 1 --cache /tmp/mmfeat-benchmarks/videos   # 1 and 10 minutes at 25 fps

Writes the videos to a temporary folder, then runs the real job
(`python -m mmfeat extract-features`, I3D with random weights on 32x32 crops,
a 21-frame window, every frame kept, float16 shard) `--repeats` times per
case, each in a fresh process, and reports the lowest and highest peak
resident memory of those processes (ru_maxrss from wait4, so one run's peak
cannot hide another's; the spread between runs is the noise to judge the
rest by). The 0-frame case runs the same job with no video: imports, the
model and an empty shard. Frames are streamed through the model and each
batch's rows appended to the shard, so a longer video should cost no more
memory; the float32 size of its features, which the job no longer holds
whole, is reported for scale. `--cache` keeps the generated videos (a
10-minute 640x360 one takes minutes to encode) for the next run.
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

import av
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
    parser.add_argument("--backend", default="decord", help="the video decoder (decode.BACKENDS)")
    parser.add_argument("--stride", type=int, default=SETTINGS["stride"], help="keep every k-th frame")
    parser.add_argument("--repeat-of", type=int, metavar="FRAMES",
                        help="make a video of a multiple of FRAMES by repeating that shorter one's packets "
                             "(no re-encoding: minutes of encoding saved on a loaded machine)")
    parser.add_argument("--cache", type=Path, help="keep the generated videos here (outside git) and reuse them")
    args = parser.parse_args()

    width, height = args.size
    settings = {**SETTINGS, "stride": args.stride}
    rows = []
    with tempfile.TemporaryDirectory(prefix="extract-memory-") as workdir:
        dataset_root = (args.cache or Path(workdir)) / f"{width}x{height}"
        videos_dir = dataset_root / "videos"
        videos_dir.mkdir(parents=True, exist_ok=True)
        for frame_count in args.frames:
            video_id = f"frames-{frame_count}"
            video_path = videos_dir / f"{video_id}.mp4"
            if frame_count > 0 and not video_path.is_file():
                partial_path = video_path.with_suffix(".partial.mp4")
                if args.repeat_of and frame_count % args.repeat_of == 0 and frame_count > args.repeat_of:
                    piece_path = videos_dir / f"frames-{args.repeat_of}.mp4"
                    if not piece_path.is_file():
                        write_h264_video(piece_path, moving_pattern(args.repeat_of, width, height), fps=25)
                    repeat_video(piece_path, frame_count // args.repeat_of, partial_path)
                else:
                    write_h264_video(partial_path, moving_pattern(frame_count, width, height), fps=25)
                partial_path.rename(video_path)
            shard_path = Path(workdir) / f"{video_id}.h5"
            runs = [
                run_extraction(dataset_root, video_id if frame_count > 0 else None, shard_path, settings,
                               args.backend)
                for _ in range(args.repeats)
            ]
            peaks_mb = [peak_mb for peak_mb, _ in runs]
            best_seconds = min(seconds for _, seconds in runs)
            rows.append((frame_count, stored_feature_count(shard_path, video_id), best_seconds, peaks_mb))

    print(f"| frames | features stored | seconds (best) | peak RSS MB (lowest-highest of {args.repeats}) "
          f"| features as float32 MB |  ({width}x{height}, {args.backend}, stride {args.stride}, load average "
          f"{os.getloadavg()[0]:.1f})")
    print("|-------:|----------------:|---------------:|------------------------------:|-----------------------:|")
    for frame_count, feature_count, seconds, peaks_mb in rows:
        features_mb = feature_count * FEATURE_DIM * 4 / 2**20
        print(
            f"| {frame_count} | {feature_count} | {seconds:.1f} | {min(peaks_mb):.1f}-{max(peaks_mb):.1f} "
            f"| {features_mb:.2f} |"
        )


def run_extraction(dataset_root: Path, video_id: str | None, shard_path: Path,
                   settings: dict, backend: str = "decord") -> tuple[float, float]:
    """Run the extraction job in a fresh process; return its peak RSS in MB and its wall time in seconds."""
    command = [
        sys.executable, "-m", "mmfeat", "extract-features",
        "--dataset-root", str(dataset_root),
        "--output", str(shard_path),
        "--extractor-name", "bench",
        "--extractor", json.dumps({**settings, "dtype": "float16"}),
        "--decode", json.dumps({"backend": backend, "on_unreadable": "fail"}),
    ]  # fmt: skip
    if video_id is not None:
        command[4:4] = ["--item", video_id]
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


def repeat_video(piece: Path, copies: int, path: Path) -> None:
    """`copies` times the packets of `piece` one after the other, timestamps shifted: the same stream, longer."""
    with av.open(str(piece)) as source, av.open(str(path), "w") as target:
        source_stream = source.streams.video[0]
        target_stream = target.add_stream_from_template(source_stream)
        packets = [packet for packet in source.demux(source_stream) if packet.size]
        span = source_stream.duration  # in the stream's time base
        for copy in range(copies):
            for packet in packets:
                packet.stream = target_stream
                packet.pts += span if copy else 0
                packet.dts += span if copy else 0
                target.mux(packet)


def stored_feature_count(shard_path: Path, video_id: str) -> int:
    """Rows of features the shard holds for `video_id` (0 when it has none)."""
    with h5py.File(shard_path, "r") as shard:
        return shard["features"][video_id].shape[0] if video_id in shard["features"] else 0


if __name__ == "__main__":
    main()
