"""mmfeat humor-features: one feature file per modality, a vector per sample, for the humour classifiers.

    mmfeat humor-features --dataset-root data/urfunny --on-problem skip \\
        --modality text results/urfunny/features/roberta/shard-*.h5 \\
        --modality audio results/urfunny/features/wav2vec2/shard-*.h5 \\
        --modality video results/urfunny/features/i3d/shard-*.h5 \\
        --output-dir results/urfunny/humor/features --skipped results/urfunny/humor/skipped.json

Every sample of the folds is checked (mmfeat.datasets.urfunny); a sample with a
problem in the release, or without features in any modality (a clip with no
audio track, no video, an empty transcript: the shards list why), is left out
of every modality, so that classifiers and fusions are compared on the same
samples, and written to --skipped with its reasons. With --on-problem fail, a
problem in the release fails the job instead, listing every one.
"""

from __future__ import annotations

import argparse
import json
import logging

from mmfeat.errors import UserError

NAME = "humor-features"
HELP = "Pool each humor sample's stored features into one vector per modality (.npz per modality)."
MODALITIES = ("text", "audio", "video")

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-root", required=True, help="the dataset in the UR-FUNNY v2 layout")
    parser.add_argument("--modality", required=True, nargs="+", action="append", metavar=("NAME", "FILE"),
                        help="a modality (text, audio or video) and its feature shards; repeat for each")
    parser.add_argument("--on-problem", choices=("skip", "fail"),
                        help="a sample with a problem in the release is skipped and listed, or fails the job "
                        "(default: the schema's)")
    parser.add_argument("--output-dir", required=True, help="folder for {modality}.npz")
    parser.add_argument("--skipped", required=True,
                        help="JSON to write: sample id -> why it was left out (reasons joined by \"; \")")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` stays fast
    from pathlib import Path

    import numpy as np

    from mmfeat.atomic import write_text_atomically
    from mmfeat.datasets.urfunny import URFunnyDataset
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.humor.features import write_modality_features
    from mmfeat.tasks.humor.pooling import punchline_vector, segment_vector
    from mmfeat.workflow_config import schema_defaults

    stores = _stores_by_modality(args.modality, FeatureStore)
    dataset = URFunnyDataset(args.dataset_root)
    skipped: dict[str, list[str]] = {}
    on_problem = args.on_problem or schema_defaults("humor_dataset")["on_problem"]
    for sample_id, problems in dataset.check(on_problem, clip_durations=_clip_durations(stores)).items():
        skipped[sample_id] = [problem.what for problem in problems]
    for modality, store in stores.items():
        present = set(store.videos())
        excluded = store.excluded()
        for sample_id in dataset.sample_ids():
            if sample_id not in present:
                reason = excluded.get(sample_id, "no features in the store (not extracted)")
                skipped.setdefault(sample_id, []).append(f"{modality}: {reason}")

    fold_of = {sample_id: fold for fold, ids in dataset.folds().items() for sample_id in ids}
    kept = [sample_id for sample_id in dataset.sample_ids() if sample_id not in skipped]
    if not kept:
        first = next(iter(sorted(skipped.items())))
        raise UserError(f"{dataset.root}: every sample was left out, e.g. {first[0]}: {'; '.join(first[1])}")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for modality, store in stores.items():
        if modality == "video":
            vectors = [punchline_vector(store, sample_id, dataset.sample(sample_id).punchline_interval)
                       for sample_id in kept]
        else:
            vectors = [segment_vector(store, sample_id) for sample_id in kept]
        write_modality_features(output_dir / f"{modality}.npz", kept, np.stack(vectors).astype(np.float32),
                                [dataset.label(sample_id) for sample_id in kept],
                                [fold_of[sample_id] for sample_id in kept])
        log.info("%s: %d samples x %d features", modality, len(kept), len(vectors[0]))
    reasons = {sample_id: "; ".join(skipped[sample_id]) for sample_id in sorted(skipped)}
    write_text_atomically(args.skipped, json.dumps(reasons, indent=1) + "\n")
    log.info("%d samples kept, %d left out", len(kept), len(skipped))
    return 0


def _stores_by_modality(pairs: list[list[str]], store_class) -> dict:
    stores = {}
    for name, *shards in pairs:
        if name not in MODALITIES:
            raise UserError(f"--modality {name}: the modalities are {', '.join(MODALITIES)}")
        if name in stores:
            raise UserError(f"--modality {name} is given twice")
        if not shards:
            raise UserError(f"--modality {name}: name its feature shards after it")
        stores[name] = store_class(shards)
    return stores


def _clip_durations(stores: dict) -> dict[str, float]:
    """Each decoded clip's length in seconds, from the video decoder's records, to check word times against."""
    durations = {}
    for store in stores.values():
        for sample_id, record in store.decode_records().items():
            if record.get("frames_expected") and record.get("fps"):
                durations[sample_id] = record["frames_expected"] / record["fps"]
    return durations
