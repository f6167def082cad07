"""Real Snakemake runs on datasets as a new user brings them, to the report.

The data is on disk before the run (written by `mmfeat make-demo-salads` and
`make-demo-urfunny`, then cleaned as a real release would be), and the config
gives each dataset only the keys the schema requires: every optional section,
`decode` included, comes from the schema's defaults.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmfeat.datasets.urfunny import FOLDS_FILE, LABELS_FILE, LANGUAGE_FILE, VIDEOS_DIR
from mmfeat.features.store import FeatureStore

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SALADS_ROOT = "data/salads"
FUNNY_ROOT = "data/funny"
# the extractors and the model at the tiny sizes of tests/configs/tiny*.yaml: the datasets are what is minimal
TINY_I3D = {"kind": "i3d", "window": 5, "resize_short": 32, "crop": 32, "stride": 2, "device": "cpu"}
TINY_ASFORMER = {"kind": "asformer", "num_layers": 4, "num_f_maps": 16,
                 "training": {"epochs": 2, "seed": 0, "sample_rate": 1, "device": "cpu"}}


def snakemake(workdir: Path, config: dict, target: str) -> None:
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(config_path), "--cores", "2", target],
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        logs = "\n".join(f"--- {path}\n{path.read_text()[-3000:]}" for path in workdir.glob("results/*/logs/**/*.log"))
        pytest.fail(f"snakemake {target} failed:\n{result.stderr[-6000:]}\n{logs}")


def make_demo(kind: str, root: Path, *arguments: str) -> dict:
    """Run `mmfeat make-demo-<kind>` and return the summary it prints."""
    result = subprocess.run([sys.executable, "-m", "mmfeat", f"make-demo-{kind}", "--root", str(root), *arguments],
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def salads_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user-salads")
    # 5 subjects for the default 5 splits; nothing damaged or unreadable, as decode's defaults fail on it
    make_demo("salads", workdir / SALADS_ROOT, "--videos", "10", "--frames", "36", "40", "--size", "32", "24",
              "--splits", "5", "--damaged", "0", "--unreadable", "0")
    config = {
        "datasets": {"salads": {"kind": "segmentation", "root": SALADS_ROOT, "features": {"video": "i3d-tiny"},
                                "model": "asformer-tiny"}},
        "extractors": {"i3d-tiny": TINY_I3D},
        "models": {"asformer-tiny": TINY_ASFORMER},
    }
    snakemake(workdir, config, "results/salads/report.md")
    return workdir


@pytest.fixture(scope="module")
def funny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user-funny")
    root = workdir / FUNNY_ROOT
    summary = make_demo("urfunny", root, "--samples", "20", "--size", "32", "24", "--fps", "8", "--seed", "1")
    # decode's default fails on a clip without audio: drop it and the id without video, as a clean release
    _drop_samples(root, {summary["no_audio"], summary["no_video"]})
    config = {
        "datasets": {"funny": {"kind": "humor", "root": FUNNY_ROOT,
                               "features": {"audio": "wav2vec2-tiny", "video": "i3d-tiny"}}},
        # the two modalities read from the clips; text reads the transcript only (tests/test_workflow_humor.py)
        "extractors": {"wav2vec2-tiny": {"kind": "wav2vec2", "device": "cpu"}, "i3d-tiny": {**TINY_I3D, "stride": 6}},
    }
    snakemake(workdir, config, "results/funny/report.md")
    return workdir


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


def test_a_segmentation_dataset_of_only_required_keys_runs_to_its_report_with_the_schema_defaults(salads_run):
    report = (salads_run / "results/salads/report.md").read_text(encoding="utf-8")
    # the default 5 splits, each with a row
    for split in range(1, 6):
        assert re.search(rf"^\| split {split} \| \d+ \|( [\d.]+ \|){{5}}$", report, re.MULTILINE), split
    store = FeatureStore(sorted((salads_run / "results/salads/features/i3d-tiny").glob("shard-*.h5")))
    assert len(list((salads_run / "results/salads/features/i3d-tiny").glob("shard-*.h5"))) == 4  # num_shards
    assert len(store.videos()) == 10 and not store.excluded()
    assert store.provenance(store.videos()[0])["versions"]["decoder"]["backend"] == "opencv"  # decode.backend


def test_a_humour_dataset_of_only_required_keys_runs_to_its_report_with_the_schema_defaults(funny_run):
    report = (funny_run / "results/funny/report.md").read_text(encoding="utf-8")
    for modality in ("audio", "video"):
        assert re.search(rf"^\| {modality} \| MLP \| [\d.]+ ± [\d.]+ \|", report, re.MULTILINE), modality
    video = FeatureStore(sorted((funny_run / "results/funny/features/i3d-tiny").glob("shard-*.h5")))
    assert len(video.videos()) == 18 and not video.excluded()
    assert video.provenance(video.videos()[0])["versions"]["decoder"]["backend"] == "opencv"
    assert json.loads((funny_run / "results/funny/humor/results.json").read_text())["seeds"] == [0, 1, 2, 3, 4]
