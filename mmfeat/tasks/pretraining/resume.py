"""The resume state of a pretraining run: what a rerun needs to go on as if it had never stopped.

    state = ResumeState.read(path, fingerprint)       # None when there is no file yet
    ResumeState(...).write(path)                      # atomic: a killed writer leaves the previous state

Written at the end of every epoch and when the run is told to stop (SIGTERM: SLURM's
preemption, or a user's kill): the weights of the towers and of a learned temperature, the
optimiser's and the schedule's states, where the run is (epoch, next step, the epoch's
batches), the seconds trained so far, and every process's Python, NumPy and torch random
states. A run killed outright (SIGKILL, out of memory) and started again goes on from the
last state written, and ends with the weights an uninterrupted run ends with, bit for bit on
CPU. The file is read with torch.load(weights_only=True): plain values and tensors only.

The fingerprint (the settings and the videos trained on) is kept with the state: a state made
for other settings or other videos is refused, naming the file, rather than mixed in.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mmfeat.atomic import replaced_on_success, write_failure
from mmfeat.errors import UserError

FORMAT_NAME = "mmfeat-pretraining-resume"
FORMAT_VERSION = 1


@dataclass
class ResumeState:
    fingerprint: dict  # settings and videos: a rerun with others must not continue from this state
    epoch: int  # the epoch to run next, or the one stopped in
    step: int  # the next step of that epoch (0: the epoch's start)
    plan: list[list[str]] | None  # the epoch's batches when stopped inside it; None at an epoch's start
    model: dict[str, torch.Tensor]
    objectives: dict[str, torch.Tensor]
    optimiser: dict
    schedule: dict
    random_states: list[dict]  # one per process, rank order
    seconds: float  # training seconds so far, over every run
    history_lines: int  # lines of history.jsonl that this state has seen written

    def write(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with replaced_on_success(path) as temporary:
                torch.save({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **asdict(self)}, temporary)
        except OSError as error:
            raise write_failure(path, error) from error

    @classmethod
    def read(cls, path: str | os.PathLike, fingerprint: dict) -> ResumeState | None:
        """The state at `path`, or None when there is none; UserError when it is unreadable or of another run."""
        path = Path(path)
        if not path.exists():
            return None
        fix = f"delete {path} to start this run from its first step"
        try:
            contents = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # any unreadable file ends here, whatever torch's reason
            raise UserError(f"{path}: not a readable pretraining resume state ({error}); {fix}") from error
        if not isinstance(contents, dict) or contents.get("format") != FORMAT_NAME:
            raise UserError(f"{path} is not a pretraining resume state; {fix}")
        if contents.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{path}: resume state format {contents.get('format_version')!r}, this mmfeat reads "
                            f"{FORMAT_VERSION}; {fix}")
        if contents["fingerprint"] != fingerprint:
            changed = sorted(key for key in set(fingerprint) | set(contents["fingerprint"])
                             if fingerprint.get(key) != contents["fingerprint"].get(key))
            raise UserError(f"{path} was written by a run with other {', '.join(changed)}; put them back to resume "
                            f"it, or {fix}")
        del contents["format"], contents["format_version"]
        return cls(**contents)


def capture_random_states() -> dict:
    """This process's Python, NumPy and torch (CPU and every GPU) random states, as weights-only values."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": _plain(random.getstate()),
        "numpy": {"bit_generator": numpy_state["bit_generator"],
                  "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]),
                  "has_gauss": int(numpy_state["has_gauss"]), "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_random_states(states: dict) -> None:
    """Put back what capture_random_states took."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = states["numpy"]
    np.random.set_state({"bit_generator": numpy["bit_generator"],
                         "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
                         "has_gauss": numpy["has_gauss"], "gauss": numpy["gauss"]})
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _plain(value):
    """Tuples as lists, all the way down: what a weights-only load gives back either way."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value
