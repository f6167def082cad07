"""Make `snakemake --list-changes params` list only outputs whose params changed.

    snakemake -R $(snakemake --list-changes params)     # rerun what a params change affects

Snakemake 9 (up to at least 9.27) lists the last output of every job that ran
before, changed or not: `ParamsChange.__iter__` yields its files whether or not
the change is empty, and `params_changed` passes on the empty change of each
output file it compared. The dry run is right (it asks the change's truth
value), so only the listing misleads: the command above would retrain
everything. Imported by the workflow (workflow/rules/common.smk), this makes an
empty change list no files. The repair tests Snakemake's behaviour first and
does nothing where Snakemake lists correctly, so a fixed release needs no edit.
"""

from __future__ import annotations


def repair_params_change_listing() -> bool:
    """Patch snakemake's ParamsChange so that an empty change lists no files; True if it was needed."""
    from snakemake.persistence import ParamsChange

    if not _lists_files_of_an_empty_change(ParamsChange):
        return False
    listed_files = ParamsChange.__iter__

    def files_that_changed(change):
        return listed_files(change) if change else iter(())

    ParamsChange.__iter__ = files_that_changed
    return True


def _lists_files_of_an_empty_change(params_change_class) -> bool:
    empty_change = params_change_class(files={"an-output"})
    return not empty_change and bool(list(empty_change))
