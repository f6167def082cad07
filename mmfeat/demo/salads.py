"""The embedded demo dataset "demo-salads": tiny synthetic videos in the exact 50Salads / MS-TCN layout.

    mmfeat make-demo-salads --root data/demo-salads --seed 0

Writes, deterministically from the seed:

    ROOT/mapping.txt                      "idx name" per line, the 19 50Salads labels
    ROOT/videos/rgb-SS-T.mp4              H.264, subject SS, take T
    ROOT/groundTruth/rgb-SS-T.txt         one label name per frame
    ROOT/splits/{train,test}.splitK.bundle  "rgb-SS-T.txt" per line, cross-validation by subject

Each action has its own look (background hue, stripe texture and its drift)
and motion (a square moving in its own direction and speed), with mild noise,
so that even randomly initialised convolutional features tell actions apart.
Like a user's real data, the set has rough edges on purpose: some videos have
damaged packets in the middle, one file is unreadable as a whole (its
groundTruth and bundle entries still exist), and one groundTruth is a couple
of frames longer than its video (50Salads has such mismatches).

Videos are lossless H.264 with a keyframe every GOP_FRAMES frames: lossless so
that the same seed always gives the same decoded frames (see
mmfeat/video/encode.py), short groups so that decoding recovers soon after
the damaged packets.
"""

from __future__ import annotations

import colorsys
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmfeat.atomic import replaced_on_success, write_text_atomically
from mmfeat.video.damage import damage_packets, make_unreadable
from mmfeat.video.encode import write_h264_video

log = logging.getLogger(__name__)

SALADS_LABELS = (
    "cut_tomato",
    "place_tomato_into_bowl",
    "cut_cheese",
    "place_cheese_into_bowl",
    "cut_lettuce",
    "place_lettuce_into_bowl",
    "add_salt",
    "add_vinegar",
    "add_oil",
    "add_pepper",
    "mix_dressing",
    "peel_cucumber",
    "cut_cucumber",
    "place_cucumber_into_bowl",
    "add_dressing",
    "mix_ingredients",
    "serve_salad_onto_plate",
    "action_start",
    "action_end",
)
START_LABEL, END_LABEL = "action_start", "action_end"
ACTION_LABELS = SALADS_LABELS[:-2]  # the labels that can fill the middle of a video

TAKES_PER_SUBJECT = 2  # as in 50Salads: each subject prepared two salads
GOP_FRAMES = 8  # keyframe every 8 frames, so decoding recovers soon after damaged packets
LOSSLESS_CRF = 0  # same seed, same decoded frames (lossy x264 output varies a little between runs)
DAMAGED_GOPS = 1  # damage one whole group of pictures: decoders resume at the next keyframe
EXTRA_LABELS_FOR_MISMATCH = 2  # the groundTruth that is longer than its video, by this many frames
BOUNDARY_SEGMENT_FRAMES = (3, 6)  # action_start / action_end lengths, inclusive
MIDDLE_SEGMENTS = (3, 6)  # actions between start and end, inclusive
MIN_MIDDLE_SEGMENT_FRAMES = 4
NOISE_STD = 4.0  # grey levels: mild, so that the action's look dominates


@dataclass(frozen=True)
class _VideoPlan:
    """What one demo video will hold, drawn before anything is written."""

    video_id: str
    frame_count: int
    labels: list[str]  # one per frame of the video
    number: int  # position in the id list, seeds its own random stream


def demo_video_ids(num_videos: int) -> list[str]:
    """Ids of the demo videos, `rgb-{subject:02d}-{take}`, two takes per subject; nothing is generated."""
    if num_videos < 1:
        raise ValueError(f"num_videos must be at least 1, got {num_videos}")
    return [
        f"rgb-{number // TAKES_PER_SUBJECT + 1:02d}-{number % TAKES_PER_SUBJECT + 1}" for number in range(num_videos)
    ]


def demo_item_ids(demo: Mapping) -> list[str]:
    """The layout registry's entry (mmfeat.datasets.layouts): the ids of a config's `demo` section."""
    return demo_video_ids(demo["videos"])


def demo_command(dataset: Mapping) -> list[str]:
    """The layout registry's entry: `mmfeat make-demo-salads` with a dataset entry's settings, as words."""
    demo = dataset["demo"]
    return [str(word) for word in [
        "make-demo-salads", "--size", *demo["size"], "--fps", demo["fps"], "--seed", demo["seed"],
        "--videos", demo["videos"], "--frames", *demo["frames"], "--splits", dataset["splits"],
        "--damaged", demo["damaged"], "--unreadable", demo["unreadable"]]]


