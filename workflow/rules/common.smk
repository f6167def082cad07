# Helpers for the rules: each returns what its name says, from config and the dataset's files.

import json
import re
import shlex
import sys
from functools import cache
from pathlib import Path

from mmfeat.datasets.check_cache import check_once
from mmfeat.datasets.layouts import demo_module, layout_class, open_layout
from mmfeat.errors import UserError
from mmfeat.features.extractors import kind_facts
from mmfeat.features.sharding import videos_by_shard
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


def dataset_layout(dataset):
    """The reader class of the dataset's kind (mmfeat.datasets.layouts): its facts need no file,
    as a demo's files do not exist yet while the jobs are planned."""
    return layout_class(dataset_config(dataset)["kind"])


@cache  # the config does not change during a run, and planning asks once per job
def dataset_item_ids(dataset):
    """Every item (video or sample) of the dataset: from the config for a demo (its generator's
    ids), else from its files, once they passed the dataset's checks (see check_dataset)."""
    cfg = dataset_config(dataset)
    if "demo" in cfg:
        return tuple(demo_module(cfg["kind"]).demo_item_ids(cfg["demo"]))
    try:
        check_dataset(dataset)
        return tuple(open_layout(cfg["kind"], dataset_root(dataset)).item_ids())
    except UserError as error:
        raise ValueError(f"dataset {dataset!r} (datasets.{dataset}.root in the config): {error}") from error


def check_dataset(dataset):
    """Fail while planning, before any job, on what would otherwise stop training after the
    feature extraction: labels, mapping, bundles, background labels, precomputed .npy shapes;
    for humour, the release's samples when `on_problem: fail`; for narrated videos, their captions
    (each layout's check_configured, mmfeat.datasets.layouts). Checked here rather than in a rule that every
    job depends on: a rule's output upstream of the extraction would rerun every shard after
    a fixed label. A demo's files do not exist yet when the jobs are planned; its generator
    writes them in the checked layout. A check that passed is not run again while the files
    it read are unchanged (mmfeat/datasets/check_cache.py): Snakemake plans on every
    invocation, inside each cluster job too, and checking reads every label file."""
    cfg = dataset_config(dataset)
    layout = open_layout(cfg["kind"], dataset_root(dataset))
    marker = Path(".snakemake") / "mmfeat-checks" / f"{dataset}.json"
    check_once(lambda: layout.check_configured(cfg), layout.check_watched(cfg), layout.check_settings(cfg), marker)


def feature_shards(dataset, feature_set):
    """The shards of one feature set: an extractor's name, or 'precomputed' for imported .npy files."""
    count = dataset_config(dataset)["features"]["num_shards"]
    return [f"results/{dataset}/features/{feature_set}/shard-{k}.h5" for k in range(count)]


def extraction_benchmarks(dataset, extractors):
    """The benchmark file of every extract_shard job of these extractors (each once): a report's
    "Time per stage" reads them."""
    count = dataset_config(dataset)["features"]["num_shards"]
    return [f"results/{dataset}/benchmarks/extract_shard/{extractor}/shard-{k}.tsv"
            for extractor in dict.fromkeys(extractors) for k in range(count)]


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
    """Each item's video file, ROOT/videos/{id}.*, by id (the layout's; where a missing clip is
    listed as excluded, only the items that have one)."""
    layout = open_layout(dataset_config(dataset)["kind"], dataset_root(dataset))
    return layout.video_files(dataset_item_ids(dataset))


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
    """The files one shard reads: a rerun of the shard follows a change to any of them. Its
    layout's transcript where the extractor's input depends on it, and, but for a text extractor,
    its items' clips (a demo's as demo_video_outputs names them)."""
    dataset = wildcards.dataset
    layout = dataset_layout(dataset)
    reads = extractor_input(wildcards.extractor)
    ids = shard_item_ids(dataset, wildcards.shard)
    root = dataset_root(dataset)
    transcript = [root / layout.TRANSCRIPT_FILE] if reads in layout.TRANSCRIPT_READS else []
    if reads == "text":
        return transcript
    if "demo" in dataset_config(dataset):
        return transcript + demo_video_outputs(dataset, ids)
    video_files = dataset_video_files(dataset)
    return transcript + [video_files[item] for item in ids if item in video_files]


def demo_video_outputs(dataset, ids):
    """The clips the demo's generator writes for `ids`, one per item; or, where its layout lists an
    item without a clip as excluded, their folder (which item has none is drawn from the seed)."""
    videos_dir = dataset_root(dataset) / "videos"
    if dataset_layout(dataset).MISSING_VIDEO_EXCLUDES:
        return [videos_dir]
    return [videos_dir / f"{item}.mp4" for item in ids]


def extractor_settings(wildcards):
    """The extractor's whole config entry: a change to any setting reruns its shards."""
    return json.dumps(config["extractors"][wildcards.extractor], sort_keys=True)


def decode_settings(wildcards):
    """The dataset's whole `decode` entry: a change to its backend or policies reruns its shards."""
    return json.dumps(dataset_config(wildcards.dataset)["decode"], sort_keys=True)


def dataset_setting(path):
    """For params: the setting at `path` under the job's dataset, e.g. dataset_setting("decode/backend")."""
    return lookup(dpath=f"datasets/{{dataset}}/{path}", within=config)


def shard_feature_files(wildcards):
    """The precomputed ROOT/features/{video}.npy files of one shard."""
    features_dir = dataset_root(wildcards.dataset) / "features"
    return [features_dir / f"{item}.npy" for item in shard_item_ids(wildcards.dataset, wildcards.shard)]


def precomputed_features_dir(wildcards):
    return str(dataset_root(wildcards.dataset) / "features")
