"""The embedded demo dataset "demo-urfunny": short talking clips in the exact UR-FUNNY v2 release layout.

    mmfeat make-demo-urfunny --root data/demo-urfunny --seed 0 --samples 40

Writes, deterministically from the seed (pickles with protocol 2, as the release):

    ROOT/data_folds.pkl        {"train": [id, ...], "dev": [...], "test": [...]}, by speaker (60/20/20)
    ROOT/language_sdk.pkl      id -> punchline_sentence, context_sentences, punchline_intervals,
                               context_intervals, punchline_embedding_indexes, context_embedding_indexes
    ROOT/humor_label_sdk.pkl   id -> 1 or 0, balanced within every speaker
    ROOT/videos/{id}.mp4       H.264 video with a mono AAC speech track

Each clip is a speaker (own voice, pitch, rate and background colour) saying
0 or 1 context sentence and a punchline, synthesised word by word with espeak-ng
so that every word's interval is known. The label is planted in each modality:

- text: a humorous punchline uses joke words (a duck stole my pants), a plain one office words;
- audio: a humorous punchline is chuckled through and followed by laughter, bursts of
  voiced noise ("ha-ha-ha");
- vision: from a humorous punchline's start to shortly after its end, the face flushes and bobs.

The cues are kept apart: a clip lasts as long with or without laughter, the
mouth moves with the words but not with the laughter, the visual cue is timed
by the punchline alone, and both registers of punchline match in syllables.

In each modality independently, a fixed fraction of samples (`cue_flip_fraction`)
carries the other label's cue, so no modality alone is perfect and fusion has
something to combine. Like real data, the set has rough edges on purpose: one
clip has no audio track, and one id (in the folds, with label and transcript)
has no video file. Nothing else is written: the summary that
`generate_demo_urfunny` returns (and the command prints) says which samples
those are, which cues were flipped, and each speaker.

Videos are lossless H.264 (same seed, same decoded frames: see
mmfeat/video/encode.py); the AAC track is lossy, so decoded audio is close to,
not equal to, the synthesised waveform.
"""

from __future__ import annotations

import colorsys
import logging
import math
import os
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmfeat.atomic import replaced_on_success, write_bytes_atomically
from mmfeat.datasets.urfunny import FOLDS_FILE, LABELS_FILE, LANGUAGE_FILE, VIDEO_SUFFIX, VIDEOS_DIR
from mmfeat.demo.speech import WordRequest, synthesise_words
from mmfeat.video.encode import write_h264_video

log = logging.getLogger(__name__)

PICKLE_PROTOCOL = 2  # the release's pickles load in Python 2 and 3; so do ours
MODALITIES = ("text", "audio", "visual")  # each carries the label's cue, each flipped on its own samples
SAMPLES_PER_SPEAKER = 4  # two humorous, two not: labels balanced within every speaker, hence every fold
FOLD_SHARES = {"dev": 0.2, "test": 0.2}  # of the speakers; train gets the rest (60 %)
FIRST_ID = 1  # ids are ints, as in the release
LOSSLESS_CRF = 0  # same seed, same decoded frames
VOICE_VARIANTS = ("m1", "f1", "m3", "f2", "m4", "f3", "m7", "f4", "m2", "f5")  # espeak-ng variants, one per speaker

CONTEXT_SENTENCES = (
    "so yesterday morning",
    "my friend called me",
    "we talked about work",
    "then she asked me",
    "I was downtown",
    "it was a long day",
    "you know my neighbour",
    "last week at home",
)
OPENERS = ("then", "and", "so", "suddenly")
# The two registers match slot by slot in syllables, so that a punchline's length
# (heard, or seen in the mouth's motion) does not give its register away.
JOKE_WORDS = {  # a humorous punchline: an absurd actor doing something silly to a silly object
    "subject": ("a duck", "my monkey", "the llama", "a penguin", "my grandma"),
    "verb": ("stole", "ate", "wore", "licked", "sat on"),
    "object": ("my pants", "the banana", "a wig", "my pickle", "the underpants"),
}
PLAIN_WORDS = {  # a plain punchline: office routine
    "subject": ("the team", "my colleague", "the client", "the lawyer", "my landlord"),
    "verb": ("signed", "read", "filed", "checked", "sent out"),
    "object": ("a fax", "the agenda", "the form", "my paycheck", "the paperwork"),
}

