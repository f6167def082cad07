"""Time per stage: read from Snakemake benchmark files, summed, averaged and maximised per stage in both reports."""

from __future__ import annotations

import pytest

from mmfeat.errors import UserError
from mmfeat.reports.stage_times import read_stage_times, stage_times_section

# Snakemake's benchmark format: a header, then one row per repeat of the job
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _benchmark(path, *seconds: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{value}\t0:00:01\t900.1\t1000\t800\t850\t0.1\t2.0\t95.0\t{value}\n"
                                     for value in seconds))
    return path


@pytest.fixture
def benchmark_files(tmp_path):
    folder = tmp_path / "results" / "demo" / "benchmarks"
    return [
        _benchmark(folder / "extract_shard" / "i3d-demo" / "shard-0.tsv", 10.0),
        _benchmark(folder / "extract_shard" / "i3d-demo" / "shard-1.tsv", 30.5),
        _benchmark(folder / "train_asformer" / "asformer" / "i3d-demo" / "split1.tsv", 100.0),
        _benchmark(folder / "extract_shard" / "s3d-demo" / "shard-0.tsv", 2.0),
    ]


def test_seconds_are_grouped_by_the_stage_folder(benchmark_files):
    assert read_stage_times(benchmark_files) == {"extract_shard": [10.0, 30.5, 2.0], "train_asformer": [100.0]}


def test_section_gives_jobs_total_mean_and_max_per_stage(benchmark_files):
    lines = stage_times_section(read_stage_times(benchmark_files)).splitlines()
    assert lines[0] == "## Time per stage"
    assert "| extract_shard | 3 | 42.5 | 14.2 | 30.5 |" in lines
    assert "| train_asformer | 1 | 100.0 | 100.0 | 100.0 |" in lines
    assert stage_times_section({}) == ""


def test_files_that_are_not_benchmarks_are_refused_by_name(tmp_path, benchmark_files):
    stray = _benchmark(tmp_path / "elsewhere" / "x.tsv", 1.0)
    with pytest.raises(UserError, match="benchmarks/{stage}"):
        read_stage_times([stray])
    broken = benchmark_files[0]
    broken.write_text("seconds\n1.0\n")
    with pytest.raises(UserError, match=f"{broken}: not a Snakemake benchmark file"):
        read_stage_times([broken])
    with pytest.raises(UserError, match="does not exist"):
        read_stage_times([broken.with_name("shard-9.tsv")])
