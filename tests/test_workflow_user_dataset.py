"""Real Snakemake runs on datasets as a new user brings them, to the report.

The data is on disk before the run (written by `mmfeat make-demo-salads` and
`make-demo-urfunny`, then cleaned as a real release would be), and the config
gives each dataset only the keys the schema requires: every optional section,
`decode` included, comes from the schema's defaults. The root is a folder
whose names hold spaces, and one video (one sample) is named `vidéo 01`: a
space and a non-ASCII letter, as on many laptops and shared drives. One
Snakemake run takes both datasets to their reports, as one config holding both would.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_snakemake
from test_dataset_checks import write_dataset

from mmfeat.datasets.mstcn_files import read_bundle, read_frame_labels, read_prediction_file
from mmfeat.datasets.urfunny import FOLDS_FILE, LABELS_FILE, LANGUAGE_FILE, VIDEOS_DIR
from mmfeat.features.store import FeatureStore
from mmfeat.tasks.humor.features import load_modality_features

pytestmark = pytest.mark.slow(seconds=320)  # the suite's longest file

SALADS_ROOT = "my data/set 1"
FUNNY_ROOT = "my data/set 2"
SPACED_ID = "vidéo 01"
# the extractors and the model at tiny sizes, as in tests/configs/tiny*.yaml: the datasets are what is minimal
TINY_I3D = {"kind": "i3d", "window": 5, "resize_short": 32, "crop": 32, "stride": 6, "device": "cpu"}
TINY_ASFORMER = {"kind": "asformer", "num_layers": 4, "num_f_maps": 16,
                 "training": {"epochs": 2, "seed": 0, "sample_rate": 1, "device": "cpu", "threads": 1}}


def make_demo(kind: str, root: Path, *arguments: str) -> dict:
    """Run `mmfeat make-demo-<kind>` and return the summary it prints."""
    result = subprocess.run([sys.executable, "-m", "mmfeat", f"make-demo-{kind}", "--root", str(root), *arguments],
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """One run of both datasets to their reports: a segmentation one and a humour one."""
    workdir = tmp_path_factory.mktemp("user-datasets")
    make_segmentation_dataset(workdir / SALADS_ROOT)
    make_humour_dataset(workdir / FUNNY_ROOT)
    config = {
        "datasets": {
            "salads": {"kind": "segmentation", "root": SALADS_ROOT, "features": {"video": "i3d-tiny"},
                       "model": "asformer-tiny"},
            # the two modalities read from the clips; text reads the transcript only (tests/test_workflow_humor.py)
            "funny": {"kind": "humor", "root": FUNNY_ROOT, "features": {"audio": "wav2vec2-tiny", "video": "i3d-tiny"}},
        },
        "extractors": {"i3d-tiny": TINY_I3D, "wav2vec2-tiny": {"kind": "wav2vec2", "device": "cpu"}},
        "models": {"asformer-tiny": TINY_ASFORMER},
    }
    run_snakemake(workdir, "--cores", "2", "results/salads/report.md", "results/funny/report.md", config=config)
    return workdir


def make_segmentation_dataset(root: Path) -> None:
    # 5 subjects for the default 5 splits; nothing damaged or unreadable, as decode's defaults fail on it
    make_demo("salads", root, "--videos", "10", "--frames", "36", "40", "--size", "32", "24",
              "--splits", "5", "--damaged", "0", "--unreadable", "0")
    _rename_video(root, "rgb-01-1", SPACED_ID)


def make_humour_dataset(root: Path) -> None:
    summary = make_demo("urfunny", root, "--samples", "20", "--size", "32", "24", "--fps", "8", "--seed", "1")
    # decode's default fails on a clip without audio: drop it and the id without video, as a clean release
    _drop_samples(root, {summary["no_audio"], summary["no_video"]})
    kept = [sample_id for sample_id in summary["ids"] if sample_id not in (summary["no_audio"], summary["no_video"])]
    _rename_sample(root, kept[0], SPACED_ID)


def _rename_video(root: Path, video_id: str, new_id: str) -> None:
    """Give a video of the MS-TCN layout a new name: its file, its ground truth, its bundle lines."""
    (root / "videos" / f"{video_id}.mp4").rename(root / "videos" / f"{new_id}.mp4")
    (root / "groundTruth" / f"{video_id}.txt").rename(root / "groundTruth" / f"{new_id}.txt")
    for bundle in (root / "splits").glob("*.bundle"):
        lines = bundle.read_text(encoding="utf-8").splitlines()
        bundle.write_text("".join(f"{new_id}.txt\n" if line == f"{video_id}.txt" else f"{line}\n" for line in lines),
                          encoding="utf-8")


def _rename_sample(root: Path, sample_id: int, new_id: str) -> None:
    """Give a sample of the UR-FUNNY layout a new id: its keys in the pickles, its fold entry, its clip."""
    for name in (LANGUAGE_FILE, LABELS_FILE):
        content = pickle.loads((root / name).read_bytes())
        content[new_id] = content.pop(sample_id)
        (root / name).write_bytes(pickle.dumps(content))
    folds = pickle.loads((root / FOLDS_FILE).read_bytes())
    (root / FOLDS_FILE).write_bytes(pickle.dumps({fold: [new_id if key == sample_id else key for key in ids]
                                                  for fold, ids in folds.items()}))
    (root / VIDEOS_DIR / f"{sample_id}.mp4").rename(root / VIDEOS_DIR / f"{new_id}.mp4")


def _drop_samples(root: Path, sample_ids: set[int]) -> None:
    """Remove samples from the release's three pickles and their clips from videos/."""
    for name in (LANGUAGE_FILE, LABELS_FILE):
        content = pickle.loads((root / name).read_bytes())
        (root / name).write_bytes(pickle.dumps({key: value for key, value in content.items()
                                                if key not in sample_ids}))
    folds = pickle.loads((root / FOLDS_FILE).read_bytes())
    (root / FOLDS_FILE).write_bytes(pickle.dumps({fold: [key for key in ids if key not in sample_ids]
                                                  for fold, ids in folds.items()}))
    for sample_id in sample_ids:
        (root / VIDEOS_DIR / f"{sample_id}.mp4").unlink(missing_ok=True)


