"""mmfeat zero-shot-segment: segment a split's test videos from action names alone, with S3D's two towers.

    mmfeat zero-shot-segment --dataset-root ROOT --features results/D/features/s3d/shard-*.h5 --split 1 \\
        --extractor '{"kind": "s3d", "weights": "models/s3d_howto100m.pth", "vocabulary": "models/s3d_dict.npy"}' \\
        --zero-shot '{"extractor": "s3d", "exclude": ["action_start", "action_end"]}' \\
        --max-length-mismatch 0.05 --predictions DIR --evaluated-bundle test.bundle --alignment-report alignment.json

`--extractor` and `--zero-shot` are the config's entries (the extractor's, the
dataset's `zero_shot`); what they leave out, and --alignment, come from the
schema's defaults (mmfeat/config/schema.yaml).
Each action name (`cut_tomato` -> "cut tomato", put into the entry's prompt) is
embedded by the text tower of the extractor the features were made with; each
stored window's joint video embedding takes the action of highest cosine
similarity, never an excluded one; every label frame takes the nearest window's action.
Nothing is trained, so the split only chooses which videos are evaluated: the
same test videos as the trained models', for a like-for-like row in the report.
A test video whose length differs from its ground truth's beyond
--max-length-mismatch stops the command, naming every such file.
"""

from __future__ import annotations

import argparse
import logging

from mmfeat.align import fill_to_label_rate
from mmfeat.commands.json_arguments import json_object
from mmfeat.commands.split_arguments import add_length_checks, add_prediction_outputs, add_split_inputs
from mmfeat.errors import UserError

NAME = "zero-shot-segment"
HELP = "Zero-shot action segmentation of a split's test videos from the action names (S3D text and video towers)."

VIDEO_EMBEDDING = "video_embedding"  # the stored output holding each window's joint embedding

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_split_inputs(parser, features="the S3D extractor's HDF5 shards", bundles="test")
    parser.add_argument("--extractor", required=True, metavar="JSON",
                        help="the config entry of the extractor the features were made with (kind s3d)")
    parser.add_argument("--zero-shot", required=True, metavar="JSON",
                        help='the dataset\'s `zero_shot` entry: {"extractor": NAME, "prompt": ..., "exclude": [...]}')
    add_length_checks(parser)
    add_prediction_outputs(parser)


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    import torch

    from mmfeat.datasets.segmentation import SegmentationDataset
    from mmfeat.tasks.segmentation.split_predictions import publish_split_predictions
    from mmfeat.features.extractors import complete_entry, extractor_module
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.zero_shot import class_prompts, zero_shot_row_labels
    from mmfeat.tasks.segmentation.sequences import load_sequences, require_lengths_within
    from mmfeat.workflow_config import schema_defaults, with_defaults

    zero_shot = with_defaults("zero_shot", json_object(args.zero_shot, "--zero-shot"), source="--zero-shot")
    alignment = args.alignment or schema_defaults("segmentation_dataset")["alignment"]
    dataset = SegmentationDataset(args.dataset_root)
    class_names = dataset.class_names
    unknown = sorted(set(zero_shot["exclude"]) - set(class_names))
    if unknown:
        raise UserError(f"--zero-shot's exclude {unknown}: not labels of {dataset.mapping_path}")
    excluded = {class_names.index(label) for label in zero_shot["exclude"]}

    entry = complete_entry(json_object(args.extractor, "--extractor"), source="--extractor")
    extractor = extractor_module(entry["kind"])
    model, weights_identity = extractor.build(extractor.Settings.from_dict(entry))
    if not hasattr(model, "embed_text"):
        raise UserError(f"extractor kind {entry['kind']!r} has no text tower; zero-shot needs an s3d extractor")
    prompts = class_prompts(class_names, zero_shot["prompt"])
    with torch.inference_mode():
        text_embeddings = model.embed_text(prompts).float().cpu().numpy()
    log.info("embedded %d action names with %s weights, e.g. %r", len(prompts), weights_identity["kind"], prompts[0])

    store = FeatureStore(args.features)
    test_ids = dataset.split_video_ids("test", args.split)
    sequences, left_out = load_sequences(dataset, store, test_ids, alignment, sample_rate=1,
                                         output=VIDEO_EMBEDDING)
    require_lengths_within(sequences, dataset, args.max_length_mismatch, f"test videos of split {args.split}")
    labels_by_video = {}
    for sequence in sequences:
        row_labels = zero_shot_row_labels(sequence.features.T, text_embeddings, excluded)
        per_frame = fill_to_label_rate(row_labels, sequence.label_indices, sequence.alignment.label_frames,
                                       fill="nearest")
        labels_by_video[sequence.video_id] = [class_names[index] for index in per_frame]
    publish_split_predictions(labels_by_video, sequences, left_out, args.split, alignment, args.predictions,
                              args.evaluated_bundle, args.alignment_report)
    log.info("split %d: %d test videos segmented zero-shot, %d left out", args.split, len(sequences), len(left_out))
    return 0

