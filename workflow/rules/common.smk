# Helpers for the rules: each returns what its name says, from config and the dataset's files.

import json
import re
import shlex
import sys
from functools import cache
from pathlib import Path

from mmfeat.datasets.check_cache import check_once
from mmfeat.datasets.narrated import CAPTIONS_FILE, NarratedDataset
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.datasets.segmentation_check import check_segmentation_dataset
from mmfeat.datasets.urfunny import FOLDS_FILE, LABELS_FILE, LANGUAGE_FILE, VIDEOS_DIR, URFunnyDataset
from mmfeat.demo.howto import demo_video_ids as demo_howto_ids
from mmfeat.demo.salads import demo_video_ids
from mmfeat.demo.urfunny import demo_sample_ids
from mmfeat.errors import UserError
from mmfeat.features.extractors import kind_facts
from mmfeat.features.sharding import videos_by_shard
from mmfeat.features.video_files import find_video_files
from mmfeat.snakemake_list_changes import repair_params_change_listing

# Rules run `python -m mmfeat`. Without a rule conda env (--use-conda sets
# CONDA_PREFIX), that is the interpreter snakemake runs in, even when its
# environment was not activated; with one, the env's python, which finds the
# package through PYTHONPATH.
SHELL_PREFIX = (
    "set -euo pipefail; "
    'printenv CONDA_PREFIX >/dev/null || export PATH="INTERPRETER_DIR:$PATH"; '
    'export PYTHONPATH="REPOSITORY${{PYTHONPATH:+:$PYTHONPATH}}"; '
)
# Every value a shell command gets from the config or from a file name (a root like
# "my data/set 1", a video named "vidéo 01") is quoted: `{params.x:q}` for one value (a list
# is quoted element by element), shell_options() for a helper's string of options. Only
# {threads} and {log} stay bare: a log path is made of names NAME_PATTERN allows, and the
# trap below reads it back from the command's text.
#
# Every rule sends its command's output to its log (`... > {log} 2>&1`), so a failing
# job would show the terminal only its shell command and exit status. When a command
# fails, this prints the last lines of the log it wrote to (the path after its final
# `>`) to stderr, where snakemake shows them: the error that names the file and the fix.
# Progress bars rewrite their line with carriage returns: each update becomes a line.
FAILED_LOG_TAIL_LINES = 12
SHOW_FAILED_LOG = (
    "mmfeat_log_pattern='> ([^ ]+) 2>&1$'; "
    "trap 'mmfeat_status=$?; "
    "if [[ $BASH_COMMAND =~ $mmfeat_log_pattern && -s ${{BASH_REMATCH[1]}} ]]; then "
    'echo "exit status $mmfeat_status; the last lines of ${{BASH_REMATCH[1]}}:" >&2; '
    'tail -n LINES "${{BASH_REMATCH[1]}}" | tr "\\r" "\\n" | grep -v "^[[:space:]]*$" '
    '| tail -n LINES | sed "s/^/    /" >&2 || true; '
    "fi' ERR; "
).replace("LINES", str(FAILED_LOG_TAIL_LINES))
shell.prefix(
    SHELL_PREFIX.replace("INTERPRETER_DIR", str(Path(sys.executable).parent)).replace(
        "REPOSITORY", str(workflow.basedir)
    )
    + SHOW_FAILED_LOG
)

# `snakemake --list-changes params` must list only what a params change affects
# (see the module); the dry run is right already.
repair_params_change_listing()

NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.-]*"


wildcard_constraints:
    dataset=NAME_PATTERN,
    model=NAME_PATTERN,
    extractor=NAME_PATTERN,
    features=NAME_PATTERN,
    split=r"\d+",
    shard=r"\d+",


def default_targets():
    """What `snakemake` builds with no target: the report of every demo dataset, or, in a
    config without a demo, the report of every dataset (such a config is the user's own:
    building nothing would leave them guessing the targets). A dataset no rule reports on
    (a narrated one without a model to pretrain: features only) adds no target."""
    demos = [name for name, dataset in config["datasets"].items() if "demo" in dataset]
    reports = [f"results/{name}/report.md" for name in demos or config["datasets"]]
    return [report for report in reports if any(rule.is_producer(report) for rule in workflow.rules)]


def dataset_config(dataset):
    if dataset not in config["datasets"]:
        raise ValueError(f"no dataset named {dataset!r} in the config (known: {', '.join(config['datasets'])})")
    return config["datasets"][dataset]


def dataset_root(dataset):
    """The dataset's root, relative to the working directory or absolute, as configured."""
    return Path(dataset_config(dataset)["root"])


def datasets_of_kind(kind):
    """A wildcard pattern matching exactly the names of the config's datasets of `kind`."""
    names = [re.escape(name) for name, cfg in config["datasets"].items() if cfg["kind"] == kind]
    return "|".join(names) if names else "(?!)"  # (?!) matches nothing: no dataset of that kind


@cache  # the config does not change during a run, and planning asks once per job
def dataset_item_ids(dataset):
    """Every item (video or sample) of the dataset: from the config for a demo, else from its
    files, once they passed the dataset's checks (see check_dataset)."""
    cfg = dataset_config(dataset)
    humor = cfg["kind"] == "humor"
    if "demo" in cfg:
        if cfg["kind"] == "narrated":
            return tuple(demo_howto_ids(cfg["demo"]["videos"]))
        return tuple(demo_sample_ids(cfg["demo"]["samples"]) if humor else demo_video_ids(cfg["demo"]["videos"]))
    try:
        check_dataset(dataset)
        if cfg["kind"] == "narrated":
            return tuple(NarratedDataset(dataset_root(dataset)).item_ids())
        if humor:
            return tuple(URFunnyDataset(dataset_root(dataset)).sample_ids())
        return tuple(SegmentationDataset(dataset_root(dataset)).video_ids())
    except UserError as error:
        raise ValueError(f"dataset {dataset!r} (datasets.{dataset}.root in the config): {error}") from error


