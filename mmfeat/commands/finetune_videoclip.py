"""mmfeat finetune-videoclip: fine-tune VideoCLIP on a split's training videos, then segment its test videos.

    mmfeat finetune-videoclip --dataset-root data/demo-salads --features results/demo-salads/features/s3d-demo/shard-*.h5 \\
        --split 1 --model '{"kind": "videoclip", ...}' --init-from results/demo-howto/pretrain/videoclip-demo/model.pt \\
        --finetune '{"head": "linear"}' --epochs 8 --max-length-mismatch 0.05 --threads 2 \\
        --checkpoint model.pt --history history.jsonl \\
        --predictions DIR --evaluated-bundle evaluated.bundle --alignment-report alignment.json

The towers start from --init-from (a pretrain output, `release` or `random`: mmfeat.tasks.transfer.starts),
read the S3D extractor's `video_embedding` rows as their tokens (one label per row: the label at its centre
frame), and train with the --finetune section's head and recipe (mmfeat.tasks.transfer.finetune) for --epochs
epochs. The same process then scores the split's test videos over sliding windows, takes each row's best
class and gives every label frame the nearest row's (--fill), and publishes the predictions as every
segmentation method does, for the same metrics and report. One job per split: torch is imported once.
A training or test video whose length differs from its ground truth's beyond --max-length-mismatch stops
the command before any training, naming every such file.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from mmfeat.align import FILLS
from mmfeat.commands.json_arguments import json_object
from mmfeat.commands.split_arguments import (
    add_length_checks,
    add_prediction_outputs,
    add_split_inputs,
    add_videoclip_start,
)
from mmfeat.errors import UserError

NAME = "finetune-videoclip"
HELP = "Fine-tune VideoCLIP on a split's training videos (head linear or text) and segment its test videos."

VIDEO_EMBEDDING = "video_embedding"  # the stored output whose rows are VideoCLIP's tokens
TOKENS_EXTRACTOR = "s3d"  # the extractor kind that writes them; its fill is the default --fill

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_split_inputs(parser, features="the S3D extractor's HDF5 shards", bundles="{train,test}")
    add_videoclip_start(parser)
    parser.add_argument("--finetune", required=True, metavar="JSON",
                        help="the dataset's videoclip.finetune section; the schema fills in what it leaves out")
    parser.add_argument("--epochs", required=True, type=int, help="epochs of this run (one of the section's)")
    add_length_checks(parser)
    parser.add_argument("--fill", choices=FILLS,
                        help="how label frames between rows take a prediction (default: the s3d extractor's)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--checkpoint", required=True, help="model.pt to write: the fine-tuned towers and head")
    parser.add_argument("--history", required=True, help="history.jsonl to write: one line per epoch")
    add_prediction_outputs(parser)


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    import torch

    from mmfeat.atomic import write_text_atomically
    from mmfeat.datasets.segmentation import SegmentationDataset
    from mmfeat.features.extractors import KIND_FACTS
    from mmfeat.features.store import FeatureStore
    from mmfeat.tasks.segmentation.sequences import load_sequences, require_lengths_within
    from mmfeat.tasks.segmentation.split_predictions import publish_split_predictions
    from mmfeat.tasks.transfer.finetune import FinetuneSettings, finetune, frame_labels, predict_row_scores
    from mmfeat.tasks.transfer.finetuned_model import VideoCLIPSegmenter, save_finetuned
    from mmfeat.tasks.transfer.starts import load_start
    from mmfeat.workflow_config import schema_defaults

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = FinetuneSettings.from_entry(json_object(args.finetune, "--finetune"), args.epochs, "--finetune")
    alignment = args.alignment or schema_defaults("segmentation_dataset")["alignment"]
    fill = args.fill or KIND_FACTS[TOKENS_EXTRACTOR].fill
    dataset = SegmentationDataset(args.dataset_root)
    store = FeatureStore(args.features)

    def sequences_of(part: str):
        ids = dataset.split_video_ids(part, args.split)
        try:
            sequences, left_out = load_sequences(dataset, store, ids, alignment, sample_rate=1, output=VIDEO_EMBEDDING)
        except KeyError as error:  # the store's own message names the shard and the outputs it has
            raise UserError(f"--features: {error.args[0]}; give the shards of an s3d extractor, whose "
                            f"{VIDEO_EMBEDDING} rows are VideoCLIP's tokens") from error
        require_lengths_within(sequences, dataset, args.max_length_mismatch, f"{part} videos of split {args.split}")
        return sequences, left_out

    # both parts are read and checked before any training, so that a bad test video fails at once
    train_sequences, train_left_out = sequences_of("train")
    test_sequences, test_left_out = sequences_of("test")
    model, start = load_start(args.init_from, json_object(args.model, "--model"))
    _require_token_width(model, train_sequences + test_sequences, args.features)
    segmenter = VideoCLIPSegmenter(model, settings.head, dataset.class_names, settings.train_text_tower,
                                   settings.seed)
    log.info("split %d: fine-tuning from %s on %d training videos (%d left out), head %s, %d epochs",
             args.split, start["kind"], len(train_sequences), len(train_left_out), settings.head, settings.epochs)

    def report_epoch(row: dict) -> None:
        log.info("epoch %d/%d: loss %.4f, training row accuracy %.2f%%, lr %.3g, %.1f s", row["epoch"],
                 settings.epochs, row["loss"], 100 * row["accuracy"], row["lr"], row["seconds"])

    history = finetune(segmenter, [(sequence.features.T, sequence.labels) for sequence in train_sequences],
                       settings, on_epoch=report_epoch)
    for output in (args.history, args.predictions, args.evaluated_bundle, args.alignment_report):
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.history, "".join(json.dumps(row) + "\n" for row in history))
    save_finetuned(args.checkpoint, segmenter, {
        "init_from": start, "finetune": settings.entry, "epochs": settings.epochs, "split": args.split,
        "dataset_root": str(args.dataset_root), "features": list(args.features), "alignment": alignment,
        "max_length_mismatch": args.max_length_mismatch, "train_videos": [s.video_id for s in train_sequences],
        "left_out": train_left_out, "history": history,
    })

    labels_by_video = {}
    for sequence in test_sequences:
        scores = predict_row_scores(segmenter, sequence.features.T, settings.window, settings.test_step)
        labels_by_video[sequence.video_id] = frame_labels(scores, sequence, dataset.class_names, fill)
    publish_split_predictions(labels_by_video, test_sequences, test_left_out, args.split, alignment,
                              args.predictions, args.evaluated_bundle, args.alignment_report)
    log.info("split %d: wrote %s, %s and %d test videos' predictions (%d left out)", args.split, args.checkpoint,
             args.history, len(test_sequences), len(test_left_out))
    return 0


def _require_token_width(model, sequences, shards: list[str]) -> None:
    """A UserError when the rows are not as wide as the towers' video_feature_size (a bare shape error else)."""
    expected = model.settings.video_feature_size
    widths = {sequence.features.shape[0] for sequence in sequences}
    if widths - {expected}:
        raise UserError(f"the {VIDEO_EMBEDDING} rows of {', '.join(shards)} are {sorted(widths)} wide, the model's "
                        f"video_feature_size is {expected}; give the model entry the rows' width, or the features "
                        "of the extractor it was made for")
