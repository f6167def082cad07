# The embedded demo: a small dataset generated in the real 50Salads / MS-TCN layout,
# one rule per dataset of the config that has a `demo` section.


def demo_outputs(dataset):
    root = dataset_root(dataset)
    return {
        "videos": [root / "videos" / f"{video}.mp4" for video in dataset_item_ids(dataset)],
        "labels": segmentation_label_files(dataset),
    }


def demo_root_of(wildcards, output):
    """The demo's root: the folder of its mapping.txt output."""
    return str(Path(output.labels[0]).parent)


def demo_arguments(dataset):
    demo = dataset_config(dataset)["demo"]
    return (
        f"--seed {demo['seed']} --videos {demo['videos']} --frames {demo['frames'][0]} {demo['frames'][1]} "
        f"--size {demo['size'][0]} {demo['size'][1]} --fps {demo['fps']} "
        f"--splits {dataset_config(dataset)['splits']} --damaged {demo['damaged']} --unreadable {demo['unreadable']}"
    )


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
            arguments=demo_arguments(demo_dataset),
        conda:
            "../../envs/mmfeat.yaml"
        shell:
            "python -m mmfeat make-demo-salads --root {params.root} {params.arguments} > {log} 2>&1"
