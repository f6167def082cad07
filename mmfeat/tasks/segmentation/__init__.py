"""Temporal action segmentation (MS-TCN layout, 50Salads): ASFormer trained per split, or
zero-shot from a joint video-text space; predictions published per split, evaluated by the
shared metrics and compared in one report.

    mmfeat train-asformer --dataset-root ROOT --features SHARDS... --split 1 --model JSON --checkpoint model.pt ...
    mmfeat predict-asformer --dataset-root ROOT --features SHARDS... --split 1 --checkpoint model.pt \
        --predictions DIR ...
    mmfeat segmentation-report --name NAME --runs results/NAME/runs.json --output report.md --ribbons ribbons.png ...

Modules, one concern each: `sequences` (a split's feature rows and frame labels, aligned and
subsampled), `asformer_training` (the loss, the loop, prediction), `asformer_saved` (the
model file and `init_from`), `asformer_split` (one split trained end to end), `zero_shot`
(labels from class prompts), `split_predictions` (one split's prediction files, bundle and
alignment report, alike for every method), `run_manifest` (the runs a report lists),
`report` and `ribbons` (the Markdown report and its figure). Its rules are
workflow/rules/segmentation.smk (helpers in segmentation_helpers.smk); the dataset layout
is mmfeat.datasets.segmentation, the metrics mmfeat.metrics.segmentation, shared.

Nothing is imported here, so that naming the package loads no torch.
"""
