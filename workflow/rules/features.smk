# Features: one HDF5 shard per job; a video's shard is chosen by a stable hash of its id,
# so adding a video reruns its shard only, and a change to an extractor's settings
# (a param) reruns that extractor's shards and what depends on them.


rule extract_shard:
    input:
        shard_video_files,
    output:
        "results/{dataset}/features/{extractor}/shard-{shard}.h5",
    log:
        "results/{dataset}/logs/features/{extractor}/shard-{shard}.log",
    params:
        videos_dir=videos_dir,
        video_arguments=shard_video_arguments,
        settings=extractor_settings,
        backend=decode_setting("backend"),
        on_unreadable=decode_setting("on_unreadable"),
        on_damaged=decode_setting("on_damaged"),
        dtype=extractor_dtype,
    conda:
        "../../envs/mmfeat.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    wildcard_constraints:
        extractor=f"(?!precomputed/){NAME_PATTERN}",
    shell:
        "python -m mmfeat extract-features --videos-dir {params.videos_dir} {params.video_arguments}"
        " --output {output} --extractor {wildcards.extractor} --settings {params.settings:q}"
        " --backend {params.backend} --on-unreadable {params.on_unreadable} --on-damaged {params.on_damaged}"
        " --dtype {params.dtype}"
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
        video_arguments=shard_video_arguments,
    conda:
        "../../envs/mmfeat.yaml"
    resources:
        mem_mb=2000,
    shell:
        "python -m mmfeat import-features --features-dir {params.features_dir} {params.video_arguments}"
        # float32: the published features are imported without loss of precision.
        " --output {output} --dtype float32 > {log} 2>&1"
