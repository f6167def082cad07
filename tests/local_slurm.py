"""A one-node SLURM cluster on localhost, for the test that runs the workflow through SLURM.

    with LocalSlurm(tmp_path).started() as cluster:    # munged, slurmctld, slurmd
        subprocess.run(["sinfo"], env=cluster.environment())

Debian's packages (slurmctld, slurmd, slurm-client, munge; `.ci/run` installs them when
it runs as root) and root are needed; `missing_requirements()` says what is missing.
Everything the daemons write (key, config, state, spool, logs, sockets) stays in the
given folder; they listen on free ports of 127.0.0.1 and talk through their own munge
socket, and slurmd sees the folder's config at /etc/slurm only in a mount namespace of its
own, so a SLURM or munge already on the machine is left alone. The cluster has no
accounting database: finished jobs stay visible to `squeue` for MinJobAge seconds, and the
job completion log (jobcomp/filetxt, read by `sacct --completion`) records every job that
ended. The node declares two fake GPUs (gres `gpu:fake`) so jobs that ask for GPUs are
scheduled as on a real cluster; what they run sees no GPU.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

PARTITION = "mmfeat-test"
FAKE_GPU_MODEL = "fake"
FAKE_GPU_DEVICES = ("/dev/null", "/dev/zero")
MIN_JOB_AGE = 600  # seconds a finished job stays in squeue: the only status source without accounting
START_TIMEOUT = 60  # seconds for the node to come up; the daemons start in a few seconds
STOP_TIMEOUT = 30  # seconds for cancelled jobs to end before the daemons are stopped
COMMANDS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "sacct", "unshare")


def missing_requirements() -> str | None:
    """Why a local cluster cannot start here, or None when it can."""
    if os.geteuid() != 0:
        return "starting SLURM daemons needs root (slurmd runs jobs as their submitting user)"
    missing = [command for command in COMMANDS if shutil.which(command) is None]
    if missing:
        return (f"{', '.join(missing)} not found: install Debian's slurmctld slurmd slurm-client munge "
                "(`.ci/run` does when it runs as root with apt-get)")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "--bind", "/etc/slurm",
                            "/etc/slurm"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot bind-mount in a private mount namespace (unshare --mount): {probe.stderr.strip()}"
    return None


class LocalSlurm:
    """munged, slurmctld and slurmd of one cluster living in `directory`."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.conf = self.directory / "etc" / "slurm.conf"
        self.munge_socket = self.directory / "munge" / "munge.socket"
        self.jobcomp_log = self.directory / "jobcomp.log"
        self.node = socket.gethostname().split(".")[0]
        self._daemons: list[tuple[str, subprocess.Popen]] = []

    def environment(self) -> dict[str, str]:
        """The environment under which SLURM's commands talk to this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @contextlib.contextmanager
    def started(self) -> Iterator["LocalSlurm"]:
        """Starts the daemons and stops them on leaving, also when starting failed half way."""
        try:
            self._start()
            yield self
        finally:
            self.stop()

    def _start(self) -> None:
        for name in ("etc", "munge", "state", "spool", "log"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        (self.directory / "munge").chmod(0o700)
        key = self.directory / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._write_config(controller_port=_free_port(), node_port=_free_port())
        self._launch("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                                f"--key-file={key}", f"--pid-file={self.directory / 'munge' / 'munged.pid'}",
                                f"--seed-file={self.directory / 'munge' / 'munged.seed'}",
                                f"--log-file={self.directory / 'log' / 'munged.log'}"])
        self._wait_for(lambda: self.munge_socket.exists(), "munged to open its socket", "munged.log")
        self._launch("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        # The plugin runs each job's command through srun with SLURM_CONF removed from the
        # environment, so srun reads /etc/slurm/slurm.conf: slurmd, and the jobs it starts,
        # see this cluster's etc/ there, in a mount namespace of their own.
        self._launch("slurmd", ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                'mount --bind "$0" /etc/slurm && exec "$@"', str(self.conf.parent),
                                "slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait_for(self._node_is_idle, f"node {self.node} to be idle in partition {PARTITION}",
                       "slurmctld.log", "slurmd.log")

    def _write_config(self, controller_port: int, node_port: int) -> None:
        # Half the machine's memory: jobs are scheduled against it, nothing enforces it.
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2
        directory = self.directory
        self.conf.write_text(f"""\
ClusterName=mmfeattest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmdPort={node_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={directory / 'state'}
SlurmdSpoolDir={directory / 'spool'}
SlurmctldPidFile={directory / 'slurmctld.pid'}
SlurmdPidFile={directory / 'slurmd.pid'}
SlurmctldLogFile={directory / 'log' / 'slurmctld.log'}
SlurmdLogFile={directory / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_log}
MinJobAge={MIN_JOB_AGE}
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
GresTypes=gpu
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory_mb} Gres=gpu:{FAKE_GPU_MODEL}:{len(FAKE_GPU_DEVICES)} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        # SLURM counts a GPU per device file; any character device does, as nothing binds them here.
        (self.conf.parent / "gres.conf").write_text("AutoDetect=off\n" + "".join(
            f"Name=gpu Type={FAKE_GPU_MODEL} File={device}\n" for device in FAKE_GPU_DEVICES))

    def _launch(self, name: str, command: list[str]) -> None:
        with open(self.directory / "log" / f"{name}.out", "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       env=self.environment(), start_new_session=True)
        self._daemons.append((name, process))

    def _node_is_idle(self) -> bool:
        result = subprocess.run(["sinfo", "--noheader", "--partition", PARTITION, "--format", "%T"],
                                capture_output=True, text=True, env=self.environment(), timeout=20)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def _wait_for(self, condition, what: str, *logs: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for name, process in self._daemons:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}:\n"
                                       + self.log_tails(*logs, f"{name}.out"))
            if condition():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {START_TIMEOUT} s waiting for {what}:\n" + self.log_tails(*logs))

    def _unfinished_jobs(self) -> list[str]:
        result = subprocess.run(["squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING", "--format=%i"],
                                capture_output=True, text=True, env=self.environment(), timeout=20)
        return result.stdout.split()

    def log_tails(self, *names: str) -> str:
        """The last lines of the named files in the log folder, for error messages."""
        tails = []
        for name in names:
            path = self.directory / "log" / name
            text = path.read_text(errors="replace")[-3000:] if path.exists() else "(absent)"
            tails.append(f"--- {path}\n{text}")
        return "\n".join(tails)

    def stop(self) -> None:
        """Cancels the jobs still queued or running, then stops the daemons, newest first."""
        if all(process.poll() is None for _, process in self._daemons) and len(self._daemons) == 3:
            subprocess.run(["scancel", "--full", "--partition", PARTITION], env=self.environment(),
                           capture_output=True, timeout=30)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self._unfinished_jobs() and time.monotonic() < deadline:
                time.sleep(0.5)
        for name, process in reversed(self._daemons):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self._daemons.clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
