"""The embedded demo dataset "demo-howto": narrated clips of the demo-salads actions, in the narrated layout.

    mmfeat make-demo-howto --root data/demo-howto --seed 0 --videos 36 --seconds 8 16

Writes, deterministically from the settings (the keys of `$defs/narrated_demo`
in mmfeat/config/schema.yaml, whose defaults fill in the rest):

    ROOT/videos/howto-NNN.mp4   H.264 (lossless) with a mono AAC narration track
    ROOT/captions.json          {id: {"start": [...], "end": [...], "text": [...]}}, HowTo100M's format

Each clip shows a few demo-salads actions of four to six seconds each, drawn
exactly as demo-salads draws them (mmfeat.demo.salads.render_action_frames:
each action's look and motion). A narrator (one espeak-ng voice per clip, as
in demo-urfunny) says one caption per action, and the caption's times are
where its speech is in the audio track. Like real narration:

- most captions name the action being shown, while it is shown ("now cut the tomato");
- `shift_fraction` of all captions name it but are said a second or two early or late;
- `chatter_fraction` of all captions are unrelated chatter ("my kids love this one").

A shift that would run out of the clip or into a neighbouring caption is
tried the other way, and left out when neither fits; the summary that
`generate_demo_howto` returns records every caption's kind, the action it
names and its shift, and the action shown at every moment.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmfeat.atomic import replaced_on_success, write_text_atomically
from mmfeat.datasets.narrated import CAPTIONS_FILE, VIDEOS_DIR
from mmfeat.demo.salads import action_sequence, render_action_frames
from mmfeat.demo.speech import WordRequest, synthesise_words
from mmfeat.demo.urfunny import VOICE_VARIANTS
from mmfeat.video.encode import write_h264_video

log = logging.getLogger(__name__)

SETTINGS_DEFINITION = "narrated_demo"  # the schema's $defs entry that holds the settings and their defaults
ID_PREFIX = "howto-"
LOSSLESS_CRF = 0  # same seed, same decoded frames (see mmfeat/video/encode.py)
ACTION_SECONDS = (4.0, 6.0)  # an action lasts at least the first, about the second at most
SHIFT_SECONDS = (1.0, 2.0)  # how far a shifted caption is said from its action's own slot
LEAD_SECONDS = (0.2, 0.6)  # from an action's start to its caption's first word
CAPTION_GAP_S = 0.25  # at least this much silence between two captions, so that each is heard on its own
WORDS_PER_MINUTE = (230, 270)  # brisk: the longest caption fits an action's slot with room for a shift
SPEECH_PEAK = 0.6  # each caption's speech is scaled to this peak
BACKGROUND_NOISE_STD = 0.002  # room noise: a real track is never digital silence
PREPOSITIONS = ("into", "onto")  # label words that take no article when a label is read out

OPENERS = ("now", "next", "then", "and now", "okay now", "let's", "so we", "time to")
CHATTER = (
    "hi everyone and welcome back to my kitchen",
    "this recipe comes from my grandmother",
    "remember to wash your hands",
    "I bought everything at the market this morning",
    "do not forget to subscribe",
    "the light in here is really nice today",
    "my kids love this one",
    "it only takes ten minutes",
    "let me know what you think in the comments",
    "I made this for a picnic last week",
)
KINDS = ("aligned", "shifted", "chatter")  # a caption's kind, as the summary records it


@dataclass
class _Slot:
    """One action shown in a clip, and the caption said about it (or chatter said during it)."""

    action: str
    start: float  # seconds: the action's stretch of the clip
    end: float
    kind: str = "aligned"  # one of KINDS
    text: str = ""  # what is said: the action's caption, or chatter
    chatter_text: str = ""  # said instead when the slot's kind is drawn to be chatter
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # at the engine's rate
    speech_seconds: float = 0.0
    caption_start: float = 0.0  # where the speech starts
    shift_s: float = 0.0  # how far the caption was moved from its place in the action's slot

    @property
    def caption_end(self) -> float:
        return self.caption_start + self.speech_seconds


@dataclass
class _ClipPlan:
    """What one clip will show and say, drawn before any sound is made."""

    video_id: str
    number: int  # position in the id list: seeds the clip's own random streams
    seconds: int
    frame_labels: list[str]  # the action shown in each frame
    slots: list[_Slot]
    voice: str
    pitch: int
    words_per_minute: int


def demo_video_ids(num_videos: int) -> list[str]:
    """Ids of the demo's clips, `howto-NNN`, as the workflow plans them before anything is generated."""
    if num_videos < 1:
        raise ValueError(f"num_videos must be at least 1, got {num_videos}")
    return [f"{ID_PREFIX}{number:03d}" for number in range(num_videos)]


