"""mmfeat pretrain: contrastive pretraining of VideoCLIP (and VATT's audio tower) on a narrated dataset's features.

    mmfeat pretrain --dataset-root data/demo-howto --video-features results/demo-howto/features/s3d/shard-*.h5 \
        [--audio-features results/demo-howto/features/wav2vec2/shard-*.h5] \
        --model '{"kind": "videoclip", ...}' --pretraining '{"batch_size": 512, ...}' --holdout 0.05 \
        --output model.pt --history history.jsonl --resume-state resume.pt
    torchrun --standalone --nproc-per-node 2 -m mmfeat pretrain ...      # the same run over 2 processes

Held-out videos (the dataset's stable holdout) are never trained on. A rerun goes on from
--resume-state; SIGTERM (SLURM's preemption) writes it after the step under way and exits with
status 143. Under several processes only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import logging
import signal

from mmfeat.commands.json_arguments import json_object

NAME = "pretrain"
HELP = "Pretrain VideoCLIP contrastively on a narrated dataset's stored features (resumable, 1..N processes)."
STOPPED_STATUS = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM

log = logging.getLogger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset-root", required=True, help="a narrated dataset: videos/ and captions.json")
    parser.add_argument("--video-features", required=True, nargs="+", metavar="SHARD",
                        help="HDF5 shards of per-second video features (S3D's video_embedding at step_seconds 1)")
    parser.add_argument("--audio-features", nargs="+", default=None, metavar="SHARD",
                        help="HDF5 shards of audio features (wav2vec2), for the video-audio objective")
    parser.add_argument("--video-output", default="video_embedding",
                        help="the stored output read as video rows (default: S3D's video_embedding)")
    parser.add_argument("--model", required=True, metavar="JSON", help="the model's config entry (kind videoclip)")
    parser.add_argument("--pretraining", required=True, metavar="JSON", help="the dataset's `pretraining` entry")
    parser.add_argument("--holdout", required=True, type=float, metavar="FRACTION",
                        help="share of videos held out for evaluation (by a stable hash of the id); never trained on")
    parser.add_argument("--output", required=True, help="model.pt to write: the trained VideoCLIP")
    parser.add_argument("--history", required=True, help="history.jsonl to write: one line per step")
    parser.add_argument("--resume-state", required=True, help="the resume state, read if present, written each epoch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)")


def run(args: argparse.Namespace) -> int:
    # heavy imports here, so that `mmfeat --help` does not load torch
    import torch

    from mmfeat.datasets.narrated import NarratedDataset
    from mmfeat.features.store import FeatureStore
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings
    from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
    from mmfeat.tasks.pretraining.saved import save_pretrained_videoclip
    from mmfeat.tasks.pretraining.training import (
        PretrainingSettings, RunFiles, Stopped, TrainingVideos, distributed_from_environment, pretrain)
    from mmfeat.workflow_config import with_defaults

    if args.threads:
        torch.set_num_threads(args.threads)
    model_entry = with_defaults("videoclip_model", json_object(args.model, "--model"), "--model")
    settings = PretrainingSettings.from_config(
        with_defaults("pretraining", json_object(args.pretraining, "--pretraining"), "--pretraining"))
    dataset = NarratedDataset(args.dataset_root)
    rows = NarratedFeatures(dataset, FeatureStore(args.video_features), video_output=args.video_output,
                            audio_store=FeatureStore(args.audio_features) if args.audio_features else None)
    held_out = set(dataset.holdout_ids(args.holdout))
    training_ids = [video_id for video_id in rows.usable_ids() if video_id not in held_out]
    captions = {video_id: dataset.captions(video_id) for video_id in training_ids}
    log.info("%d training videos (%d captions), %d held out", len(training_ids),
             sum(len(timed) for timed in captions.values()), len(held_out))
    model = build_videoclip(videoclip_settings(model_entry, source="--model"))
    files = RunFiles(history=args.history, resume_state=args.resume_state)
    with distributed_from_environment(settings.device) as placement:
        try:
            trained = pretrain(model, TrainingVideos(rows, captions, training_ids), settings, files, placement,
                               identity={"model": model_entry, "holdout": args.holdout})
        except Stopped as stopped:
            log.warning("%s", stopped)
            return STOPPED_STATUS
        if placement.rank == 0:
            provenance = {
                "dataset_root": str(args.dataset_root), "video_features": list(args.video_features),
                "audio_features": list(args.audio_features or []), "holdout": args.holdout,
                "training_videos": len(training_ids), "held_out_videos": len(held_out),
                "captions": sum(len(timed) for timed in captions.values()), "pretraining": settings.entry,
                "processes": placement.world_size, "steps": trained.steps, "seconds": trained.seconds,
                "last_losses": trained.last_losses, "temperature": _temperature(trained.objectives),
            }
            save_pretrained_videoclip(args.output, trained.model, model_entry, provenance)
            log.info("wrote %s after %d steps (%.0f s)", args.output, trained.steps, trained.seconds)
    return 0


def _temperature(objectives) -> float | None:
    """The temperature the run ended with (learned or fixed); None for raw similarities."""
    scale = objectives.scale()
    return None if scale is None else float(1.0 / scale)
