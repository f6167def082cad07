"""The Markdown report of a segmentation run: every method and feature set compared on
the same splits (mean ± std), the majority-class baseline, published reference rows,
metrics per split, features and weights used, the decode summary, ground truth
against prediction as colour ribbons, and the time each stage took.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from mmfeat.align import ALWAYS_TOLERATED_FRAMES
from mmfeat.atomic import write_text_atomically
from mmfeat.datasets.mstcn_files import read_bundle, read_prediction_file
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.features.store import FeatureStore
from mmfeat.metrics.segmentation import METRIC_NAMES, evaluate_sequences
from mmfeat.reports.references import REFERENCE_NOTES, REFERENCE_RESULTS
from mmfeat.tasks.segmentation.run_manifest import RunEntry
from mmfeat.tasks.segmentation.ribbons import draw_ribbons
from mmfeat.reports.weights import describe_weights, is_random, random_features_warning
from mmfeat.reports.wording import counted, linked_picture, mean_with_std
from mmfeat.reports.stage_times import stage_times_section
from mmfeat.tasks.transfer.report import is_transfer, transfer_findings, transfer_settings_line, transfer_title

METRIC_TITLES = ("Acc", "Edit", "F1@10", "F1@25", "F1@50")  # METRIC_NAMES as a reader knows them
ZERO_SHOT = "zero-shot"  # the method of zero-shot segmentation in the run manifest (workflow/rules/segmentation.smk)
MODEL_TITLES = {"asformer": "ASFormer"}  # a trained method's name in the report, by model kind


@dataclass
class SplitOutputs:
    """What the workflow wrote for one split: its folder (predictions, alignment) and its metrics file."""

    number: int
    directory: Path
    metrics_path: Path

    # cached: the report reads each of these several times
    @cached_property
    def metrics(self) -> dict:
        return json.loads(self.metrics_path.read_text())["mean"]

    @cached_property
    def alignment(self) -> dict:
        return json.loads((self.directory / "alignment.json").read_text())

    @cached_property
    def train_alignment(self) -> dict | None:
        """The training videos' lengths (train_alignment.json); None for a method that trains nothing."""
        path = self.directory / "train_alignment.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @cached_property
    def evaluated_videos(self) -> list[str]:
        return [Path(name).stem for name in read_bundle(self.directory / "evaluated.bundle")]

    def predicted_labels(self, video_id: str) -> list[str]:
        return read_prediction_file(self.directory / "predictions" / video_id)


@dataclass
class RunOutputs:
    """One row of the comparison: a method (a model kind, or zero-shot) on one feature set, every split."""

    method: str
    model: str | None  # the name of the model trained under `models`; None for a method that trains nothing
    feature_set: str
    splits: list[SplitOutputs]
    start: str | None = None  # a VideoCLIP row's start (mmfeat.tasks.transfer.report)
    epochs: int | None = None  # a fine-tuned VideoCLIP row's epochs

    @property
    def title(self) -> str:
        if is_transfer(self.method):
            return transfer_title(self.method, self.start, self.epochs, self.feature_set)
        if self.method == ZERO_SHOT:
            return f"zero-shot from action names, on `{self.feature_set}`"
        return f"{MODEL_TITLES.get(self.method, self.method)} (`{self.model}`) on `{self.feature_set}` features"

    @cached_property
    def per_split(self) -> np.ndarray:
        return np.array([[split.metrics[key] for key in METRIC_NAMES] for split in self.splits])

    @property
    def mean(self) -> np.ndarray:
        return self.per_split.mean(axis=0)

    @property
    def std(self) -> list[float | None]:
        """Over splits, with n-1; None (undefined) for a single split."""
        if len(self.splits) < 2:
            return [None] * len(METRIC_NAMES)
        return list(self.per_split.std(axis=0, ddof=1))


def runs_from_manifest(entries: list[RunEntry]) -> list[RunOutputs]:
    """The report's rows from the run manifest's entries (mmfeat.tasks.segmentation.run_manifest), in its order."""
    return [RunOutputs(entry.method, entry.model, entry.feature_set,
                       [SplitOutputs(split.number, split.folder, split.metrics) for split in entry.splits],
                       entry.start, entry.epochs)
            for entry in entries]