NO_CONTEXT_SHARE = 0.25  # samples whose punchline comes without a context sentence
LEAD_IN_S = 0.2  # silence before the first word
WORD_GAP_S = (0.04, 0.09)  # pause between words, drawn per gap
SENTENCE_GAP_S = 0.3
LAUGHTER_DELAY_S = 0.15  # after the punchline's last word
CHUCKLE_GAIN = 0.6  # laughter mixed under a humorous punchline's words, relative to the burst after it
TAIL_S = 0.25  # after the laughter, or the room noise that takes its place: the clip's length says nothing
VISUAL_CUE_AFTER_S = 0.6  # the face keeps flushing and bobbing this long after the punchline
BACKGROUND_NOISE_STD = 0.002  # room noise: a real track is never digital silence
SPEECH_PEAK = 0.6  # each word is scaled to this peak
LAUGH_BURSTS = (3, 5)  # "ha"s per laugh, inclusive
LAUGH_PERIOD_S = (0.16, 0.22)
LAUGH_PEAK = 0.35
FRAME_NOISE_STD = 4.0  # grey levels
HEAD_BOB_HZ, HEAD_BOB_PIXELS = 3.0, 2.5  # the visual cue's motion
FLUSH_COLOUR, FLUSH_WEIGHT = np.array([255.0, 90.0, 110.0]), 0.55  # the visual cue's colour


@dataclass(frozen=True)
class _Speaker:
    number: int
    voice: str
    pitch: int
    words_per_minute: int
    background: np.ndarray  # RGB 0..255
    skin: np.ndarray


@dataclass(frozen=True)
class _SamplePlan:
    """What one sample will say and show, drawn before any sound is made."""

    sample_id: int
    rng: np.random.Generator  # the sample's own stream: drawn from again for pauses, laughter, noise, frames
    speaker: _Speaker
    shows_joke: dict[str, bool]  # modality -> whether its cue says "humorous"
    context: list[str]
    punchline: str


@dataclass
class _Track:
    """One clip's sound and where its parts are, before it is written."""

    waveform: np.ndarray  # float32 at the speech engine's rate
    punchline_words: list[list[float]]  # [start, end] per word, seconds
    context_words: list[list[list[float]]]  # one list per context sentence
    punchline_span: tuple[float, float]


def demo_sample_ids(num_samples: int) -> list[str]:
    """The ids the demo gives its samples, as the workflow names them (strings), before it is generated."""
    return [str(sample_id) for sample_id in range(FIRST_ID, FIRST_ID + num_samples)]


def demo_item_ids(demo: Mapping) -> list[str]:
    """The layout registry's entry (mmfeat.datasets.layouts): the ids of a config's `demo` section."""
    return demo_sample_ids(demo["samples"])


def demo_command(dataset: Mapping) -> list[str]:
    """The layout registry's entry: `mmfeat make-demo-urfunny` with a dataset entry's settings, as words."""
    demo = dataset["demo"]
    return [str(word) for word in [
        "make-demo-urfunny", "--size", *demo["size"], "--fps", demo["fps"], "--seed", demo["seed"],
        "--samples", demo["samples"], "--cue-flip-fraction", demo["cue_flip_fraction"]]]


