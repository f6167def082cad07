"""Bad inputs through Snakemake: a dataset's problems stop the run while it is planned,
a failing job's error reaches the terminal, and a config without a demo has targets."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_HUMOR_CONFIG, run_snakemake
from test_dataset_checks import write_dataset

pytestmark = pytest.mark.slow

VIDEO_FRAMES = {"a": 60, "b": 80, "c": 70, "d": 50}


def snakemake(workdir: Path, config: dict, *arguments: str) -> tuple[int, str]:
    """Exit status and the terminal's text (stdout and stderr) of snakemake run in `workdir`."""
    result = run_snakemake(workdir, "--cores", "1", *arguments, config=config, check=False)
    return result.returncode, result.stdout + result.stderr


def precomputed_config() -> dict:
    return {
        "datasets": {"toy": {"kind": "segmentation", "root": "data/toy", "splits": 1, "model": "small",
                             "features": {"precomputed": True, "num_shards": 1}}},
        "extractors": {},
        "models": {"small": {"kind": "asformer", "num_layers": 2, "num_f_maps": 8,
                             "training": {"epochs": 1, "device": "cpu"}}},
    }


def test_dataset_problems_stop_the_run_while_it_is_planned_naming_each_file(tmp_path):
    root = write_dataset(tmp_path / "data" / "toy", VIDEO_FRAMES)
    (root / "groundTruth" / "a.txt").write_text("cut\nchop\n")
    np.save(root / "features" / "c.npy", np.zeros((70, 6), dtype=np.float32))
    status, terminal = snakemake(tmp_path, precomputed_config(), "--dry-run", "results/toy/report.md")
    assert status != 0
    assert "dataset 'toy' (datasets.toy.root in the config)" in terminal
    assert "data/toy/groundTruth/a.txt, line 2: label 'chop' is not in data/toy/mapping.txt" in terminal
    assert "data/toy/features/c.npy: shape (70, 6) looks saved as (T, D)" in terminal
    assert not (tmp_path / "results").exists()


def test_a_problem_made_after_a_passed_check_still_stops_the_next_run(tmp_path):
    """A passed check is remembered (.snakemake/mmfeat-checks) only while the files it read are unchanged."""
    root = write_dataset(tmp_path / "data" / "toy", VIDEO_FRAMES)
    status, terminal = snakemake(tmp_path, precomputed_config(), "--dry-run", "results/toy/report.md")
    assert status == 0, terminal[-3000:]
    assert (tmp_path / ".snakemake" / "mmfeat-checks" / "toy.json").is_file()
    (root / "groundTruth" / "b.txt").write_text("cut\nchop\n")
    status, terminal = snakemake(tmp_path, precomputed_config(), "--dry-run", "results/toy/report.md")
    assert status != 0
    assert "data/toy/groundTruth/b.txt, line 2: label 'chop' is not in data/toy/mapping.txt" in terminal


def test_without_a_demo_and_without_a_target_every_report_is_planned(tmp_path):
    write_dataset(tmp_path / "data" / "toy", VIDEO_FRAMES)
    status, terminal = snakemake(tmp_path, precomputed_config(), "--dry-run")
    assert status == 0, terminal[-3000:]
    assert "results/toy/report.md" in terminal and "import_shard" in terminal


def test_a_failing_job_shows_the_end_of_its_log_in_the_terminal(tmp_path):
    root = write_dataset(tmp_path / "data" / "toy", VIDEO_FRAMES)
    np.save(root / "features" / "b.npy", np.full((6, 80), np.nan, dtype=np.float32))  # only the import reads values
    status, terminal = snakemake(tmp_path, precomputed_config(), "results/toy/features/precomputed/shard-0.h5")
    assert status != 0
    assert "the last lines of results/toy/logs/features/precomputed/shard-0.log:" in terminal
    assert "data/toy/features/b.npy: holds NaN or infinite values; replace the file" in terminal


def test_a_humor_release_with_problems_and_on_problem_fail_stops_the_run_while_it_is_planned(tmp_path):
    root = tmp_path / "data" / "funny"
    (root / "videos").mkdir(parents=True)
    entry = {"punchline_sentence": "a duck", "context_sentences": [], "punchline_intervals": [[0.1, 0.3], [0.4, 0.6]],
             "context_intervals": [], "punchline_embedding_indexes": [0, 1], "context_embedding_indexes": []}
    (root / "data_folds.pkl").write_bytes(pickle.dumps({"train": [1, 2], "dev": [3], "test": [4]}))
    (root / "language_sdk.pkl").write_bytes(pickle.dumps({sample: entry for sample in (1, 2, 3, 4)}))
    (root / "humor_label_sdk.pkl").write_bytes(pickle.dumps({1: 1, 2: 0, 3: 1}))  # sample 4 has no label
    for sample in (1, 2, 3, 4):
        (root / "videos" / f"{sample}.mp4").write_bytes(b"never decoded by a dry run")
    config = yaml.safe_load(TINY_HUMOR_CONFIG.read_text())
    dataset = config["datasets"].pop("tiny-funny")
    dataset.pop("demo")
    config["datasets"]["funny"] = {**dataset, "root": "data/funny", "on_problem": "fail"}
    status, terminal = snakemake(tmp_path, config, "--dry-run", "results/funny/report.md")
    assert status != 0
    assert "data/funny/humor_label_sdk.pkl: sample 4: has no label" in terminal
    assert not (tmp_path / "results").exists()
