"""Rows appended chunk by chunk (`ShardWriter.add_extracted_chunks`) read back exactly as a whole-array write."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.features.extractors.items import FRAME_INDEX, TIME_INTERVAL, Extracted, concatenated
from mmfeat.features.store import CHUNK_ROWS, FeatureStore, ShardWriter

SETTINGS = {"kind": "i3d", "window": 21}
ATTRS = {"source": "video", "fps": 15.0}


def _chunks(rows: int, batch: int, seed: int = 0) -> list[Extracted]:
    """Rows of random features and a joint embedding, cut into batches; positions with gaps."""
    generator = np.random.default_rng(seed)
    features = generator.normal(size=(rows, 16)).astype(np.float32)
    embedding = generator.normal(size=(rows, 4)).astype(np.float32)
    positions = np.cumsum(generator.integers(1, 4, size=rows)).astype(np.int64)
    return [Extracted(features=features[k : k + batch], positions=positions[k : k + batch], position_kind=FRAME_INDEX,
                      outputs={"video_embedding": embedding[k : k + batch]})
            for k in range(0, max(rows, 1), batch)]


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("rows", [0, 5, CHUNK_ROWS, 3 * CHUNK_ROWS + 7])
def test_streamed_rows_equal_a_whole_array_write(tmp_path, rows, dtype):
    chunks = _chunks(rows, batch=8)
    with ShardWriter(tmp_path / "whole.h5", "i3d", SETTINGS, dtype=dtype) as shard:
        shard.add_extracted("video-a", concatenated(iter(chunks)), ATTRS)
    with ShardWriter(tmp_path / "streamed.h5", "i3d", SETTINGS, dtype=dtype) as shard:
        assert shard.add_extracted_chunks("video-a", iter(chunks), ATTRS) == (rows, 16)
    whole, streamed = FeatureStore(tmp_path / "whole.h5"), FeatureStore(tmp_path / "streamed.h5")
    assert streamed.features("video-a").dtype == np.float32
    np.testing.assert_array_equal(streamed.features("video-a"), whole.features("video-a"))
    np.testing.assert_array_equal(streamed.features("video-a", "video_embedding"),
                                  whole.features("video-a", "video_embedding"))
    np.testing.assert_array_equal(streamed.positions("video-a"), whole.positions("video-a"))
    assert streamed.positions("video-a").dtype == np.int64
    assert streamed.position_kind("video-a") == FRAME_INDEX
    assert streamed.provenance("video-a") == whole.provenance("video-a")
    with h5py.File(tmp_path / "streamed.h5") as shard:  # streamed: chunked and growing, not held whole
        assert shard["features/video-a"].chunks == (CHUNK_ROWS, 16)
        assert shard["features/video-a"].maxshape == (None, 16)


def test_named_interval_rows_stream_with_their_names(tmp_path):
    chunks = [Extracted(features=np.ones((1, 3), np.float32) * k, positions=np.array([[k, k + 1.5]]),
                        position_kind=TIME_INTERVAL, row_names=[name])
              for k, name in enumerate(["punchline", "context"])]
    with ShardWriter(tmp_path / "shard.h5", "roberta", {"kind": "roberta"}, dtype="float32") as shard:
        shard.add_extracted_chunks("sample-1", iter(chunks), {"source": "text"})
    store = FeatureStore(tmp_path / "shard.h5")
    assert store.provenance("sample-1")["row_names"] == ["punchline", "context"]
    np.testing.assert_array_equal(store.positions("sample-1"), [[0, 1.5], [1, 2.5]])
    assert store.positions("sample-1").dtype == np.float64


def test_a_stream_that_fails_leaves_no_rows_and_the_item_can_be_excluded(tmp_path):
    def failing_chunks():
        yield from _chunks(20, batch=8)[:2]
        raise UserError("cannot decode frame 17 of video-b.mp4")

    with ShardWriter(tmp_path / "shard.h5", "i3d", SETTINGS) as shard:
        shard.add_extracted_chunks("video-a", iter(_chunks(10, batch=4)), ATTRS)
        with pytest.raises(UserError, match="frame 17 of video-b.mp4"):
            shard.add_extracted_chunks("video-b", failing_chunks(), ATTRS)
        shard.exclude_video("video-b", "cannot decode frame 17 of video-b.mp4")
    store = FeatureStore(tmp_path / "shard.h5")
    assert store.videos() == ["video-a"]
    assert store.excluded() == {"video-b": "cannot decode frame 17 of video-b.mp4"}
    with h5py.File(tmp_path / "shard.h5") as shard:
        assert "video-b" not in shard["positions"] and "video-b" not in shard["outputs/video_embedding"]


def test_chunks_must_agree_with_the_first_and_come_at_all(tmp_path):
    wider = Extracted(features=np.zeros((2, 17), np.float32), positions=np.arange(2), position_kind=FRAME_INDEX,
                      outputs={"video_embedding": np.zeros((2, 4), np.float32)})
    with ShardWriter(tmp_path / "shard.h5", "i3d", SETTINGS) as shard:
        with pytest.raises(ValueError, match="does not match its first chunk"):
            shard.add_extracted_chunks("video-a", iter(_chunks(8, batch=8) + [wider]), ATTRS)
        with pytest.raises(ValueError, match="no chunk for 'video-b'"):
            shard.add_extracted_chunks("video-b", iter([]), ATTRS)
        with pytest.raises(UserError, match="not finite as float16"):
            big = Extracted(features=np.full((1, 16), 1e6, np.float32), positions=np.arange(1),
                            position_kind=FRAME_INDEX)
            shard.add_extracted_chunks("video-c", iter([big]), ATTRS)
        shard.add_extracted_chunks("video-a", iter(_chunks(3, batch=2)), ATTRS)  # the failed ones left nothing
    assert FeatureStore(tmp_path / "shard.h5").videos() == ["video-a"]
