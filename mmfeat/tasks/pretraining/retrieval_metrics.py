"""Retrieval metrics of paired embeddings: ranks, R@k and median rank, and the exact random-ranking line.

    scores = text @ video.T                                  # (N, N): row i text i, column j clip j
    ranks = retrieval_ranks(scores)                          # {"text_to_video": (N,), "video_to_text": (N,)}
    summary = {direction: recall_summary(r) for direction, r in ranks.items()}
    random_line = random_ranking(len(scores))                # what ranking by chance gives, exactly

Pair i (clip i, its caption i) is the one right answer of query i. Rank 1 is best.
A tie is counted against the model: a query's rank is the number of candidates
scoring at least as high as its right answer (itself included), so a model that
scores everything alike ranks every answer last, not first. Ties are real here:
two captions of the same second see the same video rows, and a repeated sentence
gives the same text vector.

Ranking by chance puts the right answer at each of the N places with
probability 1/N, so R@k is min(k, N)/N and the median rank (of ranks uniform on
1..N) is (N + 1)/2; `random_ranking` gives these exact values, not a sample.
"""

from __future__ import annotations

import numpy as np

RECALL_AT = (1, 5, 10)  # VideoCLIP's and the field's retrieval table
DIRECTIONS = ("text_to_video", "video_to_text")


def retrieval_ranks(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Rank of each query's right answer (1 = best, ties pessimistic), text to video and video to text.

    scores[i, j] scores text i against clip j; the right answers are the diagonal.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or not len(scores):
        raise ValueError(f"scores must be a non-empty square matrix (texts x clips), got shape {scores.shape}")
    right = np.diag(scores)
    return {
        "text_to_video": (scores >= right[:, None]).sum(axis=1),  # row i: clips against text i
        "video_to_text": (scores >= right[None, :]).sum(axis=0),  # column j: texts against clip j
    }


def recall_summary(ranks: np.ndarray) -> dict[str, float]:
    """{"R@1", "R@5", "R@10": share of queries whose right answer ranks within k, "median_rank"}."""
    ranks = np.asarray(ranks)
    summary = {f"R@{k}": float(np.mean(ranks <= k)) for k in RECALL_AT}
    summary["median_rank"] = float(np.median(ranks))
    return summary


def random_ranking(candidates: int) -> dict[str, dict[str, float]]:
    """The expected summary of ranking `candidates` answers by chance, both directions (module docstring)."""
    if candidates < 1:
        raise ValueError(f"random ranking needs at least one candidate, got {candidates}")
    summary = {f"R@{k}": min(k, candidates) / candidates for k in RECALL_AT}
    summary["median_rank"] = (candidates + 1) / 2
    return {direction: dict(summary) for direction in DIRECTIONS}
