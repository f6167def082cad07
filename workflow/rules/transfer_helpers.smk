# Helpers of the VideoCLIP transfer rules (transfer.smk): each returns what its name says.

from collections import namedtuple

# the run manifest's methods, and the starts that are no dataset: `release` (the model entry's
# release_checkpoint) and `random` (seeded random towers of its sizes)
from mmfeat.tasks.transfer.report import FINETUNE_METHOD, RANDOM_START, RELEASE_START, ZERO_SHOT_METHOD

VIDEOCLIP = "videoclip"  # the results folder of the transfer rows, in place of a model's name
FINETUNE_FOLDER = "finetune{epochs}"  # results/{dataset}/videoclip/{start}/finetune{epochs}/...

# One row of the report from a `videoclip` section: `folder` stands where an ASFormer run has its
# model's name (results/{dataset}/{folder}/{feature_set}/split{k}); epochs is None for zero-shot.
TransferRun = namedtuple("TransferRun", ["folder", "feature_set", "start", "epochs"])


def videoclip_runs(dataset):
    """The dataset's VideoCLIP rows: zero-shot from every start but random (random towers share no meaning
    between text and video), then fine-tuned for each epoch budget from every start."""
    section = dataset_config(dataset).get("videoclip")
    if section is None:
        return []
    features = section["features"]
    zero_shot = [TransferRun(f"{VIDEOCLIP}/{start}/{ZERO_SHOT}", features, start, None)
                 for start in section["starts"] if start != RANDOM_START]
    finetuned = [TransferRun(f"{VIDEOCLIP}/{start}/{FINETUNE_FOLDER.format(epochs=epochs)}", features, start, epochs)
                 for epochs in section["finetune"]["epochs"] for start in section["starts"]]
    return zero_shot + finetuned


def transfer_manifest_fields(dataset, run):
    """What the run manifest holds of a transfer row beyond its folders: its method, model, start and epochs."""
    method = ZERO_SHOT_METHOD if run.epochs is None else FINETUNE_METHOD
    return {"method": method, "model": start_model_name(dataset, run.start), "start": run.start, "epochs": run.epochs}


def start_model_name(dataset, start):
    """The models entry a start's towers come from: the one a narrated start pretrained, else the section's
    (the towers' sizes for random, the release's file for release)."""
    if start in (RELEASE_START, RANDOM_START):
        return dataset_config(dataset)["videoclip"]["model"]
    return dataset_config(start)["model"]


def transfer_benchmark_files(dataset, run):
    """The benchmark file of every split's job of a transfer row (its rule's name as the stage)."""
    if run.epochs is None:
        pattern = "results/{dataset}/benchmarks/videoclip_zero_shot/{start}/{features}/split{k}.tsv"
    else:
        pattern = "results/{dataset}/benchmarks/finetune_videoclip/{start}/finetune{epochs}/{features}/split{k}.tsv"
    return [pattern.format(dataset=dataset, start=run.start, epochs=run.epochs, features=run.feature_set, k=k)
            for k in split_numbers(dataset)]


def pretraining_benchmark_files(dataset):
    """The pretrain job's benchmark of every narrated start: what a pretrained row cost before its transfer."""
    starts = dataset_config(dataset)["videoclip"]["starts"] if "videoclip" in dataset_config(dataset) else []
    return [f"results/{start}/benchmarks/pretrain/{dataset_config(start)['model']}.tsv"
            for start in starts if start not in (RELEASE_START, RANDOM_START)]


def transfer_model_entries(dataset):
    """{start: the name and settings of the models entry its towers come from}, for the dataset's report."""
    names = {start: start_model_name(dataset, start) for start in dataset_config(dataset)["videoclip"]["starts"]}
    return {start: {"name": name, "settings": config["models"][name]} for start, name in names.items()}


def videoclip_section(wildcards):
    return dataset_config(wildcards.dataset)["videoclip"]


def videoclip_model_entry(wildcards):
    """The videoclip `models` entry the start's weights come from (start_model_name)."""
    return config["models"][start_model_name(wildcards.dataset, wildcards.start)]


def videoclip_transfer_model(wildcards):
    """The model entry as JSON for --model: a change to it reruns the start's rows."""
    return json.dumps(videoclip_model_entry(wildcards), sort_keys=True)


def pretrained_start_file(start):
    """The pretrain output of a narrated dataset that is a start (rule pretrain)."""
    return f"{PRETRAIN_DIR.format(dataset=start, model=dataset_config(start)['model'])}/model.pt"


def start_weights_file(wildcards):
    """The file the start's weights come from, an input of the row: a pretrain output (which the rule
    pretrain makes first) or the release checkpoint; none for random towers. A change to it reruns the
    row and what follows, never the features."""
    if wildcards.start == RANDOM_START:
        return []
    if wildcards.start == RELEASE_START:
        return [videoclip_model_entry(wildcards)["release_checkpoint"]]
    return [pretrained_start_file(wildcards.start)]


def init_from_argument(wildcards):
    """--init-from: `release`, `random`, or the path of the narrated start's pretrain output."""
    if wildcards.start in (RELEASE_START, RANDOM_START):
        return wildcards.start
    return pretrained_start_file(wildcards.start)


def videoclip_zero_shot_settings(wildcards):
    """The section's `zero_shot` entry: a change to it reruns the zero-shot rows only."""
    return json.dumps(videoclip_section(wildcards)["zero_shot"], sort_keys=True)


def videoclip_finetune_settings(wildcards):
    """The section's `finetune` entry without its epoch budgets (each job gets its own as --epochs): adding
    a budget adds rows and reruns none of the others."""
    settings = {key: value for key, value in videoclip_section(wildcards)["finetune"].items() if key != "epochs"}
    return json.dumps(settings, sort_keys=True)


def transfer_starts():
    """A wildcard pattern matching every start some segmentation dataset's `videoclip` section names."""
    starts = {start for cfg in config["datasets"].values() if cfg["kind"] == "segmentation" and "videoclip" in cfg
              for start in cfg["videoclip"]["starts"]}
    return "|".join(re.escape(start) for start in sorted(starts)) if starts else "(?!)"


def transfer_datasets():
    """A wildcard pattern matching the segmentation datasets with a `videoclip` section."""
    names = [re.escape(name) for name, cfg in config["datasets"].items()
             if cfg["kind"] == "segmentation" and "videoclip" in cfg]
    return "|".join(names) if names else "(?!)"
