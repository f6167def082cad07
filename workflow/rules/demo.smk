# The embedded demos: small datasets generated in the real layouts (50Salads / MS-TCN for
# segmentation, UR-FUNNY v2 for humor, HowTo100M's captions for narrated), one rule per
# dataset of the config with a `demo` section.


def demo_outputs(dataset):
    """The demo's clips (see demo_video_outputs) and its layout's other files (labels, transcripts, splits)."""
    ids = list(dataset_item_ids(dataset))
    videos = demo_video_outputs(dataset, ids)
    if dataset_layout(dataset).MISSING_VIDEO_EXCLUDES:
        videos = directory(videos[0])  # one folder: which item has no clip is drawn from the seed
    labels = dataset_layout(dataset).annotation_files(dataset_root(dataset), ids, dataset_config(dataset))
    return {"videos": videos, "labels": labels}


def demo_root_of(wildcards, output):
    """The demo's root: the folder of its first label file."""
    return str(Path(output.labels[0]).parent)


def demo_command(dataset):
    """The generator of the dataset's layout (mmfeat.datasets.layouts), with the demo's settings, as quoted shell words."""
    cfg = dataset_config(dataset)
    return shlex.join(demo_module(cfg["kind"]).demo_command(cfg))


for demo_dataset in [name for name, cfg in config["datasets"].items() if "demo" in cfg]:

    rule:
        name:
            f"make_demo_{demo_dataset}"
        output:
            **demo_outputs(demo_dataset),
        log:
            f"results/{demo_dataset}/logs/make_demo.log",
        params:
            root=demo_root_of,
            command=demo_command(demo_dataset),
        conda:
            "../../envs/mmfeat.yaml"
        shell:
            "python -m mmfeat {params.command} --root {params.root:q} > {log} 2>&1"
