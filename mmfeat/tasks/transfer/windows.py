"""The video tower's sliding windows over a video's feature rows, and per-row outputs averaged over them.

    from mmfeat.tasks.transfer.windows import sliding_windows, average_over_windows
    windows = sliding_windows(rows=40, size=32, step=16)            # [(0, 32), (16, 40)]
    scores = average_over_windows([window_scores(first, end) for first, end in windows], windows, rows=40)

As fairseq MMPT's COIN aligner and predictor cut and merge them: windows start at every `step`-th row
from row 0 and hold at most `size` rows, and the first window that reaches the last row is the last, so
it may be shorter than `size` (a video of at most `size` rows is one window). Each row's output is the
mean over the windows that hold it, whatever the outputs are (dot-product scores, logits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sliding_windows(rows: int, size: int, step: int) -> list[tuple[int, int]]:
    """(first row, end row) of each window over `rows` rows, in order; together they hold every row."""
    if rows < 1:
        raise ValueError(f"rows {rows}: a video has at least one feature row")
    if size < 1 or not 1 <= step <= size:
        raise ValueError(f"window size {size}, step {step}: need 1 <= step <= size (else rows fall between windows)")
    windows = []
    for first in range(0, rows, step):
        windows.append((first, min(first + size, rows)))
        if rows - first <= size:  # this window reaches the last row
            break
    return windows


def average_over_windows(outputs: Sequence[np.ndarray], windows: Sequence[tuple[int, int]], rows: int) -> np.ndarray:
    """(rows, C): each row's mean over the windows holding it; outputs[i] is window i's (end - first, C)."""
    if len(outputs) != len(windows) or not windows:
        raise ValueError(f"{len(outputs)} outputs for {len(windows)} windows: need one per window, at least one")
    classes = outputs[0].shape[-1]
    total = np.zeros((rows, classes), dtype=np.float64)
    counts = np.zeros(rows, dtype=np.int64)
    for output, (first, end) in zip(outputs, windows):
        output = np.asarray(output)  # a CPU torch tensor as well
        if output.shape != (end - first, classes):
            raise ValueError(f"window ({first}, {end}): output of shape {output.shape}, expected "
                             f"({end - first}, {classes})")
        total[first:end] += output
        counts[first:end] += 1
    if not counts.all():
        raise ValueError(f"rows {np.flatnonzero(counts == 0).tolist()} are in no window")
    return total / counts[:, None]
