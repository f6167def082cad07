"""The decode settings from config to shard: the pyav backend and `on_damaged` reach the decoder and its record."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import yaml

from mmfeat.cli import main as mmfeat_main
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.video.damage import cut_slice_data
from mmfeat.video.encode import write_h264_video
from mmfeat.workflow_config import validate_config

TINY_SETTINGS = {"kind": "i3d", "window": 9, "resize_short": 36, "crop": 32, "device": "cpu", "dtype": "float16"}


@pytest.fixture()
def shipped_config(repo_root):
    return yaml.safe_load((repo_root / "config.yaml").read_text())


def test_on_damaged_defaults_to_skip_and_pyav_is_a_backend(shipped_config):
    config = copy.deepcopy(shipped_config)
    decode = config["datasets"]["50salads"]["decode"]
    decode["backend"] = "pyav"
    assert validate_config(config)["datasets"]["50salads"]["decode"]["on_damaged"] == "skip"
    decode["on_damaged"] = "drop"
    with pytest.raises(UserError, match=r"datasets\.50salads\.decode\.on_damaged: 'drop' is not one of"):
        validate_config(config)


def test_extract_features_passes_on_damaged_to_the_pyav_decoder(tmp_path):
    texture = np.random.default_rng(1).integers(0, 256, (48, 84, 3), dtype=np.uint8)
    videos_dir = tmp_path / "videos"
    videos_dir.mkdir()
    write_h264_video(videos_dir / "take.mp4", (np.ascontiguousarray(texture[:, t : t + 64]) for t in range(20)),
                     fps=15, gop=10, entropy_coder="cavlc")
    cut_slice_data(videos_dir / "take.mp4", 4)
    shard_path = tmp_path / "shard-0.h5"
    assert mmfeat_main([
        "extract-features", "--dataset-root", str(tmp_path), "--item", "take", "--output", str(shard_path),
        "--extractor-name", "i3d_tiny", "--extractor", json.dumps(TINY_SETTINGS),
        "--decode", json.dumps({"backend": "pyav", "on_damaged": "skip_until_keyframe"}),
    ]) == 0
    store = FeatureStore(shard_path)
    record = store.decode_records()["take"]
    assert (record["backend"], record["damaged_indices"], record["dependant_indices"]) == ("pyav", [4], [5, 6, 7, 8, 9])
    assert record["skipped_indices"] == [4, 5, 6, 7, 8, 9]
    assert not set(store.frame_indices("take")) & set(range(4, 10))  # no feature comes from a damaged frame
