"""Writing files so that a killed job never leaves one that looks complete.

Everything is written to a hidden temporary name in the destination's folder
and renamed into place once complete (a rename within one file system is atomic).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