def write_segmentation_report(name: str, settings: dict, dataset: SegmentationDataset,
                              stores: dict[str, FeatureStore], runs: list[RunOutputs], report_path: Path,
                              ribbons_path: Path, stage_times: dict[str, list[float]] | None = None) -> None:
    """Write report.md and the ribbons PNG it links (beside it in the workflow); `stores` holds each feature
    set's store.

    `stage_times` are the wall seconds of each stage's jobs (`stage_times.read_stage_times`).
    """
    trained = [run for run in runs if run.model is not None] or runs
    ribbon_videos = _ribbon_videos(dataset, trained[0].splits, settings["dataset"].get("ribbon_videos", 3))
    if ribbon_videos:
        draw_ribbons(ribbon_videos, dataset.class_names, ribbons_path)
    else:
        ribbons_path.write_bytes(b"")
    sections = [
        _title(name, settings, stores),
        _comparison_section(settings, dataset, runs),
        *(_run_section(run) for run in runs),
        _features_section(settings, stores),
        _decode_section(stores, trained[0].splits, settings["dataset"].get("max_length_mismatch")),
        _ribbons_section(ribbons_path, ribbon_videos, trained[0], report_path.parent),
        stage_times_section(stage_times or {}),
    ]
    write_text_atomically(report_path, "\n\n".join(section for section in sections if section) + "\n")


def _title(name: str, settings: dict, stores: dict[str, FeatureStore]) -> str:
    lines = [f"# {name}: action segmentation"]
    demo = settings["dataset"].get("demo")
    if demo is not None:
        lines.append(
            f"> **Demo.** This dataset is generated by the workflow (seed {demo['seed']}, {demo['videos']} synthetic "
            f"videos), and every network starts from randomly initialised weights. The numbers show that the "
            f"workflow runs end to end; they say nothing about how well the methods work."
            + (" VideoCLIP's pretrained towers learnt from a narrated demo of the same actions, itself started "
               "from random weights." if "videoclip" in settings["dataset"] else "")
        )
    elif random_feature_sets(stores):
        lines.append(random_features_warning(random_feature_sets(stores)))
    return "\n\n".join(lines)


def random_feature_sets(stores: dict[str, FeatureStore]) -> list[str]:
    """The feature sets whose extractor ran with randomly initialised weights."""
    return [f"`{feature_set}`" for feature_set, store in stores.items()
            if any(is_random(store.provenance(video).get("weights")) for video in store.videos())]


def _comparison_section(settings: dict, dataset: SegmentationDataset, runs: list[RunOutputs]) -> str:
    splits = runs[0].splits
    rows = [_table_header("Method", "Splits")]
    for run in runs:
        rows.append(f"| {run.title} | {len(run.splits)} | "
                    + " | ".join(mean_with_std(m, s, 1) for m, s in zip(run.mean, run.std)) + " |")
    baseline = _majority_baseline(dataset, splits, settings["dataset"].get("background", []))
    rows.append(_table_row("majority-class baseline (mean)", "", baseline))
    references = settings["dataset"].get("reference_results")
    for label, published in REFERENCE_RESULTS.get(references, []):
        rows.append(_table_row(f"reference: {label}", "", published))
    spread = ("mean ± std over the same splits for every row (std with n−1)" if len(splits) > 1
              else "on the same one split for every row (no std: the n−1 deviation of one value is undefined)")
    text = [f"## Results: {len(splits)}-fold cross-validation" if len(splits) > 1 else "## Results: one split",
            f"Acc, Edit and F1@{{10,25,50}} in percent, {spread}, computed by "
            "`mmfeat segmentation-metrics` (the official ASFormer/MS-TCN conventions). The "
            "majority-class baseline predicts, for every frame of a split's test videos, the label most frequent "
            "in that split's training videos. Zero-shot segmentation trains nothing: each frame takes the action "
            "whose name's text embedding is most similar to the video embedding of the window around it."
            + (" VideoCLIP's rows score each feature row's token state against the class names' text embeddings "
               "(zero-shot), or are its towers fine-tuned on each split's training videos, each from the start "
               "named." if any(is_transfer(run.method) for run in runs) else ""),
            "\n".join(rows), *REFERENCE_NOTES.get(references, [])]
    for run in runs:
        text.append(f"{run.title}: mean accuracy {run.mean[0] - baseline[0]:+.1f} points from the "
                    f"majority-class baseline.")
    text += transfer_findings(runs, baseline[0], METRIC_NAMES)
    if settings["dataset"].get("demo") is not None and any(run.method == ZERO_SHOT for run in runs):
        text.append("Zero-shot is at chance by construction here: with randomly initialised towers, the text "
                    "and video embeddings share no meaning"
                    + (" (VideoCLIP's zero-shot rows from a pretrained start are not: their towers learnt to "
                       "match narration to video)." if any(run.start not in (None, "random") for run in runs) else "."))
    return "\n\n".join(text)


