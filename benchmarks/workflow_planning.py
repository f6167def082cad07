"""Workflow planning time: `snakemake -n` on a 10,000-video dataset with 4 extractors, no job run.

    /work/main/.venv/bin/python benchmarks/workflow_planning.py                 # 10,000 videos, 64 shards
    /work/main/.venv/bin/python benchmarks/workflow_planning.py --profile plan.prof   # where the time goes

Writes (once; reused from --cache) a dataset in the MS-TCN layout with empty
video files and one-line ground truth, and a config naming it with two I3D
and two S3D extractors, each trained on by ASFormer over 5 splits, plus
zero-shot on one S3D. Then times the dry run that plans its report,
`snakemake -n --cores 1`, in a fresh process, `--repeats` times, and prints
the wall seconds of each run and the number of jobs planned. `--profile`
runs the planning once under cProfile instead and writes its statistics.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET = "plan-bench"
EXTRACTORS = {  # two of each video kind; their settings differ only by name-worthy values
    "i3d-a": {"kind": "i3d", "stride": 1},
    "i3d-b": {"kind": "i3d", "stride": 2},
    "s3d-a": {"kind": "s3d"},
    "s3d-b": {"kind": "s3d", "step_seconds": 0.5},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--label-frames", type=int, default=2,
                        help="ground-truth lines per video (the check before any job reads them all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mmfeat-benchmarks/planning"),
                        help="working folder for the generated dataset (outside git; reused)")
    parser.add_argument("--profile", type=Path, help="profile one planning run into this file instead")
    args = parser.parse_args()

    workdir = args.cache / (f"{args.videos}-videos" if args.label_frames == 2
                            else f"{args.videos}-videos-{args.label_frames}-frames")
    config_path = write_dataset_and_config(workdir, args.videos, args.shards, args.label_frames)
    # the first run checks the dataset; the later ones find the check remembered (check_cache.py)
    shutil.rmtree(workdir / ".snakemake" / "mmfeat-checks", ignore_errors=True)
    command = [sys.executable, "-m", "snakemake", f"results/{DATASET}/report.md", "-s", str(REPO_ROOT / "Snakefile"),
               "-d", str(workdir), "--configfile", str(config_path), "-n", "--cores", "1"]
    if args.profile:
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(args.profile.resolve()), *command[1:]],
                       check=True, cwd=REPO_ROOT)
        print(f"profile written to {args.profile}")
        return
    for repeat in range(args.repeats):
        started, cpu_before = time.perf_counter(), _children_cpu_seconds()
        result = subprocess.run(command, check=True, cwd=REPO_ROOT, capture_output=True, text=True)
        seconds, cpu_seconds = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
        jobs = re.search(r"^total\s+(\d+)", result.stdout, re.MULTILINE)
        checked = "dataset checked" if repeat == 0 else "check remembered"
        print(f"run {repeat + 1} ({checked}): {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU, "
              f"{jobs.group(1) if jobs else '?'} jobs planned, load average {os.getloadavg()[0]:.1f}", flush=True)


def _children_cpu_seconds() -> float:
    """User + system CPU time of finished child processes: on a shared machine, what the run itself cost."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_dataset_and_config(workdir: Path, videos: int, shards: int, label_frames: int) -> Path:
    """The dataset's files (empty videos) and the config; rewritten only when missing."""
    root = workdir / "dataset"
    done = workdir / "complete"
    if not done.is_file():
        shutil.rmtree(workdir, ignore_errors=True)
        for folder in ("groundTruth", "splits", "videos"):
            (root / folder).mkdir(parents=True)
        (root / "mapping.txt").write_text("0 background\n1 action\n")
        ids = [f"video-{number:05d}" for number in range(videos)]
        labels = "".join("background\n" if frame < label_frames // 2 else "action\n" for frame in range(label_frames))
        for video_id in ids:
            (root / "groundTruth" / f"{video_id}.txt").write_text(labels)
            (root / "videos" / f"{video_id}.mp4").touch()
        for split in range(1, 6):
            test = [video_id for number, video_id in enumerate(ids) if number % 5 == split - 1]
            train = [video_id for number, video_id in enumerate(ids) if number % 5 != split - 1]
            (root / "splits" / f"test.split{split}.bundle").write_text("".join(f"{v}.txt\n" for v in test))
            (root / "splits" / f"train.split{split}.bundle").write_text("".join(f"{v}.txt\n" for v in train))
        done.touch()
    config_path = workdir / "config.yaml"
    extractor_lines = "".join(
        f"  {name}:\n" + "".join(f"    {key}: {value}\n" for key, value in entry.items())
        for name, entry in EXTRACTORS.items()
    )
    config_path.write_text(
        f"datasets:\n  {DATASET}:\n    kind: segmentation\n    root: {root}\n"
        f"    features:\n      video: [{', '.join(EXTRACTORS)}]\n      num_shards: {shards}\n"
        f"    zero_shot:\n      extractor: s3d-a\n    decode:\n      backend: decord\n"
        f"    splits: 5\n    model: asformer\n"
        f"extractors:\n{extractor_lines}"
        f"models:\n  asformer:\n    kind: asformer\n"
    )
    return config_path


if __name__ == "__main__":
    main()
