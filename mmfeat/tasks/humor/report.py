"""The Markdown report of a humour-detection run: a demo note, or on a real dataset a warning when
some modality's features come from randomly initialised networks; single-modality classifiers, late fusion
(mean of probabilities, majority vote), learned and early fusion, mean ± std over seeds, the
majority-class baseline, degenerate results, confusion matrices, features and weights used,
the samples left out, and the time each stage took. Reads the results dict of
`mmfeat humor-experiment` and, for the times, the wall seconds of each stage's jobs.

    write_humor_report(load_results("results.json"), Path("report.md"), Path("figures"),
                       name="ur-funny", reference="urfunny", skipped={"123": "no audio track"}, demo=False)

`results["settings"]` says which features and weights were used; the keys read are

    {"features": {"text": {"extractor": "roberta-base", "weights": WEIGHTS, ...}, "audio": {...}, ...}}

where WEIGHTS is {"kind": "random", "seed": 0}, {"kind": "file", "path": ..., "sha256": ...},
{"kind": "pretrained", "name": ...} or a plain string, and a modality may add
"small": "why it is small" (e.g. "2 layers of 64 units"); every other key is listed as given.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.tasks.humor.confusion_matrix import draw_confusion_matrix
from mmfeat.reports.references import HUMOR_REFERENCES, URFUNNY_PUBLISHED_ACCURACY, URFUNNY_STUDY_SINGLE_MODALITY
from mmfeat.reports.stage_times import stage_times_section
from mmfeat.reports.weights import describe_weights, is_random, random_features_warning
from mmfeat.reports.wording import counted, linked_picture, mean_with_std

METRIC_COLUMNS = (("accuracy", "Accuracy"), ("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
CLASS_NAMES = ("not humour", "humour")
GROUP_TITLES = {"majority": "majority class of train", "logistic": "logistic regression", "mlp": "MLP",
                "mean": "mean of probabilities", "vote": "majority vote", "stacking": "stacking (logistic regression)",
                "early": "early fusion (MLP)"}


def write_humor_report(results: dict, report_path: Path, figures_dir: Path, name: str = "ur-funny",
                       reference: str | None = None, skipped: dict[str, str] | None = None,
                       demo: bool = False, stage_times: dict[str, list[float]] | None = None) -> list[Path]:
    """Write report.md and its confusion-matrix PNGs (in `figures_dir`); return the PNGs' paths.

    `stage_times` are the wall seconds of each stage's jobs (`stage_times.read_stage_times`).
    """
    if reference is not None and reference not in HUMOR_REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; known: {', '.join(HUMOR_REFERENCES)}")
    figures_dir.mkdir(parents=True, exist_ok=True)
    figures = _draw_confusion_matrices(results, figures_dir)
    rows = results["rows"]
    sections = [
        _title(name, results, demo),
        _overview(results),
        _single_modality_section(results, reference == "urfunny"),
        _fusion_section("Late fusion: mean of probabilities", _rows_of(rows, "mean"),
                        "P(humour) averaged over the modalities' MLPs, humour where the mean is at least 0.5."),
        _vote_section(_rows_of(rows, "vote")),
        _learned_and_early_section(rows),
        _published_section() if reference == "urfunny" else "",
        _degenerate_section(results),
        _figures_section(results, figures, report_path.parent),
        _features_section(results),
        _skipped_section(results["skipped"], skipped or {}),
        stage_times_section(stage_times or {}),
    ]
    write_text_atomically(report_path, "\n\n".join(section for section in sections if section) + "\n")
    return [path for _, path in figures]


def _title(name: str, results: dict, demo: bool) -> str:
    lines = [f"# {name}: humour detection from {', '.join(results['modalities'])}"]
    if demo:
        sources = [f"{modality}: {_describe_source(entry)}"
                   for modality, entry in results["settings"].get("features", {}).items()]
        untrained = [modality for modality, entry in results["settings"].get("features", {}).items()
                     if is_random(entry.get("weights")) or entry.get("small")]
        lines.append(
            "> **Demo.** The samples are the workflow's demo, not UR-FUNNY"
            + (f", and the {', '.join(untrained)} features come from randomly initialised or small networks"
               if untrained else "")
            + ". The numbers show that the workflow runs end to end; they are not comparable with the study "
            "or with published results."
            + ("\n>\n> " + "\n>\n> ".join(sources) if sources else ""))
    elif random_modalities(results):
        lines.append(random_features_warning(random_modalities(results)))
    return "\n\n".join(lines)


def random_modalities(results: dict) -> list[str]:
    """'audio (`wav2vec2`)' for each modality whose extractor ran with randomly initialised weights."""
    return [f"{modality} (`{entry.get('extractor', 'extractor not given')}`)"
            for modality, entry in results["settings"].get("features", {}).items()
            if modality in results["modalities"] and is_random(entry.get("weights"))]


def _overview(results: dict) -> str:
    samples = results["samples"]
    folds = ", ".join(f"{fold} {entry['count']} ({entry['humour']} humour)" for fold, entry in samples.items())
    settings = results["experiment_settings"]
    mlp = settings["mlp"]
    seeds = results["seeds"]
    spread = ("each figure is the mean ± std over the seeds (std with n−1) of the test metric" if len(seeds) > 1
              else "each figure is the test metric of that seed (no std: the n−1 deviation of one value is "
                   "undefined)")
    return "\n".join([
        f"Samples present in every modality: {folds}. {'Seeds' if len(seeds) > 1 else 'Seed'}: "
        f"{', '.join(str(seed) for seed in seeds)}; {spread}; precision, recall and F1 are those of the humour "
        f"class.",
        "",
        f"- MLP: one hidden layer of {counted(mlp['hidden_size'], 'unit')}, dropout {mlp['dropout']}, Adam "
        f"(learning rate {mlp['learning_rate']}, weight decay {mlp['weight_decay']}), batches of "
        f"{mlp['batch_size']}, at most {counted(mlp['max_epochs'], 'epoch')}, kept at the epoch of lowest dev loss "
        f"(patience {mlp['patience']}).",
        "- Logistic regression: L-BFGS, L2 strength chosen on dev loss; it depends on no seed, so it is one run.",
        "- Every classifier standardises each feature dimension with the statistics of train.",
        "- Precision is 0 for a run that predicts no humour at all (no positive prediction), and so is its F1.",
    ])


def _single_modality_section(results: dict, with_reference: bool) -> str:
    rows = results["rows"]
    table = [_header("Modality", "Classifier")]
    majority = _rows_of(rows, "majority")[0]
    table.append(_row(["—", f"majority class of train ({CLASS_NAMES[results['majority_class']]})"], majority,
                      flag=False))
    for modality in results["modalities"]:
        for group in ("mlp", "logistic"):
            for row in _rows_of(rows, group, modality):
                table.append(_row([modality, GROUP_TITLES[group]], row))
    text = ["## Single modality"]
    if with_reference:
        for modality, values in URFUNNY_STUDY_SINGLE_MODALITY.items():
            table.append(f"| {modality} | reference: UR-FUNNY study, fine-tuned end to end on a 70/30 split | "
                         + " | ".join(f"{value:.3f}" for value in values) + " | – | |")
    text.append("\n".join(table))
    if with_reference:
        text.append("The reference rows are not the same protocol: the study fine-tuned its encoders end to end on "
                    "a 70/30 train/test split, whereas here frozen features feed small classifiers on the "
                    "dataset's train/dev/test folds. Read them for orientation only (the study gave no F1).")
    return "\n\n".join(text)


def _fusion_section(title: str, rows: list[dict], explanation: str, extra_column: tuple | None = None) -> str:
    if not rows:
        return ""
    first = ["Modalities"] + ([extra_column[0]] if extra_column else [])
    table = [_header(*first)]
    for row in rows:
        cells = [_modalities(row)] + ([extra_column[1](row)] if extra_column else [])
        table.append(_row(cells, row))
    return "\n\n".join([f"## {title}", explanation, "\n".join(table)])


def _vote_section(rows: list[dict]) -> str:
    def tie_break(row: dict) -> str:
        orders = Counter(" > ".join(run["strength_order"]) for run in row["runs"])
        return "; ".join(f"{order} ({count}/{len(row['runs'])})" for order, count in orders.most_common())
    return _fusion_section(
        "Late fusion: majority vote", rows,
        "Each modality's MLP votes; where the votes tie (an even number of modalities), the modality with the "
        "higher dev accuracy in that seed decides, equal dev accuracies ranked text > audio > video as in the "
        "UR-FUNNY study. The tie-break column gives the order and in how many seeds it held.",
        extra_column=("Tie-break order", tie_break))


def _learned_and_early_section(rows: list[dict]) -> str:
    def detail(row: dict) -> str:
        if row["group"] == "stacking":
            names = row["modalities"]
            means = {name: sum(run["weights"][name] for run in row["runs"]) / len(row["runs"]) for name in names}
            return "mean weights " + ", ".join(f"{name} {weight:.2f}" for name, weight in means.items())
        epochs = [run["best_epoch"] for run in row["runs"]]
        return f"kept epoch {min(epochs)}" + (f"–{max(epochs)}" if max(epochs) > min(epochs) else "")
    stacking, early = _rows_of(rows, "stacking"), _rows_of(rows, "early")
    if not stacking and not early:
        return ""
    table = [_header("Method", "Modalities", "Detail")]
    for row in stacking + early:
        table.append(_row([GROUP_TITLES[row["group"]], _modalities(row), detail(row)], row))
    return "\n\n".join([
        "## Learned and early fusion",
        "Beyond the study. Stacking: a logistic regression on the modalities' log-odds of humour, fitted on dev "
        "and applied to test (its weights say how far each modality is trusted; its dev accuracy, used to pick "
        "the best fusion, is out of fold over 5 folds of dev). Early fusion: the modalities' features "
        "concatenated, standardised, and one MLP trained as above.",
        "\n".join(table)])


def _published_section() -> str:
    lines = ["## Published accuracies on UR-FUNNY",
             "Test accuracy as reported by each paper, on its own features and protocol; not the protocol above.",
             "| Method | Accuracy (%) |\n|---|---|"]
    lines[-1] += "".join(f"\n| {method} | {accuracy:.2f} |" for method, accuracy in URFUNNY_PUBLISHED_ACCURACY)
    return "\n\n".join(lines)


def _degenerate_section(results: dict) -> str:
    threshold = results["experiment_settings"]["degenerate_threshold"]
    flagged = [row for row in results["rows"] if row["group"] != "majority" and row["summary"]["degenerate_runs"]]
    lines = ["## Degenerate results",
             f"A run is degenerate when one class takes at least {threshold:.0%} of its test predictions, as the "
             f"UR-FUNNY study's audio+video+text vote did (recall 1.0). Such a run's recall or precision says "
             f"little; its rows are marked ⚠ above."]
    if not flagged:
        lines.append("No classifier or fusion is degenerate in any seed.")
        return "\n\n".join(lines)
    table = ["| Method | Modalities | Degenerate seeds | Share of the majority prediction (mean) |",
             "|---|---|---|---|"]
    for row in flagged:
        share = sum(run["test_one_class_fraction"] for run in row["runs"]) / len(row["runs"])
        table.append(f"| {GROUP_TITLES[row['group']]} | {_modalities(row) or '—'} | "
                     f"{row['summary']['degenerate_runs']}/{len(row['runs'])} | {share:.1%} |")
    lines.append("\n".join(table))
    return "\n\n".join(lines)


def _draw_confusion_matrices(results: dict, figures_dir: Path) -> list[tuple[str, Path]]:
    """(caption, path) of the mean test confusion matrix of each modality's MLP and of the best fusion."""
    figures = []
    for modality in results["modalities"]:
        for row in _rows_of(results["rows"], "mlp", modality):
            path = figures_dir / f"confusion-mlp-{modality}.png"
            draw_confusion_matrix(row["summary"]["test_confusion_mean"], CLASS_NAMES, f"{modality} (MLP), test",
                                  path)
            figures.append((f"{modality} (MLP)", path))
    best = _best_fusion_row(results)
    if best is not None:
        caption = f"best fusion: {GROUP_TITLES[best['group']]}, {_modalities(best)}"
        path = figures_dir / "confusion-best-fusion.png"
        draw_confusion_matrix(best["summary"]["test_confusion_mean"], CLASS_NAMES, caption, path)
        figures.append((caption, path))
    return figures


