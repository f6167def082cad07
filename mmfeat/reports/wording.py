"""Wording the reports share: a count with its noun, a mean with its deviation, a picture beside the report.

    counted(1, "epoch")                 # "1 epoch"
    counted(4, "HDF5 shard")            # "4 HDF5 shards"
    mean_with_std(71.04, 2.31, 1)       # "71.0 ± 2.3"
    mean_with_std(71.04, None, 1)       # "71.0": one value has no n-1 deviation
    linked_picture("truth", Path("out/ribbons.png"), Path("out"))   # "![truth](ribbons.png)"
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def counted(number: int, noun: str) -> str:
    """`number` and `noun`, the noun taking an s unless the number is 1."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def mean_with_std(mean: float, std: float | None, digits: int) -> str:
    """'mean ± std' to `digits` decimals, or the mean alone where the deviation is undefined (None)."""
    if std is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def linked_picture(caption: str, picture: Path, report_dir: Path) -> str:
    """A Markdown image of the file `picture`, by its path from the report's folder. Linked, never embedded as a
    data: URI, so that a terminal, a diff and GitHub (which renders no data: image) show one short line."""
    relative = Path(os.path.relpath(picture, report_dir)).as_posix()
    return f"![{caption}]({quote(relative)})"
