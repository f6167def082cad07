# Features: one HDF5 shard per job; an item's shard is chosen by a stable hash of its id,
# so adding a video reruns its shard only, and a change to an extractor's settings
# (a param) reruns that extractor's shards and what depends on them. Which extractor
# runs is its config entry's `kind`, looked up in the registry (mmfeat.features.extractors).


rule extract_shard:
    input:
        shard_input_files,
    output:
        "results/{dataset}/features/{extractor}/shard-{shard}.h5",
    log:
        "results/{dataset}/logs/features/{extractor}/shard-{shard}.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_shard/{extractor}/shard-{shard}.tsv"
    params:
        root=dataset_setting("root"),
        kind=dataset_setting("kind"),
        item_arguments=shard_item_arguments,
        extractor=extractor_settings,
        decode=decode_settings,
    conda:
        "../../envs/mmfeat.yaml"
    threads: 2
    # before the one-thread trainings: every shard gates several of them, and a two-core job
    # queued behind a one-thread one leaves a core idle until both cores are free at once
    priority: 1
    resources:
        mem_mb=4000,
    wildcard_constraints:
        extractor=f"(?!precomputed/){NAME_PATTERN}",
    shell:
        "python -m mmfeat extract-features --dataset-root {params.root:q} --dataset-kind {params.kind:q}"
        " {params.item_arguments}"
        " --output {output:q} --extractor-name {wildcards.extractor:q} --extractor {params.extractor:q}"
        " --decode {params.decode:q}"
        " > {log} 2>&1"


rule import_shard:
    input:
        shard_feature_files,
    output:
        "results/{dataset}/features/precomputed/shard-{shard}.h5",
    log:
        "results/{dataset}/logs/features/precomputed/shard-{shard}.log",
    params:
        features_dir=precomputed_features_dir,
        item_arguments=shard_item_arguments,
    conda:
        "../../envs/mmfeat.yaml"
    resources:
        mem_mb=2000,
    shell:
        "python -m mmfeat import-features --features-dir {params.features_dir:q} {params.item_arguments}"
        # float32: the published features are imported without loss of precision.
        " --output {output:q} --dtype float32 > {log} 2>&1"
