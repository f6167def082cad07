"""What a segmentation report says of VideoCLIP's transfer rows: their titles, the 50Salads study's
question answered from this run's numbers, and the settings they ran with.

    transfer_title("videoclip-finetune", "demo-howto", 10, "s3d-demo")
    # "VideoCLIP fine-tuned 10 epochs from pretraining on `demo-howto`, on `s3d-demo`"
    transfer_findings(runs, baseline_accuracy=31.2)   # sentences for under the comparison table

A row is a run of the run manifest (mmfeat.tasks.segmentation.run_manifest) whose method is one of
METHODS, with the start its towers came from (`release`, `random`, or a narrated dataset whose pretrain
output it was) and, fine-tuned, its epochs. The rules writing them: workflow/rules/transfer.smk.
"""

from __future__ import annotations

from mmfeat.reports.wording import counted

ZERO_SHOT_METHOD = "videoclip-zero-shot"  # the run manifest's methods of the transfer rows
FINETUNE_METHOD = "videoclip-finetune"
METHODS = (ZERO_SHOT_METHOD, FINETUNE_METHOD)
RELEASE_START = "release"
RANDOM_START = "random"

# the metrics the study's question is answered in (mmfeat.metrics.segmentation.METRIC_NAMES)
ACCURACY, F1_AT_50 = "acc", "f1@50"


def is_transfer(method: str) -> bool:
    return method in METHODS


def start_title(start: str) -> str:
    """Where the towers came from, as a reader says it."""
    if start == RELEASE_START:
        return "the released weights"
    if start == RANDOM_START:
        return "random towers"
    return f"pretraining on `{start}`"


def transfer_title(method: str, start: str, epochs: int | None, feature_set: str) -> str:
    if method == ZERO_SHOT_METHOD:
        return f"VideoCLIP zero-shot from {start_title(start)}, on `{feature_set}`"
    return f"VideoCLIP fine-tuned {epochs} epoch{'' if epochs == 1 else 's'} from {start_title(start)}, on `{feature_set}`"


def transfer_findings(runs: list, baseline_accuracy: float, metric_names: tuple[str, ...]) -> list[str]:
    """Sentences for under the comparison table: whether each zero-shot row beat the majority-class
    baseline, and, per epoch budget, the gain of fine-tuning from each pretrained start over fine-tuning
    from random towers (the study's question), with its spread from split to split.

    `runs` are the report's rows (method, start, epochs, splits with their numbers, per_split: one row of
    `metric_names` per split); those that are not transfer rows are passed over."""
    sentences = []
    for run in runs:
        if run.method == ZERO_SHOT_METHOD:
            accuracy = float(run.mean[metric_names.index(ACCURACY)])
            verdict = "beat" if accuracy > baseline_accuracy else "did not beat"
            sentences.append(f"VideoCLIP zero-shot from {start_title(run.start)} {verdict} the majority-class "
                             f"baseline: {accuracy:.1f} against {baseline_accuracy:.1f} accuracy.")
    finetuned = [run for run in runs if run.method == FINETUNE_METHOD]
    random_by_budget = {run.epochs: run for run in finetuned if run.start == RANDOM_START}
    compared = [run for run in finetuned if run.start != RANDOM_START and run.epochs in random_by_budget]
    if finetuned and not compared:
        sentences.append("Whether pretraining helps fine-tuning is not answered here: that needs a `random` start "
                         "beside a pretrained one in the dataset's `videoclip.starts`.")
    for run in compared:
        sentences.append(_gain_sentence(run, random_by_budget[run.epochs], metric_names))
    return sentences


