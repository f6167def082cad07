# Helpers of the pretraining rules (pretraining.smk): each returns what its name says.

import hashlib

PRETRAIN_DIR = "results/{dataset}/pretrain/{model}"  # model.pt, history.jsonl, evaluation.json


def pretrained_datasets():
    """A wildcard pattern matching the narrated datasets that name a model to pretrain."""
    names = [re.escape(name) for name, cfg in config["datasets"].items()
             if cfg["kind"] == "narrated" and "model" in cfg]
    return "|".join(names) if names else "(?!)"  # (?!) matches nothing


def pretrained_model_file(name):
    """An input function: file `name` in the results folder of the job's dataset's pretrained model."""
    def in_model_folder(wildcards):
        model = dataset_config(wildcards.dataset)["model"]
        return f"{PRETRAIN_DIR.format(dataset=wildcards.dataset, model=model)}/{name}"
    return in_model_folder


def pretraining_video_shards(wildcards):
    cfg = dataset_config(wildcards.dataset)
    return feature_shards(wildcards.dataset, cfg["features"]["video"])


def pretraining_audio_shards(wildcards):
    """The audio shards, only when the video-audio objective is weighted: at 0 its modality is never
    read, so neither extracted (the config check asks for audio features where it is weighted)."""
    cfg = dataset_config(wildcards.dataset)
    if cfg["pretraining"]["objectives"]["weights"]["video_audio_nce"] == 0:
        return []
    return feature_shards(wildcards.dataset, cfg["features"]["audio"])


def pretraining_audio_arguments(wildcards, input):
    """`--audio-features SHARD...` when the audio shards are inputs, else nothing (words, for :q)."""
    return ["--audio-features", *input.audio] if input.audio else []


def captions_file(wildcards):
    return dataset_root(wildcards.dataset) / dataset_layout(wildcards.dataset).TRANSCRIPT_FILE


def pretraining_settings(wildcards):
    """The dataset's whole `pretraining` entry: a change to any setting reruns pretraining and what follows."""
    return json.dumps(dataset_config(wildcards.dataset)["pretraining"], sort_keys=True)


def videoclip_model_settings(wildcards):
    """The model's whole `models` entry: a change reruns pretraining, evaluation and the report."""
    return json.dumps(config["models"][wildcards.model], sort_keys=True)


def unfinished_folder(wildcards):
    """Where a pretrain job keeps its checkpoint and history until it ends: outside its outputs, which
    Snakemake deletes when a job fails, so a rerun after a kill (or SLURM's preemption) resumes from the
    last epoch. Named by the run's settings, so a rerun with other settings never resumes this one."""
    settings = json.dumps([pretraining_settings(wildcards), videoclip_model_settings(wildcards),
                           dataset_config(wildcards.dataset)["holdout"]], sort_keys=True)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:16]
    return f"results/{wildcards.dataset}/pretrain/{wildcards.model}/unfinished-{digest}"


def unfinished_resume_state(wildcards):
    return f"{unfinished_folder(wildcards)}/resume.pt"


def unfinished_history(wildcards):
    return f"{unfinished_folder(wildcards)}/history.jsonl"


def pretraining_gpus(wildcards):
    """The job's `gpu` resource: the dataset's `distributed.gpus` (profiles/slurm may set another)."""
    return dataset_config(wildcards.dataset)["distributed"]["gpus"]


def pretraining_processes(wildcards, gpus):
    """One process per GPU, or the dataset's `distributed.cpu_processes` without a GPU."""
    return gpus if gpus > 0 else dataset_config(wildcards.dataset)["distributed"]["cpu_processes"]


def pretraining_threads(wildcards):
    """Two cores for each process of the configured layout (capped by --cores)."""
    return 2 * pretraining_processes(wildcards, pretraining_gpus(wildcards))


def pretraining_launcher(wildcards, resources):
    """The words that start `-m mmfeat pretrain`: python for one process, torchrun for several on this
    node (one per GPU, or the CPU processes on gloo). From the job's resources, so a profile's `gpu`
    decides; a derived param (it reads resources), so a change of it reruns nothing."""
    processes = pretraining_processes(wildcards, int(resources.gpu))
    if processes <= 1:
        return ["python"]
    return ["torchrun", "--standalone", "--nproc_per_node", str(processes)]


def pretraining_threads_per_process(wildcards, threads, resources):
    """torch's CPU threads in each process: the job's cores shared out (a derived param, as the launcher)."""
    return max(1, threads // pretraining_processes(wildcards, int(resources.gpu)))


def pretraining_report_benchmarks(wildcards):
    """The benchmark files of the feature extraction, pretraining and evaluation: the report's "Time per stage"."""
    dataset = wildcards.dataset
    cfg = dataset_config(dataset)
    extractors = [cfg["features"]["video"]]
    if cfg["pretraining"]["objectives"]["weights"]["video_audio_nce"] > 0:
        extractors.append(cfg["features"]["audio"])
    extraction = extraction_benchmarks(dataset, extractors)
    model = cfg["model"]
    return extraction + [f"results/{dataset}/benchmarks/pretrain/{model}.tsv",
                         f"results/{dataset}/benchmarks/evaluate_retrieval/{model}.tsv"]
