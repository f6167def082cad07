"""A shard that cannot be written: a full disk, a file-size limit, a read-only folder.

Each ends the job at the first failed write with one line naming the shard, its
folder and the cause, exit status 2 (a UserError), and no temporary file left.
Before, a full disk went unnoticed (h5py printed the failed write from its
object clean-up and ignored it), the job extracted on and crashed with status
139, leaving its hidden temporary to fill the disk.

The full disk and the read-only folder are real mounts (tmpfs, needs root or
CAP_SYS_ADMIN: skipped with the reason otherwise); the file-size limit
(RLIMIT_FSIZE) needs no privilege and meets the same path in the writer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmfeat.atomic import WriteFailedError, write_bytes_atomically, write_text_atomically
from mmfeat.video.encode import write_h264_video

MMFEAT = Path(sys.executable).with_name("mmfeat")  # the installed console script
# as in test_extract_features_command.py: a few seconds a video, most of it importing torch
TINY_SETTINGS = {"kind": "i3d", "window": 9, "resize_short": 36, "crop": 32, "device": "cpu", "dtype": "float32"}
FRAME_COUNT = 16  # 16 rows of 2048 float32 features: 128 kB a video
VIDEOS = [f"take-{number}" for number in range(4)]
SMALL_DISK = "300k"  # room for about two videos' features, not four


def _frames(seed: int):
    rows, cols = np.mgrid[0:48, 0:64]
    for t in range(FRAME_COUNT):
        red = (rows * 5 + t * 7 + seed * 40) % 256
        green = (cols * 4 + t * 3) % 256
        yield np.stack([red, green, np.full_like(rows, 128)], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    (root / "videos").mkdir()
    for seed, video in enumerate(VIDEOS):
        write_h264_video(root / "videos" / f"{video}.mp4", _frames(seed), fps=10)
    return root


def _mounted_tmpfs(folder: Path, options: str) -> Path:
    """Mount a tmpfs on `folder`, or skip the test saying why it cannot be."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command to make a small or read-only file system")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    return folder


@pytest.fixture()
def small_disk(tmp_path):
    folder = _mounted_tmpfs(tmp_path / "small-disk", f"size={SMALL_DISK}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture()
def read_only_folder(tmp_path):
    if os.geteuid() != 0:  # permission bits stop any user but root
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    folder = _mounted_tmpfs(tmp_path / "read-only", "ro,size=64k")  # stops root too
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _extract(dataset_root: Path, output: Path) -> subprocess.CompletedProcess:
    items = [argument for video in VIDEOS for argument in ("--item", video)]
    arguments = ["extract-features", "--dataset-root", str(dataset_root), *items, "--output", str(output),
                 "--extractor-name", "i3d_tiny", "--extractor", json.dumps(TINY_SETTINGS),
                 "--decode", json.dumps({"backend": "opencv"})]
    return subprocess.run([str(MMFEAT), *arguments], capture_output=True, text=True, timeout=300)


def _error_line(result: subprocess.CompletedProcess) -> str:
    """The command's error: its last line of stderr, which must be its only line about the failure."""
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_a_full_disk_stops_the_job_at_the_first_failed_write_and_frees_the_disk(dataset_root, small_disk):
    shard_path = small_disk / "shard-0.h5"
    result = _extract(dataset_root, shard_path)

    assert result.returncode == 2, result.stderr  # a UserError; it was 139, a crash
    error = _error_line(result)
    assert error.startswith(f"mmfeat extract-features: error: cannot write {shard_path}: the disk is full (")
    assert f"free in {small_disk}" in error
    # the videos whose features fitted were logged as done; the job stopped in the next, and began no other
    done = [video for video in VIDEOS if f"{video}: {FRAME_COUNT} rows" in result.stderr]
    assert 0 < len(done) < len(VIDEOS) and done == VIDEOS[: len(done)], result.stderr
    assert not [video for video in VIDEOS[len(done) + 1 :] if f"{video}:" in result.stderr], result.stderr
    assert list(small_disk.iterdir()) == []  # no shard, no hidden temporary
    assert shutil.disk_usage(small_disk).used < 64_000  # the space is given back


def test_a_read_only_folder_fails_in_one_line_naming_it(dataset_root, read_only_folder):
    for output in (read_only_folder / "shard-0.h5", read_only_folder / "i3d" / "shard-0.h5"):
        result = _extract(dataset_root, output)
        assert result.returncode == 2, result.stderr
        error = _error_line(result)
        assert error.startswith(f"mmfeat extract-features: error: cannot write {output}: "
                                f"the folder {read_only_folder} is not writable (")
        assert list(read_only_folder.iterdir()) == []


def test_small_atomic_writes_fail_the_same_way(small_disk, read_only_folder):
    too_big = small_disk / "figure.png"
    with pytest.raises(WriteFailedError, match=rf"^cannot write {too_big}: the disk is full \(.* free in {small_disk}\)"):
        write_bytes_atomically(too_big, bytes(400_000))
    assert list(small_disk.iterdir()) == []
    report = read_only_folder / "report.md"
    with pytest.raises(WriteFailedError, match=rf"^cannot write {report}: the folder {read_only_folder} is not writable"):
        write_text_atomically(report, "# report\n")


WRITE_UNDER_A_FILE_SIZE_LIMIT = """
import resource, sys
import numpy as np
from mmfeat.atomic import WriteFailedError
from mmfeat.features.extractors.items import Extracted
from mmfeat.features.store import ShardWriter

# a video's 64 rows of 2048 float32 take 512 kB: the limit falls in the third video's rows
resource.setrlimit(resource.RLIMIT_FSIZE, (1_100_000, resource.RLIM_INFINITY))
tried, closed = [], []

def chunks(video):
    try:
        for start in range(0, 64, 8):
            tried.append(video)
            yield Extracted(np.ones((8, 2048)), np.arange(start, start + 8), "frame_index")
    except GeneratorExit:
        closed.append(video)
        raise

try:
    with ShardWriter(sys.argv[1], "test", {}, dtype="float32") as shard:
        for video in range(4):
            shard.add_extracted_chunks(f"v{video}", chunks(video), {})
except WriteFailedError as error:
    print(error)
    print(tried)
    print(closed)
"""


def test_a_file_size_limit_stops_the_writer_at_the_first_failed_write(tmp_path):
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing the process
    shard_path = tmp_path / "shard-0.h5"
    result = subprocess.run([sys.executable, "-c", WRITE_UNDER_A_FILE_SIZE_LIMIT, str(shard_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # it was 139
    assert "Exception ignored" not in result.stderr, result.stderr
    message, tried, closed = result.stdout.strip().splitlines()
    assert message.startswith(f"cannot write {shard_path}: the file outgrew the largest file this process may write")
    tried = json.loads(tried)
    # the write that failed was of the last chunk made: the writer closed that video's extractor at once
    # and began no other video (before, it took every chunk of every video and crashed at exit)
    assert tried == sorted(tried) and tried[-1] == 2 and len(tried) < 4 * 8
    assert json.loads(closed) == [tried[-1]]
    assert list(tmp_path.iterdir()) == []
