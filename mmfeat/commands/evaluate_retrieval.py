"""mmfeat evaluate-retrieval: held-out retrieval of a pretrained VideoCLIP against the untrained one and chance.

    mmfeat evaluate-retrieval --dataset-root data/demo-howto \
        --video-features results/demo-howto/features/s3d-demo/shard-*.h5 \
        --model '{"kind": "videoclip", ...}' --holdout 0.05 \
        --pretrained results/demo-howto/pretrain/videoclip-demo/model.pt \
        --output results/demo-howto/pretrain/videoclip-demo/evaluation.json

Every caption of the held-out videos is matched against the video seconds it
was said over; evaluation.json holds text-to-video and video-to-text R@1, R@5,
R@10 and median rank of the pretrained model, of the untrained model it
started from and of ranking by chance, with the held-out ids and the counts
(mmfeat.tasks.pretraining.evaluation says what else). --audio-features, when
pretraining read audio, leaves out the videos without audio, as pretraining did.
"""

from __future__ import annotations

import argparse
import json

from mmfeat.commands.json_arguments import json_object

NAME = "evaluate-retrieval"
HELP = "Evaluate a pretrained VideoCLIP by held-out text-video retrieval, against the untrained model and chance."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-root", required=True, help="the narrated dataset (videos/, captions.json)")
    parser.add_argument("--video-features", required=True, nargs="+", metavar="SHARD",
                        help="the HDF5 shards of the video features (S3D, video_embedding at one row a second)")
    parser.add_argument("--audio-features", nargs="+", default=None, metavar="SHARD",
                        help="the audio shards pretraining read, if any: videos without audio are left out")
    parser.add_argument("--model", required=True, metavar="JSON", help="the model's config entry (kind videoclip)")
    parser.add_argument("--holdout", required=True, type=float, metavar="FRACTION",
                        help="the dataset's holdout fraction, as pretraining held it out")
    parser.add_argument("--pretrained", required=True, help="model.pt written by `mmfeat pretrain`")
    parser.add_argument("--output", required=True, help="evaluation.json to write")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.atomic import write_text_atomically
    from mmfeat.datasets.narrated import NarratedDataset
    from mmfeat.devices import resolve_device
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.pretraining.evaluation import evaluate_pretraining
    from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures

    audio_store = FeatureStore(args.audio_features) if args.audio_features else None
    features = NarratedFeatures(NarratedDataset(args.dataset_root), FeatureStore(args.video_features),
                                audio_store=audio_store)
    record = evaluate_pretraining(features, args.holdout, json_object(args.model, "--model"), args.pretrained,
                                  device=str(resolve_device("auto")))
    write_text_atomically(args.output, json.dumps(record, indent=2, sort_keys=True) + "\n")
    for name, directions in record["models"].items():
        print(f"{name}: " + "; ".join(f"{direction} R@1 {summary['R@1']:.3f}, median rank {summary['median_rank']:g}"
                                      for direction, summary in directions.items()))
    return 0
