"""The HDF5 shard store (write, read back, refuse what is not a complete shard) and sharding."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.features.sharding import shard_of, videos_in_shard
from mmfeat.features.store import FeatureStore, ShardWriter

SETTINGS = {"kind": "i3d", "crop": 224, "window": 21}


def write_shard(path, videos: dict[str, np.ndarray], dtype="float16", excluded=None) -> None:
    """A shard with `videos` (id -> features), frame indices 0..T-1 and a decode record each."""
    with ShardWriter(path, "i3d", SETTINGS, dtype=dtype) as shard:
        for video_id, features in videos.items():
            shard.add_video(video_id, features, np.arange(len(features)), {"source": "video", "fps": 15.0})
            shard.add_decode_record(video_id, {"frames_decoded": len(features), "skipped_indices": []})
        for video_id, reason in (excluded or {}).items():
            shard.exclude_video(video_id, reason)


def test_shard_numbers_are_stable_across_runs_and_machines():
    # computed once with sha1; Python's hash() would change with every process
    assert [shard_of(video, 4) for video in ("rgb-01-1", "rgb-02-2", "rgb-27-2", "video-a")] == [0, 1, 0, 3]
    assert shard_of("rgb-01-1", 1000) == 412
    assert shard_of("anything", 1) == 0


def test_adding_a_video_changes_only_its_own_shard():
    videos = [f"rgb-{k:02d}-{take}" for k in range(1, 26) for take in (1, 2)]
    before = {shard: videos_in_shard(videos, shard, 5) for shard in range(5)}
    after = {shard: videos_in_shard(videos + ["rgb-99-1"], shard, 5) for shard in range(5)}
    new_home = shard_of("rgb-99-1", 5)
    assert after[new_home] == before[new_home] + ["rgb-99-1"]
    assert all(after[shard] == before[shard] for shard in range(5) if shard != new_home)
    assert sorted(sum(before.values(), [])) == sorted(videos)
    with pytest.raises(ValueError, match="out of range"):
        videos_in_shard(videos, 5, 5)


def test_written_shard_reads_back_with_its_provenance_and_manifest(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(18_000, 8)).astype(np.float32)  # a 50Salads-long video
    frame_indices = np.delete(np.arange(18_010), range(100, 110))  # ten frames skipped as damaged
    record = {"path": "v.mp4", "frames_decoded": 18_000, "skipped_indices": list(range(100, 110)) * 1000}
    shard_path = tmp_path / "shard-0.h5"
    with ShardWriter(shard_path, "i3d", SETTINGS, dtype="float16") as shard:
        shard.add_video(
            "rgb-01-1",
            features,
            frame_indices,
            {"source": "video", "fps": 30.0, "weights": {"kind": "random", "seed": 0}, "versions": {"torch": "x"}},
        )
        shard.add_decode_record("rgb-01-1", record)
        shard.exclude_video("rgb-02-1", "rgb-02-1.mp4: cannot open with decord")
        assert not shard_path.exists()  # only once the block ends cleanly

    store = FeatureStore(shard_path)
    assert store.videos() == ["rgb-01-1"]
    read_back = store.features("rgb-01-1")
    assert read_back.dtype == np.float32 and read_back.shape == (18_000, 8)
    np.testing.assert_allclose(read_back, features, rtol=1e-3, atol=1e-3)  # float16 on disk
    np.testing.assert_array_equal(store.frame_indices("rgb-01-1"), frame_indices)
    assert store.provenance("rgb-01-1") == {
        "extractor": "i3d",
        "settings": SETTINGS,
        "stored_dtype": "float16",
        "source": "video",
        "fps": 30.0,
        "weights": {"kind": "random", "seed": 0},
        "versions": {"torch": "x"},
    }
    assert store.decode_records() == {"rgb-01-1": record}
    assert store.excluded() == {"rgb-02-1": "rgb-02-1.mp4: cannot open with decord"}
    with h5py.File(shard_path) as raw:
        assert raw["features/rgb-01-1"].dtype == np.float16 and raw["features/rgb-01-1"].compression is None


def test_a_failed_block_leaves_no_file(tmp_path):
    shard_path = tmp_path / "shard-3.h5"
    with pytest.raises(RuntimeError, match="decoder crashed"):
        with ShardWriter(shard_path, "i3d", SETTINGS) as shard:
            shard.add_video("a", np.ones((3, 4)), np.arange(3), {})
            raise RuntimeError("decoder crashed")
    assert list(tmp_path.iterdir()) == []


def test_empty_shard_is_valid(tmp_path):
    write_shard(tmp_path / "shard-0.h5", {})
    store = FeatureStore(tmp_path)
    assert store.videos() == [] and store.decode_records() == {} and store.excluded() == {}


def test_folder_of_shards_reads_as_one_store(tmp_path):
    write_shard(tmp_path / "shard-0.h5", {"a": np.ones((3, 4))}, excluded={"c": "unreadable"})
    write_shard(tmp_path / "shard-1.h5", {"b": np.zeros((5, 4))}, dtype="float32")
    (tmp_path / ".shard-2.h5.123.tmp").write_bytes(b"a job still writing")
    store = FeatureStore(tmp_path)
    assert store.videos() == ["a", "b"]
    assert store.features("b").shape == (5, 4)
    assert store.excluded() == {"c": "unreadable"}
    assert set(store.decode_records()) == {"a", "b"}
    with pytest.raises(KeyError, match=r"'zz' is not in FeatureStore\(2 shards in .*\)"):
        store.features("zz")


def test_video_in_two_shards_is_an_error(tmp_path):
    write_shard(tmp_path / "shard-0.h5", {"a": np.ones((3, 4))})
    write_shard(tmp_path / "shard-1.h5", {"a": np.ones((3, 4))})
    with pytest.raises(UserError, match=r"'a' is in both .*shard-0\.h5 and .*shard-1\.h5"):
        FeatureStore(tmp_path)


def test_files_that_are_not_complete_shards_are_refused_by_name(tmp_path):
    not_hdf5 = tmp_path / "shard-0.h5"
    not_hdf5.write_bytes(b"\x89HDF but not really")
    with pytest.raises(UserError, match=r"shard-0\.h5 is not a readable HDF5 file"):
        FeatureStore([not_hdf5])

    other_hdf5 = tmp_path / "other.h5"
    with h5py.File(other_hdf5, "w") as raw:
        raw["x"] = np.ones(3)
    with pytest.raises(UserError, match=r"other\.h5 is not a complete mmfeat feature shard"):
        FeatureStore([other_hdf5])

    incomplete = tmp_path / "shard-1.h5"
    write_shard(incomplete, {"a": np.ones((3, 4))})
    with h5py.File(incomplete, "a") as raw:
        raw.attrs["complete"] = False  # as in a copy taken while its job was writing
    with pytest.raises(UserError, match=r"shard-1\.h5 is not a complete mmfeat feature shard"):
        FeatureStore([incomplete])

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(UserError, match=r"no feature shards \(\*\.h5\) in .*empty"):
        FeatureStore(empty_dir)
    with pytest.raises(UserError, match=r"not found: .*absent\.h5"):
        FeatureStore([tmp_path / "absent.h5"])


def test_writer_refuses_bad_input(tmp_path):
    with pytest.raises(UserError, match="dtype 'int8'"):
        ShardWriter(tmp_path / "s.h5", "i3d", SETTINGS, dtype="int8")
    with pytest.raises(UserError, match=r"'big' are not finite as float16.*dtype: float32"):
        with ShardWriter(tmp_path / "s.h5", "i3d", SETTINGS) as shard:
            shard.add_video("big", np.full((2, 2), 1e6), np.arange(2), {})
    with pytest.raises(ValueError, match="already added"):
        with ShardWriter(tmp_path / "s.h5", "i3d", SETTINGS) as shard:
            shard.add_video("a", np.ones((2, 2)), np.arange(2), {})
            shard.exclude_video("a", "twice")
    with pytest.raises(ValueError, match="without '/'"):
        with ShardWriter(tmp_path / "s.h5", "i3d", SETTINGS) as shard:
            shard.add_video("P03/cam01", np.ones((2, 2)), np.arange(2), {})
    with pytest.raises(ValueError, match=r"frame_index positions of 'a' must have shape \(2,\)"):
        with ShardWriter(tmp_path / "s.h5", "i3d", SETTINGS) as shard:
            shard.add_video("a", np.ones((2, 2)), np.arange(3), {})
    assert list(tmp_path.iterdir()) == []


def test_rows_keep_their_positions_outputs_and_names(tmp_path):
    """Audio and text extractors store sample ranges and time intervals; S3D a second output per row."""
    from mmfeat.features.extractors.items import SAMPLE_RANGE, TIME_INTERVAL, Extracted

    path = tmp_path / "shard-0.h5"
    windows = Extracted(features=np.ones((3, 4)), positions=np.array([15, 45, 75]), position_kind="frame_index",
                        outputs={"video_embedding": np.full((3, 2), 0.5)})
    sentences = Extracted(features=np.zeros((2, 4)), positions=np.array([[1.5, 2.25], [0.0, 1.5]]),
                          position_kind=TIME_INTERVAL, row_names=["punchline", "context"])
    with ShardWriter(path, "mixed", SETTINGS) as shard:
        shard.add_extracted("clip", windows, {"source": "video"})
        shard.add_extracted("sample", sentences, {"source": "text"})
        with pytest.raises(ValueError, match=r"sample_range positions of 'audio' must have shape \(1, 2\)"):
            shard.add_video("audio", np.zeros((1, 4)), np.array([0]), {}, position_kind=SAMPLE_RANGE)

    store = FeatureStore(path)
    assert store.position_kind("clip") == "frame_index"
    np.testing.assert_array_equal(store.frame_indices("clip"), [15, 45, 75])
    np.testing.assert_array_equal(store.features("clip", output="video_embedding"), np.full((3, 2), 0.5))
    with pytest.raises(KeyError, match="no output 'text_embedding'"):
        store.features("clip", output="text_embedding")
    assert store.position_kind("sample") == "time_interval"
    np.testing.assert_array_equal(store.positions("sample"), [[1.5, 2.25], [0.0, 1.5]])
    assert store.provenance("sample")["row_names"] == ["punchline", "context"]
    with pytest.raises(UserError, match="time_interval positions, not video frames"):
        store.frame_indices("sample")


def test_a_shard_of_another_format_version_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "shard-0.h5"
    write_shard(path, {"v": np.zeros((2, 3))})
    with h5py.File(path, "a") as shard:
        shard.attrs["format_version"] = 1
    with pytest.raises(UserError, match="format version 1.*delete it and re-run"):
        FeatureStore(path)
