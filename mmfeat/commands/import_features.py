"""`mmfeat import-features`: store published per-video .npy features in one HDF5 shard.

    mmfeat import-features --features-dir data/50salads/features --item rgb-01-1 --item rgb-02-1 \\
        --output results/50salads/features/precomputed/shard-0.h5 --dtype float32

Each `FEATURES_DIR/{ID}.npy` holds a (D, T) array, the layout the MS-TCN and
ASFormer authors published; it is stored transposed, as (T, D), with frame
indices 0..T-1, so that imported and extracted features read alike. Before
anything is written, every file's shape is checked from its header: files whose
D differs from the others', and, with --ground-truth-dir, files saved as (T, D)
(see mmfeat.datasets.precomputed_features), fail the import naming the file.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmfeat.datasets.mstcn_files import read_frame_labels
from mmfeat.datasets.precomputed_features import npy_shape, shape_problems
from mmfeat.errors import UserError

NAME = "import-features"
HELP = "Import precomputed (D, T) .npy features into one HDF5 feature shard."

EXTRACTOR = "precomputed"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the subcommand."""
    parser.add_argument("--features-dir", required=True, metavar="DIR", help="folder holding {ID}.npy of shape (D, T)")
    parser.add_argument(
        "--item", action="append", default=[], metavar="ID", help="a video id; repeat for each (none: empty shard)"
    )
    parser.add_argument("--output", required=True, help="the HDF5 shard to write")
    parser.add_argument("--dtype", required=True, choices=("float16", "float32"),
                        help="stored feature type (the workflow imports float32: no precision lost)")
    parser.add_argument("--ground-truth-dir", metavar="DIR",
                        help="the dataset's groundTruth/ folder: each file's T is checked against {ID}.txt's length")


def run(args: argparse.Namespace) -> int:
    """Import every listed video's .npy into the shard at --output."""
    from mmfeat.features.provenance import file_sha256, package_versions
    from mmfeat.features.store import ShardWriter

    features_dir = Path(args.features_dir)
    ground_truth_dir = Path(args.ground_truth_dir) if args.ground_truth_dir else None
    check_shapes({video_id: features_dir / f"{video_id}.npy" for video_id in args.item}, ground_truth_dir)
    settings = {"kind": EXTRACTOR, "layout": "(D, T) per video, stored as (T, D)"}
    versions = package_versions()
    with ShardWriter(args.output, EXTRACTOR, settings, dtype=args.dtype) as shard:
        for video_id in tqdm(args.item, desc="videos", unit="video"):
            npy_path = features_dir / f"{video_id}.npy"
            features = load_published_features(npy_path)
            provenance = {
                "source": "precomputed",
                "source_file": str(npy_path),
                "source_sha256": file_sha256(npy_path),
                "fps": None,  # not known from the .npy alone
                "versions": versions,
            }
            shard.add_video(video_id, features, np.arange(len(features), dtype=np.int64), provenance)
            log.info("%s: %d frames x %d features from %s", video_id, *features.shape, npy_path)
    return 0


def check_shapes(npy_paths: dict[str, Path], ground_truth_dir: Path | None) -> None:
    """Raise a UserError listing the files saved as (T, D) (when the ground truth is given)
    and those whose feature dimension D differs from the others'."""
    shapes = {path: npy_shape(path) for path in npy_paths.values()}
    label_frames = {} if ground_truth_dir is None else {
        path: len(read_frame_labels(ground_truth_dir / f"{video_id}.txt")) for video_id, path in npy_paths.items()}
    problems = shape_problems(shapes, label_frames)
    if problems:
        raise UserError("cannot import these features:\n  " + "\n  ".join(problems))


def load_published_features(npy_path: Path) -> np.ndarray:
    """A (D, T) .npy as a finite float32 (T, D) array; UserError naming the file otherwise."""
    if not npy_path.is_file():
        raise UserError(f"{npy_path}: no such features file; add it or remove the video from the dataset")
    try:
        features = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"{npy_path}: not a readable .npy array ({error}); replace the file") from error
    if features.ndim != 2 or 0 in features.shape:
        raise UserError(f"{npy_path}: expected a non-empty 2-D (D, T) array, got shape {features.shape}")
    if not np.issubdtype(features.dtype, np.number):
        raise UserError(f"{npy_path}: expected numbers, got dtype {features.dtype}")
    if not np.isfinite(features).all():
        raise UserError(f"{npy_path}: holds NaN or infinite values; replace the file")
    return np.ascontiguousarray(features.T, dtype=np.float32)
