"""The repair of `snakemake --list-changes params`, which lists unchanged outputs in Snakemake 9."""

from snakemake.persistence import ParamsChange

from mmfeat.snakemake_list_changes import repair_params_change_listing


def test_an_empty_params_change_lists_no_files_and_a_real_one_still_does():
    repair_params_change_listing()
    assert list(ParamsChange(files={"results/x/model.pt"})) == []
    changed = ParamsChange(only_old={"'1'"}, only_new={"'2'"}, files={"results/x/model.pt"})
    assert list(changed) == ["results/x/model.pt"]
    assert repair_params_change_listing() is False  # once repaired, nothing left to patch
