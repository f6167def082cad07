"""Clip pairs as VideoCLIP cuts them, and the batches of an epoch: random, or groups of similar videos."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from mmfeat.datasets.narrated import Caption
from mmfeat.errors import UserError
from mmfeat.tasks.pretraining.clips import ClipMaker, ClipSettings, clip_windows
from mmfeat.tasks.pretraining.samplers import RandomBatches, RetrievalBatches, embed_videos, group_by_neighbours

CAPTIONS = [Caption(1.0, 3.0, "cut the tomato"), Caption(2.5, 4.0, "now the cucumber"),
            Caption(10.0, 11.5, "stir"), Caption(30.0, 33.0, "pour the oil")]
ROWS = 34  # a video of 34 s: rows 0..33


def test_windows_stay_in_the_video_and_their_bounds_and_hold_their_caption():
    generator = np.random.default_rng(0)
    lengths, firsts = Counter(), Counter()
    for _ in range(300):
        for window in clip_windows(CAPTIONS, ROWS, 4, shortest=3, longest=8, captions_per_clip=3,
                                   generator=generator):
            assert 3 <= window.seconds <= 8 and 0 <= window.first_row <= ROWS - window.seconds
            own = CAPTIONS[window.captions[0]]
            # the clip's seconds [first - 0.5, last + 0.5] meet its own caption (moved inwards at the video's end)
            last = window.first_row + window.seconds - 1
            assert window.first_row - 0.5 < own.end and (last + 0.5 > own.start or last == ROWS - 1)
            lengths[window.seconds] += 1
            firsts[window.first_row] += 1
    assert sorted(lengths) == list(range(3, 9))  # lengths jittered over the whole range
    assert len(firsts) > 10  # starts jittered


def test_a_clip_s_captions_are_its_own_then_those_overlapping_it_then_its_own_again():
    generator = np.random.default_rng(1)
    for _ in range(200):
        window = clip_windows(CAPTIONS, ROWS, 1, 3, 32, 3, generator)[0]
        own, *others = window.captions
        start, end = max(window.first_row - 0.5, 0.0), window.first_row + window.seconds - 0.5
        overlapping = {index for index, caption in enumerate(CAPTIONS)
                       if index != own and min(caption.end, end) > max(caption.start, start)}
        assert {index for index in others if index != own} == set(list(overlapping)[:2]) or len(overlapping) > 2
        assert all(index in overlapping or index == own for index in others)
        assert len(window.captions) == 3


def test_distinct_captions_anchor_a_video_s_clips_while_it_has_enough():
    windows = clip_windows(CAPTIONS, ROWS, 4, 3, 8, 1, np.random.default_rng(2))
    assert sorted(window.captions[0] for window in windows) == [0, 1, 2, 3]
    windows = clip_windows(CAPTIONS, ROWS, 6, 3, 8, 1, np.random.default_rng(2))
    assert sorted(Counter(window.captions[0] for window in windows).values()) == [1, 1, 2, 2]


def test_a_short_video_gives_clips_of_its_whole_length():
    windows = clip_windows([Caption(0.0, 1.5, "whisk")], 2, 3, 3, 32, 1, np.random.default_rng(3))
    assert {(window.first_row, window.seconds) for window in windows} == {(0, 2)}


class _Rows:
    def __init__(self):
        self.video_rows = {f"v{i}": np.arange(ROWS * 4, dtype=np.float32).reshape(ROWS, 4) + 1000 * i for i in range(3)}

    def video(self, video_id):
        return self.video_rows[video_id]

    def audio(self, video_id):
        return self.video_rows[video_id][:, :2] * -1


def _tokenize(texts):
    ids = [[len(word) for word in text.split()] for text in texts]
    longest = max(map(len, ids))
    return (torch.tensor([row + [0] * (longest - len(row)) for row in ids]),
            torch.tensor([[True] * len(row) + [False] * (longest - len(row)) for row in ids]))


def test_any_rows_of_a_step_are_the_same_pairs_whichever_process_makes_them():
    settings = ClipSettings(per_video=4, min_seconds=3, max_seconds=32, captions=2)
    maker = ClipMaker(_Rows(), {f"v{i}": CAPTIONS for i in range(3)}, settings, max_video_tokens=6,
                      captions_per_clip=2, tokenize=_tokenize, with_audio=True)
    whole = maker.pairs(["v2", "v0", "v1"], range(0, 12), seed=(0, 1, 2))
    halves = [maker.pairs(["v2", "v0", "v1"], range(start, start + 6), seed=(0, 1, 2)) for start in (0, 6)]
    assert whole.video.shape[:2] == (12, 6) and whole.text_ids.shape[:2] == (12, 2)  # capped at max_video_tokens
    for half, rows in zip(halves, (slice(0, 6), slice(6, 12))):
        width = half.video.shape[1]
        assert torch.equal(half.video, whole.video[rows, :width]) and torch.equal(half.video_mask,
                                                                                 whole.video_mask[rows, :width])
    # rows 0-3 are v2's clips: its feature rows, kept seconds only, and its audio of the same seconds
    kept = whole.video[:4][whole.video_mask[:4]]
    assert (kept[:, 0] >= 2000).all() and (kept[:, 0] < 3000).all()
    assert torch.equal(whole.audio[whole.video_mask], -whole.video[whole.video_mask][:, :2])
    other_step = maker.pairs(["v2", "v0", "v1"], range(0, 12), seed=(0, 1, 3))
    assert not torch.equal(other_step.video_mask, whole.video_mask) or not torch.equal(other_step.video, whole.video)


def test_random_batches_hold_every_video_once_per_epoch_and_are_full():
    ids = [f"v{i:02d}" for i in range(23)]
    sampler = RandomBatches(videos_per_batch=5, seed=4)
    plans = [sampler.plan(epoch, ids) for epoch in range(3)]
    for plan in plans:
        assert len(plan) == 5 and all(len(batch) == len(set(batch)) == 5 for batch in plan)
        counts = Counter(video for batch in plan for video in batch)
        assert set(counts) == set(ids)  # every video
        assert sum(counts.values()) - len(ids) == 2 and set(counts.values()) == {1, 2}  # 2 repeats fill the last
        assert [video for video in plan[-1] if counts[video] == 2] == plan[0][:2]  # the epoch's first ones
    assert plans[0] != plans[1]  # a new order each epoch
    assert sampler.plan(1, ids) == plans[1]  # and the same one for the same epoch
    with pytest.raises(UserError, match="fewer than the 5 videos"):
        sampler.plan(0, ids[:4])


def _planted_clusters(clusters: int, size: int, dimensions: int = 16, seed: int = 0):
    generator = np.random.default_rng(seed)
    centres = generator.standard_normal((clusters, dimensions)) * 5
    members = np.repeat(np.arange(clusters), size)
    vectors = centres[members] + generator.standard_normal((len(members), dimensions)) * 0.1
    order = generator.permutation(len(members))  # clusters scattered over the ids
    return vectors[order], members[order]


def test_retrieval_batches_are_the_planted_groups_of_similar_videos():
    vectors, cluster_of = _planted_clusters(clusters=6, size=4)
    ids = [f"v{i:02d}" for i in range(len(vectors))]
    plan = RetrievalBatches(videos_per_batch=4, neighbours=3, seed=0).plan(0, ids, vectors)
    assert len(plan) == 6
    assert sorted(video for batch in plan for video in batch) == ids
    for batch in plan:
        assert len({cluster_of[ids.index(video)] for video in batch}) == 1
    # random batches mix the clusters: the check above is not a property of any batching
    mixed = RandomBatches(videos_per_batch=4, seed=0).plan(0, ids)
    assert any(len({cluster_of[ids.index(video)] for video in batch}) > 1 for batch in mixed)


def test_a_wider_neighbourhood_draws_from_near_videos_and_the_last_group_is_filled():
    vectors, _ = _planted_clusters(clusters=5, size=4, seed=1)
    vectors = vectors[:-2]  # 18 videos: groups of 4, the last one filled with 2 placed before
    groups = group_by_neighbours(vectors, 4, neighbours=6, generator=np.random.default_rng(5))
    assert len(groups) == 5 and all(len(group) == len(set(group)) == 4 for group in groups)
    assert sorted({index for group in groups for index in group}) == list(range(18))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    placed: set[int] = set()
    for seed, *members in groups[:-1]:  # each member among the seed's 6 nearest videos not yet grouped
        placed.add(seed)
        left = [index for index in range(18) if index not in placed]
        nearest = sorted(left, key=lambda index: -(unit[index] @ unit[seed]))[:6]
        assert set(members) <= set(nearest)
        placed.update(members)


def test_embed_videos_is_the_mean_of_a_video_s_windows():
    rows = {"a": np.ones((5, 3), np.float32), "b": np.arange(6, dtype=np.float32).reshape(2, 3)}

    def embed(features, kept):  # a masked mean, like the towers
        return (features * kept[..., None]).sum(1) / kept.sum(1, keepdim=True)

    vectors = embed_videos(embed, rows.__getitem__, ["a", "b"], window_seconds=2)
    assert np.allclose(vectors[0], 1.0)
    assert np.allclose(vectors[1], [1.5, 2.5, 3.5])
