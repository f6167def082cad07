# Action segmentation: ASFormer trained, predicted and evaluated per split on each feature
# set of the dataset (results/{dataset}/{model}/{features}/split{k}/), and zero-shot
# segmentation from action names (results/{dataset}/zero-shot/{extractor}/split{k}/).


# Every job below reads the ground truth of all videos, but depends on this one file
# instead of on each label file (see mmfeat/datasets/label_digest.py): planning 10,000
# videos otherwise handled every label file once per job. Run by snakemake itself, not
# submitted to a cluster: it reads small files and writes one.
rule label_digest:
    input:
        segmentation_labels,
    output:
        LABEL_DIGEST,
    log:
        "results/{dataset}/logs/label_digest.log",
    wildcard_constraints:
        dataset=datasets_of_kind("segmentation"),
    localrule: True
    run:
        count = write_label_digest(input, output[0])
        Path(log[0]).write_text(f"{count} label files digested into {output[0]}\n", encoding="utf-8")


rule train_asformer:
    input:
        features=feature_set_shards,
        labels=LABEL_DIGEST,
        init_from=model_init_from,
    output:
        model="results/{dataset}/{model}/{features}/split{split}/model.pt",
        alignment="results/{dataset}/{model}/{features}/split{split}/train_alignment.json",
    log:
        "results/{dataset}/logs/{model}/{features}/split{split}/train.log",
    benchmark:
        "results/{dataset}/benchmarks/train_asformer/{model}/{features}/split{split}.tsv"
    params:
        root=dataset_setting("root"),
        model=model_settings,
        alignment=dataset_setting("alignment"),
        max_length_mismatch=dataset_setting("max_length_mismatch"),
    conda:
        "../../envs/mmfeat.yaml"
    threads: training_threads
    resources:
        mem_mb=4000,
    wildcard_constraints:
        model=f"(?!{ZERO_SHOT}/){NAME_PATTERN}",
    shell:
        "python -m mmfeat train-asformer --threads {threads} --dataset-root {params.root:q}"
        " --features {input.features:q} --split {wildcards.split:q} --model {params.model:q}"
        " --alignment {params.alignment:q} --max-length-mismatch {params.max_length_mismatch:q}"
        " --checkpoint {output.model:q} --alignment-report {output.alignment:q} > {log} 2>&1"


rule predict_asformer:
    input:
        checkpoint="results/{dataset}/{model}/{features}/split{split}/model.pt",
        features=feature_set_shards,
        labels=LABEL_DIGEST,
    output:
        predictions=directory("results/{dataset}/{model}/{features}/split{split}/predictions"),
        bundle="results/{dataset}/{model}/{features}/split{split}/evaluated.bundle",
        alignment="results/{dataset}/{model}/{features}/split{split}/alignment.json",
    log:
        "results/{dataset}/logs/{model}/{features}/split{split}/predict.log",
    benchmark:
        "results/{dataset}/benchmarks/predict_asformer/{model}/{features}/split{split}.tsv"
    params:
        root=dataset_setting("root"),
        alignment=dataset_setting("alignment"),
        fill=label_fill,
    conda:
        "../../envs/mmfeat.yaml"
    wildcard_constraints:
        model=f"(?!{ZERO_SHOT}/){NAME_PATTERN}",
    shell:
        "python -m mmfeat predict-asformer --dataset-root {params.root:q} --features {input.features:q}"
        " --split {wildcards.split:q} --checkpoint {input.checkpoint:q} --alignment {params.alignment:q}"
        " --fill {params.fill:q} --predictions {output.predictions:q} --evaluated-bundle {output.bundle:q}"
        " --alignment-report {output.alignment:q} > {log} 2>&1"