def check_dataset(dataset):
    """Fail while planning, before any job, on what would otherwise stop training after the
    feature extraction: labels, mapping, bundles, background labels, precomputed .npy shapes;
    for humour, the release's samples when `on_problem: fail`. Checked here rather than in a rule that every
    job depends on: a rule's output upstream of the extraction would rerun every shard after
    a fixed label. A demo's files do not exist yet when the jobs are planned; its generator
    writes them in the checked layout. A check that passed is not run again while the files
    it read are unchanged (mmfeat/datasets/check_cache.py): Snakemake plans on every
    invocation, inside each cluster job too, and checking reads every label file."""
    cfg = dataset_config(dataset)
    root = dataset_root(dataset)
    marker = Path(".snakemake") / "mmfeat-checks" / f"{dataset}.json"
    if cfg["kind"] == "humor":
        settings = {"kind": "humor", "on_problem": cfg["on_problem"]}
        watched = [root / name for name in (FOLDS_FILE, LANGUAGE_FILE, LABELS_FILE, VIDEOS_DIR)]
        check_once(lambda: URFunnyDataset(root).check(on_problem=cfg["on_problem"]), watched, settings, marker)
        return
    if cfg["kind"] == "narrated":
        narrated = NarratedDataset(root)
        check_once(narrated.check, narrated.files_watched(), {"kind": "narrated"}, marker)
        return
    precomputed = cfg["features"]["precomputed"]
    settings = {"kind": "segmentation", "splits": cfg["splits"], "precomputed": precomputed,
                "background": cfg["background"]}
    layout = SegmentationDataset(root)
    watched = [layout.mapping_path, layout.ground_truth_dir, layout.bundle_path("train", 1).parent]
    watched += [root / "features"] if precomputed else []
    check_once(lambda: check_segmentation_dataset(root, cfg["splits"], precomputed, cfg["background"]),
               watched, settings, marker)


def feature_shards(dataset, feature_set):
    """The shards of one feature set: an extractor's name, or 'precomputed' for imported .npy files."""
    count = dataset_config(dataset)["features"]["num_shards"]
    return [f"results/{dataset}/features/{feature_set}/shard-{k}.h5" for k in range(count)]


def shard_item_ids(dataset, shard):
    """The items whose features go into one shard, chosen by a stable hash of the id."""
    return dataset_items_by_shard(dataset)[int(shard)]


@cache  # every shard of every extractor asks; hashing 10,000 ids per call dominated planning
def dataset_items_by_shard(dataset):
    """The items of each shard, in shard order."""
    count = dataset_config(dataset)["features"]["num_shards"]
    return tuple(tuple(ids) for ids in videos_by_shard(dataset_item_ids(dataset), count))


@cache  # one listing of the videos folder instead of a glob per video and call
def dataset_video_files(dataset):
    """Each video's file, ROOT/videos/{id}.*, by id."""
    return find_video_files(dataset_root(dataset) / "videos", dataset_item_ids(dataset))


def shell_options(option, values):
    """`OPTION VALUE` for each value, the value quoted for the shell: item ids are file names
    and labels come from the config, either may hold a space or a quote."""
    return " ".join(f"{option} {shlex.quote(str(value))}" for value in values)


def shard_item_arguments(wildcards):
    """`--item ID` for each item of the shard."""
    return shell_options("--item", shard_item_ids(wildcards.dataset, wildcards.shard))


def extractor_input(extractor):
    """What the extractor reads per item: video, audio or text (its kind's facts: no torch while planning)."""
    return kind_facts(config["extractors"][extractor]["kind"]).input


def shard_input_files(wildcards):
    """The files one shard reads: a rerun of the shard follows a change to any of them."""
    cfg = dataset_config(wildcards.dataset)
    ids = shard_item_ids(wildcards.dataset, wildcards.shard)
    videos_dir = dataset_root(wildcards.dataset) / "videos"
    if cfg["kind"] == "humor":
        return humor_shard_inputs(wildcards.dataset, extractor_input(wildcards.extractor), ids)
    if "demo" in cfg:
        return [videos_dir / f"{item}.mp4" for item in ids]  # made by the demo rule
    video_files = dataset_video_files(wildcards.dataset)
    return [video_files[item] for item in ids]


def humor_shard_inputs(dataset, input_kind, ids):
    """The transcript, and the clips of the samples that have one (the others are listed as excluded)."""
    root = dataset_root(dataset)
    transcript = [root / "language_sdk.pkl"]
    if input_kind == "text":
        return transcript
    if "demo" in dataset_config(dataset):
        return transcript + [root / "videos"]  # the demo rule's folder of clips
    return transcript + [path for item in ids if (path := root / "videos" / f"{item}.mp4").is_file()]


def extractor_settings(wildcards):
    """The extractor's whole config entry: a change to any setting reruns its shards."""
    return json.dumps(config["extractors"][wildcards.extractor], sort_keys=True)


def dataset_setting(path):
    """For params: the setting at `path` under the job's dataset, e.g. dataset_setting("decode/backend")."""
    return lookup(dpath=f"datasets/{{dataset}}/{path}", within=config)


def shard_feature_files(wildcards):
    """The precomputed ROOT/features/{video}.npy files of one shard."""
    features_dir = dataset_root(wildcards.dataset) / "features"
    return [features_dir / f"{item}.npy" for item in shard_item_ids(wildcards.dataset, wildcards.shard)]


def precomputed_features_dir(wildcards):
    return str(dataset_root(wildcards.dataset) / "features")