def test_a_segmentation_dataset_of_only_required_keys_runs_to_its_report_with_the_schema_defaults(user_run):
    report = (user_run / "results/salads/report.md").read_text(encoding="utf-8")
    # the default 5 splits, each with a row
    for split in range(1, 6):
        assert re.search(rf"^\| split {split} \| \d+ \|( [\d.]+ \|){{5}}$", report, re.MULTILINE), split
    store = FeatureStore(sorted((user_run / "results/salads/features/i3d-tiny").glob("shard-*.h5")))
    assert len(list((user_run / "results/salads/features/i3d-tiny").glob("shard-*.h5"))) == 4  # num_shards
    assert len(store.videos()) == 10 and not store.excluded()
    assert store.provenance(store.videos()[0])["versions"]["decoder"]["backend"] == "opencv"  # decode.backend


def test_a_humour_dataset_of_only_required_keys_runs_to_its_report_with_the_schema_defaults(user_run):
    report = (user_run / "results/funny/report.md").read_text(encoding="utf-8")
    for modality in ("audio", "video"):
        assert re.search(rf"^\| {modality} \| MLP \| [\d.]+ ± [\d.]+ \|", report, re.MULTILINE), modality
    video = FeatureStore(sorted((user_run / "results/funny/features/i3d-tiny").glob("shard-*.h5")))
    assert len(video.videos()) == 18 and not video.excluded()
    assert video.provenance(video.videos()[0])["versions"]["decoder"]["backend"] == "opencv"
    assert json.loads((user_run / "results/funny/humor/results.json").read_text())["seeds"] == [0, 1, 2, 3, 4]


def test_a_root_and_a_video_name_with_spaces_reach_every_segmentation_job_intact(user_run):
    store = FeatureStore(sorted((user_run / "results/salads/features/i3d-tiny").glob("shard-*.h5")))
    assert SPACED_ID in store.videos()
    assert SPACED_ID in (user_run / "results/salads/report.md").read_text(encoding="utf-8")  # a ribbon's video
    root = user_run / SALADS_ROOT
    (split,) = [bundle for bundle in (root / "splits").glob("test.split*.bundle")
                if f"{SPACED_ID}.txt" in read_bundle(bundle)]
    split_dir = user_run / "results/salads/asformer-tiny/i3d-tiny" / split.name.split(".")[1]
    predicted = read_prediction_file(split_dir / "predictions" / SPACED_ID)
    assert len(predicted) == len(read_frame_labels(root / "groundTruth" / f"{SPACED_ID}.txt"))
    assert SPACED_ID in [Path(name).stem for name in read_bundle(split_dir / "evaluated.bundle")]


def test_a_root_and_a_sample_id_with_spaces_reach_every_humour_job_intact(user_run):
    for extractor in ("wav2vec2-tiny", "i3d-tiny"):
        store = FeatureStore(sorted((user_run / f"results/funny/features/{extractor}").glob("shard-*.h5")))
        assert SPACED_ID in store.videos(), extractor
    for modality in ("audio", "video"):
        features = load_modality_features(user_run / "results/funny/humor/features" / f"{modality}.npz")
        assert SPACED_ID in features.ids.tolist(), modality
    assert json.loads((user_run / "results/funny/humor/skipped.json").read_text()) == {}


def test_a_failing_job_on_a_root_with_spaces_shows_the_end_of_its_log(tmp_path):
    """The ERR trap of common.smk finds the log after the command's quoted arguments."""
    root = write_dataset(tmp_path / SALADS_ROOT, {SPACED_ID: 60, "b": 80, "c": 70, "d": 50})
    np.save(root / "features" / f"{SPACED_ID}.npy", np.full((6, 60), np.nan, dtype=np.float32))  # read on import
    config = {
        "datasets": {"toy": {"kind": "segmentation", "root": SALADS_ROOT, "splits": 1, "model": "asformer-tiny",
                             "features": {"precomputed": True, "num_shards": 1}}},
        "extractors": {},
        "models": {"asformer-tiny": TINY_ASFORMER},
    }
    result = run_snakemake(tmp_path, "--cores", "2", "results/toy/features/precomputed/shard-0.h5", config=config,
                           check=False)
    assert result.returncode != 0
    terminal = result.stdout + result.stderr
    assert "the last lines of results/toy/logs/features/precomputed/shard-0.log:" in terminal, terminal[-3000:]
    assert f"{SALADS_ROOT}/features/{SPACED_ID}.npy: holds NaN or infinite values" in terminal, terminal[-3000:]