def _run_section(run: RunOutputs) -> str:
    rows = [_table_header("Split", "Test videos")]
    for split, values in zip(run.splits, run.per_split):
        rows.append(_table_row(f"split {split.number}", str(len(split.evaluated_videos)), values))
    rows.append(f"| **{'mean ± std' if len(run.splits) > 1 else 'mean'}** | | "
                + " | ".join(f"**{mean_with_std(m, s, 1)}**" for m, s in zip(run.mean, run.std)) + " |")
    return f"### {run.title[0].upper()}{run.title[1:]}, per split\n\n" + "\n".join(rows)


def _majority_baseline(dataset: SegmentationDataset, splits: list[SplitOutputs], background: list[str]) -> list[float]:
    """Mean over splits of the metrics of always predicting the training majority label."""
    results = []
    for split in splits:
        counts = Counter()
        for video_id in dataset.split_video_ids("train", split.number):
            counts.update(dataset.label_names(video_id))
        majority = counts.most_common(1)[0][0]
        pairs = [(truth, [majority] * len(truth))
                 for truth in (dataset.label_names(video_id) for video_id in split.evaluated_videos)]
        results.append(evaluate_sequences(pairs, background=tuple(background)))
    return [float(np.mean([result[key] for result in results])) for key in METRIC_NAMES]


def _table_header(*first_columns: str) -> str:
    titles = [*first_columns, *METRIC_TITLES]
    return "| " + " | ".join(titles) + " |\n|" + "---|" * len(titles)


def _table_row(label: str, count: str, values) -> str:
    return f"| {label} | {count} | " + " | ".join("—" if value is None else f"{value:.1f}" for value in values) + " |"


def _features_section(settings: dict, stores: dict[str, FeatureStore]) -> str:
    lines = ["## Features and weights"]
    features = settings["dataset"]["features"]
    for feature_set, store in stores.items():
        videos = store.videos()
        if feature_set == "precomputed":
            lines.append(f"- `precomputed`: `ROOT/features/*.npy`, imported into "
                         f"{counted(features['num_shards'], 'HDF5 shard')} ({counted(len(videos), 'video')}).")
            continue
        extractor = settings["extractors"][feature_set]
        lines.append(f"- `{feature_set}` ({extractor['kind']}): extracted from the videos into "
                     f"{counted(features['num_shards'], 'HDF5 shard')} ({counted(len(videos), 'video')}, stored as "
                     f"{extractor['dtype']}); "
                     "settings: " + ", ".join(f"{key} {value}" for key, value in sorted(extractor.items())
                                              if key not in ("kind", "weights")) + ".")
        weights = sorted({json.dumps(store.provenance(video).get("weights"), sort_keys=True) for video in videos})
        for identity in weights:
            identity = json.loads(identity)
            lines.append(f"  Weights: {describe_weights(identity) if identity else 'none (precomputed features)'}.")
    model = settings["model"]
    training = model.get("training", {})
    # the workflow leaves out an init_from left at null (segmentation_helpers.smk, model_entry)
    start = f"the weights of `{model['init_from']}`" if model.get("init_from") else "a random initialisation"
    lines.append(f"- Model: `{settings['dataset']['model']}` (ASFormer: {counted(model['num_decoders'], 'decoder')}, "
                 f"{counted(model['num_layers'], 'layer')}, {model['num_f_maps']} feature maps, window "
                 f"{model['window']}), trained from {start}, seed {training.get('seed')}, "
                 f"{counted(training.get('epochs'), 'epoch')}, learning rate {training.get('learning_rate')}, "
                 f"sample rate {training.get('sample_rate')}, "
                 f"features {'standardised per dimension' if training.get('normalize_features') else 'as stored'}, "
                 f"alignment policy `{settings['dataset']['alignment']}`.")
    zero_shot = settings["dataset"].get("zero_shot")
    if zero_shot is not None:
        excluded = ", ".join(f"`{label}`" for label in zero_shot["exclude"]) or "none"
        lines.append(f"- Zero-shot: prompt `{zero_shot['prompt']}` per action name, on `{zero_shot['extractor']}`'s "
                     f"joint video embeddings; labels never predicted: {excluded}.")
    if "videoclip" in settings["dataset"]:
        lines.append(transfer_settings_line(settings["dataset"]["videoclip"], settings.get("videoclip_models", {})))
    return "\n".join(lines)