def _figures_section(results: dict, figures: list[tuple[str, Path]], report_dir: Path) -> str:
    lines = ["## Confusion matrices",
             "Test confusion matrices, mean counts over seeds; each cell also gives its share of the true class."]
    best = _best_fusion_row(results)
    if best is not None:
        summary = best["summary"]
        lines.append(
            f"The best fusion is chosen by mean dev accuracy over seeds, never on test: "
            f"**{GROUP_TITLES[best['group']]} of {_modalities(best)}**, dev accuracy "
            f"{_mean_std(summary['dev']['accuracy'], best)}, test accuracy "
            f"{_mean_std(summary['test']['accuracy'], best)}. "
            f"Dev also chose each MLP's epoch, so every fusion's dev accuracy is a little optimistic alike; "
            f"stacking's is out of fold.")
    for caption, path in figures:
        lines.append(linked_picture(caption, path, report_dir))
    return "\n\n".join(lines)


def _features_section(results: dict) -> str:
    lines = ["## Features and weights"]
    entries = results["settings"].get("features", {})
    for modality, info in results["modalities"].items():
        entry = entries.get(modality, {})
        lines.append(f"- {modality}: `{info['path']}`, {info['dimension']} dimensions; {_describe_source(entry)}")
        others = {key: value for key, value in sorted(entry.items()) if key not in ("extractor", "weights", "small")}
        if others:
            lines.append("  - settings: " + ", ".join(f"{key} {_plain(value)}" for key, value in others.items()))
    return "\n".join(lines)


