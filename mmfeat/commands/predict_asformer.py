"""mmfeat predict-asformer: write MS-TCN prediction files for a split's test videos.

    mmfeat predict-asformer --dataset-root ROOT --features SHARDS... --split 1 \
        --checkpoint model.pt --predictions DIR --evaluated-bundle test.bundle \
        --alignment-report alignment.json

Predictions are made on every sample_rate-th aligned frame, then repeated back
to the ground truth's full frame rate. Test videos the feature store lists as
excluded get no prediction file; the evaluated bundle lists the videos that do,
and the alignment report names the ones left out and why. A test video whose
length differs from its ground truth's beyond --max-length-mismatch stops the
command before any prediction, naming every such file.
"""

from __future__ import annotations

import argparse
import logging

from mmfeat.align import FILLS, POLICIES, fill_to_label_rate
from mmfeat.commands.split_arguments import add_prediction_outputs, add_split_inputs
from mmfeat.datasets.segmentation import SegmentationDataset

NAME = "predict-asformer"
HELP = "Predict a split's test videos with a trained ASFormer checkpoint (MS-TCN prediction files)."
log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_split_inputs(parser, features="the HDF5 shards of the dataset's features", bundles="test")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--alignment", default=None, choices=POLICIES,
                        help="defaults to the policy the checkpoint was trained with")
    parser.add_argument("--max-length-mismatch", type=float, default=None, metavar="FRACTION",
                        help="largest difference between a video's and its labels' frame counts, as a fraction of "
                             "the label frames (defaults to the bound the checkpoint was trained with)")
    parser.add_argument("--fill", choices=FILLS, default="previous",
                        help="how a label frame without a feature row takes a prediction (default: previous)")
    add_prediction_outputs(parser)
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="defaults to the model's training.device setting, kept in the checkpoint")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    from mmfeat.devices import resolve_device
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.asformer_saved import load_asformer
    from mmfeat.tasks.segmentation.asformer_training import predict_asformer
    from mmfeat.tasks.segmentation.split_predictions import publish_split_predictions
    from mmfeat.tasks.segmentation.sequences import load_sequences, require_lengths_within, standardize

    saved = load_asformer(args.checkpoint, device="cpu")
    model, extra = saved.model, saved.provenance
    # the model's training.device setting; "auto" for checkpoints that predate it
    device = resolve_device(args.device or extra.get("training", {}).get("device", "auto"))
    model.to(device)
    policy = args.alignment or extra["alignment"]
    dataset = SegmentationDataset(args.dataset_root)
    store = FeatureStore(args.features)
    test_ids = dataset.split_video_ids("test", args.split)
    sequences, left_out = load_sequences(dataset, store, test_ids, policy, extra["sample_rate"])
    max_length_mismatch = args.max_length_mismatch
    if max_length_mismatch is None:
        max_length_mismatch = extra.get("max_length_mismatch")
    if max_length_mismatch is not None:  # None: a checkpoint from before the bound, and none given
        require_lengths_within(sequences, dataset, max_length_mismatch, f"test videos of split {args.split}")
    if extra.get("feature_statistics"):
        standardize(sequences, extra["feature_statistics"]["mean"], extra["feature_statistics"]["std"])
    class_names = extra["class_names"]
    if class_names != dataset.class_names:
        log.warning("the checkpoint's classes differ from %s; predicting with the checkpoint's", dataset.mapping_path)

    labels_by_video = {}
    for sequence in sequences:
        predicted_rows = predict_asformer(model, sequence.features)
        per_frame = fill_to_label_rate(predicted_rows, sequence.label_indices, sequence.alignment.label_frames,
                                       fill=args.fill)
        labels_by_video[sequence.video_id] = [class_names[index] for index in per_frame]
    publish_split_predictions(labels_by_video, sequences, left_out, args.split, policy, args.predictions,
                              args.evaluated_bundle, args.alignment_report)
    log.info("split %d: predicted %d test videos on %s, %d left out", args.split, len(sequences), device,
             len(left_out))
    return 0