def demo_item_ids(demo: Mapping) -> list[str]:
    """The layout registry's entry (mmfeat.datasets.layouts): the ids of a config's `demo` section."""
    return demo_video_ids(demo["videos"])


def demo_command(dataset: Mapping) -> list[str]:
    """The layout registry's entry: `mmfeat make-demo-howto` with a dataset entry's settings, as words."""
    demo = dataset["demo"]
    return [str(word) for word in [
        "make-demo-howto", "--size", *demo["size"], "--fps", demo["fps"], "--seed", demo["seed"],
        "--videos", demo["videos"], "--seconds", *demo["seconds"], "--shift-fraction", demo["shift_fraction"],
        "--chatter-fraction", demo["chatter_fraction"]]]


def generate_demo_howto(root: str | os.PathLike, settings: Mapping | None = None) -> dict:
    """Write the demo under `root` and return a JSON-ready summary.

    `settings` holds keys of the schema's `$defs/narrated_demo` (seed, videos,
    seconds, size, fps, shift_fraction, chatter_fraction); the schema's
    defaults fill in the rest, and a value it does not allow raises a
    UserError naming it. The summary gives the ids, each clip's `seconds`,
    `actions` (id -> [[start, end, action], ...]), `captions` (id -> one
    record per caption in time order: start, end, text, kind, the action it
    names or None, and its shift in seconds), the counts of each kind, and
    the settings used. Every file is written under a temporary name and
    renamed when complete.
    """
    from mmfeat.workflow_config import with_defaults  # jsonschema: only when a demo is made

    settings = with_defaults(SETTINGS_DEFINITION, dict(settings or {}), "demo-howto settings")
    seed, fps = settings["seed"], settings["fps"]
    width, height = settings["size"]
    _check_settings(settings)
    root = Path(root)
    (root / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)

    plans = [_plan_clip(video_id, number, seed, settings["seconds"], fps)
             for number, video_id in enumerate(demo_video_ids(settings["videos"]))]
    _draw_kinds(plans, np.random.default_rng([seed, settings["videos"]]), settings)
    requests = [WordRequest(slot.text, plan.voice, plan.words_per_minute, plan.pitch)
                for plan in plans for slot in plan.slots]
    # every caption of the dataset in one call: the engine is reproducible for a whole sequence (see speech.py)
    spoken, audio_rate = synthesise_words(requests)
    spoken_captions = iter(spoken)

    captions_json: dict[str, dict[str, list]] = {}
    for plan in plans:
        rng = np.random.default_rng([seed, plan.number, 3])
        for slot in plan.slots:
            speech = next(spoken_captions)
            slot.speech = speech * (SPEECH_PEAK / max(float(np.abs(speech).max()), 1e-6))
            slot.speech_seconds = slot.speech.size / audio_rate
        _place_captions(plan, rng)
        waveform = _narration(plan, audio_rate, rng)
        with replaced_on_success(root / VIDEOS_DIR / f"{plan.video_id}.mp4") as partial_path:
            frames = render_action_frames(plan.frame_labels, np.random.default_rng([seed, plan.number, 2]),
                                          width, height)
            write_h264_video(partial_path, frames, fps=fps, crf=LOSSLESS_CRF, audio=waveform, audio_rate=audio_rate)
        captions_json[plan.video_id] = _caption_entry(plan.slots)
    write_text_atomically(root / CAPTIONS_FILE, json.dumps(captions_json, indent=1) + "\n")
    log.info("demo-howto: wrote %d narrated clips under %s", len(plans), root)
    return _summary(root, plans, settings, audio_rate)


