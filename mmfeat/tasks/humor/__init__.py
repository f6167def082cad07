"""Humour detection on precomputed per-utterance features (UR-FUNNY): one classifier per
modality, late, learned and early fusion, and the results that `mmfeat humor-report` turns
into a Markdown report.

    mmfeat humor-experiment --modality text text.npz --modality audio audio.npz \
        --modality video video.npz --classifiers '{"seeds": 5}' --output results.json
    mmfeat humor-report --results results.json --output report.md --figures-dir figures

Modules: `features` (the per-modality `.npz` file), `pooling` (stored rows to one vector per
sample), `settings`, `metrics`, `classifiers` (MLP and logistic regression), `fusion`,
`experiment` (everything for given modalities and seeds), `results` (the results JSON),
`report` and `confusion_matrix` (the Markdown report and its figures). `features`, `metrics`
and `results` need numpy only, so the report reads results without importing torch. Its rules
are workflow/rules/humor.smk (helpers in humor_helpers.smk); the dataset layout is
mmfeat.datasets.urfunny, shared.
"""
