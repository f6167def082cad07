"""How long each stage of a run took, from the `benchmark:` files Snakemake writes for every heavy job.

    times = read_stage_times(["results/demo-salads/benchmarks/extract_shard/i3d-demo/shard-0.tsv", ...])
    stage_times_section(times)   # "## Time per stage": jobs, total, mean and max wall seconds per stage

A benchmark file lives under results/{dataset}/benchmarks/{stage}/..., the
stage being the rule's name; its first column, `s`, is the job's wall time
in seconds (Snakemake's benchmark format, one row per repeat).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from mmfeat.errors import UserError

BENCHMARKS_FOLDER = "benchmarks"  # results/{dataset}/benchmarks/{stage}/...


def read_stage_times(paths: list[str | os.PathLike]) -> dict[str, list[float]]:
    """Wall seconds of every job, by stage (the folder under `benchmarks/`), stages in first-seen order."""
    times: dict[str, list[float]] = {}
    for path in map(Path, paths):
        if BENCHMARKS_FOLDER not in path.parts[:-2]:
            raise UserError(f"{path}: a benchmark file must lie in {BENCHMARKS_FOLDER}/{{stage}}/..., "
                            "the stage being the rule that wrote it")
        stage = path.parts[path.parts.index(BENCHMARKS_FOLDER) + 1]
        times.setdefault(stage, []).extend(_wall_seconds(path))
    return times


def stage_times_section(times: dict[str, list[float]]) -> str:
    """The report's "Time per stage" section; empty without benchmark files."""
    if not times:
        return ""
    lines = ["## Time per stage",
             "Wall time of each heavy job, from the Snakemake `benchmark:` file it wrote (the last run of the "
             "job: a job that did not rerun keeps its earlier time).",
             "",
             "| stage | jobs | total s | mean s | max s |",
             "|---|---:|---:|---:|---:|"]
    for stage, seconds in times.items():
        lines.append(f"| {stage} | {len(seconds)} | {sum(seconds):.1f} | {sum(seconds) / len(seconds):.1f} "
                     f"| {max(seconds):.1f} |")
    return "\n".join(lines)


def _wall_seconds(path: Path) -> list[float]:
    """The `s` column of a Snakemake benchmark file: one value per repeat of the job."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except FileNotFoundError:
        raise UserError(f"benchmark file {path} does not exist; rerun the job that writes it") from None
    try:
        seconds = [float(row["s"]) for row in rows]
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: not a Snakemake benchmark file (no number in its `s` column: {error})") from None
    if not seconds:
        raise UserError(f"{path}: a Snakemake benchmark file without rows; rerun the job that writes it")
    return seconds
