"""A pretraining run's history (history.jsonl) read back, and its loss curves drawn, one panel per objective.

    history = read_history("results/demo-howto/pretrain/videoclip-demo/history.jsonl")
    draw_loss_curves(history, "results/demo-howto/loss-curves.png")
    history.objectives, history.first_and_last("video_text_nce")

`mmfeat pretrain` writes one JSON line per step, in order: {"epoch" (from
1), "step" (within the epoch, from 1), "losses": {objective: float, ...},
"learning_rate", "pairs_per_second", "seconds" (since the run began)}. The
curves run over the steps of all epochs, the n-th line being step n; a
"total" (the weighted sum), if logged, is drawn beside the objectives only
when there are several, where it differs from each of them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mmfeat.atomic import replaced_on_success
from mmfeat.errors import UserError

LINE_KEYS = ("epoch", "step", "losses", "learning_rate", "pairs_per_second", "seconds")
TOTAL = "total"


@dataclass(frozen=True)
class History:
    """The logged steps of one run, in the order written."""

    path: Path
    lines: list[dict]

    @property
    def objectives(self) -> list[str]:
        """The losses logged, in first-seen order; "total" only beside two objectives or more."""
        names = list(dict.fromkeys(name for line in self.lines for name in line["losses"]))
        objectives = [name for name in names if name != TOTAL]
        return objectives + [TOTAL] if TOTAL in names and len(objectives) > 1 else objectives or names

    def curve(self, objective: str) -> tuple[list[int], list[float]]:
        """(steps counted over all epochs, losses) of one objective, where logged."""
        points = [(number, line["losses"][objective]) for number, line in enumerate(self.lines, start=1)
                  if objective in line["losses"]]
        return [step for step, _ in points], [loss for _, loss in points]

    def epoch_starts(self) -> list[int]:
        """The steps (over all epochs) at which an epoch after the first begins."""
        return [number for number, (before, line) in enumerate(zip(self.lines, self.lines[1:]), start=2)
                if line["epoch"] != before["epoch"]]

    def first_and_last(self, objective: str) -> tuple[float, float]:
        """The objective's first and last logged loss."""
        _, losses = self.curve(objective)
        return losses[0], losses[-1]


def read_history(path: str | os.PathLike) -> History:
    """history.jsonl as written by `mmfeat pretrain`; UserError naming the file and line when one is malformed."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the pretraining that writes it")
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError as error:
            raise UserError(f"{path}, line {number}: not JSON ({error}); run the pretraining again") from error
        missing = [key for key in LINE_KEYS if not isinstance(line, dict) or key not in line]
        if missing or not isinstance(line["losses"], dict) or not line["losses"]:
            raise UserError(f"{path}, line {number}: expected the keys {', '.join(LINE_KEYS)} with a non-empty "
                            f"losses object (missing: {', '.join(missing) or 'none'}); run the pretraining again")
        lines.append(line)
    if not lines:
        raise UserError(f"{path} holds no step; the pretraining wrote nothing: run it again")
    return History(path, lines)


def draw_loss_curves(history: History, picture_path: str | os.PathLike) -> None:
    """A PNG with one panel per objective: its loss against the step (matplotlib's Agg, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on cluster nodes or CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    objectives = history.objectives
    figure, axes = plt.subplots(1, len(objectives), figsize=(4 * len(objectives), 3), squeeze=False)
    for axis, objective in zip(axes[0], objectives):
        steps, losses = history.curve(objective)
        for start in history.epoch_starts():
            axis.axvline(start - 0.5, color="grey", linewidth=0.6, linestyle=":")
        axis.plot(steps, losses, linewidth=1.2, marker="." if len(steps) < 30 else None)
        axis.set_title(objective, fontsize=9)
        axis.set_xlabel("step (dotted: a new epoch)", fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole
        axis.set_ylabel("loss", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    Path(picture_path).parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(picture_path) as temporary:  # a killed report leaves no half-written picture
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
