"""Clip pairs as VideoCLIP cuts them from a narrated video: a caption, and the seconds of video around it.

    maker = ClipMaker(rows, captions_by_id, ClipSettings.from_config(pretraining["clips"]), max_video_tokens=32,
                      captions_per_clip=1, tokenize=model.tokenize, with_audio=False)
    batch = maker.pairs(["v1", "v7"], wanted=range(0, 32), seed=(0, epoch, step))   # a PairBatch of 32 pairs

For each clip (VideoCLIP's how2 processor, as its paper describes it): pick one of the video's
captions, draw a point inside it, draw a length of min_seconds..max_seconds (never more than
the model's max_video_tokens, nor the video), and take that many one-a-second feature rows
centred on the point (moved inwards at the video's ends). Its text is the caption, cut to the
model's max_text_tokens by the tokenizer. For MIL-NCE a clip has K captions: its own first,
then the others that overlap its seconds, most overlap first; when fewer overlap, its own
caption fills the rest (a repeated positive changes no ranking).

A video gives clips.per_video clips per batch, anchored on distinct captions while the video
has enough. Every draw comes from a generator seeded by (run seed, epoch, step, the video's
place in the batch), so a process can make any rows of a step's batch alone, the same ones
whatever the number of processes, and a resumed run draws what the first run drew.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from mmfeat.datasets.narrated import Caption
from mmfeat.errors import UserError
from mmfeat.tasks.pretraining.pairs import PairBatch

Tokenize = Callable[[Sequence[str]], tuple[torch.Tensor, torch.Tensor]]  # texts -> (ids, mask), padded


class FeatureRows(Protocol):
    """What clips read of a video's stored features (mmfeat.tasks.pretraining.feature_rows.NarratedFeatures)."""

    def video(self, video_id: str) -> np.ndarray: ...  # (T, D): row k the second around k s

    def audio(self, video_id: str) -> np.ndarray: ...  # (T, Da): the same seconds


@dataclass(frozen=True)
class ClipSettings:
    """The schema's `pretraining.clips`, where every default lives."""

    per_video: int
    min_seconds: int
    max_seconds: int
    captions: int

    @classmethod
    def from_config(cls, entry: dict) -> ClipSettings:
        settings = cls(**entry)
        if settings.min_seconds > settings.max_seconds:
            raise UserError(f"pretraining.clips: min_seconds {settings.min_seconds} is above max_seconds "
                            f"{settings.max_seconds}")
        return settings


@dataclass(frozen=True)
class ClipWindow:
    """One clip of a video: feature rows first_row..first_row + seconds - 1, and its captions (indices, own first)."""

    first_row: int
    seconds: int
    captions: tuple[int, ...]


def clip_windows(captions: Sequence[Caption], rows: int, count: int, shortest: int, longest: int,
                 captions_per_clip: int, generator: np.random.Generator) -> list[ClipWindow]:
    """`count` clips of a video of `rows` seconds with `captions` (time order), lengths shortest..longest."""
    if not captions or rows < 1:
        raise ValueError(f"a clip needs a caption and a second of video, got {len(captions)} captions, {rows} rows")
    anchors = _anchor_captions(len(captions), count, generator)
    high = min(longest, rows)
    low = min(shortest, high)
    windows = []
    for anchor in anchors:
        caption = captions[anchor]
        seconds = int(generator.integers(low, high + 1))
        point = float(generator.uniform(caption.start, caption.end)) if caption.end > caption.start else caption.start
        # rows first..first + seconds - 1 are centred on (first + (seconds - 1) / 2) s: put that on the point
        first = min(max(math.floor(point - (seconds - 1) / 2 + 0.5), 0), rows - seconds)
        windows.append(ClipWindow(first, seconds, _clip_captions(captions, anchor, first, seconds, captions_per_clip)))
    return windows


