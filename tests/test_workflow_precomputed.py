"""A real Snakemake run on precomputed ROOT/features/*.npy (the features the ASFormer
authors published), imported into the same HDF5 store and trained on."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_snakemake

from mmfeat.features.store import FeatureStore

pytestmark = pytest.mark.slow(seconds=55)

CLASSES = ["action_start", "stir", "pour", "action_end"]


def write_dataset(root: Path, videos: int = 6, dims: int = 8) -> None:
    """MS-TCN layout with (D, T) features whose mean depends on the frame's class."""
    rng = np.random.default_rng(0)
    class_means = rng.normal(0, 3, size=(len(CLASSES), dims))
    for folder in ("groundTruth", "features", "splits"):
        (root / folder).mkdir(parents=True)
    (root / "mapping.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(CLASSES)))
    ids = [f"vid-{n}" for n in range(videos)]
    for n, video in enumerate(ids):
        lengths = rng.integers(8, 16, size=len(CLASSES))
        labels = np.repeat(np.arange(len(CLASSES)), lengths)
        (root / "groundTruth" / f"{video}.txt").write_text("".join(f"{CLASSES[c]}\n" for c in labels))
        extra_frames = 3 if n == 0 else 0  # one video's features run 3 frames past its labels
        classes = np.concatenate([labels, np.full(extra_frames, labels[-1])])
        features = class_means[classes] + rng.normal(0, 0.5, size=(len(classes), dims))
        np.save(root / "features" / f"{video}.npy", features.T.astype(np.float32))
    for k in (1, 2, 3):
        test = ids[2 * (k - 1): 2 * k]
        (root / "splits" / f"test.split{k}.bundle").write_text("".join(f"{v}.txt\n" for v in test))
        (root / "splits" / f"train.split{k}.bundle").write_text("".join(f"{v}.txt\n" for v in ids if v not in test))


def test_precomputed_features_are_imported_trained_on_and_reported(tmp_path):
    write_dataset(tmp_path / "data" / "toy")
    config = {
        "datasets": {"toy": {
            "kind": "segmentation", "root": "data/toy", "features": {"precomputed": True, "num_shards": 2},
            "splits": 3, "model": "small", "ribbon_videos": 1, "reference_results": "50salads",
        }},
        "extractors": {},
        "models": {"small": {"kind": "asformer", "num_layers": 4, "num_f_maps": 32,
                             "training": {"epochs": 25, "learning_rate": 0.003, "seed": 0,
                                          "sample_rate": 2, "device": "cpu", "threads": 1}}},
    }
    run_snakemake(tmp_path, "--cores", "2", "results/toy/report.md", config=config)

    store = FeatureStore(tmp_path / "results/toy/features/precomputed")
    assert sorted(store.videos()) == [f"vid-{n}" for n in range(6)]
    imported = store.features("vid-1")
    original = np.load(tmp_path / "data/toy/features/vid-1.npy")
    np.testing.assert_array_equal(imported, original.T)
    assert store.provenance("vid-1")["source"] == "precomputed"

    report = (tmp_path / "results/toy/report.md").read_text()
    assert "`precomputed`: `ROOT/features/*.npy`" in report
    assert "**Demo.**" not in report
    assert "| reference: ASFormer paper (Yi et al., BMVC 2021) |  | 85.6 | 79.6 | 85.1 | 83.4 | 76.0 |" in report
    # vid-0 is tested in split 1 and trained on in splits 2 and 3: listed once, with both
    assert re.search(r"^\| vid-0 \| \d+ \| \d+ \| 3 at the back \| train 2, 3; test 1 \|$", report, re.MULTILINE)
    mean_acc = float(re.search(r"^\| \*\*mean ± std\*\* \| \| \*\*([\d.]+) ±", report, re.MULTILINE).group(1))
    baseline_acc = float(re.search(r"^\| majority-class baseline \(mean\) \|\s+\| ([\d.]+) \|", report,
                                   re.MULTILINE).group(1))
    # class-dependent features: ASFormer must learn them, far above always predicting one label
    assert mean_acc > 85 > 50 > baseline_acc

    # A new video lands in one shard: only that shard is imported again.
    root = tmp_path / "data" / "toy"
    shutil.copy(root / "groundTruth" / "vid-5.txt", root / "groundTruth" / "vid-6.txt")
    shutil.copy(root / "features" / "vid-5.npy", root / "features" / "vid-6.npy")
    with open(root / "splits" / "train.split1.bundle", "a") as bundle:
        bundle.write("vid-6.txt\n")
    dry_run = run_snakemake(tmp_path, "--cores", "2", "results/toy/report.md", "--dry-run", config=config)
    assert re.search(r"^import_shard\s+1$", dry_run.stdout, re.MULTILINE), dry_run.stdout[-3000:]
