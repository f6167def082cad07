"""The per-modality .npz file: round trip, the loader's errors, and aligning modalities."""

from __future__ import annotations

import numpy as np
import pytest

from mmfeat.errors import UserError
from mmfeat.humor.features import align_modalities, load_modality_features, write_modality_features

IDS = ["a", "b", "c", "d", "e", "f"]
LABELS = [1, 0, 1, 0, 1, 0]
FOLDS = ["train", "train", "dev", "dev", "test", "test"]


def valid_arrays(**changes):
    arrays = {"ids": np.array(IDS), "features": np.arange(12, dtype=np.float32).reshape(6, 2),
              "labels": np.array(LABELS, dtype=np.int64), "folds": np.array(FOLDS)}
    arrays.update(changes)
    return arrays


def test_round_trip_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "text.npz"
    write_modality_features(path, IDS, np.ones((6, 3)), LABELS, FOLDS)
    loaded = load_modality_features(path)
    assert loaded.ids.tolist() == IDS and loaded.labels.tolist() == LABELS and loaded.folds.tolist() == FOLDS
    assert loaded.features.dtype == np.float32 and loaded.dimension == 3 and loaded.path == str(path)
    assert [entry.name for entry in tmp_path.iterdir()] == ["text.npz"]


def test_writer_refuses_invalid_arrays_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="labels must be 0"):
        write_modality_features(tmp_path / "text.npz", IDS, np.ones((6, 3)), [2, 0, 1, 0, 1, 0], FOLDS)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("changes, message", [
    ({"labels": np.array([1, 0, 1, 0, 1, 5])}, "labels must be 0 .* found \\[5\\]"),
    ({"folds": np.array(["train", "train", "dev", "dev", "test", "val"])}, "folds must be one of .* \\['val'\\]"),
    ({"ids": np.array(["a", "a", "c", "d", "e", "f"])}, "1 id\\(s\\) occur more than once, e.g. 'a'"),
    ({"features": np.ones(6, dtype=np.float32)}, "features must be 2-D"),
    ({"features": np.ones((5, 2), dtype=np.float32)}, "arrays differ in length"),
    ({"features": np.array([[0, 1]] * 5 + [[np.nan, 0]], dtype=np.float32)}, "1 sample\\(s\\) have NaN .* 'f'"),
    ({"labels": np.array([1.0, 0, 1, 0, 1, 0])}, "labels must be a 1-D integer array"),
    ({"ids": np.arange(6)}, "ids must be a 1-D str array"),
])
def test_loader_names_the_file_and_the_problem(tmp_path, changes, message):
    path = tmp_path / "audio.npz"
    np.savez(path, **valid_arrays(**changes))
    with pytest.raises(UserError, match=f"^{path}: {message}"):
        load_modality_features(path)


def test_loader_reports_missing_arrays(tmp_path):
    path = tmp_path / "video.npz"
    arrays = valid_arrays()
    del arrays["folds"]
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=f"{path}: missing array\\(s\\) folds"):
        load_modality_features(path)


def test_loader_refuses_pickled_ids(tmp_path):
    path = tmp_path / "text.npz"
    np.savez(path, **valid_arrays(ids=np.array(IDS, dtype=object)))
    with pytest.raises(UserError, match=f"{path}: cannot be read without pickle.*dtype=str"):
        load_modality_features(path)


def test_loader_reports_a_missing_or_damaged_file(tmp_path):
    with pytest.raises(UserError, match="no such feature file"):
        load_modality_features(tmp_path / "absent.npz")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserError, match=f"{damaged}: not a readable .npz file"):
        load_modality_features(damaged)


def write(tmp_path, name, rows, labels=LABELS, folds=FOLDS):
    path = tmp_path / f"{name}.npz"
    write_modality_features(path, [IDS[i] for i in rows], np.full((len(rows), 2), float(len(name))),
                            [labels[i] for i in rows], [folds[i] for i in rows])
    return load_modality_features(path)


def test_align_keeps_shared_samples_in_id_order_and_says_why_others_left(tmp_path):
    text = write(tmp_path, "text", [5, 4, 3, 2, 1, 0])
    audio = write(tmp_path, "audio", [0, 2, 3, 4, 5])
    video = write(tmp_path, "video", [0, 2, 4, 5, 3])
    aligned, skipped = align_modalities({"text": text, "audio": audio, "video": video})
    assert list(aligned) == ["text", "audio", "video"]
    for modality in aligned.values():
        assert modality.ids.tolist() == ["a", "c", "d", "e", "f"]
        assert modality.labels.tolist() == [1, 1, 0, 1, 0]
    assert skipped == {"b": "no audio or video features"}


def test_align_refuses_disagreeing_labels(tmp_path):
    text = write(tmp_path, "text", range(6))
    audio = write(tmp_path, "audio", range(6), labels=[1, 0, 1, 0, 1, 1])
    with pytest.raises(UserError, match="audio.npz and .*text.npz disagree on the labels of 1 shared sample"):
        align_modalities({"text": text, "audio": audio})


def test_align_needs_every_fold(tmp_path):
    text = write(tmp_path, "text", [0, 1, 4, 5])
    with pytest.raises(UserError, match="no dev sample"):
        align_modalities({"text": text})
