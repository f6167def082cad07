"""Reading features from HDF5 shards (FeatureStore) against a plain np.load of the same arrays.

    .venv/bin/python benchmarks/store_reads.py                   # 40 videos x 5,000 frames x 2048, 8 shards
    .venv/bin/python benchmarks/store_reads.py --videos 16 --frames 2000

Writes --videos random feature arrays (T, D) with ShardWriter into 8 shards (float16,
as the extraction jobs write them; each video in the shard `shard_of` gives it), and
the same arrays as .npy files, once as stored (float16) and once as float32, then
times, alternately and --repeats times:

- one video: `store.features(id)` (opens its shard, reads, converts to float32)
  against `np.load` of the float16 file + `astype(float32)` (the same result) and
  against `np.load` of the float32 file (what MS-TCN-style loaders read);
- a split: opening a FeatureStore on the 8 shards and reading every video, against
  `np.load` of every float16 file + `astype(float32)`.

All files are read from the page cache (just written, re-read every repetition): this
measures the reading code, not the disk. Results are checked to be equal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed

from mmfeat.features.sharding import shard_of  # noqa: E402
from mmfeat.features.store import FeatureStore, ShardWriter  # noqa: E402

NUM_SHARDS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--frames", type=int, default=5000, help="frames of each video (x 0.8-1.2, at random)")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    generator = np.random.default_rng(0)
    video_ids = [f"video-{index:03d}" for index in range(args.videos)]
    arrays = {video_id: generator.standard_normal(
        (int(args.frames * generator.uniform(0.8, 1.2)), args.dim), dtype=np.float32).astype(np.float16)
        for video_id in video_ids}
    megabytes = sum(array.nbytes for array in arrays.values()) / 2**20
    print(f"{args.videos} videos, {megabytes:.0f} MB as float16 in {NUM_SHARDS} shards, {args.repeats} repetitions")

    with tempfile.TemporaryDirectory(prefix="store-reads-") as workdir:
        folder = Path(workdir)
        write_shards(folder, arrays)
        for video_id, array in arrays.items():
            np.save(folder / f"{video_id}.f16.npy", array)
            np.save(folder / f"{video_id}.f32.npy", array.astype(np.float32))
        store = FeatureStore(sorted(folder.glob("*.h5")))
        one = video_ids[len(video_ids) // 2]
        if not np.array_equal(store.features(one), np.load(folder / f"{one}.f32.npy")):
            raise SystemExit("the store returned other values than were written")

        def split_from_store() -> None:
            split_store = FeatureStore(sorted(folder.glob("*.h5")))
            for video_id in video_ids:
                split_store.features(video_id)

        def split_from_npy() -> None:
            for video_id in video_ids:
                np.load(folder / f"{video_id}.f16.npy").astype(np.float32)

        cases = {
            f"one video ({arrays[one].shape[0]} x {args.dim})": {
                "FeatureStore.features": lambda: store.features(one),
                "np.load float16 + astype": lambda: np.load(folder / f"{one}.f16.npy").astype(np.float32),
                "np.load float32": lambda: np.load(folder / f"{one}.f32.npy"),
            },
            f"split ({args.videos} videos, {NUM_SHARDS} shards)": {
                "FeatureStore(8 shards) + features": split_from_store,
                "np.load float16 + astype": split_from_npy,
            },
            "opening the store": {
                "FeatureStore(8 shards)": lambda: FeatureStore(sorted(folder.glob("*.h5"))),
            },
        }
        print("| case | reader | ms median (min-max) | store time / this time, median of repetitions |")
        print("|------|--------|--------------------:|----------------------------------------------:|")
        for case, readers in cases.items():
            seconds = alternate_timings(readers, args.repeats)
            store_name = next(iter(readers))
            for name, times in seconds.items():
                ratios = [ours / theirs for ours, theirs in zip(seconds[store_name], times)]
                print(f"| {case} | {name} | {1e3 * statistics.median(times):.1f} "
                      f"({1e3 * min(times):.1f}-{1e3 * max(times):.1f}) | {statistics.median(ratios):.2f} |")


def write_shards(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    for shard in range(NUM_SHARDS):
        with ShardWriter(folder / f"shard-{shard}.h5", "random", {"dim": 0}, dtype="float16") as writer:
            for video_id, array in arrays.items():
                if shard_of(video_id, NUM_SHARDS) == shard:
                    writer.add_video(video_id, array, np.arange(array.shape[0]), {"source": "random"})


def alternate_timings(readers: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeats):
        for name, read in readers.items():
            start = time.perf_counter()
            read()
            seconds[name].append(time.perf_counter() - start)
    return seconds


if __name__ == "__main__":
    main()
