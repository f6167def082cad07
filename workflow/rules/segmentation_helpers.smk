# Helpers of the segmentation rules (segmentation.smk): each returns what its name says.

from mmfeat.datasets.label_digest import write_label_digest
from mmfeat.tasks.segmentation.run_manifest import write_run_manifest

ZERO_SHOT = "zero-shot"  # the results folder of zero-shot segmentation, in place of a model's name
LABEL_DIGEST = "results/{dataset}/labels.sha256"  # stands for every label file (rule label_digest)


@cache  # the demo rule and the label digest ask for the same list
def segmentation_label_files(dataset):
    """mapping.txt, the ground truth of every video and every split bundle (the layout's files)."""
    return tuple(dataset_layout(dataset).annotation_files(dataset_root(dataset), list(dataset_item_ids(dataset)),
                                                          dataset_config(dataset)))


def segmentation_feature_sets(dataset):
    """The feature sets the model trains on: each video extractor, and 'precomputed' when imported."""
    features = dataset_config(dataset)["features"]
    return list(features["video"]) + (["precomputed"] if features["precomputed"] else [])


def segmentation_runs(dataset):
    """(method, feature set) of every row of the report: the model on each feature set, then zero-shot,
    then VideoCLIP's transfer rows (transfer_helpers.smk), the method being the results folder."""
    cfg = dataset_config(dataset)
    runs = [(cfg["model"], feature_set) for feature_set in segmentation_feature_sets(dataset)]
    if "zero_shot" in cfg:
        runs.append((ZERO_SHOT, cfg["zero_shot"]["extractor"]))
    return runs + [(run.folder, run.feature_set) for run in videoclip_runs(dataset)]


def asformer_runs(dataset):
    """The runs that train the dataset's model: they alone write train_alignment.json and ASFormer's benchmarks."""
    model = dataset_config(dataset)["model"]
    return [(method, feature_set) for method, feature_set in segmentation_runs(dataset) if method == model]


def split_numbers(dataset):
    return list(range(1, dataset_config(dataset)["splits"] + 1))


def segmentation_split_dirs(dataset):
    return [
        split_dir(dataset, method, feature_set, k)
        for method, feature_set in segmentation_runs(dataset)
        for k in split_numbers(dataset)
    ]


def split_dir(dataset, method, feature_set, k):
    """The folder of one split's outputs (the rules' results/{dataset}/{model}/{features}/split{split})."""
    return f"results/{dataset}/{method}/{feature_set}/split{k}"


def segmentation_manifest_runs(wildcards):
    """The run manifest's runs as JSON: each of segmentation_runs with its method (the model's kind,
    zero-shot, or videoclip-zero-shot / videoclip-finetune with their start and epochs), its model's name
    and its split folders, as mmfeat.tasks.segmentation.run_manifest writes them."""
    dataset = wildcards.dataset
    transfer = {run.folder: run for run in videoclip_runs(dataset)}
    runs = []
    for method, feature_set in segmentation_runs(dataset):
        folders = [(k, split_dir(dataset, method, feature_set, k)) for k in split_numbers(dataset)]
        if method in transfer:
            fields = transfer_manifest_fields(dataset, transfer[method])
        elif method == ZERO_SHOT:
            fields = {"method": ZERO_SHOT, "model": None}
        else:
            fields = {"method": config["models"][method]["kind"], "model": method}
        runs.append({**fields, "feature_set": feature_set,
                     "splits": [{"split": k, "folder": folder, "metrics": f"{folder}/metrics.json"}
                                for k, folder in folders]})
    return json.dumps(runs, sort_keys=True)


def write_segmentation_manifest(manifest, runs_json, log_file):
    """Write the manifest of segmentation_manifest_runs' JSON, and a line saying so into the log."""
    count = write_run_manifest(manifest, json.loads(runs_json))
    Path(log_file).write_text(f"{count} runs listed in {manifest}\n", encoding="utf-8")


def feature_set_shards(wildcards):
    return feature_shards(wildcards.dataset, wildcards.features)


def segmentation_labels(wildcards):
    return segmentation_label_files(wildcards.dataset)


def model_settings(wildcards):
    return json.dumps(model_entry(wildcards.model), sort_keys=True)


