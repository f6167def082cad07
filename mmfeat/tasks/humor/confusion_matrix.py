"""A 2x2 confusion-matrix picture: truth in rows, prediction in columns, counts written in the cells."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mmfeat.atomic import replaced_on_success  # noqa: E402


def draw_confusion_matrix(matrix, class_names: tuple[str, str], title: str, path: str | Path) -> None:
    """Save a PNG of `matrix` ([[TN, FP], [FN, TP]], counts or mean counts), shaded by share of its row."""
    matrix = np.asarray(matrix, dtype=np.float64)
    row_totals = matrix.sum(axis=1, keepdims=True)
    row_shares = np.divide(matrix, row_totals, out=np.zeros_like(matrix), where=row_totals > 0)
    figure, axis = plt.subplots(figsize=(3.4, 3.0))
    axis.imshow(row_shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        text = f"{count:.0f}" if float(count).is_integer() else f"{count:.1f}"
        axis.text(column, row, f"{text}\n{row_shares[row, column]:.0%}", ha="center", va="center", fontsize=9,
                  color="white" if row_shares[row, column] > 0.6 else "black")
    axis.set_xticks([0, 1], class_names, fontsize=8)
    axis.set_yticks([0, 1], class_names, fontsize=8)
    axis.set_xlabel("predicted", fontsize=8)
    axis.set_ylabel("truth", fontsize=8)
    axis.set_title(textwrap.fill(title, 40), fontsize=8)  # wrapped: long fusion names would be cut off
    figure.tight_layout()
    with replaced_on_success(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")  # format: the temporary name has no .png suffix
    plt.close(figure)
