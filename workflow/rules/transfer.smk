# VideoCLIP's transfer to action segmentation, as the 50Salads study compared it (a segmentation dataset's
# `videoclip` section): zero-shot from the class names, and fine-tuned for each epoch budget, each from
# a start (a narrated dataset's pretrain output, the release checkpoint, or seeded random towers), on
# the same splits as ASFormer: results/{dataset}/videoclip/{start}/{zero-shot|finetune{epochs}}/{features}/split{k}/.
# evaluate_split (segmentation.smk) scores them; the run manifest lists them for the report.


rule videoclip_zero_shot:
    input:
        features=feature_set_shards,
        labels=LABEL_DIGEST,
        start=start_weights_file,
    output:
        predictions=directory(f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{ZERO_SHOT}/{{features}}/split{{split}}/predictions"),
        bundle=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{ZERO_SHOT}/{{features}}/split{{split}}/evaluated.bundle",
        alignment=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{ZERO_SHOT}/{{features}}/split{{split}}/alignment.json",
    log:
        f"results/{{dataset}}/logs/{VIDEOCLIP}/{{start}}/{ZERO_SHOT}/{{features}}/split{{split}}/predict.log",
    benchmark:
        "results/{dataset}/benchmarks/videoclip_zero_shot/{start}/{features}/split{split}.tsv"
    params:
        root=dataset_setting("root"),
        model=videoclip_transfer_model,
        init_from=init_from_argument,
        zero_shot=videoclip_zero_shot_settings,
        alignment=dataset_setting("alignment"),
        max_length_mismatch=dataset_setting("max_length_mismatch"),
        fill=label_fill,
    conda:
        "../../envs/mmfeat.yaml"
    threads: dataset_setting("videoclip/threads")
    resources:
        mem_mb=4000,
    wildcard_constraints:
        dataset=transfer_datasets(),
        start=transfer_starts(),
    shell:
        "python -m mmfeat videoclip-zero-shot --threads {threads} --dataset-root {params.root:q}"
        " --features {input.features:q} --split {wildcards.split:q} --model {params.model:q}"
        " --init-from {params.init_from:q} --zero-shot {params.zero_shot:q} --alignment {params.alignment:q}"
        " --max-length-mismatch {params.max_length_mismatch:q} --fill {params.fill:q}"
        " --predictions {output.predictions:q} --evaluated-bundle {output.bundle:q}"
        " --alignment-report {output.alignment:q} > {log} 2>&1"


# One job per split trains on its training videos and predicts its test videos: each job pays
# the import of torch once.
rule finetune_videoclip:
    input:
        features=feature_set_shards,
        labels=LABEL_DIGEST,
        start=start_weights_file,
    output:
        model=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/model.pt",
        history=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/history.jsonl",
        predictions=directory(
            f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/predictions"),
        bundle=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/evaluated.bundle",
        alignment=f"results/{{dataset}}/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/alignment.json",
    log:
        f"results/{{dataset}}/logs/{VIDEOCLIP}/{{start}}/{FINETUNE_FOLDER}/{{features}}/split{{split}}/finetune.log",
    benchmark:
        "results/{dataset}/benchmarks/finetune_videoclip/{start}/finetune{epochs}/{features}/split{split}.tsv"
    params:
        root=dataset_setting("root"),
        model=videoclip_transfer_model,
        init_from=init_from_argument,
        finetune=videoclip_finetune_settings,
        alignment=dataset_setting("alignment"),
        max_length_mismatch=dataset_setting("max_length_mismatch"),
        fill=label_fill,
    conda:
        "../../envs/mmfeat.yaml"
    threads: dataset_setting("videoclip/threads")
    resources:
        mem_mb=4000,
    wildcard_constraints:
        dataset=transfer_datasets(),
        start=transfer_starts(),
        epochs=r"\d+",
    shell:
        "python -m mmfeat finetune-videoclip --threads {threads} --dataset-root {params.root:q}"
        " --features {input.features:q} --split {wildcards.split:q} --model {params.model:q}"
        " --init-from {params.init_from:q} --finetune {params.finetune:q} --epochs {wildcards.epochs:q}"
        " --alignment {params.alignment:q} --max-length-mismatch {params.max_length_mismatch:q}"
        " --fill {params.fill:q} --checkpoint {output.model:q} --history {output.history:q}"
        " --predictions {output.predictions:q} --evaluated-bundle {output.bundle:q}"
        " --alignment-report {output.alignment:q} > {log} 2>&1"
