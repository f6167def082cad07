"""Time of one ASFormer training step, mmfeat against the official code's way of computing it.

    .venv/bin/python benchmarks/asformer_step.py                 # 6,000 frames of 2048-d features
    .venv/bin/python benchmarks/asformer_step.py --frames 2000 --repeats 3

Builds mmfeat's ASFormer (3 decoders, 10 layers, 64 feature maps, 19 classes) and
loads its weights into OfficialLoopASFormer (benchmarks/asformer_official_loop.py,
the official architecture with its Python loop over blocks). Checks that the two
forwards agree (eval mode, max abs difference of the stage logits), then times
training steps (forward, loss, backward, Adam step; training mode, so dropout and
channel masking run) alternately, one of each per repetition, so that the machine's
load falls on both alike. Reports the median step time of each (wall clock and
process CPU time, all threads), the spread, and the median of the per-repetition
ratios. On a shared machine the CPU-time ratio with --threads 1 is the steadiest
figure: it counts the work done, not the waiting for other processes.

The arithmetic floor is the step's floating-point operations (matrix products and
convolutions, forward and backward, counted by torch's FlopCounterMode on the loop
model, whose masked attention does the same products as mmfeat's) divided by the
rate of one large float32 matrix product measured in the same run: no step can go
faster on this machine, and elementwise work is not even counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from a checkout, no install needed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from asformer_official_loop import OfficialLoopASFormer  # noqa: E402
from mmfeat.models.asformer import ASFormer  # noqa: E402
from mmfeat.tasks.segmentation.asformer_training import asformer_loss  # noqa: E402

NUM_CLASSES = 19  # 50Salads
OUTPUT_TOLERANCE = 1e-5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--input-dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps of each model, after one warm-up")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = ASFormer(input_dim=args.input_dim, num_classes=NUM_CLASSES)
    loop_model = OfficialLoopASFormer(input_dim=args.input_dim, num_classes=NUM_CLASSES)
    loop_model.load_state_dict(model.state_dict(), strict=True)
    features = torch.randn(1, args.input_dim, args.frames)
    labels = torch.randint(0, NUM_CLASSES, (1, args.frames))
    frame_mask = torch.ones(1, args.frames)
    class_mask = torch.ones(1, NUM_CLASSES, args.frames)  # the official trainer's mask

    with torch.no_grad():
        difference = (model.eval()(features, frame_mask) - loop_model.eval()(features, class_mask)).abs().max().item()
    print(f"forward, eval mode, {args.frames} frames: max |mmfeat - official loop| = {difference:.2e}")
    if difference > OUTPUT_TOLERANCE:
        raise SystemExit(f"outputs differ by more than {OUTPUT_TOLERANCE}: the timing would compare different models")
    model.train()
    loop_model.train()

    mmfeat_optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-5)
    loop_optimizer = torch.optim.Adam(loop_model.parameters(), lr=5e-4, weight_decay=1e-5)

    def mmfeat_step() -> None:
        stage_logits = model(features, frame_mask)
        loss = asformer_loss(stage_logits, labels, frame_mask)
        mmfeat_optimizer.zero_grad()
        loss.backward()
        mmfeat_optimizer.step()

    def loop_step() -> None:
        stage_logits = loop_model(features, class_mask)
        loss = official_loss(stage_logits, labels, class_mask)
        loop_optimizer.zero_grad()
        loss.backward()
        loop_optimizer.step()

    with FlopCounterMode(display=False) as counter:
        loop_step()
    step_flops = counter.get_total_flops()
    mmfeat_step()  # warm-up
    gemm_rates = [matmul_rate()]
    timings = {"official loop": ([], []), "mmfeat": ([], [])}  # (wall, cpu) seconds
    for _ in range(args.repeats):
        for name, step in (("official loop", loop_step), ("mmfeat", mmfeat_step)):
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            timings[name][0].append(time.perf_counter() - start)
            timings[name][1].append(time.process_time() - cpu_start)
    gemm_rates.append(matmul_rate())

    rate = max(gemm_rates)
    print(f"threads {args.threads}, {args.repeats} alternating repetitions, seconds per step, median (min-max):")
    for clock, column in (("wall", 0), ("CPU", 1)):
        loop_seconds, mmfeat_seconds = timings["official loop"][column], timings["mmfeat"][column]
        ratios = [slow / fast for slow, fast in zip(loop_seconds, mmfeat_seconds)]
        print(f"  {clock:4}  official loop {spread(loop_seconds)}  mmfeat {spread(mmfeat_seconds)}  "
              f"speed-up {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"arithmetic floor: {step_flops / 1e9:.1f} GFLOP per step at {rate / 1e9:.0f} GFLOP/s "
          f"(4096^3 float32 matmul, best of the run) = {step_flops / rate:.3f} s")


def official_loss(stage_logits: torch.Tensor, labels: torch.Tensor, class_mask: torch.Tensor) -> torch.Tensor:
    """The official trainer's loss: per stage, cross-entropy plus 0.15 x the clamped smoothing MSE."""
    num_classes = stage_logits.shape[2]
    loss = 0
    for logits in stage_logits:
        loss += F.cross_entropy(logits.transpose(2, 1).contiguous().view(-1, num_classes), labels.view(-1))
        squared_change = F.mse_loss(F.log_softmax(logits[:, :, 1:], dim=1),
                                    F.log_softmax(logits.detach()[:, :, :-1], dim=1), reduction="none")
        loss += 0.15 * torch.mean(torch.clamp(squared_change, min=0, max=16) * class_mask[:, :, 1:])
    return loss


def spread(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.3f} ({min(seconds):.3f}-{max(seconds):.3f})"


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def matmul_rate(size: int = 4096) -> float:
    """Float32 operations per second of a size x size matrix product, best of 3."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = min(timed(lambda: a @ b) for _ in range(3))
    return 2 * size**3 / best


if __name__ == "__main__":
    main()
