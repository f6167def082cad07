"""Writing files so that a killed job never leaves one that looks complete.

Everything is written to a hidden temporary name in the destination's folder
and renamed into place once complete (a rename within one file system is atomic).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` if the block succeeds, else remove it.

    The temporary name, `.NAME.PID.tmp`, is hidden and keeps no suffix of the
    destination's, so no `*.h5` or `*.mp4` glob mistakes it for a finished file.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename."""
    with replaced_on_success(path) as temporary:
        temporary.write_text(text)


def write_bytes_atomically(path: str | os.PathLike, content: bytes) -> None:
    """Write `content` to `path` via a temporary file and a rename."""
    with replaced_on_success(path) as temporary:
        temporary.write_bytes(content)
