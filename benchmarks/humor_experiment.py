"""Time `mmfeat humor-experiment` on synthetic features of UR-FUNNY's size, or of the demo's.

    .venv/bin/python benchmarks/humor_experiment.py --samples 16000 --seeds 5
    .venv/bin/python benchmarks/humor_experiment.py --samples 40 --seeds 5

Text (768 dimensions, as RoBERTa-base), audio (768, as wav2vec2-base) and video (1024, as
S3D) features are Gaussian noise with the humour class shifted on a few dimensions, strongly
for text and weakly for audio, so the classifiers have something to learn and stop early
as they would on real features. Prints wall and CPU seconds of the whole experiment
(3 modalities: 3 MLPs, 3 logistic regressions and 4 x 4 fusions per seed).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mmfeat.cli import main as mmfeat_main
from mmfeat.tasks.humor.features import write_modality_features

DIMENSIONS = {"text": 768, "audio": 768, "video": 1024}
SHIFTS = {"text": 0.5, "audio": 0.15, "video": 0.05}  # in stds, on each of the first 16 dimensions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=16000)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, args.samples)
    folds = rng.choice(["train", "dev", "test"], size=args.samples, p=[0.7, 0.15, 0.15])
    ids = np.array([f"clip-{index}" for index in range(args.samples)])
    with tempfile.TemporaryDirectory() as folder:
        arguments = ["humor-experiment", "--classifiers", json.dumps({"seeds": args.seeds}),
                     "--output", str(Path(folder) / "results.json")]
        for name, dimension in DIMENSIONS.items():
            features = rng.normal(size=(args.samples, dimension)).astype(np.float32)
            features[:, :16] += SHIFTS[name] * labels[:, None]
            write_modality_features(Path(folder) / f"{name}.npz", ids, features, labels, folds)
            arguments += ["--modality", name, str(Path(folder) / f"{name}.npz")]
        wall, cpu = time.perf_counter(), time.process_time()
        assert mmfeat_main(arguments) == 0
        print(f"{args.samples} samples, {args.seeds} seeds: {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
