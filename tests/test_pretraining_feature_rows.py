"""NarratedFeatures: per-second video rows checked against the videos, audio pooled over the same seconds."""

from __future__ import annotations

import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
from narrated_shards import FPS, write_audio_shard, write_narrated, write_video_shard

CAPTION = [(0.0, 1.0, "cut the tomato")]


@pytest.fixture()
def three_videos(tmp_path):
    """v3 lasts 3 s (rows at 0, 1, 2 s), v2 2 s (rows at 0, 1 s), broken has no features (excluded)."""
    return write_narrated(tmp_path / "data", {"v3": (3, CAPTION), "v2": (2, CAPTION), "broken": (2, CAPTION)})


def test_video_rows_come_back_per_second_and_excluded_videos_are_left_out_with_their_reason(tmp_path, three_videos):
    rows = {"v3": np.arange(12, dtype=np.float32).reshape(3, 4), "v2": np.ones((2, 4), np.float32)}
    shard = write_video_shard(tmp_path / "video.h5", rows, excluded={"broken": "broken.mp4: no decodable frame"})
    features = NarratedFeatures(three_videos, FeatureStore(shard))
    assert features.usable_ids() == ["v2", "v3"]
    assert features.left_out() == {"broken": "broken.mp4: no decodable frame"}
    video = features.video("v3")
    assert video.dtype == np.float32
    np.testing.assert_array_equal(video, rows["v3"])
    # the main features (mixed_5c here) instead of the output, when asked
    assert NarratedFeatures(three_videos, FeatureStore(shard), video_output=None).video("v3").shape == (3, 3)


def test_a_store_missing_a_video_that_it_does_not_exclude_names_it(tmp_path, three_videos):
    shard = write_video_shard(tmp_path / "video.h5", {"v3": np.zeros((3, 4), np.float32)})
    with pytest.raises(UserError, match=r"2 video\(s\) .* broken, v2; extract the features"):
        NarratedFeatures(three_videos, FeatureStore(shard)).usable_ids()


def test_rows_that_do_not_match_the_videos_seconds_name_the_shard_and_the_video(tmp_path, three_videos):
    too_few = write_video_shard(tmp_path / "few.h5", {"v3": np.zeros((2, 4), np.float32)})
    with pytest.raises(UserError) as error:
        NarratedFeatures(three_videos, FeatureStore(too_few)).video("v3")
    assert f"{too_few}: video v3: 2 feature rows, but" in str(error.value) and "lasts 3.000 s" in str(error.value)
    assert "3 seconds at one row a second" in str(error.value) and "step_seconds 1" in str(error.value)

    # the right count, but rows every half second (S3D at step_seconds 0.5, cut short)
    half_seconds = write_video_shard(tmp_path / "half.h5", {"v3": np.zeros((3, 4), np.float32)},
                                     frame_indices={"v3": np.arange(3) * FPS // 2})
    off_by_half = r"half.h5: video v3: row 2 stands for 1.000 s, outside second 2 \(1.5-2.5 s\);"
    with pytest.raises(UserError, match=off_by_half):
        NarratedFeatures(three_videos, FeatureStore(half_seconds)).video("v3")

    # a frame off by less than one frame is S3D's nearest-frame resampling: accepted
    nearest = write_video_shard(tmp_path / "near.h5", {"v3": np.zeros((3, 4), np.float32)},
                                frame_indices={"v3": np.array([0, 11, 19])})
    assert NarratedFeatures(three_videos, FeatureStore(nearest)).video("v3").shape == (3, 4)


def test_audio_rows_are_mean_pooled_per_second_and_an_empty_second_takes_the_nearest_row(tmp_path, three_videos):
    video = write_video_shard(tmp_path / "video.h5", {"v3": np.zeros((3, 4), np.float32)},
                              excluded={"v2": "v2.mp4: damaged", "broken": "broken.mp4: damaged"})
    # v3's seconds: [0, 0.5), [0.5, 1.5), [1.5, 2.5]; rows centred at 0.1, 0.3 | 0.7, 1.2 | none | 2.9 (past them)
    centres = np.array([0.1, 0.3, 0.7, 1.2, 2.9])
    values = np.array([1.0, 3.0, 10.0, 20.0, 99.0], np.float32)
    sample_ranges = np.stack([centres * 16000 - 160, centres * 16000 + 160], axis=1).round().astype(np.int64)
    audio = write_audio_shard(tmp_path / "audio.h5", {"v3": (np.stack([values, -values], axis=1), sample_ranges)},
                              excluded={"v2": "v2.mp4: no audio track", "broken": "broken.mp4: damaged"})
    features = NarratedFeatures(three_videos, FeatureStore(video), audio_store=FeatureStore(audio))
    assert features.usable_ids() == ["v3"]
    assert features.left_out()["broken"] == "broken.mp4: damaged"
    pooled = features.audio("v3")
    assert pooled.dtype == np.float32 and pooled.shape == (3, 2)
    # second 2 (middle 2.0 s) has no row: the nearest is 1.2 s (0.8 away), not 2.9 s (0.9 away)
    np.testing.assert_allclose(pooled[:, 0], [2.0, 15.0, 20.0])
    np.testing.assert_allclose(pooled[:, 1], [-2.0, -15.0, -20.0])


def test_audio_rows_are_placed_in_time_by_their_recorded_sample_rate(tmp_path, three_videos):
    video = write_video_shard(tmp_path / "video.h5", {"v2": np.zeros((2, 4), np.float32)},
                              excluded={"v3": "damaged", "broken": "damaged"})
    # at 8 kHz, samples 7000-9000 are 0.875-1.125 s: second 1; at 16 kHz they would be second 0
    rows = np.array([[5.0], [7.0]], np.float32)
    audio = write_audio_shard(tmp_path / "audio.h5", {"v2": (rows, np.array([[0, 2000], [7000, 9000]]))},
                              sample_rate=8000)
    pooled = NarratedFeatures(three_videos, FeatureStore(video), audio_store=FeatureStore(audio)).audio("v2")
    np.testing.assert_allclose(pooled[:, 0], [5.0, 7.0])


def test_video_rows_are_not_accepted_as_audio(tmp_path, three_videos):
    video = write_video_shard(tmp_path / "video.h5", {"v2": np.zeros((2, 4), np.float32)},
                              excluded={"v3": "damaged", "broken": "damaged"})
    with pytest.raises(UserError, match="video v2: audio rows have frame_index positions"):
        NarratedFeatures(three_videos, FeatureStore(video), audio_store=FeatureStore(video)).audio("v2")
    with pytest.raises(UserError, match="no audio features were given"):
        NarratedFeatures(three_videos, FeatureStore(video)).audio("v2")