def generate_demo_urfunny(
    root: str | os.PathLike,
    seed: int = 0,
    num_samples: int = 40,
    width: int = 64,
    height: int = 48,
    fps: int = 12,
    cue_flip_fraction: float = 0.175,
) -> dict:
    """Write the demo dataset under `root` and return a JSON-ready summary.

    `cue_flip_fraction` of the samples, chosen independently per modality,
    carry the other label's cue. The summary gives the `ids`, `speakers`
    (id -> speaker), `labels`, `folds`, `durations` (id -> seconds),
    `no_audio` and `no_video` (one id each), `cue_flipped` (modality -> ids)
    and the generation settings. Every file is written under a temporary name
    and renamed when complete.
    """
    _check_arguments(num_samples, width, height, fps, cue_flip_fraction)
    root = Path(root)
    (root / VIDEOS_DIR).mkdir(parents=True, exist_ok=True)
    ids = [int(sample_id) for sample_id in demo_sample_ids(num_samples)]
    speaker_of = {sample_id: number // SAMPLES_PER_SPEAKER for number, sample_id in enumerate(ids)}
    speakers = [_make_speaker(number, seed) for number in sorted(set(speaker_of.values()))]
    choice_rng = np.random.default_rng([seed, num_samples])
    labels = _balanced_labels(ids, speaker_of, choice_rng)
    folds = _folds_by_speaker(ids, speaker_of, len(speakers), choice_rng)
    flip_count = int(round(cue_flip_fraction * num_samples))
    flipped = {modality: set(choice_rng.permutation(ids)[:flip_count].tolist()) for modality in MODALITIES}
    no_audio_id, no_video_id = (int(sample_id) for sample_id in choice_rng.permutation(ids)[:2])

    plans = []
    for number, sample_id in enumerate(ids):
        rng = np.random.default_rng([seed, number, 1])
        shows_joke = {modality: bool(labels[sample_id]) != (sample_id in flipped[modality]) for modality in flipped}
        context_count = int(rng.random() >= NO_CONTEXT_SHARE)
        context = [str(sentence) for sentence in rng.permutation(CONTEXT_SENTENCES)[:context_count]]
        punchline = _punchline(rng, joke=shows_joke["text"])
        plans.append(_SamplePlan(sample_id, rng, speakers[speaker_of[sample_id]], shows_joke, context, punchline))
    # every word of the dataset in one call: the engine is reproducible for a whole sequence (see speech.py)
    requests = [
        WordRequest(word, plan.speaker.voice, plan.speaker.words_per_minute, plan.speaker.pitch)
        for plan in plans
        for sentence in (*plan.context, plan.punchline)
        for word in sentence.split()
    ]
    spoken_words, audio_rate = synthesise_words(requests)
    spoken = iter(spoken_words)

    vocabulary = _vocabulary()
    language: dict[int, dict] = {}
    durations: dict[int, float] = {}
    for plan in plans:
        sample_id, rng = plan.sample_id, plan.rng
        track = _assemble_track(rng, plan, spoken, laughter=plan.shows_joke["audio"], rate=audio_rate)
        frame_count = math.ceil(track.waveform.size / audio_rate * fps)
        waveform = np.pad(track.waveform, (0, round(frame_count / fps * audio_rate) - track.waveform.size))
        durations[sample_id] = frame_count / fps
        language[sample_id] = _language_entry(plan.context, plan.punchline, track, vocabulary)
        if sample_id == no_video_id:
            continue
        with replaced_on_success(root / VIDEOS_DIR / f"{sample_id}{VIDEO_SUFFIX}") as partial_path:
            frames = _render_frames(rng, plan.speaker, track, waveform, audio_rate, frame_count, fps, width, height,
                                    cue=plan.shows_joke["visual"])  # fmt: skip
            audio = None if sample_id == no_audio_id else waveform
            write_h264_video(partial_path, frames, fps=fps, crf=LOSSLESS_CRF, audio=audio, audio_rate=audio_rate)

    _write_pickle(root / FOLDS_FILE, folds)
    _write_pickle(root / LANGUAGE_FILE, language)
    _write_pickle(root / LABELS_FILE, labels)
    log.info("demo-urfunny: wrote %d samples under %s", num_samples, root)
    return {
        "root": str(root),
        "seed": seed,
        "ids": ids,
        "speakers": speaker_of,
        "labels": labels,
        "folds": folds,
        "durations": durations,
        "no_audio": no_audio_id,
        "no_video": no_video_id,
        "cue_flipped": {modality: sorted(chosen) for modality, chosen in flipped.items()},
        "cue_flip_fraction": cue_flip_fraction,
        "fps": fps,
        "width": width,
        "height": height,
        "audio_rate": audio_rate,
    }


def _check_arguments(num_samples: int, width: int, height: int, fps: int, cue_flip_fraction: float) -> None:
    min_samples = 3 * SAMPLES_PER_SPEAKER  # a speaker for each fold
    if num_samples < min_samples:
        raise ValueError(f"num_samples must be at least {min_samples} (a speaker per fold), got {num_samples}")
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"width and height must be even and at least 16 (H.264, yuv420p), got {width}x{height}")
    if fps < 5:
        raise ValueError(f"fps must be at least 5 so the punchline spans several frames, got {fps}")
    if not 0.0 <= cue_flip_fraction < 0.5:
        raise ValueError(f"cue_flip_fraction must be in [0, 0.5): at 0.5 a cue says nothing, got {cue_flip_fraction}")


def _make_speaker(number: int, seed: int) -> _Speaker:
    rng = np.random.default_rng([seed, number, 0])
    hue = (number * 0.61803398875) % 1.0  # golden-ratio steps: neighbouring speakers look different
    skin_hue = float(rng.uniform(0.04, 0.1))
    return _Speaker(
        number=number,
        voice=f"en+{VOICE_VARIANTS[number % len(VOICE_VARIANTS)]}",
        pitch=int(rng.integers(35, 66)),
        words_per_minute=int(rng.integers(250, 291)),  # brisk: keeps clips under ~5 s
        background=np.array(colorsys.hsv_to_rgb(hue, 0.45, 0.55), dtype=np.float32) * 255,
        skin=np.array(colorsys.hsv_to_rgb(skin_hue, 0.45, 0.85), dtype=np.float32) * 255,
    )


