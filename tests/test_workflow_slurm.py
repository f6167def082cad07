"""The workflow through the profiles: the resources each rule gets, and a run on a real SLURM.

    pytest tests/test_workflow_slurm.py

The dry runs read what profiles/slurm and profiles/local give each job. The slow test runs
the tiny config through `--profile profiles/slurm`, with a second profile, derived from it,
that points it at the test partition, on conftest's `slurm_cluster`: the one-node SLURM of
tests/local_slurm.py on localhost, started once a session (root and Debian's SLURM packages,
else it is skipped and says why).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, TINY_CONFIG, run_snakemake

from local_slurm import FAKE_GPU_MODEL, PARTITION, LocalSlurm

TARGET = "results/tiny-salads/report.md"
SLURM_PROFILE = REPO_ROOT / "profiles" / "slurm"
LOCAL_PROFILE = REPO_ROOT / "profiles" / "local"
CPU_RULES = {"make_demo_tiny-salads", "train_asformer", "predict_asformer", "evaluate_split", "segmentation_report"}
RUN_TIMEOUT = 1200  # seconds; the run took 6 minutes on 2 cores shared with other work


def tiny_i3d_config(directory: Path, num_shards: int | None = None) -> Path:
    """The tiny config with its I3D feature set alone (no S3D, no zero-shot): the jobs below, and a shorter run."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    dataset = config["datasets"]["tiny-salads"]
    dataset["features"]["video"] = ["i3d-tiny"]
    dataset.pop("zero_shot")
    if num_shards is not None:
        dataset["features"]["num_shards"] = num_shards
    path = directory / "tiny-i3d.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def dry_run_resources(workdir: Path, *arguments: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> the resources of each of its jobs, as a dry run of the tiny config prints them."""
    result = run_snakemake(workdir, TARGET, "--dry-run", *arguments, config=tiny_i3d_config(workdir))
    jobs: dict[str, list[dict[str, str]]] = {}
    rule = None
    for line in result.stdout.splitlines():
        if match := re.fullmatch(r"\s*rule (\S+):", line):
            rule = match.group(1)
        elif (match := re.fullmatch(r"\s*resources: (.*)", line)) and rule is not None:
            jobs.setdefault(rule, []).append(dict(item.split("=", 1) for item in match.group(1).split(", ")))
            rule = None
    return jobs


def test_slurm_profile_gives_extraction_a_gpu_and_the_cpu_stages_none(tmp_path):
    jobs = dry_run_resources(tmp_path, "--profile", str(SLURM_PROFILE))
    assert set(jobs) == CPU_RULES | {"extract_shard", "label_digest", "segmentation_manifest"}
    assert len(jobs["extract_shard"]) == 2
    assert "gpu" not in jobs["label_digest"][0]  # a local rule: hashes the label files where snakemake runs
    assert "gpu" not in jobs["segmentation_manifest"][0]  # a local rule: writes the runs.json of the config
    for resources in jobs["extract_shard"]:
        assert resources["gpu"] == "1" and resources["slurm_partition"] == "gpu"
        assert resources["mem_mb"] == "16000" and resources["runtime"] == "240"
    for rule in CPU_RULES:
        for resources in jobs[rule]:
            assert "gpu" not in resources and "gpu_model" not in resources, (rule, resources)
            assert resources["slurm_partition"] == "cpu", (rule, resources)
    assert jobs["train_asformer"][0]["mem_mb"] == "8000" and jobs["train_asformer"][0]["runtime"] == "720"
    assert jobs["evaluate_split"][0]["mem_mb"] == "2000"  # the profile's default
    # cpus_per_task would override each rule's threads on SLURM
    assert not any("cpus_per_task" in resources for rule_jobs in jobs.values() for resources in rule_jobs)


def test_slurm_profile_asks_more_memory_on_each_retry(tmp_path):
    # --attempt (snakemake's own, for the jobs it submits) sets the attempt the jobs start from, as a retry would
    first = dry_run_resources(tmp_path, "--profile", str(SLURM_PROFILE))
    third = dry_run_resources(tmp_path, "--profile", str(SLURM_PROFILE), "--attempt", "3")
    for rule in first:
        assert int(third[rule][0]["mem_mb"]) == 3 * int(first[rule][0]["mem_mb"]), rule
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    assert profile["retries"] >= 1


def test_local_profile_gives_extraction_a_gpu_slot_and_bounds_them(tmp_path):
    profile = yaml.safe_load((LOCAL_PROFILE / "config.yaml").read_text())
    assert profile["resources"]["gpu"] >= 1
    jobs = dry_run_resources(tmp_path, "--profile", str(LOCAL_PROFILE))
    assert [resources["gpu"] for resources in jobs["extract_shard"]] == ["1", "1"]
    for rule in CPU_RULES:
        assert all("gpu" not in resources for resources in jobs[rule]), rule


# --- a real SLURM -------------------------------------------------------------------------


