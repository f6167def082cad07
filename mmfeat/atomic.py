"""Writing files and folders so that a killed job never leaves one that looks complete.

Everything is written to a hidden temporary name in the destination's folder
and renamed into place once complete (a rename within one file system is atomic).
A writer killed outright (kill -9, out of memory) cannot remove its temporary;
the next writer of the same destination removes those of writers that are no
longer running.
A write that fails (a full disk, a folder that is not writable) removes its
temporary and raises a UserError naming the file, the folder and the cause
(`write_failure`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmfeat.errors import UserError

log = logging.getLogger(__name__)


class WriteFailedError(UserError):
    """A file could not be written (a full disk, a folder that is not writable); see `write_failure`."""


@contextmanager
def replaced_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` if the block succeeds, else remove it.

    The temporary name, `.NAME.PID.tmp`, is hidden and keeps no suffix of the
    destination's, so no `*.h5` or `*.mp4` glob mistakes it for a finished file.
    Temporaries of `path` left by writers whose process is gone are removed first.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    temporary = _temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        _remove(temporary)


@contextmanager
def directory_replaced_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; put it in place of `path` if the block succeeds.

    A folder cannot be renamed over a non-empty one, so an existing `path` is
    first renamed aside (`.NAME.PID.old`) and removed after the new folder is in
    place: between those two renames `path` is briefly absent, never partial.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    temporary = _temporary_path(path)
    previous = path.with_name(f".{path.name}.{os.getpid()}.old")
    temporary.mkdir()
    try:
        yield temporary
        if path.exists():
            os.replace(path, previous)
        os.replace(temporary, path)
    finally:
        for leftover in (temporary, previous):
            _remove(leftover)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename; a failed write raises `write_failure`'s error."""
    try:
        with replaced_on_success(path) as temporary:
            temporary.write_text(text)
    except OSError as error:
        raise write_failure(path, error) from error


def write_bytes_atomically(path: str | os.PathLike, content: bytes) -> None:
    """Write `content` to `path` via a temporary file and a rename; a failed write raises `write_failure`'s error."""
    try:
        with replaced_on_success(path) as temporary:
            temporary.write_bytes(content)
    except OSError as error:
        raise write_failure(path, error) from error


def write_failure(path: str | os.PathLike, error: OSError, written: int | None = None) -> WriteFailedError:
    """A one-line error for a failed write of `path`: the file, its folder, the cause and the fix.

    `error` is what the write raised (h5py's errors carry the system's errno
    too); `written`, when known, is how many bytes of the file were written
    before it failed. A full disk says how much space is left; a folder that
    cannot be written (permissions, a read-only mount) is named as such.
    """
    path = Path(path)
    folder = path.parent
    code = error.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        cause = "the disk is full" if code == errno.ENOSPC else "the disk quota is used up"
        sizes = f"{_free_space(folder)} free in {folder}"
        if written is not None:
            sizes += f", after {_size(written)} of this file, now removed"
        return WriteFailedError(f"cannot write {path}: {cause} ({sizes}); "
                                f"free some space there, or put the results on another disk, and rerun")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        # a folder that is not there yet is made in the nearest one that is: that one must be writable
        blocking = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
        return WriteFailedError(f"cannot write {path}: the folder {blocking} is not writable ({os.strerror(code)}); "
                                f"make it writable, or put the results in another folder, and rerun")
    if code == errno.EFBIG:
        return WriteFailedError(f"cannot write {path}: the file outgrew the largest file this process may write "
                                f"(`ulimit -f`, or the file system's limit); raise the limit and rerun")
    cause = os.strerror(code) if code else str(error).splitlines()[0]
    return WriteFailedError(f"cannot write {path} in {folder}: {cause}")


def _free_space(folder: Path) -> str:
    """The space left on `folder`'s file system, e.g. '3.2 MB'."""
    try:
        return _size(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown space"


def _size(byte_count: int) -> str:
    """A size in words: '12 kB', '1.2 MB', '3.4 GB'."""
    if byte_count < 1_000_000:
        return f"{byte_count / 1000:.0f} kB"
    return f"{byte_count / 1e6:.1f} MB" if byte_count < 1e9 else f"{byte_count / 1e9:.1f} GB"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove `.NAME.PID.tmp` / `.NAME.PID.old` beside `path` whose writer PID is not running; return them.

    A PID that is running, whatever the process, keeps its files: a reused PID
    delays the clean-up until the next write, and a live writer is never
    disturbed. The PID is of this machine: on a file system shared between
    machines, give each destination one writer at a time (Snakemake does).
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    name_pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.(tmp|old)")
    removed = []
    for candidate in path.parent.iterdir():
        match = name_pattern.fullmatch(candidate.name)
        if match is None or _process_is_running(int(match.group(1))):
            continue
        _remove(candidate)
        log.info("removed %s, left by writer %s that is no longer running", candidate, match.group(1))
        removed.append(candidate)
    return removed


def _remove(path: Path) -> None:
    """Remove a file or a folder tree at `path`, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):  # not unlink(missing_ok=True): on a read-only mount it fails, missing or not
        path.unlink()


def _temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _process_is_running(pid: int) -> bool:
    """Whether a process with `pid` exists on this machine (signal 0 checks without signalling)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OverflowError:  # not a PID this system can have
        return False
    return True
