"""Colour ribbons of ground truth against prediction, one pair of rows per video."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


def draw_ribbons(videos: list[tuple[str, list[str], list[str]]], class_names: list[str], path: str | Path) -> None:
    """Save a PNG with, for each (video id, ground truth, prediction), two ribbons coloured by class."""
    colours = _class_colours(len(class_names))
    index = {name: i for i, name in enumerate(class_names)}
    figure, axes = plt.subplots(len(videos), 1, figsize=(10, 0.9 * len(videos) + 1.2), squeeze=False)
    for axis, (video_id, ground_truth, predicted) in zip(axes[:, 0], videos):
        rows = np.array([[index[name] for name in ground_truth],
                         [index[name] for name in predicted[: len(ground_truth)]]])
        axis.imshow(rows, aspect="auto", interpolation="nearest", cmap=colours, vmin=0, vmax=len(class_names) - 1)
        axis.set_yticks([0, 1], ["truth", "predicted"], fontsize=7)
        axis.set_xticks([])
        axis.set_title(video_id, fontsize=8, loc="left")
    shown = sorted({name for _, truth, predicted in videos for name in (*truth, *predicted)}, key=index.get)
    figure.legend(handles=[Patch(color=colours(index[name]), label=name) for name in shown],
                  loc="lower center", ncol=4, fontsize=6, frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _class_colours(count: int) -> ListedColormap:
    """Distinct colours for up to 40 classes: tab20, then tab20b."""
    palette = [*plt.get_cmap("tab20").colors, *plt.get_cmap("tab20b").colors]
    return ListedColormap([palette[i % len(palette)] for i in range(count)])
