"""Pretraining through the profiles: the resources and processes the pretrain job gets, and a run on SLURM.

    pytest tests/test_workflow_slurm_pretraining.py

The dry runs read what profiles/slurm gives the pretrain job (the GPUs of one node, one
torchrun process each) and how many processes it starts elsewhere. The slow test runs the
pretrain rule of tests/configs/tiny-howto.yaml again through profiles/slurm, with 2 CPU
processes on gloo, on conftest's `slurm_cluster` (the one-node SLURM of tests/local_slurm.py;
root and Debian's SLURM packages, else it is skipped and says why): the weights must equal
those one process made on this machine (conftest's `tiny_howto_run`), within 1e-6.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, TINY_HOWTO_CONFIG, copy_run, run_snakemake
from local_slurm import PARTITION
from test_workflow_slurm import cluster_override, completion_records

SLURM_PROFILE = REPO_ROOT / "profiles" / "slurm"
MODEL = "results/tiny-howto/pretrain/videoclip-tiny/model.pt"
RUN_TIMEOUT = 900  # seconds


def planned_pretrain_job(workdir: Path, config: Path, *arguments: str) -> tuple[dict[str, str], str]:
    """The resources and the shell command of the pretrain job, as a dry run prints them."""
    result = run_snakemake(workdir, MODEL, "--dry-run", "--printshellcmds", *arguments, config=config)
    job = result.stdout[result.stdout.index("rule pretrain:"):]
    resources = re.search(r"^\s*resources: (.*)$", job, re.MULTILINE).group(1)
    command = re.search(r"^Shell command: (.*)$", job, re.MULTILINE).group(1)
    return dict(item.split("=", 1) for item in resources.split(", ")), command


def tiny_config(directory: Path, **distributed: int) -> Path:
    """tests/configs/tiny-howto.yaml (without dropout and at a learning rate of 1e-4 for this file's
    comparison; it says why) and `distributed`."""
    if not distributed:
        return TINY_HOWTO_CONFIG
    config = yaml.safe_load(TINY_HOWTO_CONFIG.read_text())
    config["datasets"]["tiny-howto"]["distributed"] = distributed
    path = directory / "tiny-howto-distributed.yaml"
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
    assert f"; {launcher} --" in command  # the launcher, then mmfeat pretrain's flags (in any order)


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


def slurm_logs(workdir: Path) -> str:
    """The end of each log the SLURM plugin wrote, for a failure's message."""
    return "\n".join(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}"
                     for path in sorted(workdir.glob(".snakemake/slurm_logs/**/*.log")))


@pytest.mark.slow
def test_two_gloo_processes_under_slurm_end_in_the_weights_of_one_process(slurm_cluster, tiny_howto_run, tmp_path):
    import torch

    from mmfeat.checkpoints import load_model

    # one process on this machine: the session's run, its features, and the weights to compare with
    workdir = copy_run(tiny_howto_run, tmp_path / "run")
    _, one_process, _ = load_model(workdir / MODEL, expected_kind="videoclip")

    override = workdir / "cluster-override"
    override.mkdir()
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    (override / "config.yaml").write_text(yaml.safe_dump(pretrain_override(profile)))
    two_processes_config = tiny_config(workdir, gpus=0, cpu_processes=2)
    # cwd: the plugin puts its logs under the directory snakemake starts in
    result = run_snakemake(workdir, MODEL, "--profile", str(SLURM_PROFILE), "--profile", str(override),
                           "--forcerun", "pretrain", config=two_processes_config, check=False, timeout=RUN_TIMEOUT,
                           cwd=workdir, env=slurm_cluster.environment())
    if result.returncode != 0:
        pytest.fail(f"the SLURM run failed:\n{result.stderr[-5000:]}\n{slurm_logs(workdir)}")

    (job_log,) = (workdir / ".snakemake" / "slurm_logs" / "rule_pretrain").glob("**/*.log")
    record = completion_records(slurm_cluster)[job_log.stem]
    assert record["JobState"] == "COMPLETED" and record["Partition"] == PARTITION
    pretrain_log = (workdir / "results/tiny-howto/logs/pretrain/videoclip-tiny/pretrain.log").read_text()
    _, two_processes, provenance = load_model(workdir / MODEL, expected_kind="videoclip")
    assert provenance["processes"] == 2, pretrain_log[-3000:]
    assert two_processes.keys() == one_process.keys()
    for name, value in one_process.items():
        torch.testing.assert_close(two_processes[name], value, rtol=0, atol=1e-6, msg=name)
