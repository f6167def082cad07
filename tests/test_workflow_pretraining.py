"""A real Snakemake run of pretraining on a tiny narrated demo, to its report, and what a change reruns.

    pytest tests/test_workflow_pretraining.py

tests/configs/tiny-howto.yaml: ten 8-9 s clips at 32x24 (two held out), S3D on 32x32 crops,
a one-layer random VideoCLIP of width 16, two epochs of four-pair steps in chunks of two. The
run is conftest's `tiny_howto_run`, made once a suite run (tests/test_workflow_slurm_pretraining.py
and tests/test_workflow_transfer.py read it too); this file works in a copy of it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import (TINY_HOWTO_CONFIG, TINY_HOWTO_TARGET, copy_run, run_snakemake, snakemake_command,
                      write_config)

pytestmark = pytest.mark.slow(seconds=130)  # with the tiny-howto run, when this file makes it

TARGET = TINY_HOWTO_TARGET
MODEL_DIR = "results/tiny-howto/pretrain/videoclip-tiny"
AFTER_PRETRAINING = {"pretrain": 1, "evaluate_retrieval": 1, "pretraining_report": 1}


def planned_jobs(workdir: Path, config: Path) -> dict[str, int]:
    """Rule -> job count of what a run would do now (a dry run's job stats)."""
    stats = {}
    for line in run_snakemake(workdir, "--dry-run", TARGET, config=config).stdout.splitlines():
        match = re.fullmatch(r"([\w-]+)\s+(\d+)", line.strip())
        if match and match.group(1) != "total":
            stats[match.group(1)] = int(match.group(2))
    return stats


def changed_config(config: Path, directory: Path, change) -> Path:
    settings = yaml.safe_load(config.read_text())
    change(settings)
    return write_config(directory / "changed.yaml", settings)


@pytest.fixture(scope="module")
def pretraining_run(tiny_howto_run, tmp_path_factory):
    """A copy of the session's run: the kill test below runs pretraining again in it."""
    workdir = copy_run(tiny_howto_run, tmp_path_factory.mktemp("tiny-howto") / "run")
    return workdir, TINY_HOWTO_CONFIG


def test_the_run_ends_in_the_weights_their_history_evaluation_and_report(pretraining_run):
    import torch

    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.tasks.pretraining.saved import load_pretrained_videoclip

    workdir, _ = pretraining_run
    model_dir = workdir / MODEL_DIR
    model = load_pretrained_videoclip(model_dir / "model.pt")  # the configured architecture, key for key
    assert (model.settings.hidden_size, model.settings.video_layers) == (16, 1)
    trained = model.state_dict()
    untrained = build_videoclip(model.settings).state_dict()  # the seeded start the run began from
    assert any(not torch.equal(value, trained[name]) for name, value in untrained.items())
    history = [json.loads(line) for line in (model_dir / "history.jsonl").read_text().splitlines()]
    assert history and {record["epoch"] for record in history} >= {1, 2}
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert set(evaluation["models"]) == {"pretrained", "untrained", "random"}
    for directions in evaluation["models"].values():
        assert set(directions) == {"text_to_video", "video_to_text"}
        for summary in directions.values():
            assert {"R@1", "R@5", "R@10", "median_rank"} <= set(summary)
    assert evaluation["held_out_ids"] == ["howto-002", "howto-009"]  # the config's holdout, by the hash of the id
    report = (workdir / TARGET).read_text()
    assert "loss-curves.png" in report
    assert (workdir / "results/tiny-howto/loss-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a finished run leaves no checkpoint to resume from: a forced rerun starts afresh
    assert not list(model_dir.glob("unfinished-*"))
    assert (workdir / "results/tiny-howto/logs/pretrain/videoclip-tiny/pretrain.log").is_file()


def test_nothing_reruns_when_nothing_changed(pretraining_run):
    workdir, config = pretraining_run
    assert planned_jobs(workdir, config) == {}


@pytest.mark.parametrize("change", [
    lambda settings: settings["datasets"]["tiny-howto"]["pretraining"].update(epochs=3),
    lambda settings: settings["datasets"]["tiny-howto"]["pretraining"]["optimiser"].update(learning_rate=0.002),
    lambda settings: settings["models"]["videoclip-tiny"].update(dropout=0.2),
], ids=["epochs", "learning-rate", "model"])
def test_a_pretraining_setting_reruns_pretraining_and_what_follows_not_the_features(pretraining_run, tmp_path,
                                                                                     change):
    workdir, config = pretraining_run
    assert planned_jobs(workdir, changed_config(config, tmp_path, change)) == AFTER_PRETRAINING


def test_where_pretraining_runs_is_no_setting_and_reruns_nothing(pretraining_run, tmp_path):
    """Two CPU processes or a GPU give the same weights to rounding: a change of them reruns nothing."""
    workdir, config = pretraining_run
    distributed = {"gpus": 0, "cpu_processes": 2}
    changed = changed_config(config, tmp_path, lambda settings: settings["datasets"]["tiny-howto"].update(
        distributed=distributed))
    assert planned_jobs(workdir, changed) == {}


def descendants(pid: int) -> list[int]:
    """The processes started under `pid`, children first (Linux's /proc/PID/task/*/children)."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            for child in map(int, children.read_text().split()):
                found += [child, *descendants(child)]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while being read
    return found


def pretrain_process(snakemake_pid: int) -> int | None:
    """The id of the `mmfeat pretrain` process that snakemake (`snakemake_pid`) started, if it runs."""
    for pid in descendants(snakemake_pid):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"mmfeat" in words and b"pretrain" in words:
            return pid
    return None


def test_a_pretrain_job_killed_after_an_epoch_resumes_and_ends_in_the_same_weights(pretraining_run):
    """SIGKILL once the first epoch's resume state is written: Snakemake deletes the failed job's
    outputs but not the unfinished folder, and the rerun goes on from it to the uninterrupted weights."""
    import torch

    from mmfeat.checkpoints import load_model

    workdir, config = pretraining_run
    model_dir = workdir / MODEL_DIR
    _, uninterrupted, _ = load_model(model_dir / "model.pt", expected_kind="videoclip")
    uninterrupted_losses = [json.loads(line)["losses"] for line in (model_dir / "history.jsonl").read_text().splitlines()]
    command = snakemake_command(workdir, "--configfile", str(config), "--cores", "2", f"{MODEL_DIR}/model.pt",
                                "--forcerun", "pretrain")
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(model_dir.glob("unfinished-*/resume.pt")):
            assert run.poll() is None, "snakemake ended before the first epoch's resume state was written"
            assert time.monotonic() < deadline, "no resume state within 300 s"
            time.sleep(0.01)
        pid = pretrain_process(run.pid)
        assert pid is not None, "the pretrain process ended before it could be killed"
        os.kill(pid, signal.SIGKILL)
        assert run.wait(timeout=120) != 0, "snakemake must report the killed job as failed"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert not (model_dir / "model.pt").exists() and list(model_dir.glob("unfinished-*/resume.pt"))

    run_snakemake(workdir, "--cores", "2", f"{MODEL_DIR}/model.pt", config=config)  # the same command again
    log = (workdir / "results/tiny-howto/logs/pretrain/videoclip-tiny/pretrain.log").read_text()
    assert "resuming from" in log
    _, resumed, _ = load_model(model_dir / "model.pt", expected_kind="videoclip")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], value) for name, value in uninterrupted.items())
    resumed_losses = [json.loads(line)["losses"] for line in (model_dir / "history.jsonl").read_text().splitlines()]
    assert resumed_losses == uninterrupted_losses  # every step once, in order, across the kill
    assert not list(model_dir.glob("unfinished-*"))
