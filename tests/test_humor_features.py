"""`mmfeat humor-features`: stored rows pooled into one vector per sample and modality, and samples left out by reason."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from mmfeat.cli import main as mmfeat_main
from mmfeat.features.extractors.items import TIME_INTERVAL
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.tasks.humor.features import load_modality_features
from mmfeat.tasks.humor.pooling import punchline_vector, segment_vector

# sample id -> (label, fold, punchline interval, has context)
SAMPLES = {"1": (1, "train", (1.0, 2.0), True), "2": (0, "train", (0.5, 1.0), False),
           "3": (1, "dev", (2.0, 2.1), True), "4": (0, "test", (1.0, 1.5), True), "5": (1, "test", (0.2, 0.9), True)}
FPS = 10.0


def write_release(root: Path) -> None:
    """UR-FUNNY v2 pickles (protocol 2) for SAMPLES; sample 5 has no label."""
    root.mkdir(parents=True)
    language = {}
    for sample_id, (_, _, (start, end), has_context) in SAMPLES.items():
        language[int(sample_id)] = {
            "punchline_sentence": "a duck stole it", "punchline_intervals": [[start, (start + end) / 2], [(start + end) / 2, end]],
            "context_sentences": ["we met"] if has_context else [],
            "context_intervals": [[[0.0, 0.2], [0.2, 0.4]]] if has_context else [],
            "punchline_embedding_indexes": [0, 1], "context_embedding_indexes": [[0, 1]] if has_context else [],
        }
    folds = {fold: [int(i) for i, (_, f, _, _) in SAMPLES.items() if f == fold] for fold in ("train", "dev", "test")}
    labels = {int(i): label for i, (label, _, _, _) in SAMPLES.items() if i != "5"}
    for name, content in (("data_folds.pkl", folds), ("language_sdk.pkl", language), ("humor_label_sdk.pkl", labels)):
        (root / name).write_bytes(pickle.dumps(content, protocol=2))
    (root / "videos").mkdir()
    for sample_id in SAMPLES:  # the reader checks that each clip exists; the shards below stand for their features
        (root / "videos" / f"{sample_id}.mp4").write_bytes(b"")


def write_segment_shard(path: Path, rows_of: dict[str, np.ndarray], excluded: dict[str, str]) -> None:
    with ShardWriter(path, "text-x", {"kind": "roberta"}, dtype="float32") as shard:
        for sample_id, rows in rows_of.items():
            names = ["punchline", "context"][: len(rows)]
            shard.add_video(sample_id, rows, np.tile([0.0, 1.0], (len(rows), 1)), {"source": "text"},
                            position_kind=TIME_INTERVAL, row_names=names)
        for sample_id, reason in excluded.items():
            shard.exclude_video(sample_id, reason)


def write_video_shard(path: Path, sample_ids: list[str]) -> None:
    """One row per frame 0..29 at 10 fps, whose value is the frame's time in seconds."""
    with ShardWriter(path, "i3d-x", {"kind": "i3d"}, dtype="float32") as shard:
        for sample_id in sample_ids:
            frames = np.arange(0, 30)
            shard.add_video(sample_id, np.repeat((frames / FPS)[:, None], 2, axis=1), frames,
                            {"source": "video", "fps": FPS})


@pytest.fixture
def release(tmp_path) -> Path:
    root = tmp_path / "urfunny"
    write_release(root)
    rows = {sample_id: np.full((2 if SAMPLES[sample_id][3] else 1, 3), float(sample_id)) for sample_id in SAMPLES}
    rows["1"][1] = -1.0  # sample 1's context row differs from its punchline row
    del rows["3"]
    write_segment_shard(tmp_path / "text" / "shard-0.h5", rows, excluded={"3": "sample 3: empty transcript"})
    write_video_shard(tmp_path / "video" / "shard-0.h5", list(SAMPLES))
    return root


def test_segment_rows_are_the_punchline_then_the_context_zeros_without_one(release):
    store = FeatureStore(release.parent / "text")
    np.testing.assert_array_equal(segment_vector(store, "1"), [1, 1, 1, -1, -1, -1])
    np.testing.assert_array_equal(segment_vector(store, "2"), [2, 2, 2, 0, 0, 0])


def test_video_rows_are_averaged_over_the_punchline_or_the_nearest_taken(release):
    store = FeatureStore(release.parent / "video")
    np.testing.assert_allclose(punchline_vector(store, "1", (1.0, 2.0)), [1.5, 1.5])  # frames 10..20
    np.testing.assert_allclose(punchline_vector(store, "1", (2.02, 2.08)), [2.0, 2.0])  # no frame inside: nearest
    with pytest.raises(Exception, match="rows are not named segments"):
        segment_vector(store, "1")


def test_command_writes_one_file_per_modality_and_lists_every_sample_left_out(release, tmp_path):
    output_dir, skipped_path = tmp_path / "humor", tmp_path / "skipped.json"
    arguments = ["humor-features", "--dataset-root", str(release), "--on-problem", "skip",
                 "--modality", "text", str(tmp_path / "text" / "shard-0.h5"),
                 "--modality", "video", str(tmp_path / "video" / "shard-0.h5"),
                 "--output-dir", str(output_dir), "--skipped", str(skipped_path)]
    assert mmfeat_main(arguments) == 0
    text, video = load_modality_features(output_dir / "text.npz"), load_modality_features(output_dir / "video.npz")
    assert text.ids.tolist() == video.ids.tolist() == ["1", "2", "4"]  # the same samples in every modality
    assert text.labels.tolist() == [1, 0, 0] and text.folds.tolist() == ["train", "train", "test"]
    assert text.dimension == 6 and video.dimension == 2
    skipped = json.loads(skipped_path.read_text())
    assert set(skipped) == {"3", "5"}
    assert "text: sample 3: empty transcript" in skipped["3"] and "label" in skipped["5"]

    arguments[arguments.index("--on-problem") + 1] = "fail"
    assert mmfeat_main(arguments) == 2  # sample 5's missing label fails the job, naming the file
