"""demo-howto: a valid narrated layout whose captions name the actions shown, and whose narration is where they are."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from mmfeat.audio.decode import decode_audio
from mmfeat.cli import main as mmfeat_main
from mmfeat.datasets.narrated import NarratedDataset
from mmfeat.demo.howto import demo_video_ids, generate_demo_howto
from mmfeat.demo.salads import ACTION_LABELS, render_action_frames
from mmfeat.errors import UserError
from mmfeat.workflow_config import schema_defaults, with_defaults

# Small but with every kind of caption: 6 clips of 8-11 s, about 15 captions, a quarter shifted, a fifth chatter.
SETTINGS = {"seed": 5, "videos": 6, "seconds": [8, 11], "size": [32, 32], "fps": 10, "shift_fraction": 0.25,
            "chatter_fraction": 0.2}
SPEECH_RMS = 0.02  # the narration's level inside a caption is about 0.05-0.1
SILENCE_RMS = 0.005  # room noise (0.002) with AAC's artefacts
SILENCE_MARGIN_S = 0.15  # a caption's edges are where its speech was trimmed: keep clear of them


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo-howto")
    return root, generate_demo_howto(root, SETTINGS)


@pytest.fixture(scope="module")
def decoded_frames(demo) -> dict[str, list[np.ndarray]]:
    root, summary = demo
    frames = {}
    for video_id in summary["videos"]:
        with av.open(str(root / "videos" / f"{video_id}.mp4")) as container:
            frames[video_id] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return frames


def test_the_demo_is_a_narrated_layout_that_passes_the_check(demo):
    root, summary = demo
    dataset = NarratedDataset(root)
    dataset.check()
    assert dataset.item_ids() == summary["videos"] == demo_video_ids(SETTINGS["videos"])
    assert sorted(path.name for path in (root / "videos").iterdir()) == [f"{i}.mp4" for i in summary["videos"]]
    for video_id in summary["videos"]:
        seconds = summary["seconds"][video_id]
        assert SETTINGS["seconds"][0] <= seconds <= SETTINGS["seconds"][1]
        assert dataset.duration(video_id) == pytest.approx(seconds)
        assert len(dataset.second_intervals(video_id)) == seconds  # one feature row per second
        recorded = summary["captions"][video_id]
        assert dataset.captions(video_id) == [(c["start"], c["end"], c["text"]) for c in recorded]
        actions = summary["actions"][video_id]
        assert actions[0][0] == 0 and actions[-1][1] == seconds  # the actions fill the clip
        assert all(4.0 <= end - start for start, end, _ in actions)
        assert all(a[2] != b[2] for a, b in zip(actions, actions[1:]))  # each stretch a different action
        assert len(recorded) == len(actions)  # one caption per action, said during it, near it, or chatter


def test_captions_are_howto100m_lists(demo):
    root, _ = demo
    captions = json.loads((root / "captions.json").read_text())
    for entry in captions.values():
        assert set(entry) == {"start", "end", "text"}
        assert len(entry["start"]) == len(entry["end"]) == len(entry["text"]) >= 2
        assert entry["start"] == sorted(entry["start"])


def test_captions_name_the_actions_shown_at_their_times(demo, decoded_frames):
    """Each caption's action is read from its words; the action shown is read from the decoded frames."""
    _, summary = demo
    fps = SETTINGS["fps"]
    kinds = []
    for video_id, captions in summary["captions"].items():
        frames = decoded_frames[video_id]
        assert len(frames) == summary["seconds"][video_id] * fps
        for caption in captions:
            named = named_actions(caption["text"])
            kinds.append(caption["kind"])
            if caption["kind"] == "chatter":
                assert named == [] and caption["shift_s"] == 0, caption
                continue
            assert named == [caption["names"]], caption
            # where the action it names is shown: at the caption, or a shift earlier or later
            middle = (caption["start"] + caption["end"]) / 2 - caption["shift_s"]
            frame_range = range(round((middle - 0.3) * fps), round((middle + 0.3) * fps))
            assert {action_shown(frames[index]) for index in frame_range} == set(named), caption
            if caption["kind"] == "aligned":
                assert caption["shift_s"] == 0
                first, last = round(caption["start"] * fps), round(caption["end"] * fps) - 1
                assert action_shown(frames[first]) == action_shown(frames[last]) == named[0], caption
            else:
                assert 1.0 <= abs(caption["shift_s"]) <= 2.0, caption
    total = len(kinds)
    assert kinds.count("chatter") == round(SETTINGS["chatter_fraction"] * total) > 0
    assert 0 < kinds.count("shifted") <= round(SETTINGS["shift_fraction"] * total)  # a shift with no room stays
    assert summary["caption_counts"] == {kind: kinds.count(kind) for kind in ("aligned", "shifted", "chatter")}