rule zero_shot_split:
    input:
        features=feature_set_shards,
        labels=LABEL_DIGEST,
    output:
        predictions=directory(f"results/{{dataset}}/{ZERO_SHOT}/{{features}}/split{{split}}/predictions"),
        bundle=f"results/{{dataset}}/{ZERO_SHOT}/{{features}}/split{{split}}/evaluated.bundle",
        alignment=f"results/{{dataset}}/{ZERO_SHOT}/{{features}}/split{{split}}/alignment.json",
    log:
        f"results/{{dataset}}/logs/{ZERO_SHOT}/{{features}}/split{{split}}/predict.log",
    benchmark:
        "results/{dataset}/benchmarks/zero_shot_split/{features}/split{split}.tsv"
    params:
        root=dataset_setting("root"),
        alignment=dataset_setting("alignment"),
        extractor=zero_shot_extractor_settings,
        zero_shot=zero_shot_settings,
        max_length_mismatch=dataset_setting("max_length_mismatch"),
    conda:
        "../../envs/mmfeat.yaml"
    shell:
        "python -m mmfeat zero-shot-segment --dataset-root {params.root:q} --features {input.features:q}"
        " --split {wildcards.split:q} --extractor {params.extractor:q} --zero-shot {params.zero_shot:q}"
        " --alignment {params.alignment:q} --max-length-mismatch {params.max_length_mismatch:q}"
        " --predictions {output.predictions:q} --evaluated-bundle {output.bundle:q}"
        " --alignment-report {output.alignment:q} > {log} 2>&1"


rule evaluate_split:
    input:
        predictions="results/{dataset}/{method}/{features}/split{split}/predictions",
        bundle="results/{dataset}/{method}/{features}/split{split}/evaluated.bundle",
        labels=LABEL_DIGEST,
    output:
        report(
            "results/{dataset}/{method}/{features}/split{split}/metrics.json",
            caption="../report/segmentation_metrics.rst",
            category="{dataset}",
            subcategory="Metrics per split",
            labels={"method": "{method}", "features": "{features}", "split": "{split}"},
        ),
    log:
        "results/{dataset}/logs/{method}/{features}/split{split}/evaluate.log",
    params:
        ground_truth=ground_truth_dir,
        background=background_arguments,
    conda:
        "../../envs/mmfeat.yaml"
    shell:
        "python -m mmfeat segmentation-metrics --ground-truth {params.ground_truth:q}"
        " --predictions {input.predictions:q} --bundle {input.bundle:q} {params.background} --output {output:q}"
        " > {log} 2>&1"


# The runs the report compares (method, model, feature set, each split's folder and metrics
# file), written from the config, so that the report never reads a method from a folder's name.
# Run by snakemake itself: it writes one small file, and again only when the runs change.
rule segmentation_manifest:
    output:
        "results/{dataset}/runs.json",
    log:
        "results/{dataset}/logs/runs.log",
    params:
        runs=segmentation_manifest_runs,
    wildcard_constraints:
        dataset=datasets_of_kind("segmentation"),
    localrule: True
    run:
        write_segmentation_manifest(output[0], params.runs, log[0])


rule segmentation_report:
    input:
        manifest="results/{dataset}/runs.json",
        metrics=segmentation_report_files("metrics.json"),
        predictions=segmentation_report_files("predictions"),
        bundles=segmentation_report_files("evaluated.bundle"),
        alignment=segmentation_report_files("alignment.json"),
        train_alignment=trained_split_files("train_alignment.json"),
        features=segmentation_report_shards,
        labels=LABEL_DIGEST,
        benchmarks=segmentation_report_benchmarks,
    output:
        report=report(
            "results/{dataset}/report.md",
            caption="../report/segmentation_report.rst",
            category="{dataset}",
            subcategory="Report",
        ),
        ribbons=report(
            "results/{dataset}/ribbons.png",
            caption="../report/ribbons.rst",
            category="{dataset}",
            subcategory="Figures",
        ),
    log:
        "results/{dataset}/logs/report.log",
    params:
        root=dataset_setting("root"),
        report_settings=segmentation_report_settings,
    conda:
        "../../envs/mmfeat.yaml"
    wildcard_constraints:
        dataset=datasets_of_kind("segmentation"),
    shell:
        "python -m mmfeat segmentation-report --name {wildcards.dataset:q} --dataset-root {params.root:q}"
        " --features {input.features:q} --runs {input.manifest:q} --report-settings {params.report_settings:q}"
        " --output {output.report:q} --ribbons {output.ribbons:q} --benchmarks {input.benchmarks:q} > {log} 2>&1"
