"""`mmfeat humor-experiment` and `mmfeat humor-report` end to end on synthetic feature files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from humor_synthetic import write_synthetic_files
from mmfeat.cli import main as mmfeat_main

SETTINGS = {"features": {"text": {"extractor": "roberta-demo", "weights": {"kind": "random", "seed": 0}}}}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("humor")
    paths = write_synthetic_files(folder)
    modalities = [argument for name, path in paths.items() for argument in ("--modality", name, str(path))]
    classifiers = {"seeds": 2, "max_epochs": 10, "hidden_size": 16}
    arguments = ["humor-experiment", *modalities, "--classifiers", json.dumps(classifiers),
                 "--report-settings", json.dumps(SETTINGS)]
    assert mmfeat_main([*arguments, "--output", str(folder / "results.json")]) == 0
    return folder, arguments


def test_experiment_writes_results_deterministically(experiment):
    folder, arguments = experiment
    results = json.loads((folder / "results.json").read_text())
    assert list(results["modalities"]) == ["text", "audio", "video"]
    assert results["seeds"] == [0, 1] and results["settings"] == SETTINGS
    assert results["experiment_settings"]["mlp"]["max_epochs"] == 10
    assert mmfeat_main([*arguments, "--output", str(folder / "again.json")]) == 0
    assert (folder / "again.json").read_bytes() == (folder / "results.json").read_bytes()
    assert sorted(path.name for path in folder.iterdir()) == [
        "again.json", "audio.npz", "results.json", "text.npz", "video.npz"]  # no temporary file left


def test_report_command_writes_report_and_pictures(experiment):
    folder, _ = experiment
    (folder / "skipped.json").write_text(json.dumps({"clip-5000": "no audio track"}))
    status = mmfeat_main(["humor-report", "--results", str(folder / "results.json"),
                          "--output", str(folder / "out" / "report.md"), "--figures-dir", str(folder / "out" / "fig"),
                          "--reference", "urfunny", "--skipped", str(folder / "skipped.json"), "--demo"])
    assert status == 0
    report = (folder / "out" / "report.md").read_text()
    assert "## Late fusion: majority vote" in report and "| clip-5000 | no audio track |" in report
    assert "77.36" in report and "**Demo.**" in report
    assert len(list((folder / "out" / "fig").glob("*.png"))) == 4


def test_report_command_does_not_import_torch():
    code = "import sys; from mmfeat.cli import main; import mmfeat.commands.humor_report; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.parametrize("arguments, message", [
    (["humor-experiment", "--modality", "text", "--output", "r.json"], "expected NAME FILE, one feature file"),
    (["humor-experiment", "--modality", "text", "a.npz", "b.npz", "--output", "r.json"],
     "expected NAME FILE, one feature file"),
    (["humor-experiment", "--modality", "text", "absent.npz", "--output", "r.json"], "absent.npz: no such feature file"),
    (["humor-experiment", "--modality", "text", "a.npz", "--modality", "text", "b.npz", "--output", "r.json"],
     "--modality text given twice"),
    (["humor-experiment", "--modality", "text", "a.npz", "--classifiers", '{"seeds": 0}', "--output", "r.json"],
     "--classifiers is invalid"),
    (["humor-report", "--results", "absent.json", "--output", "r.md", "--figures-dir", "f"],
     "absent.json: no such results file"),
])
def test_commands_fail_with_a_message_naming_the_problem(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    assert mmfeat_main(arguments) == 2
    assert message in capsys.readouterr().err


def test_report_refuses_a_results_file_of_another_format(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"format": "something-else"}))
    status = mmfeat_main(["humor-report", "--results", str(tmp_path / "results.json"), "--output",
                          str(tmp_path / "report.md"), "--figures-dir", str(tmp_path / "figures")])
    assert status == 2
    assert "format 'something-else', expected 'mmfeat-humor-results-v1'" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()
