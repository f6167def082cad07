# The embedded demos: small datasets generated in the real layouts (50Salads / MS-TCN for
# segmentation, UR-FUNNY v2 for humor, HowTo100M's captions for narrated), one rule per
# dataset of the config with a `demo` section.


def demo_outputs(dataset):
    root = dataset_root(dataset)
    if dataset_config(dataset)["kind"] == "humor":
        # which sample has no clip is drawn from the seed, so the clips are one folder
        return {"labels": humor_release_files(dataset), "videos": directory(root / "videos")}
    if dataset_config(dataset)["kind"] == "narrated":
        return {
            "videos": [root / "videos" / f"{video}.mp4" for video in dataset_item_ids(dataset)],
            "labels": [root / CAPTIONS_FILE],
        }
    return {
        "videos": [root / "videos" / f"{video}.mp4" for video in dataset_item_ids(dataset)],
        "labels": segmentation_label_files(dataset),
    }


def demo_root_of(wildcards, output):
    """The demo's root: the folder of its first label file."""
    return str(Path(output.labels[0]).parent)


def demo_command(dataset):
    """The generator of the dataset's kind, with the demo's settings, as quoted shell words."""
    cfg = dataset_config(dataset)
    demo = cfg["demo"]
    size = ["--size", *demo["size"], "--fps", demo["fps"], "--seed", demo["seed"]]
    if cfg["kind"] == "humor":
        words = ["make-demo-urfunny", *size, "--samples", demo["samples"],
                 "--cue-flip-fraction", demo["cue_flip_fraction"]]
    elif cfg["kind"] == "narrated":
        words = ["make-demo-howto", *size, "--videos", demo["videos"], "--seconds", *demo["seconds"],
                 "--shift-fraction", demo["shift_fraction"], "--chatter-fraction", demo["chatter_fraction"]]
    else:
        words = ["make-demo-salads", *size, "--videos", demo["videos"], "--frames", *demo["frames"],
                 "--splits", cfg["splits"], "--damaged", demo["damaged"], "--unreadable", demo["unreadable"]]
    return shlex.join(str(word) for word in words)


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
