"""The results file of `mmfeat humor-experiment`, read by `mmfeat humor-report` (no torch needed here).

    write_results("results.json", results)   # temp-and-rename; equal results give equal bytes
    results = load_results("results.json")   # checks the format; errors name the file

Layout (written by mmfeat.tasks.humor.experiment): "format", "modalities" {name: {path, dimension}},
"samples" {fold: {count, humour}}, "skipped" {id: reason}, "seeds", "experiment_settings",
"settings" (features and weights, as given), "majority_class", "rows" (one per classifier or
fusion: "group", "modalities", "runs" per seed, "summary" over seeds) and "best_fusion".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.errors import UserError

RESULTS_FORMAT = "mmfeat-humor-results-v1"
GROUPS = ("majority", "logistic", "mlp", "mean", "vote", "stacking", "early")
REQUIRED_KEYS = ("modalities", "samples", "skipped", "seeds", "experiment_settings", "settings", "rows", "best_fusion")


def write_results(path: str | os.PathLike, results: dict) -> None:
    write_text_atomically(path, json.dumps(results, indent=1) + "\n")


def load_results(path: str | os.PathLike) -> dict:
    """The results dict, after checking it is one this version wrote."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such results file; write it with `mmfeat humor-experiment`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error}); rerun `mmfeat humor-experiment`") from error
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        found = results.get("format") if isinstance(results, dict) else type(results).__name__
        raise UserError(f"{path}: format {found!r}, expected {RESULTS_FORMAT!r}; rerun `mmfeat humor-experiment`")
    missing = [key for key in REQUIRED_KEYS if key not in results]
    unknown_groups = sorted({row.get("group") for row in results.get("rows", [])} - set(GROUPS))
    if missing or unknown_groups:
        raise UserError(f"{path}: " + (f"missing {', '.join(missing)}" if missing else
                                       f"unknown row group(s) {unknown_groups}")
                        + "; rerun `mmfeat humor-experiment`")
    return results
