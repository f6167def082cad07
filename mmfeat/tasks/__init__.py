"""Task families: the one list of them, and what each runs on, read by the workflow's checks.

    from mmfeat.tasks import TASK_FAMILIES, family_of_dataset
    family_of_dataset("segmentation").model_kinds   # ("asformer",): what a segmentation dataset's `model` names
    TASK_FAMILIES["humor"].modalities               # ("text", "audio", "video"): its `features` keys

Each family is one package here, named as its key, holding its data reading, training,
prediction, evaluation glue and report: `segmentation` (ASFormer and zero-shot on MS-TCN
layouts), `humor` (classifiers and fusions on UR-FUNNY) and `pretraining` (contrastive
pretraining of video, text and audio towers on narrated videos); its rules are
workflow/rules/<family>.smk with <family>_helpers.smk. `transfer` (VideoCLIP zero-shot and
fine-tuned on a segmentation dataset, from a pretraining) is a package of its own with its rules
(transfer.smk) but not a family: its rows belong to segmentation datasets and their report. What several families use stays
outside: the feature store (mmfeat.features), the metrics (mmfeat.metrics), the dataset
layouts (mmfeat.datasets), the models (mmfeat.models), the report parts (mmfeat.reports),
atomic writes and devices. The extractor kinds that can feed a modality are the
extractor registry's (mmfeat.features.extractors.KIND_FACTS, by their input),
the model kinds the model registry's (mmfeat.models.MODEL_KINDS).
tests/test_registries.py checks these names against the schema's enums.

Nothing is imported here, so that naming the package loads no torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFamily:
    """What a task family runs on: dataset kinds, the modalities it reads, the model kinds it trains."""

    dataset_kinds: tuple[str, ...]  # the dataset layouts (a dataset's `kind`) it applies to
    modalities: tuple[str, ...]  # its datasets' `features` keys, each an extractor input ("video", "audio", "text")
    model_kinds: tuple[str, ...]  # the kinds its datasets' `model` may name under `models`; () for none


TASK_FAMILIES = {
    "segmentation": TaskFamily(dataset_kinds=("segmentation",), modalities=("video",), model_kinds=("asformer",)),
    # its classifiers and fusions are set per dataset (`classifiers`), not under `models`
    "humor": TaskFamily(dataset_kinds=("humor",), modalities=("text", "audio", "video"), model_kinds=()),
    "pretraining": TaskFamily(dataset_kinds=("narrated",), modalities=("video", "audio"), model_kinds=("videoclip",)),
}


def family_of_dataset(dataset_kind: str) -> TaskFamily:
    """The family that applies to datasets of a kind; KeyError naming the known kinds for an unknown one."""
    for family in TASK_FAMILIES.values():
        if dataset_kind in family.dataset_kinds:
            return family
    known = sorted(kind for family in TASK_FAMILIES.values() for kind in family.dataset_kinds)
    raise KeyError(f"no task family applies to dataset kind {dataset_kind!r}; the known kinds are {known}")
