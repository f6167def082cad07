"""The runs a report lists, as the workflow planned them: results/<dataset>/runs.json.

    write_run_manifest("results/demo-salads/runs.json", [
        {"method": "asformer", "model": "asformer-demo", "feature_set": "i3d-demo",
         "splits": [{"split": 1, "folder": "results/demo-salads/asformer-demo/i3d-demo/split1",
                     "metrics": "results/demo-salads/asformer-demo/i3d-demo/split1/metrics.json"}, ...]},
        {"method": "zero-shot", "model": None, "feature_set": "s3d-demo", "splits": [...]},
        {"method": "videoclip-finetune", "model": "videoclip-demo", "start": "demo-howto", "epochs": 10,
         "feature_set": "s3d-demo", "splits": [...]},
    ])
    for run in read_run_manifest("results/demo-salads/runs.json"): run.method, run.model, run.splits[0].folder

A run is one row of a report's comparison: a method (a model kind, zero-shot, or VideoCLIP's
videoclip-zero-shot and videoclip-finetune) with the name of its `models` entry (none for a method
that trains nothing), on one feature set, with each split's folder and metrics file; a VideoCLIP row
also names its start (where its towers' weights came from) and, fine-tuned, its epochs. The workflow writes the file from its config (rule
segmentation_manifest), so a report never guesses a method from a folder's name. Paths are
stored relative to the manifest's folder, so that a results folder moved elsewhere still reports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.errors import UserError

FORMAT_NAME = "mmfeat-run-manifest"
FORMAT_VERSION = 2  # raised when the keys change meaning; a reader refuses a newer file (2: start, epochs)


@dataclass(frozen=True)
class SplitEntry:
    number: int
    folder: Path  # as the reader can open it: the manifest's folder joined with the stored path
    metrics: Path


@dataclass(frozen=True)
class RunEntry:
    method: str  # the kind of the model trained (e.g. "asformer"), or a method that trains nothing ("zero-shot")
    model: str | None  # its name under `models`; None for a method that trains nothing
    feature_set: str
    splits: tuple[SplitEntry, ...]  # in split order
    start: str | None = None  # a VideoCLIP row's start: `release`, `random` or a narrated dataset's name
    epochs: int | None = None  # a fine-tuned VideoCLIP row's epochs


def write_run_manifest(path: str | os.PathLike, runs: list[dict]) -> int:
    """Write the runs (paths relative to the working directory, as the workflow names them) atomically;
    returns how many there are."""
    path = Path(path)
    stored = []
    for run in runs:
        splits = sorted(run["splits"], key=lambda split: split["split"])
        stored.append({
            "method": run["method"],
            "model": run["model"],
            "feature_set": run["feature_set"],
            **{key: run[key] for key in ("start", "epochs") if run.get(key) is not None},
            "splits": [{"split": split["split"], "folder": _relative(split["folder"], path.parent),
                        "metrics": _relative(split["metrics"], path.parent)} for split in splits],
        })
    contents = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "runs": stored}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(contents, indent=1) + "\n")
    return len(stored)


def read_run_manifest(path: str | os.PathLike) -> list[RunEntry]:
    """The runs of a manifest, in its order; UserError naming the file when it is not one."""
    path = Path(path)
    try:
        contents = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UserError(f"run manifest {path} does not exist; the workflow writes it (rule segmentation_manifest)"
                        ) from error
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable run manifest ({error}); let the workflow write it again") from error
    if not isinstance(contents, dict) or contents.get("format") != FORMAT_NAME:
        raise UserError(f"{path} is not a run manifest (format {FORMAT_NAME!r}); the workflow writes one as "
                        "results/<dataset>/runs.json")
    version = contents.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{path}: format_version {version!r}, newer than the {FORMAT_VERSION} this mmfeat reads; "
                        "upgrade mmfeat, or let the workflow write the file again")
    try:
        runs = [RunEntry(method=str(run["method"]), model=run["model"], feature_set=str(run["feature_set"]),
                         splits=tuple(SplitEntry(int(split["split"]), path.parent / split["folder"],
                                                 path.parent / split["metrics"]) for split in run["splits"]),
                         start=run.get("start"), epochs=None if run.get("epochs") is None else int(run["epochs"]))
                for run in contents["runs"]]
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: a run without its method, model, feature_set or splits ({error!r}); "
                        "let the workflow write it again") from error
    if not runs or any(not run.splits for run in runs):
        raise UserError(f"{path}: lists no run, or a run without splits; a report needs at least one of each")
    return runs


def _relative(folder: str | os.PathLike, start: Path) -> str:
    return Path(os.path.relpath(folder, start)).as_posix()