def cluster_override(profile: dict) -> dict:
    """The top-level entries of profiles/slurm that differ on the test cluster.

    The test partition instead of the cluster's; no account (there is no accounting
    database); memory the test node has; the fake GPU model; job status from squeue;
    status checks every few seconds. Everything else comes from profiles/slurm itself.
    """
    set_resources = {}
    for rule, resources in profile["set-resources"].items():
        resources = dict(resources)
        if "slurm_partition" in resources:
            resources["slurm_partition"] = PARTITION
        if "mem_mb" in resources:
            resources["mem_mb"] = "1000 * attempt"
        if "gpu" in resources:
            resources["gpu_model"] = FAKE_GPU_MODEL
        set_resources[rule] = resources
    return {
        "default-resources": {**profile["default-resources"], "slurm_partition": PARTITION,
                              "slurm_account": "", "mem_mb": "500 * attempt"},
        "set-resources": set_resources,
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
    }


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-run")
    override = workdir / "cluster-override"
    override.mkdir()
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    (override / "config.yaml").write_text(yaml.safe_dump(cluster_override(profile)))
    earlier_jobs = set(completion_records(slurm_cluster))  # the cluster is the session's: other tests' jobs
    # cwd: the plugin puts its logs under the directory snakemake starts in; one shard: one extraction job
    result = run_snakemake(workdir, "--profile", str(SLURM_PROFILE), "--profile", str(override), TARGET,
                           config=tiny_i3d_config(workdir, num_shards=1), check=False, timeout=RUN_TIMEOUT,
                           cwd=workdir, env=slurm_cluster.environment())
    if result.returncode != 0:
        logs = "\n".join(f"--- {path}\n{path.read_text()[-2000:]}"
                         for path in sorted(workdir.glob(".snakemake/slurm_logs/**/*.log")))
        pytest.fail(f"the SLURM run failed:\n{result.stderr[-6000:]}\n{logs}\n"
                    + slurm_cluster.log_tails("slurmctld.log", "slurmd.log"))
    return workdir, earlier_jobs


def slurm_jobs(cluster: LocalSlurm) -> dict[str, dict[str, str]]:
    """Job id -> state, partition, comment (the plugin writes the rule there) and GPUs asked, from squeue."""
    fields = ("state", "partition", "comment", "gpus")
    result = subprocess.run(["squeue", "--states=all", "--noheader",
                             "--Format=JobID:|,State:|,Partition:|,Comment:|,tres-per-job:|"],
                            capture_output=True, text=True, env=cluster.environment(), timeout=30, check=True)
    jobs = {}
    for line in result.stdout.splitlines():
        job_id, *values = [value.strip() for value in line.split("|")[:5]]
        jobs[job_id] = dict(zip(fields, values))
    return jobs


def completion_records(cluster: LocalSlurm) -> dict[str, dict[str, str]]:
    """Job id -> its record in SLURM's job completion log (JobState, Partition, ...), kept for good."""
    records = {}
    if not cluster.jobcomp_log.exists():  # no job has ended yet
        return records
    for line in cluster.jobcomp_log.read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[fields["JobId"]] = fields
    return records


def completed_by_sacct(cluster: LocalSlurm) -> set[str]:
    """The ids of the jobs `sacct --completion` (SLURM's reader of that log) lists as completed."""
    result = subprocess.run(["sacct", "--completion", "--noheader", "--parsable2", "--format=JobID,State"],
                            capture_output=True, text=True, env=cluster.environment(), timeout=30, check=True)
    return {line.split("|")[0] for line in result.stdout.splitlines() if line.endswith("|COMPLETED")}


@pytest.mark.slow(seconds=230)  # with tests/test_workflow_slurm_pretraining.py, on the same worker
def test_slurm_run_reaches_the_report_with_every_job_through_slurm(slurm_run, slurm_cluster):
    workdir, earlier_jobs = slurm_run
    report = (workdir / TARGET).read_text()
    assert re.search(r"^\| \*\*mean ± std\*\* \| \|( \*\*[\d.]+ ± [\d.]+\*\* \|){5}$", report, re.MULTILINE)
    # the plugin's logs: .snakemake/slurm_logs/<rule_RULE or group_GROUP_RULES>/<wildcards>/<SLURM job id>.log
    log_root = workdir / ".snakemake" / "slurm_logs"
    job_ids_by_folder: dict[str, list[str]] = {}
    for path in sorted(log_root.glob("*/**/*.log")):
        job_ids_by_folder.setdefault(path.relative_to(log_root).parts[0], []).append(path.stem)
    assert {folder: len(ids) for folder, ids in job_ids_by_folder.items()} == {
        "rule_make_demo_tiny-salads": 1, "rule_extract_shard": 1, "rule_train_asformer": 2,
        "group_evaluate_evaluate_split_predict_asformer": 2, "rule_segmentation_report": 1,
    }
    assert (workdir / "results/tiny-salads/labels.sha256").is_file()  # label_digest: local, not submitted
    records = completion_records(slurm_cluster)
    run_jobs = set(records) - earlier_jobs
    assert run_jobs == {job_id for ids in job_ids_by_folder.values() for job_id in ids}  # no other job, no retry
    completed = completed_by_sacct(slurm_cluster)
    seen = slurm_jobs(slurm_cluster)
    for folder, job_ids in job_ids_by_folder.items():
        for job_id in job_ids:
            record = records[job_id]
            assert record["JobState"] == "COMPLETED" and job_id in completed, (folder, record)
            assert record["Partition"] == PARTITION, (folder, record)
            assert job_id in seen, f"job {job_id} ({folder}) left squeue: the run took over MinJobAge"
            job = seen[job_id]
            assert job["state"] == "COMPLETED" and job["partition"] == PARTITION, (folder, job)
            if folder.startswith("rule_"):
                assert job["comment"].startswith(folder), (folder, job)
            # the extraction jobs, and only they, asked SLURM for a GPU of the configured model
            assert (job["gpus"] == f"gres:gpu:{FAKE_GPU_MODEL}:1") == (folder == "rule_extract_shard"), (folder, job)
