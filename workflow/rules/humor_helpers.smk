# Helpers of the humour rules (humor.smk): each returns what its name says.


def humor_release_files(dataset):
    """The release's folds, transcripts and labels (the UR-FUNNY layout's files)."""
    return dataset_layout(dataset).annotation_files(dataset_root(dataset), [], dataset_config(dataset))


def humor_modalities(dataset):
    """{modality: extractor name} in the table's order: text, audio, video."""
    features = dataset_config(dataset)["features"]
    return {modality: features[modality] for modality in ("text", "audio", "video") if modality in features}


def humor_shards(wildcards):
    return [shard for extractor in humor_modalities(wildcards.dataset).values()
            for shard in feature_shards(wildcards.dataset, extractor)]


def humor_release(wildcards):
    return humor_release_files(wildcards.dataset)


def humor_modality_shard_arguments(wildcards):
    """`--modality NAME SHARD...` for each modality: its feature shards."""
    return " ".join(
        " ".join(map(shlex.quote, ["--modality", modality, *feature_shards(wildcards.dataset, extractor)]))
        for modality, extractor in humor_modalities(wildcards.dataset).items()
    )


def humor_modality_file_arguments(wildcards, input):
    """`--modality NAME FILE` for each modality: its NAME.npz inside the features folder."""
    return " ".join(shlex.join(["--modality", modality, f"{input.features}/{modality}.npz"])
                    for modality in humor_modalities(wildcards.dataset))


def humor_classifier_settings(wildcards):
    """The dataset's whole `classifiers` entry: a change to any of them reruns the experiment."""
    return json.dumps(dataset_config(wildcards.dataset)["classifiers"], sort_keys=True)


def humor_report_settings(wildcards):
    """The features and weights each modality used, for the report to state."""
    return json.dumps({"features": {
        modality: {**config["extractors"][extractor], "extractor": extractor,
                   "weights": extractor_weights(config["extractors"][extractor])}
        for modality, extractor in humor_modalities(wildcards.dataset).items()
    }}, sort_keys=True)


def extractor_weights(entry):
    """The configured weights, or the seeded random initialisation that stands in for them."""
    if entry.get("weights") is None:
        return {"kind": "random", "seed": entry.get("seed", 0)}
    return entry["weights"]


def humor_report_flags(wildcards):
    """--reference for the real dataset's published rows, --demo for a generated one."""
    cfg = dataset_config(wildcards.dataset)
    flags = [shell_options("--reference", [cfg["reference_results"]])] if "reference_results" in cfg else []
    return " ".join(flags + (["--demo"] if "demo" in cfg else []))


def humor_report_benchmarks(wildcards):
    """The benchmark files of the feature extraction and the experiment: the report's "Time per stage"."""
    dataset = wildcards.dataset
    extraction = extraction_benchmarks(dataset, humor_modalities(dataset).values())
    return extraction + [f"results/{dataset}/benchmarks/humor_experiment/experiment.tsv"]
