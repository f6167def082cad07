"""A real Snakemake run whose extraction job is killed with SIGKILL, then run again.

The rerun must write the same shard as a run that was never interrupted, and
remove the temporary file the killed writer could not remove itself. The run
is tests/configs/tiny.yaml's and builds one shard only: rgb-01-1 and the
unreadable rgb-01-2, so both features and an exclusion are compared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_CONFIG, run_snakemake, snakemake_command

pytestmark = pytest.mark.slow(seconds=45)

SHARD = "results/tiny-salads/features/i3d-tiny/shard-0.h5"
SNAKEMAKE_ARGUMENTS = ("--configfile", str(TINY_CONFIG), "--cores", "2", SHARD)


def _run_snakemake(workdir: Path) -> None:
    run_snakemake(workdir, *SNAKEMAKE_ARGUMENTS)


def _kill_the_writer_once_it_writes(workdir: Path) -> Path:
    """Run snakemake, SIGKILL the extraction process as soon as its temporary shard exists; return that file."""
    features_dir = (workdir / SHARD).parent
    run = subprocess.Popen(snakemake_command(workdir, *SNAKEMAKE_ARGUMENTS), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (temporaries := list(features_dir.glob(".shard-0.h5.*.tmp"))):
            assert run.poll() is None, "snakemake ended before the extraction job started writing"
            assert time.monotonic() < deadline, "the extraction job did not start writing within 300 s"
            time.sleep(0.01)
        (temporary,) = temporaries
        os.kill(int(temporary.name.split(".")[-2]), signal.SIGKILL)  # the name holds the writer's PID
        assert run.wait(timeout=120) != 0, "snakemake must report the killed job as failed"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return temporary


def _shard_contents(path: Path) -> dict[str, tuple]:
    """Every group and dataset of an HDF5 file by name: its attributes, and a dataset's dtype, shape and values."""
    contents = {}
    with h5py.File(path, "r") as shard:
        contents["/"] = ("group", dict(shard.attrs))

        def visit(name: str, item) -> None:
            attrs = dict(item.attrs)
            if isinstance(item, h5py.Dataset):
                contents[name] = ("dataset", attrs, item.dtype.str, item.shape, item[()])
            else:
                contents[name] = ("group", attrs)

        shard.visititems(visit)
    return contents


def test_a_killed_extraction_reruns_to_the_same_shard_and_leaves_no_temporary(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()

    temporary = _kill_the_writer_once_it_writes(workdir)
    assert temporary.exists() and not (workdir / SHARD).exists(), "a killed writer leaves its temporary, no shard"

    _run_snakemake(workdir)
    assert not temporary.exists(), "the rerun removes the temporary of the dead writer"
    assert [p.name for p in (workdir / SHARD).parent.iterdir()] == ["shard-0.h5"]
    rerun = _shard_contents(workdir / SHARD)

    (workdir / SHARD).unlink()
    _run_snakemake(workdir)  # the same job, never interrupted
    uninterrupted = _shard_contents(workdir / SHARD)

    # No attribute differs legitimately: the shard holds no time or PID, and both runs read the same files.
    assert rerun.keys() == uninterrupted.keys()
    for name, (kind, attrs, *dataset) in uninterrupted.items():
        rerun_kind, rerun_attrs, *rerun_dataset = rerun[name]
        assert (rerun_kind, rerun_attrs) == (kind, attrs), f"{name}: attributes differ"
        if kind == "dataset":
            assert rerun_dataset[:2] == dataset[:2], f"{name}: dtype or shape differs"
            assert np.array_equal(rerun_dataset[2], dataset[2]), f"{name}: values differ"
    assert any(name.startswith("features/") for name in uninterrupted), "the shard must hold features to compare"
