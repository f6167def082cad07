# Action segmentation with ASFormer: one train, predict and evaluate job per split.


rule train_asformer:
    input:
        features=dataset_features,
        labels=dataset_labels,
    output:
        "results/{dataset}/{model}/split{split}/model.pt",
    log:
        "results/{dataset}/logs/{model}/split{split}/train.log",
    params:
        root=dataset_root_of,
        settings=model_settings,
        alignment=alignment_policy,
    conda:
        "../../envs/mmfeat.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "python -m mmfeat train-asformer --dataset-root {params.root} --features {input.features}"
        " --split {wildcards.split} --model-settings {params.settings:q} --alignment {params.alignment}"
        " --checkpoint {output} > {log} 2>&1"


rule predict_asformer:
    input:
        checkpoint="results/{dataset}/{model}/split{split}/model.pt",
        features=dataset_features,
        labels=dataset_labels,
    output:
        predictions=directory("results/{dataset}/{model}/split{split}/predictions"),
        bundle="results/{dataset}/{model}/split{split}/evaluated.bundle",
        alignment="results/{dataset}/{model}/split{split}/alignment.json",
    log:
        "results/{dataset}/logs/{model}/split{split}/predict.log",
    params:
        root=dataset_root_of,
        alignment=alignment_policy,
    conda:
        "../../envs/mmfeat.yaml"
    shell:
        "python -m mmfeat predict-asformer --dataset-root {params.root} --features {input.features}"
        " --split {wildcards.split} --checkpoint {input.checkpoint} --alignment {params.alignment}"
        " --predictions {output.predictions} --evaluated-bundle {output.bundle}"
        " --alignment-report {output.alignment} > {log} 2>&1"


rule evaluate_split:
    input:
        predictions="results/{dataset}/{model}/split{split}/predictions",
        bundle="results/{dataset}/{model}/split{split}/evaluated.bundle",
        labels=dataset_labels,
    output:
        "results/{dataset}/{model}/split{split}/metrics.json",
    log:
        "results/{dataset}/logs/{model}/split{split}/evaluate.log",
    params:
        ground_truth=ground_truth_dir,
        background=background_arguments,
    conda:
        "../../envs/mmfeat.yaml"
    shell:
        "python -m mmfeat segmentation-metrics --ground-truth {params.ground_truth} --predictions {input.predictions}"
        " --bundle {input.bundle} {params.background} --output {output} > {log} 2>&1"
