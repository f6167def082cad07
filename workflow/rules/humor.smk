# Humour detection on a humor dataset (UR-FUNNY v2 layout): the modalities' shards pooled into
# one vector per sample, per-modality classifiers and their fusions over several seeds, report.


rule humor_features:
    input:
        shards=humor_shards,
        release=humor_release,
    output:
        features=directory("results/{dataset}/humor/features"),
        skipped="results/{dataset}/humor/skipped.json",
    log:
        "results/{dataset}/logs/humor/features.log",
    params:
        root=dataset_setting("root"),
        modalities=humor_modality_shard_arguments,
        on_problem=dataset_setting("on_problem"),
    conda:
        "../../envs/mmfeat.yaml"
    resources:
        mem_mb=4000,
    shell:
        "python -m mmfeat humor-features --dataset-root {params.root:q} {params.modalities}"
        " --on-problem {params.on_problem:q} --output-dir {output.features:q} --skipped {output.skipped:q}"
        " > {log} 2>&1"


rule humor_experiment:
    input:
        features="results/{dataset}/humor/features",
    output:
        report(
            "results/{dataset}/humor/results.json",
            caption="../report/humor_results.rst",
            category="{dataset}",
            subcategory="Classifiers and fusions",
        ),
    log:
        "results/{dataset}/logs/humor/experiment.log",
    benchmark:
        "results/{dataset}/benchmarks/humor_experiment/experiment.tsv"
    params:
        modalities=humor_modality_file_arguments,
        classifiers=humor_classifier_settings,
        report_settings=humor_report_settings,
    conda:
        "../../envs/mmfeat.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "python -m mmfeat humor-experiment {params.modalities} --classifiers {params.classifiers:q}"
        " --threads {threads} --report-settings {params.report_settings:q} --output {output:q} > {log} 2>&1"


rule humor_report:
    input:
        results="results/{dataset}/humor/results.json",
        skipped="results/{dataset}/humor/skipped.json",
        benchmarks=humor_report_benchmarks,
    output:
        report=report(
            "results/{dataset}/report.md",
            caption="../report/humor_report.rst",
            category="{dataset}",
            subcategory="Report",
        ),
        figures=report(
            directory("results/{dataset}/figures"),
            patterns=["{figure}.png"],
            caption="../report/humor_figures.rst",
            category="{dataset}",
            subcategory="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/{dataset}/logs/report.log",
    params:
        flags=humor_report_flags,
    conda:
        "../../envs/mmfeat.yaml"
    wildcard_constraints:
        dataset=datasets_of_kind("humor"),
    shell:
        "python -m mmfeat humor-report --name {wildcards.dataset:q} --results {input.results:q}"
        " --skipped {input.skipped:q} {params.flags} --output {output.report:q} --figures-dir {output.figures:q}"
        " --benchmarks {input.benchmarks:q}"
        " > {log} 2>&1"
