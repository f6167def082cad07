"""Run a dataset's check once per state of its files, not on every Snakemake invocation.

    from mmfeat.datasets.check_cache import check_once
    check_once(lambda: check_segmentation_dataset(root, 5, False),
               watched=[root / "mapping.txt", root / "groundTruth", root / "splits"],
               settings={"splits": 5, "precomputed": False}, marker=Path(".snakemake/mmfeat-checks/50salads.json"))

The workflow checks a dataset while planning, before any job (see
workflow/rules/common.smk), and Snakemake plans again on every invocation,
including the one inside each cluster job. Checking reads every label file:
at 10,000 videos of a few thousand frames, tens of seconds each time. A check
that passed is remembered as a fingerprint of the files it read (each file's
path, size and modification time, the files of a watched folder included)
and of its settings; while the fingerprint is unchanged the check is not run
again. A check that fails is not remembered, so it runs until it passes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from mmfeat.atomic import replaced_on_success


def check_once(check: Callable[[], object], watched: Iterable[Path], settings: Mapping, marker: Path) -> bool:
    """Run `check` unless it passed with the same `watched` files and `settings`; True if it ran.

    `watched` are files or folders (a folder stands for the files directly in
    it); a missing one is part of the fingerprint too. `check` raises on a
    problem, which leaves nothing remembered. `marker` is the file that
    remembers a passed check, one per dataset.
    """
    watched = [Path(path).absolute() for path in watched]
    fingerprint = _fingerprint(watched, settings)
    if _remembered(marker) == fingerprint:
        return False
    check()
    marker.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(marker) as temporary:
        temporary.write_text(json.dumps({"fingerprint": fingerprint, "watched": [str(p) for p in watched]}),
                             encoding="utf-8")
    return True


def _fingerprint(watched: list[Path], settings: Mapping) -> str:
    digest = hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode())
    for path in watched:
        for name, state in _file_states(path):
            digest.update(f"{name}\0{state}\n".encode())
    return digest.hexdigest()


def _file_states(path: Path) -> Iterable[tuple[str, str]]:
    """(path, "size mtime_ns") of the file, or of each file directly in the folder; "missing" if absent."""
    if path.is_dir():
        with os.scandir(path) as entries:
            files = sorted((entry.path, entry.stat()) for entry in entries if entry.is_file())
        if not files:
            yield str(path), "empty folder"
        for name, stat in files:
            yield name, f"{stat.st_size} {stat.st_mtime_ns}"
    elif path.is_file():
        stat = path.stat()
        yield str(path), f"{stat.st_size} {stat.st_mtime_ns}"
    else:
        yield str(path), "missing"


def _remembered(marker: Path) -> str | None:
    try:
        return json.loads(marker.read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: check again
