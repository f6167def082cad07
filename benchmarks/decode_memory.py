"""Peak memory of decoding a short and a 20x longer video with each backend.

    .venv/bin/python benchmarks/decode_memory.py            # 100 vs 2000 frames at 320x240

Writes the two videos to a temporary folder, then decodes each with each
backend in a fresh subprocess (so that one case's peak cannot hide another's)
and reports how far the peak resident memory (VmHWM in /proc/self/status)
rose above the memory held before decoding began, libraries already imported.
If decoding streams frames, the rise does not grow with the video's length.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/process_memory.py

from process_memory import reset_peak, status_kb  # noqa: E402

from mmfeat.video.decode import BACKENDS, open_video  # noqa: E402
from mmfeat.video.encode import write_h264_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs=2, default=(100, 2000), metavar=("SHORT", "LONG"))
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--measure", nargs=2, metavar=("VIDEO", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # the subprocess side
        print(json.dumps(measure_one(Path(args.measure[0]), args.measure[1])))
        return

    width, height = args.size
    with tempfile.TemporaryDirectory(prefix="decode-memory-") as workdir:
        rows = []
        for frame_count in args.frames:
            video = Path(workdir) / f"{frame_count}-frames.mp4"
            write_h264_video(video, moving_pattern(frame_count, width, height), fps=25, gop=25)
            size_mb = video.stat().st_size / 2**20
            for backend in BACKENDS:
                command = [sys.executable, __file__, "--measure", str(video), backend]
                result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
                rows.append((frame_count, size_mb, backend, result))
    print(f"| frames | file MB | backend | frames decoded | peak RSS rise MB | seconds |  ({width}x{height})")
    print("|-------:|--------:|---------|---------------:|-----------------:|--------:|")
    for frame_count, size_mb, backend, result in rows:
        print(
            f"| {frame_count} | {size_mb:.1f} | {backend} | {result['frames_decoded']} "
            f"| {result['peak_rise_mb']:.1f} | {result['seconds']:.1f} |"
        )


def moving_pattern(frame_count: int, width: int, height: int):
    """Frames of a drifting colour gradient with a moving square: cheap to encode, not trivial to decode."""
    rows, columns = np.mgrid[0:height, 0:width]
    for index in range(frame_count):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (columns + 2 * index) % 256
        frame[..., 1] = (rows + index) % 256
        frame[..., 2] = (columns + rows + 3 * index) % 256
        x, y = (5 * index) % (width - 32), (3 * index) % (height - 32)
        frame[y : y + 32, x : x + 32] = 255
        yield frame


def measure_one(video: Path, backend: str) -> dict:
    """Decode every frame of `video`, keeping none, and report the peak memory rise over the start."""
    import cv2  # noqa: F401  imported before the baseline, as decode imports them lazily
    import decord  # noqa: F401

    reset_peak()
    baseline_kb = status_kb("VmRSS")
    started = time.perf_counter()
    checksum = 0
    with open_video(video, backend) as frames:
        for _, frame in frames:
            checksum += int(frame[0, 0, 0])  # touch the frame, then let it go
    seconds = time.perf_counter() - started
    return {
        "frames_decoded": frames.record.frames_decoded,
        "peak_rise_mb": (status_kb("VmHWM") - baseline_kb) / 1024,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
