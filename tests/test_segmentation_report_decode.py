"""The report's decoding section: frames skipped as damaged, and frames kept that were decoded from damaged ones."""

from __future__ import annotations

import numpy as np

from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.tasks.segmentation.report import _decode_section


def _record(backend: str, skipped: list[int], **pyav_lists) -> dict:
    return {"path": "v.mp4", "backend": backend, "frames_expected": 20, "frames_decoded": 20 - len(skipped),
            "skipped_indices": skipped, "fps": 15.0, "width": 64, "height": 48, **pyav_lists}


def test_lists_skipped_frames_and_flags_kept_frames_decoded_from_damaged_ones(tmp_path):
    records = {
        "kept-dependants": _record("pyav", [4], damaged_indices=[4], dependant_indices=[5, 6, 7, 8, 9]),
        "dropped-dependants": _record("pyav", [4, 5, 6, 7, 8, 9], damaged_indices=[4],
                                      dependant_indices=[5, 6, 7, 8, 9]),
        "older-record": _record("decord", [10, 11, 12]),  # written before the pyav lists existed
        "clean": _record("pyav", [], damaged_indices=[], dependant_indices=[]),
    }
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}) as shard:
        for video_id, record in records.items():
            shard.add_video(video_id, np.zeros((1, 2)), np.array([0]), {"source": "video"})
            shard.add_decode_record(video_id, record)
    section = _decode_section({"i3d": FeatureStore(tmp_path / "shard-0.h5")}, splits=[]).splitlines()
    assert ("- 4 videos decoded; 10 damaged frames skipped in 3 videos; "
            "5 frames decoded from damaged frames kept, flagged below.") in section
    assert "| kept-dependants | 20 | 19 | 4 | 5-9 | pyav |" in section
    assert "| dropped-dependants | 20 | 14 | 4-9 | - | pyav |" in section
    assert "| older-record | 20 | 17 | 10-12 | - | decord |" in section
    assert not any(line.startswith("| clean |") for line in section)
