"""mmfeat installed as a wheel works without a checkout, as for a user's notebook.

The wheel is built from the package's own files, installed into a fresh
virtual environment (its third-party packages borrowed from the test
environment through a .pth line, so nothing is downloaded), and used from a
folder outside the checkout: `mmfeat --help`, `mmfeat segmentation-metrics`
and `FeatureStore`, and a config validated with the packaged schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def installed_python(tmp_path_factory) -> Path:
    """A fresh venv's python with the mmfeat wheel installed, and only that mmfeat importable."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    # only what the wheel is built from: a checkout's results/ or .venv must not matter
    shutil.copytree(REPO_ROOT / "mmfeat", source / "mmfeat", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        check=True, cwd=work,
    )
    (wheel,) = (work / "dist").glob("mmfeat-*.whl")

    environment = work / "env"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    # the test environment's packages (torch, h5py, ...), after the venv's own: a path
    # added by a .pth is not itself scanned for .pth files, so the checkout's editable
    # install of mmfeat stays invisible
    (site_packages / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site_packages), str(wheel)],
        check=True, cwd=work,
    )
    return python


def run_outside(python: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, *args], cwd=folder, capture_output=True, text=True, timeout=300)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed_python, tmp_path):
    shown = run_outside(installed_python, tmp_path, "-c", "import mmfeat; print(mmfeat.__file__)")
    assert shown.returncode == 0, shown.stderr
    location = Path(shown.stdout.strip())
    assert installed_python.parents[1] in location.parents
    assert REPO_ROOT not in location.parents


def test_mmfeat_help_runs_from_the_wheel(installed_python, tmp_path):
    shown = run_outside(installed_python, tmp_path, "-m", "mmfeat", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "segmentation-metrics" in shown.stdout


def test_segmentation_metrics_scores_files_from_the_wheel(installed_python, tmp_path):
    truth, predictions = tmp_path / "groundTruth", tmp_path / "predictions"
    truth.mkdir()
    predictions.mkdir()
    (truth / "v1.txt").write_text("a\na\nb\nb\n")
    # MS-TCN prediction format: a header line, then the labels on one line
    (predictions / "v1").write_text("### Frame level recognition: ###\na b b b\n")
    (tmp_path / "test.bundle").write_text("v1.txt\n")
    (tmp_path / "mapping.txt").write_text("0 a\n1 b\n")

    scored = run_outside(
        installed_python, tmp_path, "-m", "mmfeat", "segmentation-metrics",
        "--ground-truth", "groundTruth", "--predictions", "predictions", "--bundle", "test.bundle",
        "--output", "metrics.json",
    )
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mean"]["acc"] == pytest.approx(75.0)


def test_feature_store_and_config_schema_from_the_wheel(installed_python, tmp_path):
    shard = tmp_path / "features" / "shard-0.h5"
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    script = textwrap.dedent(f"""
        import json, numpy as np
        from mmfeat.features.store import FeatureStore, ShardWriter
        from mmfeat.workflow_config import with_defaults
        with ShardWriter({str(shard)!r}, "i3d", {{}}) as writer:
            writer.add_video("v1", np.arange(12, dtype=np.float32).reshape(4, 3), np.arange(4), {{"fps": 30.0}})
        store = FeatureStore({str(shard.parent)!r})
        settings = with_defaults("extractor", {{"kind": "i3d"}}, "a notebook")
        print(json.dumps({{"videos": store.videos(), "rows": store.features("v1").tolist(),
                          "stride": settings["stride"]}}))
    """)
    ran = run_outside(installed_python, tmp_path, "-c", script)
    assert ran.returncode == 0, ran.stderr
    shown = json.loads(ran.stdout.strip().splitlines()[-1])
    assert shown["videos"] == ["v1"]
    np.testing.assert_array_equal(np.array(shown["rows"]), rows)
    assert isinstance(shown["stride"], int)
    with h5py.File(shard) as written:
        assert written.attrs["complete"]