def _decode_section(stores: dict[str, FeatureStore], splits: list[SplitOutputs],
                    max_length_mismatch: float | None = None) -> str:
    # every feature set decodes the same videos; the first one's records stand for all
    store = next(iter(stores.values()))
    records = store.decode_records()
    excluded = store.excluded()
    mismatches = _length_mismatches(splits)
    skipped_total = sum(len(record["skipped_indices"]) for record in records.values())
    kept_from_damaged = {video: _kept_from_damaged(record) for video, record in records.items()}
    kept_total = sum(len(frames) for frames in kept_from_damaged.values())
    damaged = {video: record for video, record in records.items()
               if record["skipped_indices"] or kept_from_damaged[video]}
    kept_note = (f"; {counted(kept_total, 'frame')} decoded from damaged frames kept, flagged below"
                 if kept_total else "")
    lines = ["## Decoding and alignment",
             f"- {counted(len(records), 'video')} decoded; {counted(skipped_total, 'damaged frame')} skipped "
             f"in {counted(len(damaged), 'video')}{kept_note}.",
             f"- {counted(len(excluded), 'file')} excluded as unreadable.",
             f"- {counted(len(mismatches), 'video')} whose decoded length differs from the ground truth.",
             "- Lengths are compared on every split's training and test videos"
             + (f"; a difference beyond {max_length_mismatch:.0%} of a video's label frames (and over "
                f"{ALWAYS_TOLERATED_FRAMES} frames) stops the run before training (`max_length_mismatch`)."
                if max_length_mismatch is not None else ".")]
    if damaged:
        lines += ["", "| Video | Frames expected | Decoded | Skipped frames | Kept, decoded from damaged frames "
                  "| Backend |", "|---|---|---|---|---|---|"]
        for video, record in sorted(damaged.items()):
            lines.append(f"| {video} | {record['frames_expected']} | {record['frames_decoded']} | "
                         f"{_ranges(record['skipped_indices']) or '-'} | {_ranges(kept_from_damaged[video]) or '-'} "
                         f"| {record['backend']} |")
    if excluded:
        lines += ["", "| Excluded video | Reason |", "|---|---|"]
        lines += [f"| {video} | {reason} |" for video, reason in sorted(excluded.items())]
    if mismatches:
        lines += ["", "| Video | Video frames | Label frames | Cut | Splits |", "|---|---|---|---|---|"]
        for video, (lengths, parts) in sorted(mismatches.items()):
            splits_text = "; ".join(f"{part} {', '.join(map(str, parts[part]))}" for part in ("train", "test")
                                    if part in parts)
            lines.append(f"| {video} | {lengths['video_frames']} | {lengths['label_frames']} | "
                         f"{abs(lengths['mismatch'])} at the {lengths['policy']} | {splits_text} |")
    return "\n".join(lines)


def _length_mismatches(splits: list[SplitOutputs]) -> dict[str, tuple[dict, dict[str, list[int]]]]:
    """Video -> (its lengths, {"train"/"test": the split numbers it has that part in}), for every
    video, trained on or tested, whose length differs from its ground truth's."""
    mismatches: dict[str, tuple[dict, dict[str, list[int]]]] = {}
    for split in splits:
        for part, record in (("train", split.train_alignment), ("test", split.alignment)):
            for video_id, lengths in (record or {"videos": {}})["videos"].items():
                if lengths["mismatch"]:
                    parts = mismatches.setdefault(video_id, (lengths, {}))[1]
                    parts.setdefault(part, []).append(split.number)
    return mismatches


def _kept_from_damaged(record: dict) -> list[int]:
    """Frames the pyav backend decoded from a damaged frame and kept (`on_damaged: skip`); [] for older records."""
    skipped = set(record["skipped_indices"])
    return [index for index in record.get("dependant_indices", []) if index not in skipped]


def _ranges(indices: list[int]) -> str:
    """'3-5, 9' for [3, 4, 5, 9]."""
    parts, start = [], None
    for position, index in enumerate(indices):
        if start is None:
            start = index
        if position + 1 == len(indices) or indices[position + 1] != index + 1:
            parts.append(str(start) if start == index else f"{start}-{index}")
            start = None
    return ", ".join(parts)


def _ribbon_videos(dataset: SegmentationDataset, splits: list[SplitOutputs], count: int):
    """(video, truth, prediction) for the first test video of the first `count` splits with any."""
    chosen = []
    for split in splits:
        if len(chosen) == count:
            break
        if split.evaluated_videos:
            video_id = split.evaluated_videos[0]
            chosen.append((video_id, dataset.label_names(video_id), split.predicted_labels(video_id)))
    return chosen


def _ribbons_section(ribbons_path: Path, ribbon_videos: list, run: RunOutputs, report_dir: Path) -> str:
    if not ribbon_videos:
        return ""
    return ("## Ground truth against prediction\n\n"
            f"{run.title[0].upper()}{run.title[1:]}; {'test videos' if len(ribbon_videos) > 1 else 'test video'} "
            f"{', '.join(video for video, _, _ in ribbon_videos)}.\n\n"
            + linked_picture("ground truth against prediction", ribbons_path, report_dir))
