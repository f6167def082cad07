"""A dataset in the MS-TCN / ASFormer layout, as 50Salads is distributed.

    ROOT/mapping.txt                     "idx name" per line
    ROOT/groundTruth/{video}.txt         one label per frame
    ROOT/splits/{train,test}.split{k}.bundle   file names with .txt
    ROOT/videos/{video}.*                raw videos (features extracted by the workflow)
    ROOT/features/{video}.npy            or precomputed features, shape (D, T)

The dataset kind `segmentation` of the layout registry (mmfeat.datasets.layouts):
its items are videos with per-frame labels, no audio segments or transcripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import numpy as np

from mmfeat.datasets.layouts import TimedText
from mmfeat.datasets.mstcn_files import read_bundle, read_frame_labels, read_mapping
from mmfeat.datasets.roots import require_dataset_root
from mmfeat.errors import UserError
from mmfeat.features.video_files import find_video_files

DATA_SECTION_HINT = "see README.md, section 'Data', for the expected layout"


class SegmentationDataset:
    """Read access to one dataset root; every error names the file that is wrong."""

    KIND = "segmentation"  # the layout registry's members (mmfeat.datasets.layouts.DatasetLayout)
    READS = frozenset({"video"})
    TRANSCRIPT_READS = frozenset()
    MISSING_VIDEO_EXCLUDES = False  # every annotated video is needed: a missing one is an error
    TRANSCRIPT_FILE = None

    def __init__(self, root: str | Path):
        self.root = require_dataset_root(root, DATA_SECTION_HINT)
        if not self.mapping_path.is_file():
            raise UserError(f"{self.mapping_path} is missing; {DATA_SECTION_HINT}")

    @property
    def mapping_path(self) -> Path:
        return self.root / "mapping.txt"

    @property
    def ground_truth_dir(self) -> Path:
        return self.root / "groundTruth"

    @cached_property
    def class_index(self) -> dict[str, int]:
        """Label name -> class index, from mapping.txt."""
        return read_mapping(self.mapping_path)

    @cached_property
    def class_names(self) -> list[str]:
        """Label names ordered by class index."""
        return [name for name, _ in sorted(self.class_index.items(), key=lambda item: item[1])]

    def video_ids(self) -> list[str]:
        """Every annotated video: the stems of groundTruth/*.txt."""
        if not self.ground_truth_dir.is_dir():
            raise UserError(f"{self.ground_truth_dir} is missing; {DATA_SECTION_HINT}")
        return sorted(path.stem for path in self.ground_truth_dir.glob("*.txt"))

    def ground_truth_path(self, video_id: str) -> Path:
        return self.ground_truth_dir / f"{video_id}.txt"

    def label_names(self, video_id: str) -> list[str]:
        """The per-frame label names of one video, as written in its groundTruth file."""
        path = self.ground_truth_path(video_id)
        if not path.is_file():
            raise UserError(f"{path} is missing: video {video_id!r} has no ground truth; {DATA_SECTION_HINT}")
        return read_frame_labels(path)

    def labels(self, video_id: str) -> np.ndarray:
        """The per-frame class indices of one video; an unknown label names file and line."""
        names = self.label_names(video_id)
        index = self.class_index
        unknown = next(((line, name) for line, name in enumerate(names, 1) if name not in index), None)
        if unknown is not None:
            line, name = unknown
            raise UserError(f"{self.ground_truth_path(video_id)}, line {line}: label {name!r} "
                            f"is not in {self.mapping_path}")
        return np.array([index[name] for name in names], dtype=np.int64)

    def bundle_path(self, part: str, split: int) -> Path:
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', not {part!r}")
        return self.root / "splits" / f"{part}.split{split}.bundle"

    def split_video_ids(self, part: str, split: int) -> list[str]:
        """Video ids of a split's train or test bundle, in the bundle's order.

        A listed video without a groundTruth file is an error naming both files:
        the workflow lists a dataset's videos from groundTruth/, so such a video
        would otherwise look like one whose features are missing.
        """
        path = self.bundle_path(part, split)
        if not path.is_file():
            raise UserError(f"{path} is missing; {DATA_SECTION_HINT}")
        video_ids = [Path(name).stem for name in read_bundle(path)]
        for video_id in video_ids:
            if not self.ground_truth_path(video_id).is_file():
                raise UserError(f"{path} lists video {video_id!r}, but {self.ground_truth_path(video_id)} is "
                                "missing; add its ground truth, or remove the video from the bundle")
        return video_ids

    # --- the layout protocol (mmfeat.datasets.layouts.DatasetLayout)

    @staticmethod
    def annotation_files(root: Path, item_ids: list[str], config: Mapping) -> list[Path]:
        """mapping.txt, the ground truth of every video and both bundles of every split."""
        root = Path(root)
        return ([root / "mapping.txt"] + [root / "groundTruth" / f"{video}.txt" for video in item_ids]
                + [root / "splits" / f"{part}.split{k}.bundle" for k in range(1, config["splits"] + 1)
                   for part in ("train", "test")])

    @staticmethod
    def check_settings(config: Mapping) -> dict:
        return {"kind": SegmentationDataset.KIND, "splits": config["splits"],
                "precomputed": config["features"]["precomputed"], "background": config["background"]}

    def check_watched(self, config: Mapping) -> list[Path]:
        watched = [self.mapping_path, self.ground_truth_dir, self.bundle_path("train", 1).parent]
        return watched + ([self.root / "features"] if config["features"]["precomputed"] else [])

    def check_configured(self, config: Mapping) -> None:
        """Labels, mapping, bundles, background labels and precomputed .npy shapes (segmentation_check)."""
        from mmfeat.datasets.segmentation_check import check_segmentation_dataset  # it imports this module

        check_segmentation_dataset(self.root, config["splits"], config["features"]["precomputed"],
                                   config["background"])

    def item_ids(self) -> list[str]:
        return self.video_ids()

    def video_files(self, item_ids: list[str]) -> dict[str, Path]:
        """ROOT/videos/{id}.* of each video; UserError naming the first without one."""
        return find_video_files(self.root / "videos", item_ids)

    def audio_segments(self, item_id: str) -> dict[str, tuple[float, float]]:
        raise UserError(f"{self.root}: the MS-TCN layout has per-frame labels, no audio segments to pool over")

    def timed_texts(self, item_id: str) -> dict[str, TimedText]:
        raise UserError(f"{self.root}: the MS-TCN layout has per-frame labels, no transcripts")
