"""Held-out retrieval: clips of each caption's seconds, ranks with pessimistic ties, the exact random line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from mmfeat.features.store import FeatureStore
from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
from mmfeat.tasks.pretraining.retrieval import (HeldOutClip, caption_rows, evaluate_retrieval, held_out_clips,
                                                similarities)
from mmfeat.tasks.pretraining.retrieval_metrics import random_ranking, recall_summary, retrieval_ranks
from narrated_shards import write_narrated, write_video_shard


def test_ranks_count_ties_against_the_model_in_both_directions():
    scores = np.array([[5, 1, 0, 0],   # text 0: its clip first
                       [3, 2, 0, 0],   # text 1: clip 0 above its own
                       [0, 0, 1, 1],   # text 2: tied with clip 3, counted as second
                       [9, 8, 7, 6]])  # text 3: its clip last
    ranks = retrieval_ranks(scores)
    np.testing.assert_array_equal(ranks["text_to_video"], [1, 2, 2, 4])
    # clip j against every text: clip 0 loses to text 3 (9 > 5), clip 3 wins (6 is column 3's highest)
    np.testing.assert_array_equal(ranks["video_to_text"], [2, 2, 2, 1])
    assert recall_summary(ranks["text_to_video"]) == {"R@1": 0.25, "R@5": 1.0, "R@10": 1.0, "median_rank": 2.0}
    # scoring everything alike is no skill: every answer ranks last
    alike = retrieval_ranks(np.zeros((3, 3)))
    np.testing.assert_array_equal(alike["text_to_video"], [3, 3, 3])


def test_the_random_line_is_the_exact_expectation_of_ranking_by_chance():
    assert random_ranking(20)["text_to_video"] == {"R@1": 0.05, "R@5": 0.25, "R@10": 0.5, "median_rank": 10.5}
    assert random_ranking(4)["video_to_text"] == {"R@1": 0.25, "R@5": 1.0, "R@10": 1.0, "median_rank": 2.5}
    # over every ordering of 6 answers, the right one ranks k or better in k of 6 cases
    candidates = 6
    rank_of_right = [order.index(0) + 1 for order in itertools.permutations(range(candidates))]
    expected = random_ranking(candidates)["text_to_video"]
    for k in (1, 5, 10):
        assert np.mean(np.array(rank_of_right) <= k) == pytest.approx(expected[f"R@{k}"])
    assert np.median(np.arange(1, candidates + 1)) == expected["median_rank"]


def test_cosine_ranks_by_direction_where_dot_products_favour_long_vectors():
    video = torch.tensor([[1.0, 0.0], [10.0, 10.0]])
    text = torch.tensor([[1.0, 0.1], [0.0, 1.0]])
    assert retrieval_ranks(similarities(video, text, "dot"))["text_to_video"].tolist() == [2, 1]
    assert retrieval_ranks(similarities(video, text, "cosine"))["text_to_video"].tolist() == [1, 1]


def test_a_caption_takes_the_seconds_it_overlaps_at_least_one_at_most_max():
    starts = np.array([0.0, 0.5, 1.5, 2.5, 3.5])  # a 4.2 s video: seconds around 0, 1, 2, 3, 4 s
    assert caption_rows(0.0, 1.0, starts, 32) == (0, 2)
    assert caption_rows(1.0, 1.4, starts, 32) == (1, 1)
    assert caption_rows(0.6, 1.5, starts, 32) == (1, 1)  # ends where second 2 starts: not in it
    assert caption_rows(1.2, 1.2, starts, 32) == (1, 1)  # an instant: the second it falls in
    assert caption_rows(3.0, 9.0, starts, 32) == (3, 2)  # past the end: cut to the last second
    assert caption_rows(0.0, 4.2, starts, 3) == (1, 3)  # longer than max: the middle three


class PlantedTowers(nn.Module):
    """Video: the mean of the kept rows. Text: the mean of one-hot word vectors ("zero".."three")."""

    WORDS = ("zero", "one", "two", "three")

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # for the device and dtype

    def embed_video(self, features, mask):
        weights = mask.float().unsqueeze(-1)
        return (features * weights).sum(1) / weights.sum(1)

    def tokenize(self, texts):
        ids = [[self.WORDS.index(word) for word in text.split()] for text in texts]
        longest = max(map(len, ids))
        mask = torch.tensor([[k < len(row) for k in range(longest)] for row in ids])
        return torch.tensor([row + [0] * (longest - len(row)) for row in ids]), mask

    def embed_text(self, ids, mask):
        one_hot = nn.functional.one_hot(ids, len(self.WORDS)).float() * mask.unsqueeze(-1)
        return one_hot.sum(1) / mask.sum(1, keepdim=True)


def test_retrieval_on_planted_towers_matches_the_ranks_worked_out_by_hand(tmp_path):
    # v: 4 s, rows e0..e3 (one per second); u: 2 s, not held out
    dataset = write_narrated(tmp_path / "data", {
        "v": (4, [(1.6, 2.4, "two"), (0.0, 0.4, "zero"), (0.6, 2.4, "one two")]),
        "u": (2, [(0.0, 1.0, "three")])})
    shard = write_video_shard(tmp_path / "video.h5", {"v": np.eye(4, dtype=np.float32),
                                                      "u": np.ones((2, 4), np.float32)})
    features = NarratedFeatures(dataset, FeatureStore(shard))
    clips = held_out_clips(features, ["v"], max_video_tokens=32)
    assert clips == [HeldOutClip("v", 0, "zero", 0, 1), HeldOutClip("v", 1, "one two", 1, 2),
                     HeldOutClip("v", 2, "two", 2, 1)]
    # clips e0, (e1 + e2) / 2, e2 against texts e0, (e1 + e2) / 2, e2: by dot products "one two" scores 0.5
    # against both of the last two clips (a tie: rank 2), and so does clip "one two" against both texts
    towers = PlantedTowers().train()
    result = evaluate_retrieval(towers, features, clips, similarity="dot")
    assert towers.training  # left as it was found
    for direction in ("text_to_video", "video_to_text"):
        assert result[direction] == {"R@1": pytest.approx(2 / 3), "R@5": 1.0, "R@10": 1.0, "median_rank": 1.0}
    # cosine breaks the tie: (e1 + e2) / 2 is nearer in angle to itself than to e2
    cosine = evaluate_retrieval(towers, features, clips, similarity="cosine")
    assert cosine["text_to_video"]["R@1"] == 1.0 and cosine["video_to_text"]["R@1"] == 1.0