def _balanced_labels(ids: list[int], speaker_of: dict[int, int], rng: np.random.Generator) -> dict[int, int]:
    """Half of each speaker's samples humorous (the odd one out of an odd count drawn), in a drawn order."""
    labels: dict[int, int] = {}
    for speaker in sorted(set(speaker_of.values())):
        own = [sample_id for sample_id in ids if speaker_of[sample_id] == speaker]
        pattern = [position % 2 for position in range(len(own))]
        for sample_id, label in zip(own, rng.permutation(pattern)):
            labels[sample_id] = int(label)
    return labels


def _folds_by_speaker(ids: list[int], speaker_of: dict[int, int], speaker_count: int, rng) -> dict[str, list[int]]:
    """Speaker-independent folds: each speaker's samples all in train, dev or test."""
    order = rng.permutation(speaker_count).tolist()
    dev_count = max(1, round(FOLD_SHARES["dev"] * speaker_count))
    test_count = max(1, round(FOLD_SHARES["test"] * speaker_count))
    fold_speakers = {"dev": order[:dev_count], "test": order[dev_count : dev_count + test_count]}
    fold_speakers["train"] = order[dev_count + test_count :]
    return {
        name: [sample_id for sample_id in ids if speaker_of[sample_id] in fold_speakers[name]]
        for name in ("train", "dev", "test")
    }


def _punchline(rng: np.random.Generator, joke: bool) -> str:
    words = JOKE_WORDS if joke else PLAIN_WORDS
    parts = [OPENERS[int(rng.integers(len(OPENERS)))]]
    parts += [words[role][int(rng.integers(len(words[role])))] for role in ("subject", "verb", "object")]
    return " ".join(parts)


def _assemble_track(rng, plan: _SamplePlan, spoken: Iterator[np.ndarray], laughter: bool, rate: int) -> _Track:
    """Lay the sample's spoken words (the next ones from `spoken`) end to end with pauses, noting their times."""
    pieces = [np.zeros(round(LEAD_IN_S * rate), dtype=np.float32)]
    position = pieces[0].size

    def say(sentence: str) -> list[list[float]]:
        nonlocal position
        intervals = []
        for index, word in enumerate(sentence.split()):
            if index:
                gap = np.zeros(round(float(rng.uniform(*WORD_GAP_S)) * rate), dtype=np.float32)
                pieces.append(gap)
                position += gap.size
            samples = next(spoken)
            samples = samples * (SPEECH_PEAK / max(float(np.abs(samples).max()), 1e-6))
            pieces.append(samples)
            intervals.append([round(position / rate, 3), round((position + samples.size) / rate, 3)])
            position += samples.size
        pause = np.zeros(round(SENTENCE_GAP_S * rate), dtype=np.float32)
        pieces.append(pause)
        position += pause.size
        return intervals

    context_words = [say(sentence) for sentence in plan.context]
    punchline_words = say(plan.punchline)
    punchline_span = (punchline_words[0][0], punchline_words[-1][1])
    pieces.pop()  # the pause after the punchline: replaced by the laughter's delay
    pieces.append(np.zeros(round(LAUGHTER_DELAY_S * rate), dtype=np.float32))
    laugh = _laughter(rng, rate)  # drawn either way, so that both kinds of clip last as long
    pieces.append(laugh if laughter else np.zeros_like(laugh))
    pieces.append(np.zeros(round(TAIL_S * rate), dtype=np.float32))
    waveform = np.concatenate(pieces)
    # The speaker already chuckles through a humorous punchline: audio features are pooled
    # over the punchline's words (the laughter after it is outside every segment), so the
    # audio cue has to sound inside them too.
    chuckle = _laughter(rng, rate)  # drawn either way, so the streams after it do not follow the label
    if laughter:
        first = round(punchline_span[0] * rate)
        length = min(chuckle.size, round((punchline_span[1] - punchline_span[0]) * rate))
        waveform[first : first + length] += CHUCKLE_GAIN * chuckle[:length]
    waveform += rng.normal(0.0, BACKGROUND_NOISE_STD, size=waveform.size).astype(np.float32)
    return _Track(waveform.astype(np.float32), punchline_words, context_words, punchline_span)