def generate_demo_salads(
    root: str | os.PathLike,
    seed: int = 0,
    num_videos: int = 10,
    frames: tuple[int, int] = (60, 90),
    width: int = 64,
    height: int = 48,
    fps: int = 15,
    num_splits: int = 5,
    damaged: int = 1,
    unreadable: int = 1,
) -> dict:
    """Write the demo dataset under `root` and return a JSON-ready summary.

    `frames` is the inclusive range each video's frame count is drawn from;
    `damaged` videos get a group of pictures zeroed in the middle,
    `unreadable` videos are replaced by a file no backend opens. Every file is
    written to a hidden temporary name and renamed when complete. The summary gives
    the ids, `frames` per video (for an unreadable file, the count its
    groundTruth was drawn for), `groundtruth_frames`, `damaged` (id -> frame
    indices), `unreadable` (ids) and `longer_groundtruth` (the mismatched id).
    """
    video_ids = demo_video_ids(num_videos)
    _check_arguments(video_ids, frames, width, height, num_splits, damaged, unreadable)
    root = Path(root)
    for folder in ("videos", "groundTruth", "splits"):
        (root / folder).mkdir(parents=True, exist_ok=True)

    choice_rng = np.random.default_rng([seed, num_videos])
    plans = [_plan_video(video_id, number, seed, frames) for number, video_id in enumerate(video_ids)]
    picked = choice_rng.permutation(num_videos)
    unreadable_ids = sorted(video_ids[i] for i in picked[:unreadable])
    damaged_ids = sorted(video_ids[i] for i in picked[unreadable : unreadable + damaged])
    longer_truth_id = video_ids[picked[unreadable + damaged]]

    write_text_atomically(root / "mapping.txt", "".join(f"{index} {name}\n" for index, name in enumerate(SALADS_LABELS)))
    damaged_frames: dict[str, list[int]] = {}
    truth_frames: dict[str, int] = {}
    for plan in plans:
        labels = list(plan.labels)
        if plan.video_id == longer_truth_id:
            labels += [labels[-1]] * EXTRA_LABELS_FOR_MISMATCH
        write_text_atomically(root / "groundTruth" / f"{plan.video_id}.txt", "".join(f"{label}\n" for label in labels))
        truth_frames[plan.video_id] = len(labels)
        video_path = root / "videos" / f"{plan.video_id}.mp4"
        if plan.video_id in unreadable_ids:
            make_unreadable(video_path, seed=seed + plan.number)
            continue
        with replaced_on_success(video_path) as partial_path:
            frame_rng = np.random.default_rng([seed, plan.number, 2])
            frame_stream = render_action_frames(plan.labels, frame_rng, width, height)
            write_h264_video(partial_path, frame_stream, fps=fps, gop=GOP_FRAMES, crf=LOSSLESS_CRF)
            if plan.video_id in damaged_ids:
                damaged_frames[plan.video_id] = damage_packets(partial_path, _middle_gop_range(plan.frame_count))
    _write_splits(root / "splits", video_ids, num_splits)

    summary = {
        "root": str(root),
        "seed": seed,
        "videos": video_ids,
        "frames": {plan.video_id: plan.frame_count for plan in plans},
        "groundtruth_frames": truth_frames,
        "damaged": damaged_frames,
        "unreadable": unreadable_ids,
        "longer_groundtruth": longer_truth_id,
        "num_splits": num_splits,
        "fps": fps,
        "width": width,
        "height": height,
    }
    log.info("demo-salads: wrote %d videos under %s", num_videos, root)
    return summary


def _check_arguments(video_ids, frames, width, height, num_splits, damaged, unreadable) -> None:
    subjects = len(video_ids) // TAKES_PER_SUBJECT + len(video_ids) % TAKES_PER_SUBJECT
    min_frames = 2 * BOUNDARY_SEGMENT_FRAMES[1] + MIDDLE_SEGMENTS[1] * MIN_MIDDLE_SEGMENT_FRAMES
    min_frames = max(min_frames, (DAMAGED_GOPS + 2) * GOP_FRAMES + 1)  # damage needs room before and after
    if not min_frames <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be MIN MAX with {min_frames} <= MIN <= MAX, got {frames}")
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"width and height must be even and at least 16 (H.264, yuv420p), got {width}x{height}")
    if not 2 <= num_splits <= subjects:
        raise ValueError(
            f"num_splits must be between 2 and the number of subjects ({subjects} for {len(video_ids)} videos), "
            f"got {num_splits}"
        )
    if damaged < 0 or unreadable < 0 or damaged + unreadable + 1 > len(video_ids):
        raise ValueError(
            f"{len(video_ids)} videos cannot hold {damaged} damaged + {unreadable} unreadable videos plus one "
            f"with a longer groundTruth; ask for more videos"
        )


def _plan_video(video_id: str, number: int, seed: int, frames: tuple[int, int]) -> _VideoPlan:
    """Draw the frame count and the per-frame labels of one video from its own random stream."""
    rng = np.random.default_rng([seed, number, 1])
    frame_count = int(rng.integers(frames[0], frames[1] + 1))
    low, high = BOUNDARY_SEGMENT_FRAMES
    start_frames, end_frames = (int(length) for length in rng.integers(low, high + 1, size=2))
    middle_frames = frame_count - start_frames - end_frames
    segment_count = int(rng.integers(MIDDLE_SEGMENTS[0], MIDDLE_SEGMENTS[1] + 1))
    actions = action_sequence(rng, segment_count)
    # lengths: the minimum each, plus a random share of what is left
    shares = rng.dirichlet(np.ones(segment_count))
    spare = middle_frames - segment_count * MIN_MIDDLE_SEGMENT_FRAMES
    lengths = MIN_MIDDLE_SEGMENT_FRAMES + np.floor(shares * spare).astype(int)
    lengths[-1] += middle_frames - int(lengths.sum())
    labels = [START_LABEL] * start_frames
    for action, length in zip(actions, lengths):
        labels += [action] * int(length)
    labels += [END_LABEL] * end_frames
    return _VideoPlan(video_id=video_id, frame_count=frame_count, labels=labels, number=number)


