"""One file standing for all of a dataset's label files, for the jobs that read them.

    from mmfeat.datasets.label_digest import write_label_digest
    write_label_digest(label_files, "results/50salads/labels.sha256")

Training, prediction, evaluation and the report read the ground truth of every
video. Listing those files as inputs of each job made Snakemake handle
(jobs x videos) input files while planning: 710,000 for 10,000 videos and 71
jobs, three quarters of the planning time. One job depends on every label file
and writes this digest; the others depend on the digest, so a changed label
file still reruns them. The digest is `sha256sum`'s format, so
`sha256sum -c results/50salads/labels.sha256` checks the files by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mmfeat.atomic import replaced_on_success
from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256


def write_label_digest(label_files: Iterable[str | os.PathLike], output: str | os.PathLike) -> int:
    """Write one `SHA256  PATH` line per file, in the given order; return how many files.

    Written atomically: a job killed midway leaves no digest that looks complete.
    """
    lines = []
    for path in map(Path, label_files):
        if not path.is_file():
            raise UserError(f"{path}: label file missing; the dataset's jobs read it")
        lines.append(f"{file_sha256(path)}  {path}\n")
    with replaced_on_success(output) as temporary:
        temporary.write_text("".join(lines), encoding="utf-8")
    return len(lines)
