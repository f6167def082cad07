# The report: metrics per split and mean ± std, baselines, provenance, decode summary, ribbons.


rule segmentation_report:
    input:
        metrics=report_split_files("metrics.json"),
        predictions=report_split_files("predictions"),
        bundles=report_split_files("evaluated.bundle"),
        alignment=report_split_files("alignment.json"),
        features=dataset_features,
        labels=dataset_labels,
    output:
        report="results/{dataset}/report.md",
        ribbons="results/{dataset}/ribbons.png",
    log:
        "results/{dataset}/logs/report.log",
    params:
        root=dataset_root_of,
        split_dirs=report_split_dirs,
        settings=report_settings,
    conda:
        "../../envs/mmfeat.yaml"
    shell:
        "python -m mmfeat segmentation-report --name {wildcards.dataset} --dataset-root {params.root}"
        " --features {input.features} --split-dir {params.split_dirs} --settings {params.settings:q}"
        " --output {output.report} --ribbons {output.ribbons} > {log} 2>&1"
