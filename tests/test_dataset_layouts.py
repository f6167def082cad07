"""The dataset layout registry: every kind's reader offers the protocol, and readers answer through it.

The schema's kinds are checked against the registry in test_workflow_config.py; the
extraction through each layout in test_narrated_extraction.py and the workflow tests.
"""

from __future__ import annotations

import json
import shlex
import typing

import pytest
import yaml
from test_narrated_dataset import entry, write_layout
from test_urfunny_dataset import clean_release  # noqa: F401 -- a fixture

from mmfeat.datasets.layouts import DatasetLayout, TimedText, demo_module, layout_class, layout_kinds, open_layout
from mmfeat.errors import UserError
from mmfeat.features.inputs import ItemSource, UnreadableInputError
from mmfeat.workflow_config import validate_config

PROTOCOL_MEMBERS = sorted(set(typing.get_type_hints(DatasetLayout, include_extras=True)) - {"root"}
                          | {name for name, value in vars(DatasetLayout).items()
                             if callable(value) or isinstance(value, staticmethod)} - set(vars(typing.Protocol)))


@pytest.mark.parametrize("kind", layout_kinds())
def test_every_layout_offers_every_member_of_the_protocol(kind):
    reader = layout_class(kind)
    missing = [name for name in PROTOCOL_MEMBERS if not hasattr(reader, name)]
    assert not missing, f"{reader.__name__} lacks {missing}"
    assert reader.READS <= {"video", "audio", "text"} and reader.TRANSCRIPT_READS <= reader.READS
    assert (reader.TRANSCRIPT_FILE is None) == (reader.READS == {"video"})  # audio and text come from a transcript


@pytest.mark.parametrize("dataset, command", [
    ("demo-salads", "make-demo-salads --size 64 48 --fps 15 --seed 0 --videos 20 --frames 60 90 --splits 5 "
                    "--damaged 1 --unreadable 1"),
    ("demo-urfunny", "make-demo-urfunny --size 64 48 --fps 12 --seed 0 --samples 40 --cue-flip-fraction 0.175"),
    ("demo-howto", "make-demo-howto --size 64 48 --fps 15 --seed 0 --videos 36 --seconds 8 16 --shift-fraction 0.25 "
                   "--chatter-fraction 0.15"),
])
def test_every_demo_generator_names_its_ids_and_its_command(repo_root, dataset, command):
    """The shipped demos' commands, as the demo rules ran them before the registry (a change reruns a demo)."""
    config = validate_config(yaml.safe_load((repo_root / "config.yaml").read_text()))["datasets"][dataset]
    generator = demo_module(config["kind"])
    assert shlex.join(generator.demo_command(config)) == command
    ids = generator.demo_item_ids(config["demo"])
    assert len(set(ids)) == len(ids) == config["demo"].get("videos", config["demo"].get("samples"))


def test_a_humor_sample_reads_its_punchline_and_context_through_the_protocol(clean_release):  # noqa: F811
    dataset = open_layout("humor", clean_release.root)
    sample = dataset.sample("2")
    texts = dataset.timed_texts("2")
    assert list(texts) == ["punchline", "context"]
    assert texts["punchline"] == TimedText(*sample.punchline_interval, "a duck stole my pants")
    assert texts["context"] == TimedText(*sample.context_interval, "we met then this")
    assert dataset.audio_segments("2") == {"punchline": sample.punchline_interval, "context": sample.context_interval}
    assert list(dataset.timed_texts("7")) == ["punchline"]  # no context words: no context row
    assert dataset.item_ids() == ["2", "7", "10", "30"]
    assert dataset.video_files(["2", "99"]) == {"2": clean_release.root / "videos" / "2.mp4"}  # 99: none


def test_a_narrated_video_reads_its_captions_in_time_order(tmp_path):
    write_layout(tmp_path, {"v": entry((1.0, 1.9, "now mix it"), (0.1, 0.8, "cut the tomato"))}, ["v.mp4"])
    dataset = open_layout("narrated", tmp_path)
    assert dataset.timed_texts("v") == {"0": TimedText(0.1, 0.8, "cut the tomato"),
                                        "1": TimedText(1.0, 1.9, "now mix it")}
    assert dataset.audio_segments("v") == {"0": (0.0, 0.5), "1": (0.5, 1.5)}  # a 2.0 s video: rows at 0 and 1 s


def test_a_layout_without_audio_is_refused_naming_those_with_it(tmp_path):
    (tmp_path / "mapping.txt").write_text("0 cut\n")
    source = ItemSource(root=tmp_path, kind="segmentation")
    with pytest.raises(UserError, match=r"audio extractors read a dataset whose items have audio \(humor, narrated\); "
                                        r".* is a segmentation dataset"):
        source.audio_segments("rgb-01-1")


def test_an_item_without_a_transcript_is_unreadable_not_fatal(tmp_path):
    write_layout(tmp_path, {"v": entry((0.1, 0.8, "cut"))}, ["v.mp4"])
    json.dump({"v": {"start": [0.1], "end": [0.8], "text": [""]}}, (tmp_path / "captions.json").open("w"))
    with pytest.raises(UnreadableInputError, match=r"captions.json: video v: caption 0: its text is empty"):
        ItemSource(root=tmp_path, kind="narrated").timed_texts("v")


def test_an_unknown_kind_names_the_registered_ones():
    with pytest.raises(UserError, match=r"unknown dataset kind 'movies'; the known kinds are \['segmentation', "):
        ItemSource(root=".", kind="movies")
