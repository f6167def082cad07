"""The demo-urfunny dataset: release format, determinism, rough edges, speech where the words are, and the planted cues."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.audio.decode import NoAudioTrackError, decode_audio
from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.urfunny import URFunnyDataset
from mmfeat.demo.urfunny import JOKE_WORDS, PLAIN_WORDS, generate_demo_urfunny

# Small but with every feature: 4 speakers (2 train, 1 dev, 1 test), 3 flipped cues per modality.
DEMO_ARGS = dict(seed=7, num_samples=16, width=32, height=32, fps=10, cue_flip_fraction=0.2)
PICKLES = ("data_folds.pkl", "language_sdk.pkl", "humor_label_sdk.pkl")
_JOKE_WORDS = {word for phrases in JOKE_WORDS.values() for phrase in phrases for word in phrase.split()}
_PLAIN_WORDS = {word for phrases in PLAIN_WORDS.values() for phrase in phrases for word in phrase.split()}
JOKE_VOCABULARY, PLAIN_VOCABULARY = _JOKE_WORDS - _PLAIN_WORDS, _PLAIN_WORDS - _JOKE_WORDS  # not "a", "my", "the"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo-urfunny")
    return root, generate_demo_urfunny(root, **DEMO_ARGS)


@pytest.fixture(scope="module")
def audio_by_id(demo) -> dict[int, tuple[np.ndarray, int]]:
    root, summary = demo
    return {
        sample_id: decode_audio(root / "videos" / f"{sample_id}.mp4")
        for sample_id in summary["ids"]
        if sample_id not in (summary["no_audio"], summary["no_video"])
    }


def _shows_joke(summary: dict, sample_id: int, modality: str) -> bool:
    return bool(summary["labels"][sample_id]) != (sample_id in summary["cue_flipped"][modality])


def test_exactly_the_release_layout_in_protocol_2_with_integer_ids(demo):
    root, summary = demo
    assert sorted(path.name for path in root.iterdir()) == sorted([*PICKLES, "videos"])
    assert not list(root.rglob(".*.tmp")), "temporary files must be renamed or gone"
    for name in PICKLES:
        assert (root / name).read_bytes()[:2] == b"\x80\x02", f"{name} is not pickle protocol 2"
    language = pickle.loads((root / "language_sdk.pkl").read_bytes())
    assert sorted(language) == summary["ids"] and all(type(key) is int for key in language)
    assert set(language[summary["ids"][0]]) == {
        "punchline_sentence", "context_sentences", "punchline_intervals", "context_intervals",
        "punchline_embedding_indexes", "context_embedding_indexes",
    }  # fmt: skip
    for entry in language.values():
        assert len(entry["punchline_embedding_indexes"]) == len(entry["punchline_sentence"].split())
        assert [len(words) for words in entry["context_embedding_indexes"]] == [
            len(sentence.split()) for sentence in entry["context_sentences"]
        ]


def test_reads_back_through_the_dataset_reader(demo):
    root, summary = demo
    dataset = URFunnyDataset(root)
    as_strings = {name: [str(sample_id) for sample_id in ids] for name, ids in summary["folds"].items()}
    assert dataset.folds() == as_strings
    assert dataset.sample_ids() == [str(sample_id) for sample_id in summary["ids"]]
    durations = {str(sample_id): seconds for sample_id, seconds in summary["durations"].items()}
    problems = dataset.check(on_problem="skip", clip_durations=durations)
    # the id without a video is the one problem the reader can see; a clip without audio is the decoder's to find
    assert problems.to_dict() == {
        str(summary["no_video"]): [f"{dataset.video_path(str(summary['no_video']))}: the video file is missing"]
    }
    contexts = []
    for sample_id in summary["ids"]:
        sample = dataset.sample(str(sample_id))
        assert dataset.label(str(sample_id)) == summary["labels"][sample_id]
        assert len(sample.punchline_words) == len(sample.punchline.split())
        assert [len(words) for words in sample.context_words] == [len(sentence.split()) for sentence in sample.context]
        every_word = sample.punchline_words + [word for words in sample.context_words for word in words]
        assert all(0 < start < end <= summary["durations"][sample_id] for start, end in every_word)
        assert 2.0 <= summary["durations"][sample_id] <= 5.5
        contexts.append(sample.context_interval)
        if sample.context_interval is not None:
            assert sample.context_interval[1] < sample.punchline_interval[0]  # context is said first
    assert None in contexts and any(context is not None for context in contexts)  # both kinds present (seed 7)


def test_folds_are_by_speaker_and_labels_balanced(demo):
    _, summary = demo
    folds, speakers, labels = summary["folds"], summary["speakers"], summary["labels"]
    assert sorted(sum(folds.values(), [])) == summary["ids"]
    assert [len(folds[name]) for name in ("train", "dev", "test")] == [8, 4, 4]
    speaker_sets = [{speakers[sample_id] for sample_id in folds[name]} for name in ("train", "dev", "test")]
    assert not (speaker_sets[0] & speaker_sets[1] or speaker_sets[0] & speaker_sets[2] or speaker_sets[1] & speaker_sets[2])
    for ids in folds.values():
        assert sum(labels[sample_id] for sample_id in ids) * 2 == len(ids)


def test_same_seed_same_dataset(demo, tmp_path):
    root, summary = demo
    again = generate_demo_urfunny(tmp_path, **DEMO_ARGS)
    assert again["ids"] == summary["ids"] and again["cue_flipped"] == summary["cue_flipped"]
    for name in PICKLES:
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes(), f"{name} differs between runs"
    sample_id = next(i for i in summary["ids"] if i not in (summary["no_audio"], summary["no_video"]))
    first, second = (_decoded_frames(folder / "videos" / f"{sample_id}.mp4") for folder in (root, tmp_path))
    assert np.array_equal(first, second)
    first_audio, _ = decode_audio(root / "videos" / f"{sample_id}.mp4")
    second_audio, _ = decode_audio(tmp_path / "videos" / f"{sample_id}.mp4")
    np.testing.assert_allclose(first_audio, second_audio, atol=1e-4)
    different = generate_demo_urfunny(tmp_path / "other", **{**DEMO_ARGS, "seed": 8, "num_samples": 12})
    assert (tmp_path / "other" / "language_sdk.pkl").read_bytes() != (root / "language_sdk.pkl").read_bytes()
    assert different["ids"] == list(range(1, 13))


def test_the_no_audio_and_no_video_samples(demo):
    root, summary = demo
    no_audio, no_video = summary["no_audio"], summary["no_video"]
    assert no_audio != no_video
    assert not (root / "videos" / f"{no_video}.mp4").exists()
    for sample_id in (no_audio, no_video):  # both are full samples otherwise
        assert any(sample_id in ids for ids in summary["folds"].values()) and sample_id in summary["labels"]
    with pytest.raises(NoAudioTrackError):
        decode_audio(root / "videos" / f"{no_audio}.mp4")
    assert len(_decoded_frames(root / "videos" / f"{no_audio}.mp4")) == round(summary["durations"][no_audio] * 10)


def test_speech_is_where_the_words_are(demo, audio_by_id):
    root, summary = demo
    dataset = URFunnyDataset(root)
    for sample_id, (waveform, rate) in audio_by_id.items():
        assert waveform.size / rate == pytest.approx(summary["durations"][sample_id], abs=0.01)
        sample = dataset.sample(str(sample_id))
        lead_in = _rms(waveform[: int(0.15 * rate)])
        every_word = sample.punchline_words + [word for words in sample.context_words for word in words]
        for start, end in every_word:
            assert _rms(waveform[int(start * rate) : int(end * rate)]) > 20 * lead_in, (sample_id, start, end)


def test_each_modality_carries_the_label_except_for_its_flipped_samples(demo, audio_by_id):
    root, summary = demo
    dataset = URFunnyDataset(root)
    flip_count = round(DEMO_ARGS["cue_flip_fraction"] * DEMO_ARGS["num_samples"])
    assert all(len(ids) == flip_count for ids in summary["cue_flipped"].values())
    assert len({tuple(ids) for ids in summary["cue_flipped"].values()}) == 3  # drawn independently

    for sample_id in summary["ids"]:
        words = set(dataset.sample(str(sample_id)).punchline.split())
        assert bool(words & JOKE_VOCABULARY) == _shows_joke(summary, sample_id, "text")
        assert bool(words & PLAIN_VOCABULARY) != _shows_joke(summary, sample_id, "text")

    for sample_id, (waveform, rate) in audio_by_id.items():  # laughter: sound in the second after the punchline
        punchline_end = dataset.sample(str(sample_id)).punchline_interval[1]
        after = _rms(waveform[int((punchline_end + 0.15) * rate) : int((punchline_end + 0.6) * rate)])
        assert (after > 0.05) == _shows_joke(summary, sample_id, "audio"), (sample_id, after)

    for sample_id in summary["ids"]:  # the face flushes during the punchline
        if sample_id == summary["no_video"]:
            continue
        frames = _decoded_frames(root / "videos" / f"{sample_id}.mp4").astype(np.float32)
        start, end = dataset.sample(str(sample_id)).punchline_interval
        during = frames[int(start * 10) + 1 : int(end * 10)]
        redness = lambda frame: float((frame[12:20, 12:20, 0] - frame[12:20, 12:20, 1]).mean())  # noqa: E731
        gain = np.mean([redness(frame) for frame in during]) - redness(frames[0])
        assert (gain > 30) == _shows_joke(summary, sample_id, "visual"), (sample_id, gain)


def test_command_prints_the_summary_and_rejects_bad_arguments(tmp_path, capsys):
    assert mmfeat_main(["make-demo-urfunny", "--root", str(tmp_path), "--samples", "11"]) == 2
    assert "num_samples must be at least 12" in capsys.readouterr().err
    assert not list((tmp_path).glob("*.pkl"))


def _decoded_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
