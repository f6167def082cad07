"""The held-out evaluation of a pretraining run: pretrained against untrained against random, as one record.

    record = evaluate_pretraining(features, holdout=0.05, model_entry=entry, pretrained_path="…/model.pt")
    record["models"]["pretrained"]["text_to_video"]["R@1"]   # also "untrained" and "random"

The held-out videos are the dataset's `holdout_ids(holdout)` that have
features (the ones pretraining never saw); every caption of them is a clip
(retrieval.held_out_clips). The untrained model is the one pretraining
started from: `build_videoclip` of the same models entry, seeded by its
`seed`. Both are ranked by the similarity the run trained with, read from
model.pt's provenance (`pretraining.objectives.similarity`; the schema's
default when the file does not record it). The record also holds what the
report needs and cannot read elsewhere: the settings, the counts of videos,
seconds and captions per set, and the weights the features were made with.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from typing import TYPE_CHECKING

from mmfeat.errors import UserError
from mmfeat.tasks.pretraining.retrieval_metrics import random_ranking
from mmfeat.workflow_config import with_defaults

if TYPE_CHECKING:
    from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures

log = logging.getLogger(__name__)

RECORD_KEYS = ("held_out_ids", "videos", "seconds", "captions", "clips", "similarity", "ties", "models", "settings")
TIES = "counted against the model: a query's rank is the number of candidates scoring at least as high as its answer"


def evaluate_pretraining(features: NarratedFeatures, holdout: float, model_entry: dict, pretrained_path: str | Path,
                         device: str = "cpu") -> dict:
    """The evaluation record (module docstring) of the model pretrained at `pretrained_path`."""
    # imported here, so that reading a record (read_evaluation, for the report) loads no torch
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings
    from mmfeat.tasks.pretraining.retrieval import evaluate_retrieval, held_out_clips
    from mmfeat.tasks.pretraining.saved import load_pretrained_videoclip, saved_provenance

    usable = features.usable_ids()
    held_out = [video_id for video_id in usable if features.dataset.is_held_out(video_id, holdout)]
    training = [video_id for video_id in usable if video_id not in set(held_out)]
    settings = videoclip_settings(model_entry, source="--model")
    pretrained = load_pretrained_videoclip(pretrained_path, device=device)
    if pretrained.settings != settings:
        raise UserError(f"{pretrained_path} was pretrained from another models entry than the one given "
                        f"({pretrained.settings} against {settings}); pretrain again with this entry")
    clips = held_out_clips(features, held_out, settings.max_video_tokens)
    if len(clips) < 2:
        raise UserError(f"the held-out videos ({', '.join(held_out) or 'none'}, holdout {holdout}) have "
                        f"{len(clips)} caption(s); retrieval needs at least 2: raise the dataset's holdout")
    provenance = saved_provenance(pretrained_path)
    pretraining_entry = provenance.get("pretraining")
    similarity = with_defaults("pretraining", pretraining_entry or {},
                               f"{pretrained_path} (its pretraining settings)")["objectives"]["similarity"]
    untrained = build_videoclip(settings).to(device)
    log.info("evaluating on %d held-out clips of %d videos, %s similarity", len(clips), len(held_out), similarity)
    return {
        "holdout": holdout,
        "held_out_ids": held_out,
        "left_out": features.left_out(),
        "videos": {"training": len(training), "held_out": len(held_out)},
        "seconds": {"training": _seconds(features, training), "held_out": _seconds(features, held_out)},
        "captions": {"training": _captions(features, training), "held_out": _captions(features, held_out)},
        "clips": len(clips),
        "similarity": similarity,
        "ties": TIES,
        "models": {
            "pretrained": evaluate_retrieval(pretrained, features, clips, similarity),
            "untrained": evaluate_retrieval(untrained, features, clips, similarity),
            "random": random_ranking(len(clips)),
        },
        "settings": {"model": model_entry, "pretraining": pretraining_entry},
        "pretrained": {"path": str(pretrained_path), "provenance": provenance},
        "features": _feature_weights(features, usable),
    }


def _seconds(features: NarratedFeatures, video_ids: list[str]) -> float:
    return float(sum(features.dataset.duration(video_id) for video_id in video_ids))


def _captions(features: NarratedFeatures, video_ids: list[str]) -> int:
    return sum(len(features.dataset.captions(video_id)) for video_id in video_ids)


def _feature_weights(features: NarratedFeatures, usable: list[str]) -> dict:
    """{modality: {"extractor", "weights"}} as the first usable video's rows record them (None when imported)."""
    stores = {"video": features.video_store, "audio": features.audio_store}
    described = {}
    for modality, store in stores.items():
        if store is not None and usable:
            provenance = store.provenance(usable[0])
            described[modality] = {"extractor": provenance.get("extractor"), "weights": provenance.get("weights")}
    return described


def read_evaluation(path: str | Path) -> dict:
    """evaluation.json as `evaluate_pretraining` wrote it; UserError naming the file when it is not one."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; run `mmfeat evaluate-retrieval` (the workflow's evaluate_retrieval)"
                        " first") from None
    except ValueError as error:
        raise UserError(f"{path}: not valid JSON ({error}); run the evaluation again") from error
    missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise UserError(f"{path}: not an evaluation of this mmfeat (no {', '.join(missing)}); run the evaluation "
                        "again")
    return record
