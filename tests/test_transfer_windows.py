"""Sliding windows over feature rows, cut as MMPT's COIN aligner cuts them, and outputs averaged where they overlap."""

from __future__ import annotations

import numpy as np
import pytest

from mmfeat.tasks.transfer.windows import average_over_windows, sliding_windows


@pytest.mark.parametrize(("rows", "size", "step", "expected"), [
    (40, 32, 16, [(0, 32), (16, 40)]),              # the second window reaches the end: the last
    (50, 32, 16, [(0, 32), (16, 48), (32, 50)]),    # the last is shorter than the size, as in MMPT
    (48, 32, 16, [(0, 32), (16, 48)]),              # exactly reaching the end
    (32, 32, 16, [(0, 32)]),                        # as long as a window: one window
    (5, 32, 16, [(0, 5)]),                          # shorter than a window: one window
    (20, 8, 8, [(0, 8), (8, 16), (16, 20)]),        # no overlap
    (1, 32, 8, [(0, 1)]),
])
def test_windows_start_every_step_and_the_first_reaching_the_end_is_the_last(rows, size, step, expected):
    windows = sliding_windows(rows, size, step)
    assert windows == expected
    covered = np.zeros(rows, dtype=bool)
    for first, end in windows:
        assert end - first <= size
        covered[first:end] = True
    assert covered.all()


@pytest.mark.parametrize(("rows", "size", "step"), [(0, 32, 16), (10, 0, 1), (10, 8, 9), (10, 8, 0)])
def test_impossible_windows_fail(rows, size, step):
    with pytest.raises(ValueError):
        sliding_windows(rows, size, step)


def test_overlapping_rows_take_the_mean_of_their_windows():
    """Window i gives every row the value i (class 0) and -i (class 1): known means where windows overlap."""
    rows = 50
    windows = sliding_windows(rows, size=32, step=16)  # (0, 32), (16, 48), (32, 50)
    outputs = [np.stack([np.full(end - first, i), np.full(end - first, -i)], axis=1).astype(np.float32)
               for i, (first, end) in enumerate(windows)]
    averaged = average_over_windows(outputs, windows, rows)
    expected = np.empty(rows)
    expected[0:16] = 0            # window 0 alone
    expected[16:32] = (0 + 1) / 2  # windows 0 and 1
    expected[32:48] = (1 + 2) / 2  # windows 1 and 2
    expected[48:50] = 2           # window 2 alone
    np.testing.assert_allclose(averaged[:, 0], expected)
    np.testing.assert_allclose(averaged[:, 1], -expected)


def test_a_row_keeps_its_own_output_in_each_window():
    """Outputs that depend on the row only average back to themselves, whatever the overlap."""
    rows, classes = 37, 3
    per_row = np.random.default_rng(0).normal(size=(rows, classes))
    windows = sliding_windows(rows, size=8, step=3)
    averaged = average_over_windows([per_row[first:end] for first, end in windows], windows, rows)
    np.testing.assert_allclose(averaged, per_row)


def test_an_output_of_the_wrong_length_fails():
    windows = sliding_windows(40, 32, 16)
    with pytest.raises(ValueError, match="window"):
        average_over_windows([np.zeros((32, 2)), np.zeros((23, 2))], windows, 40)