def test_the_narration_is_where_the_captions_are(demo):
    root, summary = demo
    for video_id, captions in summary["captions"].items():
        waveform, rate = decode_audio(root / "videos" / f"{video_id}.mp4")
        assert waveform.size / rate == pytest.approx(summary["seconds"][video_id], abs=0.05)
        near_speech = np.zeros(waveform.size, bool)
        for caption in captions:
            first, end = round(caption["start"] * rate), round(caption["end"] * rate)
            assert rms(waveform[first:end]) > SPEECH_RMS, (video_id, caption)
            near_speech[max(0, first - round(SILENCE_MARGIN_S * rate)) : end + round(SILENCE_MARGIN_S * rate)] = True
        assert rms(waveform[~near_speech]) < SILENCE_RMS, video_id
        assert (~near_speech).sum() > 2 * rate  # there are stretches without speech to measure


def test_same_settings_same_dataset_and_another_seed_another(demo, tmp_path, decoded_frames):
    root, summary = demo
    again = generate_demo_howto(tmp_path / "again", SETTINGS)
    assert again["captions"] == summary["captions"] and again["actions"] == summary["actions"]
    assert (tmp_path / "again" / "captions.json").read_bytes() == (root / "captions.json").read_bytes()
    video_id = summary["videos"][0]
    with av.open(str(tmp_path / "again" / "videos" / f"{video_id}.mp4")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded_frames[video_id], strict=True))
    other = generate_demo_howto(tmp_path / "other", {**SETTINGS, "seed": 6, "videos": 2})
    assert other["actions"] != {key: summary["actions"][key] for key in other["actions"]}


def test_settings_left_out_take_the_schema_defaults_and_wrong_ones_are_named(tmp_path):
    defaults = schema_defaults("narrated_demo")
    assert defaults == {"seed": 0, "videos": 36, "seconds": [8, 16], "size": [64, 48], "fps": 15,
                        "shift_fraction": 0.25, "chatter_fraction": 0.15}
    with pytest.raises(UserError, match="seconds.0: 6 is less than the minimum of 8"):
        generate_demo_howto(tmp_path, {"seconds": [6, 9]})
    with pytest.raises(ValueError, match="MIN <= MAX"):
        generate_demo_howto(tmp_path, {"seconds": [12, 10]})
    with pytest.raises(ValueError, match="at most 1 together"):
        generate_demo_howto(tmp_path, {"shift_fraction": 0.6, "chatter_fraction": 0.5})


def test_the_dataset_definition_fills_its_defaults_and_keeps_demo_optional():
    dataset = with_defaults("narrated_dataset", {"kind": "narrated", "root": "data/x", "features": {"video": "s3d"}},
                            "test")
    assert dataset["holdout"] == 0.05 and dataset["features"]["num_shards"] == 4
    assert dataset["decode"]["backend"] == "opencv" and "demo" not in dataset
    with_demo = with_defaults("narrated_dataset", {"kind": "narrated", "root": "r", "demo": {"videos": 3},
                                                   "features": {"video": "s3d", "audio": "w2v"}}, "test")
    assert with_demo["demo"] == {**schema_defaults("narrated_demo"), "videos": 3}
    with pytest.raises(UserError, match="holdout"):
        with_defaults("narrated_dataset", {"kind": "narrated", "root": "r", "holdout": 1,
                                           "features": {"video": "s3d"}}, "test")


def test_command_prints_the_summary_and_names_bad_settings(tmp_path, capsys):
    argv = ["make-demo-howto", "--root", str(tmp_path / "cli"), "--videos", "2", "--seconds", "8", "8",
            "--size", "32", "24", "--fps", "5", "--chatter-fraction", "0"]
    assert mmfeat_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == ["howto-000", "howto-001"] and summary["caption_counts"]["chatter"] == 0
    assert summary["settings"]["shift_fraction"] == schema_defaults("narrated_demo")["shift_fraction"]
    NarratedDataset(tmp_path / "cli").check()
    assert mmfeat_main(["make-demo-howto", "--root", str(tmp_path / "bad"), "--size", "33", "24"]) == 2
    assert "size must be even" in capsys.readouterr().err


def named_actions(text: str) -> list[str]:
    """The actions whose every word the caption says ("place the tomato into the bowl" -> place_tomato_into_bowl)."""
    words = set(text.split())
    return [label for label in ACTION_LABELS if set(label.split("_")) <= words]


def action_shown(frame: np.ndarray) -> str:
    """The action whose look is nearest in mean colour, each video's brightness taken out."""
    distances = np.linalg.norm(_LOOKS - _chroma([frame]), axis=1)
    return ACTION_LABELS[int(np.argmin(distances))]


def _chroma(frames: list[np.ndarray]) -> np.ndarray:
    mean = np.mean([frame.reshape(-1, 3).mean(axis=0) for frame in frames], axis=0)
    return mean - mean.mean()  # demo-salads shifts a whole video's brightness: compare colour only


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


# Each action's look as demo-salads draws it, at the demo's frame size.
_LOOKS = np.stack([_chroma(list(render_action_frames([label] * 5, np.random.default_rng(0), *SETTINGS["size"])))
                   for label in ACTION_LABELS])