def _skipped_section(left_out: dict[str, str], given: dict[str, str]) -> str:
    reasons = {**given, **{sample: reason for sample, reason in left_out.items() if sample not in given}}
    lines = ["## Samples skipped",
             f"{counted(len(reasons), 'sample')} {'is' if len(reasons) == 1 else 'are'} in no table: those "
             f"skipped before feature extraction, as given, and those missing from at least one modality's "
             f"features (fusion needs all of them)."]
    if reasons:
        lines.append("| Sample | Reason |\n|---|---|" + "".join(
            f"\n| {sample} | {reason} |" for sample, reason in sorted(reasons.items())))
    return "\n\n".join(lines)


def _describe_source(entry: dict) -> str:
    extractor = entry.get("extractor", "extractor not given")
    weights = entry.get("weights")
    text = f"`{extractor}`, weights: {'not given' if weights is None else describe_weights(weights)}"
    if entry.get("small"):
        text += f"; a small network ({entry['small']})" if isinstance(entry["small"], str) else "; a small network"
    return text


def _best_fusion_row(results: dict) -> dict | None:
    best = results["best_fusion"]
    if best is None:
        return None
    return next(row for row in results["rows"]
                if row["group"] == best["group"] and row["modalities"] == best["modalities"])


def _rows_of(rows: list[dict], group: str, modality: str | None = None) -> list[dict]:
    return [row for row in rows if row["group"] == group and (modality is None or row["modalities"] == [modality])]


def _header(*first_columns: str) -> str:
    titles = [*first_columns, *(title for _, title in METRIC_COLUMNS), "Degenerate"]
    return "| " + " | ".join(titles) + " |\n|" + "---|" * len(titles)


def _row(cells: list[str], row: dict, flag: bool = True) -> str:
    metrics = [_mean_std(row["summary"]["test"][metric], row) for metric, _ in METRIC_COLUMNS]
    degenerate = row["summary"]["degenerate_runs"]
    marker = f"⚠ {degenerate}/{len(row['runs'])}" if flag and degenerate else ""
    return "| " + " | ".join([*cells, *metrics, marker]) + " |"


def _mean_std(summary: dict, row: dict) -> str:
    """A metric over the row's runs: mean ± std, or the mean alone for one run (its n-1 std is undefined)."""
    return mean_with_std(summary["mean"], summary["std"] if len(row["runs"]) > 1 else None, 3)


def _modalities(row: dict) -> str:
    return " + ".join(row["modalities"])


def _plain(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
