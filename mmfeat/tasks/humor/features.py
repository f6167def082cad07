"""The per-modality feature file that the humour classifiers read: one `.npz` per modality.

    write_modality_features("text.npz", ids, features, labels, folds)
    text = load_modality_features("text.npz")      # validated; errors name the file
    aligned, skipped = align_modalities({"text": text, "audio": load_modality_features("audio.npz")})

The file holds four arrays, one row per sample (an utterance with its punchline):

    ids       (N,)   str      unique sample ids (UR-FUNNY's ids, as strings)
    features  (N, D) float32  one pooled feature vector per sample, all finite
    labels    (N,)   int64    1 = humour, 0 = not
    folds     (N,)   str      "train", "dev" or "test"

Strings are stored as fixed-width unicode arrays, so the file loads without pickle.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmfeat.atomic import replaced_on_success
from mmfeat.errors import UserError

FOLDS = ("train", "dev", "test")
ARRAY_NAMES = ("ids", "features", "labels", "folds")


@dataclass
class ModalityFeatures:
    """One modality's samples, as loaded from its `.npz` file (`path` names it in errors)."""

    ids: np.ndarray  # (N,) str
    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64
    folds: np.ndarray  # (N,) str
    path: str

    @property
    def dimension(self) -> int:
        return int(self.features.shape[1])

    def fold_mask(self, fold: str) -> np.ndarray:
        return self.folds == fold

    def subset(self, ids: np.ndarray) -> "ModalityFeatures":
        """The rows of `ids`, in that order (every id must be present)."""
        row_of = {sample_id: row for row, sample_id in enumerate(self.ids.tolist())}
        rows = np.array([row_of[sample_id] for sample_id in ids.tolist()], dtype=np.int64)
        return ModalityFeatures(self.ids[rows], self.features[rows], self.labels[rows], self.folds[rows], self.path)


def write_modality_features(path: str | os.PathLike, ids, features, labels, folds) -> None:
    """Validate the arrays and write them to `path` (a `.npz`) via a temporary file and a rename."""
    arrays = {
        "ids": np.asarray(ids, dtype=str),
        "features": np.asarray(features, dtype=np.float32),
        "labels": np.asarray(labels, dtype=np.int64),
        "folds": np.asarray(folds, dtype=str),
    }
    _validate(arrays, str(path), fix="fix the arrays before writing")
    with replaced_on_success(path) as temporary:
        # a file object, not a name: np.savez would append ".npz" to the temporary name
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def load_modality_features(path: str | os.PathLike) -> ModalityFeatures:
    """Load and validate one modality's `.npz`; a UserError names the file and what to fix."""
    path = str(path)
    if not Path(path).is_file():
        raise UserError(f"{path}: no such feature file; write it with "
                        "mmfeat.tasks.humor.features.write_modality_features")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ARRAY_NAMES if name not in archive.files]
            if missing:
                raise UserError(f"{path}: missing array(s) {', '.join(missing)}; the file must hold "
                                f"{', '.join(ARRAY_NAMES)} (see mmfeat/tasks/humor/features.py)")
            arrays = {name: archive[name] for name in ARRAY_NAMES}
    except UserError:
        raise
    except ValueError as error:  # object arrays need pickle, which we refuse
        raise UserError(f"{path}: cannot be read without pickle ({error}); store ids and folds as str "
                        f"arrays (np.asarray(values, dtype=str)), not objects") from error
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"{path}: not a readable .npz file ({error}); rewrite it with np.savez") from error
    _validate(arrays, path, fix="rewrite the file (see mmfeat/tasks/humor/features.py for the format)")
    return ModalityFeatures(arrays["ids"].astype(str), arrays["features"].astype(np.float32),
                            arrays["labels"].astype(np.int64), arrays["folds"].astype(str), path)


def align_modalities(modalities: dict[str, ModalityFeatures]) -> tuple[dict[str, ModalityFeatures], dict[str, str]]:
    """The same samples, in the same (sorted id) order, in every modality, and those left out.

    Fusion needs every modality's prediction for a sample, so a sample missing from any
    modality is left out of all of them; the returned dict says which modalities lacked it.
    Labels and folds must agree between files for the samples they share.
    """
    if not modalities:
        raise UserError("no modality given; pass at least one --modality NAME FILE")
    id_sets = {name: set(modality.ids.tolist()) for name, modality in modalities.items()}
    every_id = set().union(*id_sets.values())
    common = np.array(sorted(set.intersection(*id_sets.values())), dtype=str)
    if not common.size:
        raise UserError("no sample id is present in every modality file ("
                        + ", ".join(modality.path for modality in modalities.values())
                        + "); were they written from the same dataset?")
    skipped = {}
    for sample_id in sorted(every_id - set(common.tolist())):
        lacking = [name for name, ids in id_sets.items() if sample_id not in ids]
        skipped[sample_id] = f"no {' or '.join(lacking)} features"
    aligned = {name: modality.subset(common) for name, modality in modalities.items()}
    first = next(iter(aligned.values()))
    for modality in aligned.values():
        for array_name in ("labels", "folds"):
            differing = np.flatnonzero(getattr(modality, array_name) != getattr(first, array_name))
            if differing.size:
                raise UserError(
                    f"{modality.path} and {first.path} disagree on the {array_name} of {differing.size} shared "
                    f"sample(s), e.g. {str(first.ids[differing[0]])!r}; write every modality's file from the same "
                    f"dataset reading")
    for fold in FOLDS:
        if not first.fold_mask(fold).any():
            raise UserError(f"{first.path}: no {fold} sample among the {common.size} samples present in every "
                            f"modality; the classifiers train on train, stop early on dev and are scored on test")
    return aligned, skipped


def _validate(arrays: dict[str, np.ndarray], path: str, fix: str) -> None:
    ids, features, labels, folds = (arrays[name] for name in ARRAY_NAMES)
    problems = []
    if ids.ndim != 1 or ids.dtype.kind != "U":
        problems.append(f"ids must be a 1-D str array, got shape {ids.shape} dtype {ids.dtype}")
    if features.ndim != 2 or features.shape[1] == 0:
        problems.append(f"features must be 2-D (N, D) with D > 0, got shape {features.shape}")
    elif features.dtype.kind != "f":
        problems.append(f"features must be floating point, got {features.dtype}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        problems.append(f"labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}")
    if folds.ndim != 1 or folds.dtype.kind != "U":
        problems.append(f"folds must be a 1-D str array, got shape {folds.shape} dtype {folds.dtype}")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems) + f"; {fix}")
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise UserError(f"{path}: arrays differ in length ({lengths}); they need one row per sample; {fix}")
    if len(ids) == 0:
        raise UserError(f"{path}: holds no sample; {fix}")
    unique_ids, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        repeated = unique_ids[counts > 1]
        raise UserError(f"{path}: {repeated.size} id(s) occur more than once, e.g. {str(repeated[0])!r}; {fix}")
    bad_labels = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if bad_labels:
        raise UserError(f"{path}: labels must be 0 (not humour) or 1 (humour), found {bad_labels[:5]}; {fix}")
    bad_folds = sorted(set(np.unique(folds).tolist()) - set(FOLDS))
    if bad_folds:
        raise UserError(f"{path}: folds must be one of {', '.join(FOLDS)}, found {bad_folds[:5]}; {fix}")
    non_finite_rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if non_finite_rows.size:
        raise UserError(f"{path}: {non_finite_rows.size} sample(s) have NaN or infinite features, e.g. "
                        f"{str(ids[non_finite_rows[0]])!r}; leave them out of the file and list them as skipped; {fix}")