class ClipMaker:
    """Makes the PairBatch of any rows of a step: its videos' clip windows, feature rows and tokens."""

    def __init__(self, rows: FeatureRows, captions_by_id: Mapping[str, Sequence[Caption]], settings: ClipSettings,
                 max_video_tokens: int, captions_per_clip: int, tokenize: Tokenize, with_audio: bool) -> None:
        self.rows = rows
        self.captions_by_id = captions_by_id
        self.settings = settings
        self.longest = min(settings.max_seconds, max_video_tokens)
        self.captions_per_clip = captions_per_clip
        self.tokenize = tokenize
        self.with_audio = with_audio

    def pairs(self, video_ids: Sequence[str], wanted: range, seed: tuple[int, ...]) -> PairBatch:
        """Rows `wanted` of the batch whose video i gives rows i * per_video .. (i + 1) * per_video - 1."""
        per_video = self.settings.per_video
        parts = []  # (video rows, audio rows, [(first, seconds)], [caption texts])
        for place, video_id in enumerate(video_ids):
            mine = range(max(wanted.start, place * per_video), min(wanted.stop, (place + 1) * per_video))
            if not mine:
                continue
            video = self.rows.video(video_id)
            captions = self.captions_by_id[video_id]
            generator = np.random.default_rng([*seed, place])
            windows = clip_windows(captions, len(video), per_video, self.settings.min_seconds, self.longest,
                                   self.captions_per_clip, generator)
            windows = windows[mine.start - place * per_video:mine.stop - place * per_video]
            audio = self.rows.audio(video_id) if self.with_audio else None
            parts += [(video, audio, window, [captions[index].text for index in window.captions])
                      for window in windows]
        return self._batch(parts)

    def _batch(self, parts) -> PairBatch:
        longest = max(window.seconds for _, _, window, _ in parts)
        video = np.zeros((len(parts), longest, parts[0][0].shape[1]), np.float32)
        kept = np.zeros((len(parts), longest), bool)
        audio = np.zeros((len(parts), longest, parts[0][1].shape[1]), np.float32) if self.with_audio else None
        for row, (video_rows, audio_rows, window, _) in enumerate(parts):
            seconds = slice(window.first_row, window.first_row + window.seconds)
            video[row, :window.seconds] = video_rows[seconds]
            kept[row, :window.seconds] = True
            if audio is not None:
                if len(audio_rows) != len(video_rows):
                    raise UserError(f"{len(audio_rows)} audio rows for {len(video_rows)} video rows: the audio "
                                    "features must be pooled over the video's seconds (NarratedFeatures.audio)")
                audio[row, :window.seconds] = audio_rows[seconds]
        texts = [text for _, _, _, clip_texts in parts for text in clip_texts]
        ids, mask = self.tokenize(texts)
        shape = (len(parts), self.captions_per_clip, ids.shape[-1])
        return PairBatch(
            video=torch.from_numpy(video), video_mask=torch.from_numpy(kept),
            text_ids=ids.reshape(shape), text_mask=mask.reshape(shape),
            audio=None if audio is None else torch.from_numpy(audio),
            audio_mask=None if audio is None else torch.from_numpy(kept.copy()),
        )


def _anchor_captions(available: int, count: int, generator: np.random.Generator) -> np.ndarray:
    """`count` caption indices, distinct while there are enough, then each caption again before any a third time."""
    rounds = [generator.permutation(available) for _ in range(-(-count // available))]
    return np.concatenate(rounds)[:count]


def _clip_captions(captions: Sequence[Caption], anchor: int, first: int, seconds: int, wanted: int) -> tuple[int, ...]:
    """The anchor, then the captions overlapping the clip's seconds, most overlap first; the anchor again to fill."""
    start, end = max(first - 0.5, 0.0), first + seconds - 0.5
    overlaps = []
    for index, caption in enumerate(captions):
        overlap = min(caption.end, end) - max(caption.start, start)
        if index != anchor and overlap > 0:
            overlaps.append((-overlap, index))
    others = [index for _, index in sorted(overlaps)][:wanted - 1]
    return (anchor, *others, *[anchor] * (wanted - 1 - len(others)))
