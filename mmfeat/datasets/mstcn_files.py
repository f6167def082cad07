"""Read and write the text files of the MS-TCN / ASFormer data layout.

    data/<dataset>/mapping.txt            "idx name" per line
    data/<dataset>/groundTruth/<video>    one label per frame, one per line
    data/<dataset>/splits/*.bundle        video file names, one per line
    <results>/<video stem>                prediction: a header line, then the labels

Every reader raises `UserError` naming the file (and the line, where there is
one) so that a bad input stops the job with a message the user can act on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mmfeat.atomic import write_text_atomically
from mmfeat.errors import UserError

PREDICTION_HEADER = "### Frame level recognition: ###"


def read_mapping(path: str | os.PathLike) -> dict[str, int]:
    """Return {label: class index} from a mapping file of `idx name` lines.

    Blank lines are ignored; a line that is not `<integer> <name>`, or a name or
    index seen before, is an error naming the file and the line.
    """
    label_to_index: dict[str, int] = {}
    line_of_index: dict[int, int] = {}
    for line_number, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not _is_class_index(fields[0]):
            raise UserError(
                f"{path}, line {line_number}: expected '<index> <label>' "
                f"(a non-negative integer and a name without spaces), got {line.strip()!r}"
            )
        index, label = int(fields[0]), fields[1]
        if label in label_to_index:
            raise UserError(f"{path}, line {line_number}: label {label!r} is listed twice; keep one line per label")
        if index in line_of_index:
            raise UserError(
                f"{path}, line {line_number}: index {index} is already used on line "
                f"{line_of_index[index]}; give each label its own index"
            )
        label_to_index[label] = index
        line_of_index[index] = line_number
    if not label_to_index:
        raise UserError(f"{path}: the mapping lists no labels; expected '<index> <label>' lines")
    return label_to_index


def read_frame_labels(path: str | os.PathLike) -> list[str]:
    """Return the per-frame labels of a groundTruth file (one label per line).

    Blank lines at the end are tolerated; a blank line before the last label,
    or a line holding more than one word, is an error naming the file and line.
    """
    lines = [line.strip() for line in _read_lines(path)]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise UserError(f"{path}: the ground-truth file holds no labels; expected one label per frame, one per line")
    for line_number, label in enumerate(lines, start=1):
        if not label:
            raise UserError(
                f"{path}, line {line_number}: empty line among the frame labels; "
                "every frame needs a label (remove the line if it is a stray)"
            )
        if len(label.split()) != 1:
            raise UserError(f"{path}, line {line_number}: expected one label without spaces, got {label!r}")
    return lines


def read_prediction_file(path: str | os.PathLike) -> list[str]:
    """Return the predicted per-frame labels of a prediction file.

    The file's first line is the header `### Frame level recognition: ###` and
    its second line the labels separated by spaces (as ASFormer writes them).
    """
    lines = _read_lines(path)
    if not lines or lines[0].strip() != PREDICTION_HEADER:
        first_line = lines[0].strip() if lines else ""
        raise UserError(
            f"{path}: not a prediction file: the first line should be {PREDICTION_HEADER!r}, "
            f"got {first_line!r}; point at the folder that the prediction step wrote"
        )
    return lines[1].split() if len(lines) > 1 else []


def write_prediction_file(path: str | os.PathLike, labels: Sequence[str]) -> None:
    """Write per-frame labels in the prediction format that `read_prediction_file` reads.

    The text goes to a temporary file in the same folder, renamed into place
    at the end, so a job killed midway leaves no file that looks complete.
    """
    for frame, label in enumerate(labels):
        if label.split() != [label]:
            raise ValueError(f"{path}: label {label!r} of frame {frame} would not read back (empty or holds spaces)")
    write_text_atomically(path, PREDICTION_HEADER + "\n" + " ".join(labels) + "\n")


def read_bundle(path: str | os.PathLike) -> list[str]:
    """Return the video file names (e.g. `rgb-01-1.txt`) that a bundle lists, one per line.

    Blank lines are ignored; a bundle that lists no video is an error, and so
    is a video listed twice: training would take it twice and a prediction
    folder holds it once, both silently.
    """
    video_names, line_of_name = [], {}
    for line_number, line in enumerate(_read_lines(path), start=1):
        name = line.strip()
        if not name:
            continue
        if name in line_of_name:
            raise UserError(f"{path}, line {line_number}: video {name!r} is already listed on line "
                            f"{line_of_name[name]}; list each video once")
        line_of_name[name] = line_number
        video_names.append(name)
    if not video_names:
        raise UserError(f"{path}: the bundle lists no videos; expected one video file name per line")
    return video_names


def prediction_name(video_name: str) -> str:
    """Return the prediction file name for a video listed in a bundle: `rgb-01-1.txt` -> `rgb-01-1`.

    ASFormer names a prediction by the video name up to its first dot, and its
    evaluation looks the prediction up by that name; we keep the convention so
    that prediction folders from the official code can be evaluated as they are.
    """
    return video_name.split(".")[0]


def _read_lines(path: str | os.PathLike) -> list[str]:
    """Return the file's lines without their line endings; a missing file is a UserError."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; check the path") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a file") from None


def _is_class_index(text: str) -> bool:
    return text.isascii() and text.isdigit()
