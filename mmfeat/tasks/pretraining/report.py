"""The Markdown report of a pretraining run: does the pretrained model retrieve held-out clips better?

    write_pretraining_report("demo-howto", NarratedDataset(root), evaluation, read_history(history_path),
                             Path("results/demo-howto/report.md"), Path("results/demo-howto/loss-curves.png"),
                             stage_times)

`evaluation` is evaluation.json (mmfeat.tasks.pretraining.evaluation), which
carries the settings, counts and retrieval lines; the history gives the loss
curves, drawn to a PNG beside the report and linked from it. The report opens
with one sentence on whether the pretrained model beats the untrained one by a
clear margin (`retrieval_verdict` says what counts as clear), with the numbers,
and says plainly when it does not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.datasets.narrated import NarratedDataset
from mmfeat.reports.stage_times import stage_times_section
from mmfeat.reports.weights import describe_weights, is_random, random_features_warning
from mmfeat.reports.wording import counted, linked_picture
from mmfeat.tasks.pretraining.loss_curves import History, draw_loss_curves
from mmfeat.tasks.pretraining.retrieval_metrics import DIRECTIONS, RECALL_AT

MODEL_LINES = (("pretrained", "pretrained"), ("untrained", "untrained (the same model before pretraining)"),
               ("random", "random ranking (expected)"))
DIRECTION_NAMES = {"text_to_video": "text to video", "video_to_text": "video to text"}
VERDICT_K = 5
VERDICT_RECALL = f"R@{VERDICT_K}"  # the recall the verdict compares: R@1 is too coarse on a few dozen clips
SHOWN_LEFT_OUT = 10  # videos without features listed by name; the rest counted


def write_pretraining_report(name: str, dataset: NarratedDataset, evaluation: dict, history: History,
                             report_path: Path, loss_curves_path: Path,
                             stage_times: dict[str, list[float]] | None = None) -> None:
    """Write report.md and the loss-curve PNG it links (beside it in the workflow)."""
    report_path.parent.mkdir(parents=True, exist_ok=True)
    draw_loss_curves(history, loss_curves_path)
    sections = [
        _title(name, evaluation),
        retrieval_verdict(evaluation["models"], evaluation["clips"]),
        _retrieval_section(evaluation),
        _training_section(history, loss_curves_path, report_path.parent),
        _data_section(dataset, evaluation),
        _settings_section(evaluation),
        stage_times_section(stage_times or {}),
    ]
    write_text_atomically(report_path, "\n\n".join(section for section in sections if section) + "\n")


def retrieval_verdict(models: dict, clips: int) -> str:
    """One sentence: does the pretrained model beat the untrained one on held-out retrieval by a clear margin?

    Clear means, in both directions: R@5 higher by more than twice the standard error of the difference of two
    shares over `clips` queries (sqrt(p(1-p)/N + q(1-q)/N)), and the median rank lower.
    """
    comparisons, clear = [], True
    for direction in DIRECTIONS:
        pretrained, untrained = models["pretrained"][direction], models["untrained"][direction]
        p, q = pretrained[VERDICT_RECALL], untrained[VERDICT_RECALL]
        standard_error = math.sqrt(p * (1 - p) / clips + q * (1 - q) / clips)
        clear &= p - q > 2 * standard_error and pretrained["median_rank"] < untrained["median_rank"]
        comparisons.append(f"{DIRECTION_NAMES[direction]} {VERDICT_RECALL} {_percent(p)} against {_percent(q)}, "
                           f"median rank {pretrained['median_rank']:g} against {untrained['median_rank']:g}")
    numbers = "; ".join(comparisons)
    rule = (f"(clear: in both directions {VERDICT_RECALL} higher by more than twice its standard error over "
            f"{counted(clips, 'held-out clip')}, and the median rank lower)")
    if clear:
        return (f"**The pretrained model beats the untrained one on held-out retrieval by a clear margin**: "
                f"{numbers} {rule}.")
    too_few = (f" With {counted(clips, 'held-out clip')}, {VERDICT_RECALL} is 100% for any ranking: hold out more "
               f"videos (the dataset's `holdout`) to tell the models apart." if clips <= VERDICT_K else "")
    return (f"**The pretrained model does not beat the untrained one on held-out retrieval by a clear margin**: "
            f"{numbers} {rule}.{too_few}")


def _title(name: str, evaluation: dict) -> str:
    lines = [f"# {name}: contrastive pretraining"]
    random_sources = [f"{modality} (`{described['extractor']}`)"
                      for modality, described in evaluation.get("features", {}).items()
                      if is_random(described.get("weights"))]
    if random_sources:
        lines.append(random_features_warning(random_sources))
    model = evaluation["settings"]["model"]
    if not model.get("release_checkpoint") and not model.get("text_weights"):
        lines.append("> **Warning: random towers.** The model's entry names neither `text_weights` nor "
                     "`release_checkpoint`, so both towers start from seeded random weights: the text tower knows "
                     "no language before pretraining, and the untrained line below is a random network.")
    return "\n\n".join(lines)


def _retrieval_section(evaluation: dict) -> str:
    header_cells = [f"{DIRECTION_NAMES[direction]} {metric}" for direction in DIRECTIONS
                    for metric in (*(f"R@{k}" for k in RECALL_AT), "median rank")]
    lines = ["## Held-out retrieval",
             f"Every caption of the {counted(evaluation['videos']['held_out'], 'held-out video')} against the video "
             f"seconds it was said over: {counted(evaluation['clips'], 'clip')}, ranked by "
             f"{evaluation['similarity']} similarity. Rank 1 is best; ties are {evaluation['ties']}. Random ranking "
             f"is the exact expectation: R@k = k/N, median rank (N + 1)/2.",
             "",
             "| model | " + " | ".join(header_cells) + " |",
             "|---|" + "---:|" * len(header_cells)]
    for key, title in MODEL_LINES:
        cells = [value for direction in DIRECTIONS for value in _summary_cells(evaluation["models"][key][direction])]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary_cells(summary: dict) -> list[str]:
    return [*(_percent(summary[f"R@{k}"]) for k in RECALL_AT), f"{summary['median_rank']:g}"]


def _training_section(history: History, loss_curves_path: Path, report_dir: Path) -> str:
    last = history.lines[-1]
    speeds = [line["pairs_per_second"] for line in history.lines if line["pairs_per_second"]]
    lines = ["## Pretraining",
             f"{counted(len(history.lines), 'step')} over {counted(last['epoch'], 'epoch')} in "
             f"{last['seconds']:.0f} s; "
             f"peak learning rate {max(line['learning_rate'] for line in history.lines):.3g}"
             + (f"; {sum(speeds) / len(speeds):.1f} clip pairs per second on average." if speeds else "."),
             "",
             "| objective | first loss | last loss |",
             "|---|---:|---:|"]
    for objective in history.objectives:
        first, final = history.first_and_last(objective)
        lines.append(f"| {objective} | {first:.4f} | {final:.4f} |")
    lines += ["", "Loss per objective against the step:", "",
              linked_picture("loss curves per objective", loss_curves_path, report_dir)]
    return "\n".join(lines)


def _data_section(dataset: NarratedDataset, evaluation: dict) -> str:
    videos, seconds, captions = evaluation["videos"], evaluation["seconds"], evaluation["captions"]
    left_out = evaluation.get("left_out", {})
    lines = ["## Data",
             f"`{dataset.captions_path}` lists {counted(len(dataset.item_ids()), 'video')}; "
             f"{counted(videos['training'] + videos['held_out'], 'video')} have features, of which a share of "
             f"{evaluation['holdout']:g} (the dataset's `holdout`) is held out for evaluation, chosen by a stable hash "
             f"of each id.",
             "",
             "| set | videos | hours | captions |",
             "|---|---:|---:|---:|"]
    for part, title in (("training", "training"), ("held_out", "held out")):
        lines.append(f"| {title} | {videos[part]} | {seconds[part] / 3600:.2f} | {captions[part]} |")
    lines += ["", f"Each caption of a training video is a clip pair pretraining draws from; each caption of a "
                  f"held-out video is one evaluation clip ({counted(evaluation['clips'], 'clip')})."]
    if left_out:
        shown = [f"`{video_id}` ({reason})" for video_id, reason in list(left_out.items())[:SHOWN_LEFT_OUT]]
        more = f" and {len(left_out) - SHOWN_LEFT_OUT} more" if len(left_out) > SHOWN_LEFT_OUT else ""
        lines += ["", f"Left out, without features: {', '.join(shown)}{more}."]
    return "\n".join(lines)


def _settings_section(evaluation: dict) -> str:
    settings = evaluation["settings"]
    lines = ["## Settings", "Model entry (`models`):", "", "```json", json.dumps(settings["model"], indent=2,
                                                                                  sort_keys=True), "```", ""]
    if settings.get("pretraining") is None:
        lines.append("Pretraining entry: not recorded in the pretrained model's file.")
    else:
        lines += ["Pretraining entry (`pretraining`):", "", "```json",
                  json.dumps(settings["pretraining"], indent=2, sort_keys=True), "```"]
    for modality, described in evaluation.get("features", {}).items():
        weights = described.get("weights")
        lines.append(f"\n{modality.capitalize()} features: `{described.get('extractor')}`, weights: "
                     f"{'not recorded (imported features)' if weights is None else describe_weights(weights)}.")
    return "\n".join(lines)


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"