def model_entry(name):
    """The `models` entry, without an `init_from` left at null: its params stay those of a config
    from before the key, whose trained models are then kept (the trainer fills the null back in)."""
    entry = dict(config["models"][name])
    if entry["init_from"] is None:
        del entry["init_from"]
    return entry


def model_init_from(wildcards):
    """The model file the model starts from (its `init_from`), or none: an input of the training, so
    that a change to the file, or to the rule's output that makes it, reruns the training."""
    init_from = config["models"][wildcards.model]["init_from"]
    return [] if init_from is None else [init_from]


def training_threads(wildcards):
    """The model's `training.threads`: what one training job takes of the cores."""
    return config["models"][wildcards.model]["training"]["threads"]


def label_fill(wildcards):
    """How predictions on feature rows reach every label frame (the extractor's FILL)."""
    if wildcards.features == "precomputed":
        return "previous"
    return kind_facts(config["extractors"][wildcards.features]["kind"]).fill


def background_arguments(wildcards):
    """`--background LABEL` for each label the dataset treats as background."""
    return shell_options("--background", dataset_config(wildcards.dataset)["background"])


def zero_shot_extractor_settings(wildcards):
    """The S3D extractor's whole config entry: the text tower is built from the same weights."""
    return json.dumps(config["extractors"][wildcards.features], sort_keys=True)


def ground_truth_dir(wildcards):
    return str(dataset_root(wildcards.dataset) / "groundTruth")


def zero_shot_settings(wildcards):
    """The dataset's whole `zero_shot` entry: its prompt and the labels never predicted."""
    return json.dumps(dataset_config(wildcards.dataset)["zero_shot"], sort_keys=True)


def segmentation_report_files(filename):
    """A function of the wildcards: `filename` in every split folder of every run of the report."""

    def files(wildcards):
        return [f"{directory}/{filename}" for directory in segmentation_split_dirs(wildcards.dataset)]

    return files


def trained_split_files(filename):
    """A function of the wildcards: `filename` in every split folder of the report's ASFormer runs
    (zero-shot trains nothing; fine-tuning states its training videos in its own files)."""

    def files(wildcards):
        return [f"{split_dir(wildcards.dataset, method, feature_set, k)}/{filename}"
                for method, feature_set in asformer_runs(wildcards.dataset)
                for k in split_numbers(wildcards.dataset)]

    return files


def segmentation_report_shards(wildcards):
    feature_sets = dict.fromkeys(feature_set for _, feature_set in segmentation_runs(wildcards.dataset))
    return [shard for feature_set in feature_sets for shard in feature_shards(wildcards.dataset, feature_set)]


def segmentation_report_settings(wildcards):
    """The config entries the run used, for the report to state."""
    cfg = dataset_config(wildcards.dataset)
    extractors = {name: config["extractors"][name] for _, name in segmentation_runs(wildcards.dataset)
                  if name in config["extractors"]}
    settings = {"dataset": cfg, "extractors": extractors, "model": model_entry(cfg["model"])}
    if "videoclip" in cfg:
        settings["videoclip_models"] = transfer_model_entries(wildcards.dataset)
    return json.dumps(settings, sort_keys=True)


def segmentation_report_benchmarks(wildcards):
    """The benchmark file of every heavy job the report's runs depend on: its "Time per stage"."""
    dataset = wildcards.dataset
    extracted = [name for name in dict.fromkeys(feature_set for _, feature_set in segmentation_runs(dataset))
                 if name != "precomputed"]
    files = extraction_benchmarks(dataset, extracted)
    transfer = {run.folder: run for run in videoclip_runs(dataset)}
    for method, feature_set in segmentation_runs(dataset):
        if method in transfer:
            files += transfer_benchmark_files(dataset, transfer[method])
            continue
        stages = ["zero_shot_split"] if method == ZERO_SHOT else ["train_asformer", "predict_asformer"]
        model_folder = "" if method == ZERO_SHOT else f"{method}/"
        files += [f"results/{dataset}/benchmarks/{stage}/{model_folder}{feature_set}/split{k}.tsv"
                  for stage in stages for k in split_numbers(dataset)]
    return files + pretraining_benchmark_files(dataset)
