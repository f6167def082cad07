"""Shared test fixtures, the repository's paths and the one way tests run Snakemake.

    from conftest import REPO_ROOT, TINY_CONFIG, run_snakemake
    result = run_snakemake(tmp_path, "--configfile", str(TINY_CONFIG), "--dry-run", "--cores", "1")

The reference vectors the tests compare against are kept in the repository, in
`tests/data/` (see its README.md), so that a plain clone passes its own tests.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / "tests" / "data"
SNAKEFILE = REPO_ROOT / "Snakefile"
TINY_CONFIG = REPO_ROOT / "tests" / "configs" / "tiny.yaml"              # segmentation demo, I3D and S3D
TINY_HUMOR_CONFIG = REPO_ROOT / "tests" / "configs" / "tiny-humor.yaml"  # UR-FUNNY demo, three modalities
TINY_HOWTO_CONFIG = REPO_ROOT / "tests" / "configs" / "tiny-howto.yaml"  # narrated demo, pretraining
TINY_HOWTO_TARGET = "results/tiny-howto/report.md"
SNAKEMAKE_TIMEOUT = 1200  # seconds; a bound on a hung run, not a timing (a tiny run takes one or two minutes)

# Three xdist workers and their Snakemake jobs share the cores. OpenMP's threads spin while they wait for
# a core another process holds: that was a quarter of the suite's CPU on 2 cores (1,492 against 1,140
# CPU-s, same commit; benchmarks/README.md). Set before torch loads libgomp; every job inherits it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def snakemake_command(workdir: Path, *arguments: str, python_options: tuple[str, ...] = ()) -> list[str]:
    """`python -m snakemake` on the repository's Snakefile, with `workdir` as its working directory."""
    return [sys.executable, *python_options, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
            "--directory", str(workdir), *arguments]


def run_snakemake(workdir: Path, *arguments: str, config: dict | Path | None = None, check: bool = True,
                  timeout: float = SNAKEMAKE_TIMEOUT, python_options: tuple[str, ...] = (),
                  **run_options) -> subprocess.CompletedProcess:
    """Run snakemake in `workdir` and return what it printed (text).

    config: a config file, or a dict written to WORKDIR/config.yaml, passed as --configfile.
    check: fail the test on a non-zero exit, showing the terminal's end and every job log's end.
    run_options: more of subprocess.run's (cwd, env).
    """
    if isinstance(config, dict):
        config = write_config(workdir / "config.yaml", config)
    if config is not None:
        arguments = (*arguments, "--configfile", str(config))  # last: --configfile takes every word after it
    result = subprocess.run(snakemake_command(workdir, *arguments, python_options=python_options),
                            capture_output=True, text=True, timeout=timeout, **run_options)
    if check and result.returncode != 0:
        pytest.fail(f"snakemake {' '.join(arguments)} exited {result.returncode}:\n{terminal_and_logs(workdir, result)}")
    return result


def write_config(path: Path, config: dict) -> Path:
    """Write a config dict as YAML (names keep their non-ASCII letters) and return its path."""
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def terminal_and_logs(workdir: Path, result: subprocess.CompletedProcess) -> str:
    """The end of what snakemake printed and of each job's log under WORKDIR/results/*/logs."""
    logs = "\n".join(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}"
                     for path in sorted(workdir.glob("results/*/logs/**/*.log")))
    return f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-6000:]}\n{logs}"


# The suite runs on pytest-xdist workers (the README's `pytest -n 3`), each test file's tests on one
# worker: their module fixtures, e.g. a whole Snakemake run, are then made once. The files that use the
# one-node SLURM run on one worker as well, so that it is started once and never twice on one machine.
# (`tiny_howto_run` is shared between workers through a lock instead: see there.)
SLURM_GROUP = "slurm-cluster"


@cache
def test_group(test_file: str) -> str:
    """The group a test file's tests run in: its own, or SLURM_GROUP when its code names `slurm_cluster`."""
    code = (REPO_ROOT / test_file).read_text(encoding="utf-8") if (REPO_ROOT / test_file).is_file() else ""
    return SLURM_GROUP if "slurm_cluster" in code else test_file


def pytest_xdist_make_scheduler(config, log):
    """Hand out whole groups (pytest-xdist's `loadgroup` marks do not reach the test ids under pytest 9)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return test_group(nodeid.split("::")[0])

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(items):
    """The groups that run Snakemake (a test marked slow) first, by the seconds their `slow(seconds=...)`
    mark gives (a group's longest), longest first: handed out last, one of them would keep a worker busy
    minutes after the others ran out of work (the scheduler keeps this order: `--no-loadscope-reorder` in
    pyproject.toml)."""
    groups = {item.nodeid: test_group(item.nodeid.split("::")[0]) for item in items}
    seconds: dict[str, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            group = groups[item.nodeid]
            seconds[group] = max(seconds.get(group, 0.0), float(mark.kwargs.get("seconds", 0.0)))
    items.sort(key=lambda item: (groups[item.nodeid] not in seconds, -seconds.get(groups[item.nodeid], 0.0)))


@pytest.fixture(scope="session")
def tiny_howto_run(tmp_path_factory) -> Path:
    """A finished run of tests/configs/tiny-howto.yaml to its report, shared by the test files that read one.

    Read it, or copy it with `copy_run` before running anything in it: the run is made once a suite run, by
    the first xdist worker that asks for it, while the others wait on a lock. A test file reading it then
    runs on any worker, in its own group: were they all one group, one worker would run them one after
    another for most of the suite while the others ran out of work.
    """
    shared = suite_folder(tmp_path_factory)
    workdir = shared / "tiny-howto-run"
    failure = shared / "tiny-howto-run.failed"
    with open(shared / "tiny-howto-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when a test fails
        if failure.exists():
            pytest.fail(f"the tiny-howto run failed on another worker:\n{failure.read_text()}")
        if not (shared / "tiny-howto-run.done").exists():
            workdir.mkdir()
            result = run_snakemake(workdir, "--cores", "2", TINY_HOWTO_TARGET, config=TINY_HOWTO_CONFIG, check=False)
            if result.returncode != 0:
                terminal = terminal_and_logs(workdir, result)
                failure.write_text(terminal)
                pytest.fail(f"the tiny-howto run exited {result.returncode}:\n{terminal}")
            (shared / "tiny-howto-run.done").touch()
    return workdir


def suite_folder(tmp_path_factory) -> Path:
    """A temporary folder of this suite run that every xdist worker sees (each has its own basetemp below it)."""
    basetemp = tmp_path_factory.getbasetemp()
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def copy_run(workdir: Path, copy: Path) -> Path:
    """A copy of a run's folder that Snakemake finds as finished as the original (file times kept)."""
    shutil.copytree(workdir, copy, symlinks=True)  # copy2: the modification times snakemake compares
    return copy


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """The one-node SLURM of tests/local_slurm.py, started once a session (skipped, saying why, where it cannot)."""
    from local_slurm import LocalSlurm, missing_requirements

    reason = missing_requirements()
    if reason:
        pytest.skip(f"no local SLURM: {reason}")
    with LocalSlurm(tmp_path_factory.mktemp("slurm")).started() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`tests/data`: test vectors computed with the official ASFormer code."""
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def one_torch_thread():
    """torch on one thread for the test, restored after (`pytest.mark.usefixtures("one_torch_thread")`)."""
    import torch  # here: most tests need no torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
