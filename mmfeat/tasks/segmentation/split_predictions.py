"""Publish one split's predictions: MS-TCN prediction files, the evaluated bundle, the alignment report.

    publish_split_predictions(labels_by_video, sequences, left_out, split=1, policy="back",
                              predictions_dir=..., bundle_path=..., alignment_report_path=...)

Shared by every method that predicts a split (ASFormer, zero-shot), so that
their outputs read alike and are published alike: the prediction folder
appears complete or not at all, and the bundle lists exactly the videos that
have a prediction file; the alignment report names the ones left out and why.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmfeat.atomic import directory_replaced_on_success, write_text_atomically
from mmfeat.datasets.mstcn_files import write_prediction_file
from mmfeat.tasks.segmentation.sequences import VideoSequence, alignment_summary


def publish_split_predictions(labels_by_video: dict[str, list[str]], sequences: list[VideoSequence],
                              left_out: dict[str, str], split: int, policy: str, predictions_dir: str | Path,
                              bundle_path: str | Path, alignment_report_path: str | Path) -> None:
    """Write per-frame label names of each predicted video and the split's bundle and alignment report."""
    with directory_replaced_on_success(predictions_dir) as staging:  # a complete folder or none
        for video_id, labels in labels_by_video.items():
            write_prediction_file(staging / video_id, labels)
    write_text_atomically(bundle_path, "".join(f"{video_id}.txt\n" for video_id in labels_by_video))
    report = {"split": split, "videos": alignment_summary(sequences, policy), "left_out": left_out}
    write_text_atomically(alignment_report_path, json.dumps(report, indent=1) + "\n")
