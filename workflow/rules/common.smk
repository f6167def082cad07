# Helpers for the rules: each returns what its name says, from config and the dataset's files.

import json
import sys
from pathlib import Path

from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.demo.salads import demo_video_ids
from mmfeat.errors import UserError
from mmfeat.features.sharding import videos_in_shard
from mmfeat.features.video_files import find_video_file

# Rules run `python -m mmfeat`. Without a rule conda env (--use-conda sets
# CONDA_PREFIX), that is the interpreter snakemake runs in, even when its
# environment was not activated; with one, the env's python, which finds the
# package through PYTHONPATH.
SHELL_PREFIX = (
    "set -euo pipefail; "
    'printenv CONDA_PREFIX >/dev/null || export PATH="INTERPRETER_DIR:$PATH"; '
    'export PYTHONPATH="REPOSITORY${{PYTHONPATH:+:$PYTHONPATH}}"; '
)
shell.prefix(
    SHELL_PREFIX.replace("INTERPRETER_DIR", str(Path(sys.executable).parent)).replace(
        "REPOSITORY", str(workflow.basedir)
    )
)

NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.-]*"


wildcard_constraints:
    dataset=NAME_PATTERN,
    model=NAME_PATTERN,
    extractor=NAME_PATTERN,
    split=r"\d+",
    shard=r"\d+",


def default_targets():
    """The demo report of every demo dataset: what `snakemake` builds with no target."""
    return [f"results/{name}/report.md" for name, dataset in config["datasets"].items() if "demo" in dataset]


def dataset_config(dataset):
    if dataset not in config["datasets"]:
        raise ValueError(f"no dataset named {dataset!r} in the config (known: {', '.join(config['datasets'])})")
    return config["datasets"][dataset]


def dataset_root(dataset):
    """The dataset's root, relative to the working directory or absolute, as configured."""
    return Path(dataset_config(dataset)["root"])


def dataset_video_ids(dataset):
    """Every annotated video: known from the config for a demo, else read from groundTruth/."""
    cfg = dataset_config(dataset)
    if "demo" in cfg:
        return demo_video_ids(cfg["demo"]["videos"])
    try:
        return SegmentationDataset(dataset_root(dataset)).video_ids()
    except UserError as error:
        raise ValueError(f"dataset {dataset!r} (datasets.{dataset}.root in the config): {error}") from error


def dataset_label_files(dataset):
    """mapping.txt, the ground truth of every video and every split bundle."""
    root = dataset_root(dataset)
    splits = range(1, dataset_config(dataset)["splits"] + 1)
    return (
        [root / "mapping.txt"]
        + [root / "groundTruth" / f"{video}.txt" for video in dataset_video_ids(dataset)]
        + [root / "splits" / f"{part}.split{k}.bundle" for k in splits for part in ("train", "test")]
    )


def feature_source(dataset):
    """The extractor whose features the dataset trains on, or 'precomputed' for imported .npy files."""
    features = dataset_config(dataset)["features"]
    return features["extractor"] if features["source"] == "videos" else "precomputed"


def feature_shards(dataset):
    source = feature_source(dataset)
    count = dataset_config(dataset)["features"]["num_shards"]
    return [f"results/{dataset}/features/{source}/shard-{k}.h5" for k in range(count)]


def shard_video_ids(dataset, shard):
    """The videos whose features go into one shard, chosen by a stable hash of the id."""
    count = dataset_config(dataset)["features"]["num_shards"]
    return videos_in_shard(dataset_video_ids(dataset), int(shard), count)


def shard_video_files(wildcards):
    """The video files of one shard: a rerun of the shard follows a change to any of them."""
    cfg = dataset_config(wildcards.dataset)
    videos_dir = dataset_root(wildcards.dataset) / "videos"
    ids = shard_video_ids(wildcards.dataset, wildcards.shard)
    if "demo" in cfg:
        return [videos_dir / f"{video}.mp4" for video in ids]  # made by the demo rule
    return [find_video_file(videos_dir, video) for video in ids]


def shard_feature_files(wildcards):
    """The precomputed ROOT/features/{video}.npy files of one shard."""
    features_dir = dataset_root(wildcards.dataset) / "features"
    return [features_dir / f"{video}.npy" for video in shard_video_ids(wildcards.dataset, wildcards.shard)]


def extractor_settings(wildcards):
    """The extractor's whole config entry: a change to any setting reruns its shards."""
    return json.dumps(config["extractors"][wildcards.extractor], sort_keys=True)


def model_settings(wildcards):
    return json.dumps(config["models"][wildcards.model], sort_keys=True)


def split_numbers(dataset):
    return list(range(1, dataset_config(dataset)["splits"] + 1))


def split_outputs(dataset, filename):
    model = dataset_config(dataset)["model"]
    return [f"results/{dataset}/{model}/split{k}/{filename}" for k in split_numbers(dataset)]


def demo_root_of(wildcards, output):
    """The demo's root: the folder of its mapping.txt output."""
    return str(Path(output.labels[0]).parent)


def videos_dir(wildcards):
    return dataset_root(wildcards.dataset) / "videos"


def precomputed_features_dir(wildcards):
    return dataset_root(wildcards.dataset) / "features"


def shard_video_arguments(wildcards):
    """`--video ID` for each video of the shard."""
    return " ".join(f"--video {video}" for video in shard_video_ids(wildcards.dataset, wildcards.shard))


def decode_setting(name):
    """A function of the wildcards returning the dataset's decode setting `name`."""

    def setting(wildcards):
        return dataset_config(wildcards.dataset)["decode"][name]

    return setting


def extractor_dtype(wildcards):
    return config["extractors"][wildcards.extractor]["dtype"]


def dataset_features(wildcards):
    return feature_shards(wildcards.dataset)


def dataset_labels(wildcards):
    return dataset_label_files(wildcards.dataset)


def dataset_root_of(wildcards):
    return dataset_root(wildcards.dataset)


def alignment_policy(wildcards):
    return dataset_config(wildcards.dataset)["alignment"]


def background_arguments(wildcards):
    """`--background LABEL` for each label the dataset treats as background."""
    return " ".join(f"--background {label}" for label in dataset_config(wildcards.dataset)["background"])


def ground_truth_dir(wildcards):
    return dataset_root(wildcards.dataset) / "groundTruth"


def report_split_files(filename):
    """A function of the wildcards: `filename` in every split folder of the dataset's model."""

    def files(wildcards):
        return split_outputs(wildcards.dataset, filename)

    return files


def report_split_dirs(wildcards):
    return [str(Path(path).parent) for path in split_outputs(wildcards.dataset, "metrics.json")]


def report_settings(wildcards):
    """The config entries the run used, for the report to state."""
    cfg = dataset_config(wildcards.dataset)
    source = feature_source(wildcards.dataset)
    return json.dumps({
        "dataset": cfg,
        "extractor": config["extractors"].get(source),
        "model": config["models"][cfg["model"]],
    }, sort_keys=True)
