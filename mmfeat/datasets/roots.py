"""The dataset root a config names, checked before anything is read from it."""

from __future__ import annotations

from pathlib import Path

from mmfeat.errors import UserError


def require_dataset_root(root: str | Path, layout_hint: str) -> Path:
    """`root` as a Path when it is a folder; else a UserError naming it and, when it is
    relative, the working directory it was resolved against (the config's `root` is
    relative to where snakemake runs, which is easy to get wrong)."""
    root = Path(root)
    if root.is_dir():
        return root
    resolved = "" if root.is_absolute() else f" (resolved against the working directory {Path.cwd()})"
    raise UserError(f"dataset root {root} does not exist{resolved}; {layout_hint}")