def _gain_sentence(pretrained, random, metric_names: tuple[str, ...]) -> str:
    """The gain of `pretrained` over `random` (same budget, same splits) in points of accuracy and F1@50."""
    import numpy as np

    by_split = {split.number: values for split, values in zip(random.splits, random.per_split)}
    shared = [(split.number, values) for split, values in zip(pretrained.splits, pretrained.per_split)
              if split.number in by_split]
    columns = [metric_names.index(ACCURACY), metric_names.index(F1_AT_50)]
    differences = np.array([[values[column] - by_split[number][column] for column in columns]
                            for number, values in shared])
    accuracy, f1 = differences.mean(axis=0)
    if accuracy > 0 and f1 > 0:
        verdict = "beat"
    elif accuracy <= 0 and f1 <= 0:
        verdict = "did not beat"
    else:
        verdict = f"beat only on {'accuracy' if accuracy > 0 else 'F1@50'}"
    budget = f"{pretrained.epochs} epoch{'' if pretrained.epochs == 1 else 's'}"
    if len(shared) > 1:
        low, high = differences.min(axis=0), differences.max(axis=0)
        std = differences.std(axis=0, ddof=1)
        spread = (f" (mean ± std over {len(shared)} splits of the per-split difference, with std n−1; from "
                  f"{_points(low[0])} to {_points(high[0])} points of accuracy and {_points(low[1])} to "
                  f"{_points(high[1])} of F1@50 from split to split)")
        gains = f"{_points(accuracy)} ± {std[0]:.1f} points of accuracy and {_points(f1)} ± {std[1]:.1f} of F1@50"
    else:
        spread = " (one split: no spread from split to split)"
        gains = f"{_points(accuracy)} points of accuracy and {_points(f1)} of F1@50"
    return (f"Fine-tuned {budget}, starting from {start_title(pretrained.start)} {verdict} starting from random "
            f"towers: {gains}{spread}.")


def _points(value: float) -> str:
    """A signed difference in points, with a true minus sign."""
    return f"{value:+.1f}".replace("-", "−")


def transfer_settings_line(section: dict, towers: dict[str, dict]) -> str:
    """The features-and-weights line of the transfer rows: the tokens, each start's towers, both recipes.

    `section` is the dataset's `videoclip` section (defaults filled); `towers` holds, by start, the name
    and settings of the models entry its towers come from (workflow/rules/transfer_helpers.smk)."""
    zero_shot, finetune = section["zero_shot"], section["finetune"]
    starts = "; ".join(f"{start_title(start)}: {_towers(start, towers[start])}" for start in section["starts"]
                       if start in towers)
    excluded = ", ".join(f"`{label}`" for label in zero_shot["exclude"]) or "none"
    background = f"`{zero_shot['background']}` by VideoCLIP's rule" if zero_shot["background"] else "no rule"
    epochs = ", ".join(str(epochs) for epochs in finetune["epochs"])
    epochs += " epoch" if finetune["epochs"] == [1] else " epochs"
    return (f"- VideoCLIP: the video embedding rows of `{section['features']}` are the tokens. Towers: {starts}. "
            f"Zero-shot: prompt `{zero_shot['prompt']}` per class name, windows of {zero_shot['window']} rows "
            f"every {zero_shot['step']} (scores averaged where they overlap), labels never predicted: {excluded}, "
            f"background: {background}. Fine-tuning: head {finetune['head']}, {epochs}, learning rate "
            f"{finetune['learning_rate']} after a warmup over {finetune['warmup']:.0%} of the steps, one video a "
            f"step, training windows of {finetune['window']} rows every {finetune['train_step']}, test windows "
            f"every {finetune['test_step']}, seed {finetune['seed']}.")


def _towers(start: str, model: dict) -> str:
    """`name` (what its towers are) for one start."""
    name, settings = model["name"], model["settings"]
    if start == RELEASE_START:
        return f"`{name}` (`{settings.get('release_checkpoint')}`)"
    if start != RANDOM_START and settings.get("text_weights"):
        return f"`{name}` (text tower first from `{settings['text_weights']}`, {settings.get('video_layers')} video layers)"
    if settings.get("release_checkpoint") or settings.get("text_weights"):
        return f"`{name}` (seeded random towers of its architecture)"
    return (f"`{name}` (width {settings.get('hidden_size')}, {counted(settings.get('video_layers'), 'video layer')} "
            f"and {counted(settings.get('text_layers'), 'text layer')}, first drawn from seed {settings.get('seed', 0)})")
