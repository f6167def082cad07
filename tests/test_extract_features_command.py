"""`mmfeat extract-features` and `mmfeat import-features`, run as the workflow runs them.

The videos are real H.264 files, 64x48 and 16 frames, one with damaged frames
and one that cannot be opened; features are made at crop 32 with a 9-frame
window so that a whole run costs a few seconds, most of it importing torch.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore
from mmfeat.features.video_files import find_video_file
from mmfeat.video.damage import damage_packets, make_unreadable
from mmfeat.video.encode import write_h264_video

MMFEAT = Path(sys.executable).with_name("mmfeat")  # the installed console script
TINY_SETTINGS = {"kind": "i3d", "window": 9, "resize_short": 36, "crop": 32, "device": "cpu", "dtype": "float16"}
FRAME_COUNT = 16
DAMAGED_FRAMES = range(6, 12)  # frame 12 is a keyframe with gop 6, where decoding recovers


def moving_gradient(frame_count: int, seed: int):
    rows, cols = np.mgrid[0:48, 0:64]
    for t in range(frame_count):
        red = (rows * 5 + t * 7 + seed * 40) % 256
        green = (cols * 4 + t * 3) % 256
        yield np.stack([red, green, np.full_like(rows, 128)], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    """A dataset root whose videos/ holds the test videos."""
    root = tmp_path_factory.mktemp("dataset")
    folder = root / "videos"
    folder.mkdir()
    write_h264_video(folder / "take-a.mp4", moving_gradient(FRAME_COUNT, seed=0), fps=10)
    write_h264_video(folder / "take-b.mp4", moving_gradient(FRAME_COUNT, seed=1), fps=10, gop=6)
    damage_packets(folder / "take-b.mp4", DAMAGED_FRAMES)
    make_unreadable(folder / "broken.mp4")
    return root


def run_mmfeat(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MMFEAT), *arguments], capture_output=True, text=True, timeout=120)


def extract_arguments(dataset_root: Path, output: Path, videos: list[str], on_unreadable: str = "fail") -> list[str]:
    video_arguments = [argument for video in videos for argument in ("--item", video)]
    return [
        "extract-features", "--dataset-root", str(dataset_root), *video_arguments, "--output", str(output),
        "--extractor-name", "i3d_tiny", "--extractor", json.dumps(TINY_SETTINGS),
        "--decode", json.dumps({"backend": "decord", "on_unreadable": on_unreadable}),
    ]  # fmt: skip


def test_extract_with_skip_stores_features_records_and_exclusions(dataset_root, tmp_path):
    shard_path = tmp_path / "features" / "i3d_tiny" / "shard-0.h5"
    result = run_mmfeat(*extract_arguments(dataset_root, shard_path, ["take-a", "take-b", "broken"], "skip"))
    assert result.returncode == 0, result.stderr

    store = FeatureStore(shard_path.parent)
    assert store.videos() == ["take-a", "take-b"]
    assert store.features("take-a").shape == (FRAME_COUNT, 2048)
    np.testing.assert_array_equal(store.frame_indices("take-a"), np.arange(FRAME_COUNT))
    records = store.decode_records()
    assert set(records) == {"take-a", "take-b"}
    # decord may lose a few good frames before the damage as well (it decodes
    # from the previous keyframe); what matters here is that every skipped
    # frame is a gap in the stored indices and every other frame has a feature
    skipped_b = records["take-b"]["skipped_indices"]
    assert set(DAMAGED_FRAMES) <= set(skipped_b)
    kept_b = [index for index in range(FRAME_COUNT) if index not in skipped_b]
    np.testing.assert_array_equal(store.frame_indices("take-b"), kept_b)
    assert np.isfinite(store.features("take-b")).all() and store.features("take-b").shape == (len(kept_b), 2048)
    assert records["take-a"]["frames_decoded"] == FRAME_COUNT and records["take-a"]["backend"] == "decord"
    assert list(store.excluded()) == ["broken"] and "broken.mp4" in store.excluded()["broken"]
    assert "skipping broken" in result.stderr

    provenance = store.provenance("take-a")
    assert provenance["extractor"] == "i3d_tiny" and provenance["source"] == "video"
    assert provenance["settings"]["crop"] == 32 and provenance["settings"]["batch_size"] == 8  # defaults filled in
    assert "dtype" not in provenance["settings"]  # a store setting, recorded as stored_dtype
    assert provenance["stored_dtype"] == "float16"
    assert provenance["weights"] == {"kind": "random", "seed": 0}
    assert provenance["fps"] == pytest.approx(10.0)
    assert provenance["versions"]["decoder"]["backend"] == "decord"
    assert {"torch", "pytorchvideo", "mmfeat", "h5py"} <= set(provenance["versions"])


def test_extract_with_fail_exits_nonzero_naming_the_file_and_leaves_no_shard(dataset_root, tmp_path):
    shard_path = tmp_path / "shard-0.h5"
    result = run_mmfeat(*extract_arguments(dataset_root, shard_path, ["broken", "take-a"], "fail"))
    assert result.returncode == 2
    assert "broken.mp4" in result.stderr and "decode.on_unreadable: skip" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_killed_job_leaves_no_shard(dataset_root, tmp_path):
    shard_path = tmp_path / "shard-0.h5"
    job = subprocess.Popen(
        [str(MMFEAT), *extract_arguments(dataset_root, shard_path, ["take-a", "take-b"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".shard-0.h5.*.tmp")):  # the writer has started
            assert job.poll() is None, "the job ended before it started writing; the test needs a longer job"
            assert time.monotonic() < deadline, "the job did not start writing within 60 s"
            time.sleep(0.005)
        job.send_signal(signal.SIGKILL)
    finally:
        job.wait(timeout=30)
    assert list(tmp_path.glob("shard-*.h5")) == []
    with pytest.raises(UserError, match="no feature shards"):
        FeatureStore(tmp_path)  # the hidden partial file is not taken for a shard


def test_no_videos_give_a_valid_empty_shard(dataset_root, tmp_path):
    shard_path = tmp_path / "shard-1.h5"
    assert mmfeat_main(extract_arguments(dataset_root, shard_path, [])) == 0  # in-process: no torch import to wait for
    assert FeatureStore(shard_path).videos() == [] and FeatureStore(shard_path).excluded() == {}


def test_bad_input_fails_before_any_work_naming_the_problem(dataset_root, tmp_path, capsys):
    output = tmp_path / "shard-0.h5"
    assert mmfeat_main(extract_arguments(dataset_root, output, ["take-a", "take-z"])) == 2
    error = capsys.readouterr().err
    assert "'take-z'" in error and str(dataset_root) in error

    arguments = extract_arguments(dataset_root, output, ["take-a"])
    arguments[arguments.index("--extractor") + 1] = json.dumps({"kind": "i3d", "crops": 32})
    assert mmfeat_main(arguments) == 2
    error = capsys.readouterr().err
    assert "--extractor is invalid" in error and "('crops' was unexpected)" in error

    arguments[arguments.index("--extractor") + 1] = json.dumps({"kind": "c3d"})
    assert mmfeat_main(arguments) == 2
    assert "unknown extractor kind 'c3d'; the known kinds are ['i3d'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_video_file_is_the_one_file_named_after_the_id(tmp_path):
    (tmp_path / "rgb-01-1.avi").write_bytes(b"")
    (tmp_path / "rgb-01-10.avi").write_bytes(b"")  # shares a prefix, not the id
    assert find_video_file(tmp_path, "rgb-01-1") == tmp_path / "rgb-01-1.avi"
    (tmp_path / "rgb-01-1.mp4").write_bytes(b"")
    with pytest.raises(UserError, match=r"several files for video 'rgb-01-1'.*rgb-01-1\.avi, rgb-01-1\.mp4"):
        find_video_file(tmp_path, "rgb-01-1")
    with pytest.raises(UserError, match="does not exist"):
        find_video_file(tmp_path / "absent", "rgb-01-1")


def test_import_stores_published_features_transposed(tmp_path):
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    published = {video: np.random.default_rng(k).normal(size=(6, 10 + k)) for k, video in enumerate(["v1", "v2"])}
    for video, array in published.items():
        np.save(features_dir / f"{video}.npy", array.astype(np.float32))
    shard_path = tmp_path / "precomputed" / "shard-0.h5"
    arguments = ["import-features", "--features-dir", str(features_dir), "--item", "v1", "--item", "v2"]
    result = run_mmfeat(*arguments, "--output", str(shard_path), "--dtype", "float32")
    assert result.returncode == 0, result.stderr

    store = FeatureStore(shard_path)
    for video, array in published.items():
        np.testing.assert_allclose(store.features(video), array.T, rtol=1e-6)
        np.testing.assert_array_equal(store.frame_indices(video), np.arange(array.shape[1]))
    provenance = store.provenance("v2")
    assert provenance["source"] == "precomputed" and provenance["extractor"] == "precomputed"
    assert provenance["source_file"] == str(features_dir / "v2.npy")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3, 4)), "expected a non-empty 2-D"),
        (np.array([[1.0, np.nan]]), "NaN or infinite"),
        (None, "no such features file"),
    ],
)
def test_import_refuses_bad_files_by_name(tmp_path, capsys, array, message):
    if array is not None:
        np.save(tmp_path / "bad.npy", array)
    output = tmp_path / "shard-0.h5"
    arguments = ["import-features", "--features-dir", str(tmp_path), "--item", "bad", "--output", str(output),
                 "--dtype", "float32"]
    assert mmfeat_main(arguments) == 2
    error = capsys.readouterr().err
    assert "bad.npy" in error and message in error
    assert not output.exists()
