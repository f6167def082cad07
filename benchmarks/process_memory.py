"""This process's resident memory from /proc/self/status (Linux), for the memory benchmarks.

    from process_memory import reset_peak, status_kb
"""

from __future__ import annotations

from pathlib import Path


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux 4.0+); where not allowed, the peak keeps what came before."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def status_kb(field: str) -> int:
    """A kB field of /proc/self/status: VmRSS (now) or VmHWM (peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}; this benchmark needs Linux")
