"""Pretraining through the profiles: the resources and processes the pretrain job gets, and a run on SLURM.

    pytest tests/test_workflow_slurm_pretraining.py

The dry runs read what profiles/slurm gives the pretrain job (the GPUs of one node, one
torchrun process each) and how many processes it starts elsewhere. The slow test starts the
one-node SLURM of tests/local_slurm.py (root and Debian's SLURM packages, else it is skipped
and says why) and runs the pretrain rule of tests/configs/tiny-howto.yaml through
profiles/slurm with 2 CPU processes on gloo: the weights must equal those one process
makes on this machine, within 1e-6.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT
from local_slurm import PARTITION
from test_workflow_slurm import cluster_override, completion_records, slurm_cluster  # noqa: F401 (a fixture)

TINY_HOWTO = REPO_ROOT / "tests" / "configs" / "tiny-howto.yaml"
SLURM_PROFILE = REPO_ROOT / "profiles" / "slurm"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile")]
MODEL = "results/tiny-howto/pretrain/videoclip-tiny/model.pt"
RUN_TIMEOUT = 900  # seconds


def planned_pretrain_job(workdir: Path, config: Path, *arguments: str) -> tuple[dict[str, str], str]:
    """The resources and the shell command of the pretrain job, as a dry run prints them."""
    result = subprocess.run([*SNAKEMAKE, MODEL, "--directory", str(workdir), "--configfile", str(config),
                             "--dry-run", "--printshellcmds", *arguments], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    job = result.stdout[result.stdout.index("rule pretrain:"):]
    resources = re.search(r"^\s*resources: (.*)$", job, re.MULTILINE).group(1)
    command = re.search(r"^Shell command: (.*)$", job, re.MULTILINE).group(1)
    return dict(item.split("=", 1) for item in resources.split(", ")), command


def tiny_config(directory: Path, **distributed: int) -> Path:
    """tests/configs/tiny-howto.yaml and `distributed`, without dropout (each process draws its own masks) and
    at a tenth of its learning rate: Adam scales each update to about the rate, also where a gradient is
    near 0 and its rounding (the order of two processes' sums) decides its sign; at 1e-3 the 8 steps'
    weights differ by up to 2e-6, at 1e-4 by 2e-7 (the steps' losses agree to 1e-7 either way)."""
    config = yaml.safe_load(TINY_HOWTO.read_text())
    config["models"]["videoclip-tiny"]["dropout"] = 0.0
    config["datasets"]["tiny-howto"]["pretraining"]["optimiser"]["learning_rate"] = 0.0001
    if distributed:
        config["datasets"]["tiny-howto"]["distributed"] = distributed
    path = directory / ("tiny-howto.yaml" if not distributed else "tiny-howto-distributed.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def test_slurm_profile_gives_pretraining_the_gpus_of_one_node_and_a_process_each(tmp_path):
    resources, command = planned_pretrain_job(tmp_path, tiny_config(tmp_path), "--profile", str(SLURM_PROFILE))
    assert resources["slurm_partition"] == "gpu" and resources["nodes"] == "1"
    gpus = int(resources["gpu"])
    assert gpus > 1
    assert f" torchrun --standalone --nproc_per_node {gpus} -m mmfeat pretrain " in command


@pytest.mark.parametrize(("arguments", "distributed", "gpus", "launcher"), [
    ((), {}, 0, "python -m mmfeat pretrain"),
    (("--set-resources", "pretrain:gpu=1"), {}, 1, "python -m mmfeat pretrain"),
    (("--set-resources", "pretrain:gpu=2"), {}, 2, "torchrun --standalone --nproc_per_node 2 -m mmfeat pretrain"),
    ((), {"gpus": 0, "cpu_processes": 2}, 0, "torchrun --standalone --nproc_per_node 2 -m mmfeat pretrain"),
    ((), {"gpus": 3, "cpu_processes": 2}, 3, "torchrun --standalone --nproc_per_node 3 -m mmfeat pretrain"),
], ids=["cpu", "one-gpu", "two-gpus-from-a-resource", "two-cpu-processes", "gpus-from-the-config"])
def test_one_process_runs_python_and_several_run_torchrun(tmp_path, arguments, distributed, gpus, launcher):
    resources, command = planned_pretrain_job(tmp_path, tiny_config(tmp_path, **distributed), "--cores", "8",
                                              *arguments)
    assert resources["gpu"] == str(gpus)
    assert f"; {launcher} --dataset-root " in command


# --- a real SLURM -------------------------------------------------------------------------


def pretrain_override(profile: dict) -> dict:
    """The test cluster's override of profiles/slurm (test_workflow_slurm.cluster_override), with the
    pretrain job on the CPU: its processes come from the config's cpu_processes."""
    override = cluster_override(profile)
    pretrain = override["set-resources"]["pretrain"]
    pretrain.update(gpu=0, slurm_partition=PARTITION)
    pretrain.pop("gpu_model", None)
    override["set-threads"] = {"pretrain": 2}
    return override


def run(workdir: Path, *arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # cwd: the plugin puts its logs under the directory snakemake starts in
    result = subprocess.run([*SNAKEMAKE, MODEL, "--directory", str(workdir), *arguments], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if result.returncode != 0:
        logs = "\n".join(f"--- {path}\n{path.read_text()[-3000:]}"
                         for path in sorted([*workdir.glob("results/*/logs/**/*.log"),
                                             *workdir.glob(".snakemake/slurm_logs/**/*.log")]))
        pytest.fail(f"snakemake {' '.join(arguments)} failed:\n{result.stderr[-5000:]}\n{logs}")
    return result


@pytest.mark.slow
def test_two_gloo_processes_under_slurm_end_in_the_weights_of_one_process(slurm_cluster, tmp_path):  # noqa: F811
    import torch

    from mmfeat.checkpoints import load_model

    workdir = tmp_path / "run"
    workdir.mkdir()
    # one process on this machine: the features, and the weights to compare with
    run(workdir, "--configfile", str(tiny_config(workdir)), "--cores", "2")
    _, one_process, _ = load_model(workdir / MODEL, expected_kind="videoclip")
    shutil.copy(workdir / MODEL, tmp_path / "one-process.pt")

    override = workdir / "cluster-override"
    override.mkdir()
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    (override / "config.yaml").write_text(yaml.safe_dump(pretrain_override(profile)))
    two_processes_config = tiny_config(workdir, gpus=0, cpu_processes=2)
    run(workdir, "--profile", str(SLURM_PROFILE), "--profile", str(override), "--forcerun", "pretrain",
        "--configfile", str(two_processes_config), env=slurm_cluster.environment())

    (job_log,) = (workdir / ".snakemake" / "slurm_logs" / "rule_pretrain").glob("**/*.log")
    record = completion_records(slurm_cluster)[job_log.stem]
    assert record["JobState"] == "COMPLETED" and record["Partition"] == PARTITION
    pretrain_log = (workdir / "results/tiny-howto/logs/pretrain/videoclip-tiny/pretrain.log").read_text()
    _, two_processes, provenance = load_model(workdir / MODEL, expected_kind="videoclip")
    assert provenance["processes"] == 2, pretrain_log[-3000:]
    assert two_processes.keys() == one_process.keys()
    for name, value in one_process.items():
        torch.testing.assert_close(two_processes[name], value, rtol=0, atol=1e-6, msg=name)