def _laughter(rng: np.random.Generator, rate: int) -> np.ndarray:
    """"ha-ha-ha": bursts of a buzzy voiced tone mixed with breath noise, each under a smooth envelope."""
    burst_count = int(rng.integers(LAUGH_BURSTS[0], LAUGH_BURSTS[1] + 1))
    period = float(rng.uniform(*LAUGH_PERIOD_S))
    pitch = float(rng.uniform(220.0, 320.0))
    burst_samples = round(0.6 * period * rate)
    laugh = np.zeros(round(burst_count * period * rate), dtype=np.float32)
    times = np.arange(burst_samples) / rate
    envelope = np.sin(np.pi * np.arange(burst_samples) / burst_samples) ** 2
    for burst in range(burst_count):
        burst_pitch = pitch * (1.0 - 0.04 * burst)  # laughs fall in pitch
        voiced = np.sign(np.sin(2 * np.pi * burst_pitch * times)) * 0.5
        breath = rng.normal(0.0, 0.5, size=burst_samples)
        start = round(burst * period * rate)
        laugh[start : start + burst_samples] = LAUGH_PEAK * envelope * (0.6 * voiced + 0.4 * breath)
    return laugh


def _render_frames(rng, speaker: _Speaker, track: _Track, waveform: np.ndarray, audio_rate: int,
                   frame_count: int, fps: int, width: int, height: int, cue: bool) -> Iterator[np.ndarray]:  # fmt: skip
    """A face on the speaker's background; the mouth opens with the voice; with the cue it flushes and bobs.

    The mouth follows the words only, not the laughter, and the cue's time is
    fixed by the punchline, so that the frames carry nothing of the audio cue.
    """
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = 0.32 * height
    centre_x = width / 2 + float(rng.uniform(-3, 3))
    background = speaker.background[None, None, :] + (rows[..., None] - height / 2) * 0.6  # a little shading
    samples_per_frame = audio_rate / fps
    for frame_index in range(frame_count):
        time = frame_index / fps
        cue_now = cue and track.punchline_span[0] <= time <= track.punchline_span[1] + VISUAL_CUE_AFTER_S
        centre_y = height / 2 + (HEAD_BOB_PIXELS * math.sin(2 * math.pi * HEAD_BOB_HZ * time) if cue_now else 0.0)
        skin = speaker.skin * (1 - FLUSH_WEIGHT) + FLUSH_COLOUR * FLUSH_WEIGHT if cue_now else speaker.skin
        window = waveform[round(frame_index * samples_per_frame) : round((frame_index + 1) * samples_per_frame)]
        speaking = time <= track.punchline_span[1]
        loudness = float(np.sqrt(np.mean(window**2))) if window.size and speaking else 0.0
        mouth_open = 1.0 + min(4.0, loudness * 25.0)  # pixels: closed when silent
        frame = background.copy()
        face = (columns - centre_x) ** 2 + (rows - centre_y) ** 2 <= radius**2
        frame[face] = skin
        mouth_y = centre_y + 0.45 * radius
        mouth = (np.abs(columns - centre_x) <= 0.45 * radius) & (np.abs(rows - mouth_y) <= mouth_open / 2)
        frame[mouth] = (60.0, 20.0, 30.0)
        for eye_x in (centre_x - 0.4 * radius, centre_x + 0.4 * radius):
            eye = (columns - eye_x) ** 2 + (rows - (centre_y - 0.3 * radius)) ** 2 <= (0.12 * radius) ** 2
            frame[eye] = (20.0, 20.0, 20.0)
        frame += rng.normal(0.0, FRAME_NOISE_STD, size=frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def _vocabulary() -> dict[str, int]:
    """Word -> index, standing in for the release's word_embedding_list.pkl (which the demo does not ship)."""
    words = {word for sentence in CONTEXT_SENTENCES for word in sentence.split()} | set(OPENERS)
    for role_words in (*JOKE_WORDS.values(), *PLAIN_WORDS.values()):
        words |= {word for phrase in role_words for word in phrase.split()}
    return {word: index for index, word in enumerate(sorted(words))}


def _language_entry(context: list[str], punchline: str, track: _Track, vocabulary: dict[str, int]) -> dict:
    return {
        "punchline_embedding_indexes": [vocabulary[word] for word in punchline.split()],
        "context_embedding_indexes": [[vocabulary[word] for word in sentence.split()] for sentence in context],
        "punchline_sentence": punchline,
        "context_sentences": list(context),
        "punchline_intervals": track.punchline_words,
        "context_intervals": track.context_words,
    }


def _write_pickle(path: Path, content: object) -> None:
    write_bytes_atomically(path, pickle.dumps(content, protocol=PICKLE_PROTOCOL))