def action_sequence(rng: np.random.Generator, segment_count: int) -> list[str]:
    """Random actions with no action twice in a row (two adjacent segments of one action would be one).

    Also demo-howto's (mmfeat/demo/howto.py): its clips show the same actions.
    """
    actions: list[str] = []
    while len(actions) < segment_count:
        action = ACTION_LABELS[int(rng.integers(len(ACTION_LABELS)))]
        if not actions or action != actions[-1]:
            actions.append(action)
    return actions


def render_action_frames(labels: Sequence[str], rng: np.random.Generator, width: int,
                         height: int) -> Iterator[np.ndarray]:
    """One frame per label, one at a time: each drawn in its action's look and motion, from `rng`.

    A run of equal labels is one segment: the square starts at a drawn place
    and moves on from there. Also demo-howto's frames (mmfeat/demo/howto.py).
    """
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    subject_brightness = float(rng.uniform(-12, 12))  # a little variation between videos
    square_size = max(4, height // 4)
    segment_start, square_origin = 0, (0.0, 0.0)
    for frame_index, label in enumerate(labels):
        if frame_index == 0 or label != labels[frame_index - 1]:
            segment_start = frame_index
            square_origin = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        look = _action_look(SALADS_LABELS.index(label))
        time_in_segment = frame_index - segment_start
        phase = look.stripe_drift * time_in_segment
        along_stripe_normal = columns * look.stripe_dx + rows * look.stripe_dy
        stripes = np.sin(2 * math.pi * look.stripe_frequency * along_stripe_normal + phase)
        frame = look.background[None, None, :] + 30.0 * stripes[..., None] + subject_brightness
        x = (square_origin[0] + look.square_velocity[0] * time_in_segment) % width
        y = (square_origin[1] + look.square_velocity[1] * time_in_segment) % height
        inside = ((columns - x) % width < square_size) & ((rows - y) % height < square_size)
        frame[inside] = look.square_colour
        frame += rng.normal(0.0, NOISE_STD, size=frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class _ActionLook:
    background: np.ndarray  # RGB, 0..255
    stripe_dx: float  # stripe orientation, unit vector
    stripe_dy: float
    stripe_frequency: float  # cycles per pixel
    stripe_drift: float  # radians per frame
    square_colour: np.ndarray
    square_velocity: tuple[float, float]  # pixels per frame


def _action_look(label_index: int) -> _ActionLook:
    """A look per label, fixed by its index: hues spread around the colour wheel, motion in its own direction."""
    count = len(SALADS_LABELS)
    hue = label_index / count
    background = np.array(colorsys.hsv_to_rgb(hue, 0.7, 0.75), dtype=np.float32) * 255
    square = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.9, 1.0), dtype=np.float32) * 255
    stripe_angle = math.pi * ((label_index * 7) % count) / count  # 7 is coprime with 19: scrambles neighbours
    move_angle = 2 * math.pi * ((label_index * 5) % count) / count
    speed = 0.8 + 0.4 * (label_index % 4)
    return _ActionLook(
        background=background,
        stripe_dx=math.cos(stripe_angle),
        stripe_dy=math.sin(stripe_angle),
        stripe_frequency=1.0 / (6 + 2 * (label_index % 5)),
        stripe_drift=0.15 + 0.1 * (label_index % 3),
        square_colour=square,
        square_velocity=(speed * math.cos(move_angle), speed * math.sin(move_angle)),
    )


def _middle_gop_range(frame_count: int) -> range:
    """DAMAGED_GOPS whole groups of pictures around the middle, starting at a keyframe."""
    first_keyframe = (frame_count // 2) // GOP_FRAMES * GOP_FRAMES
    return range(first_keyframe, first_keyframe + DAMAGED_GOPS * GOP_FRAMES)


def _write_splits(splits_dir: Path, video_ids: list[str], num_splits: int) -> None:
    """Cross-validation by subject: split k tests the subjects of fold k and trains on the rest."""
    subjects = sorted({video_id.split("-")[1] for video_id in video_ids})
    folds = np.array_split(np.array(subjects), num_splits)
    for split_number, fold_subjects in enumerate(folds, start=1):
        test_ids = [video_id for video_id in video_ids if video_id.split("-")[1] in set(fold_subjects)]
        train_ids = [video_id for video_id in video_ids if video_id not in test_ids]
        for part, ids in (("train", train_ids), ("test", test_ids)):
            write_text_atomically(splits_dir / f"{part}.split{split_number}.bundle", "".join(f"{vid}.txt\n" for vid in ids))

