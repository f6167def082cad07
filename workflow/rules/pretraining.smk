# Contrastive pretraining on a narrated dataset's stored features (VideoCLIP; VATT's video-audio
# pairs): the dataset's `model` pretrained (results/{dataset}/pretrain/{model}/model.pt), evaluated
# by held-out retrieval against the untrained model (evaluation.json beside it), and reported.


rule pretrain:
    input:
        video=pretraining_video_shards,
        audio=pretraining_audio_shards,
        captions=captions_file,
    output:
        model=f"{PRETRAIN_DIR}/model.pt",
        history=f"{PRETRAIN_DIR}/history.jsonl",
    log:
        "results/{dataset}/logs/pretrain/{model}/pretrain.log",
    benchmark:
        "results/{dataset}/benchmarks/pretrain/{model}.tsv"
    params:
        root=dataset_setting("root"),
        holdout=dataset_setting("holdout"),
        settings=pretraining_settings,
        model=videoclip_model_settings,
        audio=pretraining_audio_arguments,
        unfinished=unfinished_folder,
        history=unfinished_history,
        resume_state=unfinished_resume_state,
        launcher=pretraining_launcher,
        threads=pretraining_threads_per_process,
    conda:
        "../../envs/mmfeat.yaml"
    threads: pretraining_threads
    priority: 1  # as extract_shard's: the transfer rows of every split wait for its model
    resources:
        gpu=pretraining_gpus,
        mem_mb=8000,
    wildcard_constraints:
        dataset=pretrained_datasets(),
    shell:
        # the checkpoint and history live in the unfinished folder until the run ends: a rerun after
        # a kill resumes there; only a finished run's history becomes the output
        "mkdir -p {params.unfinished:q}; "
        "{params.launcher:q} -m mmfeat pretrain --threads {params.threads:q} --dataset-root {params.root:q}"
        " --video-features {input.video:q} {params.audio:q} --model {params.model:q}"
        " --pretraining {params.settings:q} --holdout {params.holdout:q} --output {output.model:q}"
        " --history {params.history:q} --resume-state {params.resume_state:q} > {log} 2>&1; "
        "cp {params.history:q} {output.history:q}; rm -r {params.unfinished:q}"


rule evaluate_retrieval:
    input:
        pretrained=f"{PRETRAIN_DIR}/model.pt",
        video=pretraining_video_shards,
        audio=pretraining_audio_shards,
        captions=captions_file,
    output:
        report(
            f"{PRETRAIN_DIR}/evaluation.json",
            caption="../report/retrieval_evaluation.rst",
            category="{dataset}",
            subcategory="Retrieval",
        ),
    log:
        "results/{dataset}/logs/pretrain/{model}/evaluate.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_retrieval/{model}.tsv"
    params:
        root=dataset_setting("root"),
        holdout=dataset_setting("holdout"),
        model=videoclip_model_settings,
        audio=pretraining_audio_arguments,
    conda:
        "../../envs/mmfeat.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    wildcard_constraints:
        dataset=pretrained_datasets(),
    shell:
        "python -m mmfeat evaluate-retrieval --dataset-root {params.root:q} --video-features {input.video:q}"
        " {params.audio:q} --model {params.model:q} --holdout {params.holdout:q}"
        " --pretrained {input.pretrained:q} --output {output:q} > {log} 2>&1"


rule pretraining_report:
    input:
        evaluation=pretrained_model_file("evaluation.json"),
        history=pretrained_model_file("history.jsonl"),
        captions=captions_file,
        benchmarks=pretraining_report_benchmarks,
    output:
        report=report(
            "results/{dataset}/report.md",
            caption="../report/pretraining_report.rst",
            category="{dataset}",
            subcategory="Report",
        ),
        loss_curves=report(
            "results/{dataset}/loss-curves.png",
            caption="../report/loss_curves.rst",
            category="{dataset}",
            subcategory="Figures",
        ),
    log:
        "results/{dataset}/logs/report.log",
    params:
        root=dataset_setting("root"),
    conda:
        "../../envs/mmfeat.yaml"
    wildcard_constraints:
        dataset=pretrained_datasets(),
    shell:
        "python -m mmfeat pretraining-report --name {wildcards.dataset:q} --dataset-root {params.root:q}"
        " --evaluation {input.evaluation:q} --history {input.history:q} --benchmarks {input.benchmarks:q}"
        " --output {output.report:q} --loss-curves {output.loss_curves:q} > {log} 2>&1"