def action_phrase(label: str) -> str:
    """A label read out as an instruction: "place_tomato_into_bowl" -> "place the tomato into the bowl"."""
    verb, *rest = label.split("_")
    words = [verb]
    for word in rest:
        words += [word] if word in PREPOSITIONS else ["the", word]
    return " ".join(words)


def _check_settings(settings: Mapping) -> None:
    """What the schema cannot say: relations between settings."""
    low, high = settings["seconds"]
    if low > high:
        raise ValueError(f"seconds must be MIN MAX with MIN <= MAX, got {settings['seconds']}")
    if low < 2 * ACTION_SECONDS[0]:
        raise ValueError(f"seconds: a clip must hold at least two actions of {ACTION_SECONDS[0]:g} s, "
                         f"so at least {2 * ACTION_SECONDS[0]:g} s; got {low}")
    width, height = settings["size"]
    if width % 2 or height % 2:
        raise ValueError(f"size must be even (H.264, yuv420p), got {width}x{height}")
    if settings["shift_fraction"] + settings["chatter_fraction"] > 1:
        raise ValueError(f"shift_fraction ({settings['shift_fraction']}) and chatter_fraction "
                         f"({settings['chatter_fraction']}) are shares of the same captions: at most 1 together")


def _plan_clip(video_id: str, number: int, seed: int, seconds: list[int], fps: int) -> _ClipPlan:
    """Draw the clip's length, its actions and their stretches, its narrator and its captions' words."""
    rng = np.random.default_rng([seed, number, 1])
    clip_seconds = int(rng.integers(seconds[0], seconds[1] + 1))
    frame_count = clip_seconds * fps
    low, high = ACTION_SECONDS
    action_count = int(rng.integers(max(2, math.ceil(clip_seconds / high)), int(clip_seconds // low) + 1))
    # each action its minimum, plus a random share of what is left
    min_frames = round(low * fps)
    lengths = min_frames + np.floor(rng.dirichlet(np.ones(action_count)) * (frame_count - action_count * min_frames))
    lengths = lengths.astype(int)
    lengths[-1] += frame_count - int(lengths.sum())
    frame_labels: list[str] = []
    slots = []
    for action, length in zip(action_sequence(rng, action_count), lengths):
        slots.append(_Slot(action, start=len(frame_labels) / fps, end=(len(frame_labels) + int(length)) / fps))
        frame_labels += [action] * int(length)
    for slot in slots:  # words drawn for every slot; the kind drawn later decides which are said
        slot.text = f"{OPENERS[int(rng.integers(len(OPENERS)))]} {action_phrase(slot.action)}"
        slot.chatter_text = CHATTER[int(rng.integers(len(CHATTER)))]
    return _ClipPlan(
        video_id=video_id,
        number=number,
        seconds=clip_seconds,
        frame_labels=frame_labels,
        slots=slots,
        voice=f"en+{VOICE_VARIANTS[number % len(VOICE_VARIANTS)]}",
        pitch=int(rng.integers(35, 66)),
        words_per_minute=int(rng.integers(WORDS_PER_MINUTE[0], WORDS_PER_MINUTE[1] + 1)),
    )


def _draw_kinds(plans: list[_ClipPlan], rng: np.random.Generator, settings: Mapping) -> None:
    """Exactly round(fraction x captions) chatter and shifted captions, drawn over the whole dataset."""
    slots = [slot for plan in plans for slot in plan.slots]
    chatter_count = round(settings["chatter_fraction"] * len(slots))
    shifted_count = round(settings["shift_fraction"] * len(slots))
    order = rng.permutation(len(slots))
    for position, index in enumerate(order):
        slot = slots[int(index)]
        if position < chatter_count:
            slot.kind, slot.text = "chatter", slot.chatter_text
        elif position < chatter_count + shifted_count:
            slot.kind = "shifted"


def _place_captions(plan: _ClipPlan, rng: np.random.Generator) -> None:
    """Each caption in its action's slot, then the shifted ones moved a second or two, where they fit."""
    for slot in plan.slots:
        room = slot.end - slot.start - slot.speech_seconds - CAPTION_GAP_S
        if room < LEAD_SECONDS[0]:
            raise ValueError(f"{plan.video_id}: the caption {slot.text!r} lasts {slot.speech_seconds:.2f} s, "
                             f"too long for its action's {slot.end - slot.start:.2f} s")
        slot.caption_start = slot.start + float(rng.uniform(LEAD_SECONDS[0], min(LEAD_SECONDS[1], room)))
    for slot in plan.slots:
        shift = float(rng.uniform(*SHIFT_SECONDS))  # drawn for every slot: the streams after do not follow the kind
        direction = 1.0 if rng.random() < 0.5 else -1.0
        if slot.kind != "shifted":
            continue
        others = [other for other in plan.slots if other is not slot]
        for signed in (direction * shift, -direction * shift):
            start = slot.caption_start + signed
            if _fits(start, start + slot.speech_seconds, plan.seconds, others):
                slot.caption_start, slot.shift_s = start, signed
                break
        else:
            slot.kind = "aligned"  # no room either way: said in its slot, and recorded so
            log.info("%s: no room to shift %r; it stays with its action", plan.video_id, slot.text)


def _fits(start: float, end: float, clip_seconds: float, others: list[_Slot]) -> bool:
    """Inside the clip, and CAPTION_GAP_S clear of every other caption."""
    if start < 0 or end > clip_seconds:
        return False
    return all(end + CAPTION_GAP_S <= other.caption_start or other.caption_end + CAPTION_GAP_S <= start
               for other in others)


def _narration(plan: _ClipPlan, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The clip's audio: room noise, and each caption's speech from its start, as long as the video."""
    waveform = rng.normal(0.0, BACKGROUND_NOISE_STD, size=plan.seconds * rate).astype(np.float32)
    for slot in plan.slots:
        first = round(slot.caption_start * rate)
        waveform[first : first + slot.speech.size] += slot.speech[: waveform.size - first]
    return waveform


def _caption_entry(slots: list[_Slot]) -> dict[str, list]:
    """HowTo100M's three lists for one clip, in time order; times rounded to the millisecond."""
    ordered = sorted(slots, key=lambda slot: slot.caption_start)
    return {
        "start": [round(slot.caption_start, 3) for slot in ordered],
        "end": [round(slot.caption_end, 3) for slot in ordered],
        "text": [slot.text for slot in ordered],
    }


def _summary(root: Path, plans: list[_ClipPlan], settings: Mapping, audio_rate: int) -> dict:
    captions = {
        plan.video_id: [
            {"start": round(slot.caption_start, 3), "end": round(slot.caption_end, 3), "text": slot.text,
             "kind": slot.kind, "names": None if slot.kind == "chatter" else slot.action,
             "shift_s": round(slot.shift_s, 3)}
            for slot in sorted(plan.slots, key=lambda slot: slot.caption_start)
        ]
        for plan in plans
    }
    every_caption = [caption for clip in captions.values() for caption in clip]
    return {
        "root": str(root),
        "videos": [plan.video_id for plan in plans],
        "seconds": {plan.video_id: plan.seconds for plan in plans},
        "actions": {plan.video_id: [[slot.start, slot.end, slot.action] for slot in plan.slots] for plan in plans},
        "captions": captions,
        "caption_counts": {kind: sum(caption["kind"] == kind for caption in every_caption) for kind in KINDS},
        "audio_rate": audio_rate,
        "settings": dict(settings),
    }
