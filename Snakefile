# mmfeat: raw videos -> features in HDF5 shards -> trained models -> report.
#
#     snakemake --cores 8                                   # the embedded demos (rule all; with no demo, every report)
#     snakemake --cores 8 results/50salads/report.md        # with the real 50Salads in data/50salads
#     snakemake --cores 8 results/urfunny/report.md         # with the real UR-FUNNY v2 in data/urfunny
#     snakemake --cores 8 --configfile tests/configs/tiny.yaml   # a named config
#     snakemake --report report.zip                        # after a run: its browsable report (or .html)
#
# Wiring only: what each stage does lives in workflow/rules/, how in the mmfeat package.

from snakemake.utils import min_version

from mmfeat.workflow_config import validate_config

min_version("9.0")


configfile: "config.yaml"


# `snakemake --report report.zip` (or .html): the workflow's description; the outputs it
# holds are those flagged with report(...) in workflow/rules/.
report: "workflow/report/workflow.rst"


# Fails before any job runs, naming the key path and what was expected.
config.update(validate_config(config, source="the workflow config"))


include: "workflow/rules/common.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/segmentation_helpers.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/humor_helpers.smk"
include: "workflow/rules/humor.smk"
include: "workflow/rules/pretraining_helpers.smk"
include: "workflow/rules/pretraining.smk"
include: "workflow/rules/transfer_helpers.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/demo.smk"


rule all:
    input:
        default_targets(),
