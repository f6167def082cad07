"""Dataset problems that stop a Snakemake run while it is planned, before any job: a video
listed twice in a bundle, a background label the mapping does not know."""

from __future__ import annotations

import pytest
from test_dataset_checks import write_dataset
from test_workflow_bad_inputs import VIDEO_FRAMES, precomputed_config, snakemake

pytestmark = pytest.mark.slow


def test_a_duplicated_bundle_entry_and_an_unknown_background_stop_the_planning(tmp_path):
    root = write_dataset(tmp_path / "data" / "toy", VIDEO_FRAMES)
    (root / "splits" / "train.split1.bundle").write_text("b.txt\nc.txt\nd.txt\nc.txt\n")
    config = precomputed_config()
    config["datasets"]["toy"]["background"] = ["zzz"]
    status, terminal = snakemake(tmp_path, config, "--dry-run", "results/toy/report.md")
    assert status != 0
    assert "dataset 'toy' (datasets.toy.root in the config)" in terminal
    assert "data/toy/splits/train.split1.bundle, line 4: video 'c.txt' is already listed on line 2" in terminal
    assert "background label 'zzz' is not in data/toy/mapping.txt (its labels: cut, mix, serve)" in terminal
    assert not (tmp_path / "results").exists()
