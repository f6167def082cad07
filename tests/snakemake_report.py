"""Build Snakemake's own report of a finished tiny run, as a user would, and read back what it holds.

    report = build_snakemake_report(workdir, config, tmp_path / "report.zip")
    report.files["results/tiny-salads/ribbons.png"].content   # the bytes stored in the zip
    report.files["results/tiny-salads/ribbons.png"].caption   # its caption, as text

Snakemake 9.27's zip holds `report/report.html` and each flagged file under
`report/data/raw/<id>/<name>`; the HTML carries, as JSON in <script id="results"> and
<script id="categories">, each file's caption (HTML), labels and place in the report.
"""

from __future__ import annotations

import html
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from conftest import run_snakemake


@dataclass(frozen=True)
class ReportedFile:
    content: bytes          # as stored in the zip
    caption: str            # the caption's text, tags removed and whitespace collapsed
    category: str
    subcategory: str
    labels: dict | None


@dataclass(frozen=True)
class SnakemakeReport:
    files: dict[str, ReportedFile]   # keyed by the path in the run, e.g. results/tiny-salads/report.md
    description: str                 # the workflow description (Snakefile's `report:`), as text


def build_snakemake_report(workdir: Path, config: Path, report_zip: Path) -> SnakemakeReport:
    """Run `snakemake --report REPORT_ZIP` in the run's workdir (no target: rule all) and read the zip."""
    run_snakemake(workdir, "--report", str(report_zip), config=config)
    return read_snakemake_report(report_zip)


def read_snakemake_report(report_zip: Path) -> SnakemakeReport:
    with zipfile.ZipFile(report_zip) as archive:
        folder = Path(report_zip).stem
        page = archive.read(f"{folder}/report.html").decode("utf-8")
        results = _script_variable(page, "results")
        places = {path: (category, subcategory)
                  for category, subcategories in _script_variable(page, "categories").items()
                  for subcategory, paths in subcategories.items() for path in paths}
        files = {
            path: ReportedFile(content=archive.read(f"{folder}/{entry['data_uri']}"), caption=_text_of(entry["caption"]),
                               category=places[path][0], subcategory=places[path][1], labels=entry["labels"])
            for path, entry in results.items()
        }
    return SnakemakeReport(files=files, description=_text_of(_script_variable(page, "workflow_desc")))


def _script_variable(page: str, name: str):
    """The JSON value of `var NAME = ...;`, alone in the template's <script id="NAME"> (with - for _);
    the bundled JavaScript above it has variables of the same names."""
    match = re.search(rf'<script id="{name.replace("_", "-")}">\s*var {name} = (.*);\s*</script>', page)
    assert match, f"no <script> setting `var {name}` in the report's HTML"
    return json.loads(match.group(1))


def _text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())
