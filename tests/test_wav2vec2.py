"""wav2vec2 audio features: pooling over exactly a segment's frames, layers, edge segments, weights.

The model is a seeded random Wav2Vec2Model with the base release's conv stack
(320 samples per frame, 400 per receptive field) and a 32-wide, 2-layer
transformer, so that a second of audio costs a few milliseconds; the frame
geometry and the normalisation are those of facebook/wav2vec2-base.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: any hub access fails loudly

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor

from mmfeat.errors import UserError
from mmfeat.features.extractors import wav2vec2
from mmfeat.features.extractors.items import SAMPLE_RANGE, AudioItem

RATE = 16000
# The schema's defaults for wav2vec2_extractor (mmfeat/config/schema.yaml), cpu for tests.
RANDOM_CONFIG = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": [16] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
}
ENTRY = {"kind": "wav2vec2", "weights": None, "random_config": RANDOM_CONFIG, "seed": 0, "layer": -1,
         "pooling": "mean", "max_seconds": 60.0, "device": "cpu", "dtype": "float16"}


def settings_with(**changes) -> wav2vec2.Settings:
    return wav2vec2.Settings.from_dict({**ENTRY, **changes})


@pytest.fixture(scope="module")
def random_encoder():
    encoder, identity = wav2vec2.build(settings_with())
    return encoder, identity


@pytest.fixture(scope="module")
def waveform() -> np.ndarray:
    """One second of noise with a louder, biased middle, so that normalisation matters."""
    samples = np.random.default_rng(3).normal(0, 0.1, RATE).astype(np.float32)
    samples[6000:10000] = samples[6000:10000] * 4 + 0.2
    return samples


@pytest.fixture(scope="module")
def release_states(random_encoder, waveform):
    """Hidden states of the whole clip as the release's own feature extractor prepares it."""
    encoder, _ = random_encoder
    inputs = Wav2Vec2FeatureExtractor(do_normalize=True)(waveform, sampling_rate=RATE, return_tensors="pt")
    with torch.inference_mode():
        output = encoder.model(inputs["input_values"], output_hidden_states=True)
    return output


def frames_with_centre_in(first: int, end: int, frame_count: int) -> np.ndarray:
    """Frames of the base conv stack whose receptive field's centre is in [first, end), from the config's strides."""
    hop = math.prod(RANDOM_CONFIG["conv_stride"])
    field = 1 + sum((kernel - 1) * math.prod(RANDOM_CONFIG["conv_stride"][:layer])
                    for layer, kernel in enumerate(RANDOM_CONFIG["conv_kernel"]))
    centres = np.arange(frame_count) * hop + field // 2
    return np.flatnonzero((centres >= first) & (centres < end))


def test_frame_geometry_is_derived_from_the_conv_stack(random_encoder, release_states):
    encoder, _ = random_encoder
    assert (encoder.hop, encoder.receptive_field) == (320, 400)  # the base release's 20 ms frames over 25 ms
    # frame count of 1 s as transformers computes it: floor((16000 - 400) / 320) + 1
    assert release_states.last_hidden_state.shape[1] == 49


def test_a_segment_row_is_the_mean_of_exactly_its_frames(random_encoder, waveform, release_states):
    encoder, _ = random_encoder
    item = AudioItem(waveform, RATE, {"punchline": (0.5, 0.9), "context": (0.0, 0.45)})
    extracted = wav2vec2.extract(item, encoder, settings_with())

    assert extracted.row_names == ["punchline", "context"]
    assert extracted.position_kind == SAMPLE_RANGE
    np.testing.assert_array_equal(extracted.positions, [[8000, 14400], [0, 7200]])
    states = release_states.last_hidden_state[0].numpy()
    for row, (first, end) in zip(extracted.features, extracted.positions):
        frames = frames_with_centre_in(first, end, len(states))
        assert len(frames) == round((end - first) / 320)  # nothing dropped, nothing counted twice
        np.testing.assert_allclose(row, states[frames].mean(axis=0), rtol=1e-4, atol=1e-5)
    # a frame more or less would give another row
    frames = frames_with_centre_in(8000, 14400, len(states))
    assert not np.allclose(extracted.features[0], states[frames[:-1]].mean(axis=0), atol=1e-4)


def test_max_pooling_takes_the_largest_value_of_each_dimension(random_encoder, waveform, release_states):
    encoder, _ = random_encoder
    item = AudioItem(waveform, RATE, {"punchline": (0.5, 0.9)})
    extracted = wav2vec2.extract(item, encoder, settings_with(pooling="max"))
    states = release_states.last_hidden_state[0].numpy()
    np.testing.assert_allclose(extracted.features[0], states[frames_with_centre_in(8000, 14400, 49)].max(axis=0),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [0, 1, 2, -1, -3])
def test_layer_picks_that_hidden_state(layer, waveform, release_states):
    encoder, _ = wav2vec2.build(settings_with(layer=layer))
    extracted = wav2vec2.extract(AudioItem(waveform, RATE, {"punchline": (0.5, 0.9)}), encoder, settings_with())
    expected = release_states.hidden_states[layer][0].numpy()[frames_with_centre_in(8000, 14400, 49)].mean(axis=0)
    np.testing.assert_allclose(extracted.features[0], expected, rtol=1e-4, atol=1e-5)
    other = release_states.hidden_states[(layer + 1) % 3][0].numpy()[frames_with_centre_in(8000, 14400, 49)].mean(axis=0)
    assert not np.allclose(extracted.features[0], other, atol=1e-3)


def test_a_layer_the_model_does_not_have_is_refused():
    with pytest.raises(UserError, match=r"layer 3 does not exist.*2 transformer layers"):
        wav2vec2.build(settings_with(layer=3))


def test_a_short_segment_is_widened_symmetrically_to_one_receptive_field(random_encoder, waveform, release_states):
    encoder, _ = random_encoder
    segments = {"word": (0.5, 0.505), "start": (0.0, 0.001), "end": (0.999, 1.0)}
    extracted = wav2vec2.extract(AudioItem(waveform, RATE, segments), encoder, settings_with())
    # 80 samples around 8040 become 400 around it; at the clip's edges the 400 are shifted inside
    np.testing.assert_array_equal(extracted.positions, [[7840, 8240], [0, 400], [15600, 16000]])
    states = release_states.last_hidden_state[0].numpy()
    np.testing.assert_allclose(extracted.features[0], states[frames_with_centre_in(7840, 8240, 49)].mean(axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(extracted.features[1], states[0], rtol=1e-4, atol=1e-5)
    # the last frame's centre (48 * 320 + 200 = 15560) lies before the last 400 samples: the nearest frame
    assert frames_with_centre_in(15600, 16000, 49).size == 0
    np.testing.assert_allclose(extracted.features[2], states[48], rtol=1e-4, atol=1e-5)


def test_a_clip_shorter_than_one_frame_is_padded_after_normalising(random_encoder, waveform):
    encoder, _ = random_encoder
    clip = waveform[:250]
    extracted = wav2vec2.extract(AudioItem(clip, RATE, {"punchline": (0.0, 1.0)}), encoder, settings_with())
    np.testing.assert_array_equal(extracted.positions, [[0, 250]])
    inputs = Wav2Vec2FeatureExtractor(do_normalize=True)(clip, sampling_rate=RATE)["input_values"][0]
    padded = torch.from_numpy(np.pad(inputs, (0, 150)))[None]
    with torch.inference_mode():
        expected = encoder.model(padded).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(extracted.features[0], expected, rtol=1e-4, atol=1e-5)


def test_a_segment_overlapping_the_clip_end_is_clipped_and_one_outside_is_an_error(random_encoder, waveform):
    encoder, _ = random_encoder
    extracted = wav2vec2.extract(AudioItem(waveform, RATE, {"punchline": (0.8, 1.3)}), encoder, settings_with())
    np.testing.assert_array_equal(extracted.positions, [[12800, 16000]])
    with pytest.raises(ValueError, match=r"segment 'context' \(1\.200-2\.000 s\) has no audio inside the clip of 1\.000 s"):
        wav2vec2.extract(AudioItem(waveform, RATE, {"punchline": (0.1, 0.5), "context": (1.2, 2.0)}),
                         encoder, settings_with())
    with pytest.raises(ValueError, match="segment 'punchline'.*end after start"):
        wav2vec2.extract(AudioItem(waveform, RATE, {"punchline": (0.5, 0.5)}), encoder, settings_with())


def test_another_sample_rate_is_refused_with_the_fix(random_encoder, waveform):
    encoder, _ = random_encoder
    with pytest.raises(ValueError, match="decode_audio"):
        wav2vec2.extract(AudioItem(waveform, 8000, {"punchline": (0.1, 0.5)}), encoder, settings_with())


def test_a_clip_over_max_seconds_is_encoded_per_segment_and_long_segments_keep_their_end(
        random_encoder, waveform, caplog):
    encoder, _ = random_encoder
    settings = settings_with(max_seconds=0.5)
    item = AudioItem(waveform, RATE, {"punchline": (0.7, 1.0), "context": (0.0, 0.7)})
    with caplog.at_level(logging.WARNING, logger=wav2vec2.__name__):
        extracted = wav2vec2.extract(item, encoder, settings)
    np.testing.assert_array_equal(extracted.positions, [[11200, 16000], [3200, 11200]])
    assert "'context' is 0.7 s long: its first 0.2 s are cut" in caplog.text
    for row, (first, end) in zip(extracted.features, extracted.positions):
        alone = Wav2Vec2FeatureExtractor(do_normalize=True)(waveform[first:end], sampling_rate=RATE,
                                                            return_tensors="pt")["input_values"]
        with torch.inference_mode():
            expected = encoder.model(alone).last_hidden_state[0].mean(dim=0).numpy()
        np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-5)


def test_the_seeded_random_model_is_deterministic_and_records_its_config(random_encoder):
    encoder, identity = random_encoder
    assert identity == {"kind": "random", "seed": 0, "config": RANDOM_CONFIG, "do_normalize": True}
    json.dumps(identity)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    again, _ = wav2vec2.build(settings_with())
    assert torch.equal(torch.rand(3), expected_next)  # building did not move the caller's random stream
    other_seed, _ = wav2vec2.build(settings_with(seed=1))
    for name, tensor in encoder.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    assert not all(torch.equal(tensor, other_seed.model.state_dict()[name])
                   for name, tensor in encoder.model.state_dict().items())


@pytest.fixture(scope="module")
def saved_directory(random_encoder, tmp_path_factory):
    """The random model and the base release's preprocessing, written as save_pretrained does."""
    encoder, _ = random_encoder
    folder = tmp_path_factory.mktemp("wav2vec2-tiny")
    encoder.model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(folder)
    return folder


def test_a_saved_directory_loads_back_to_the_same_features_and_is_identified_by_its_files(
        random_encoder, saved_directory, waveform):
    encoder, _ = random_encoder
    settings = settings_with(weights=str(saved_directory))
    loaded, identity = wav2vec2.build(settings)
    item = AudioItem(waveform, RATE, {"punchline": (0.5, 0.9), "context": (0.0, 0.45)})
    np.testing.assert_allclose(wav2vec2.extract(item, loaded, settings).features,
                               wav2vec2.extract(item, encoder, settings_with()).features, rtol=1e-5, atol=1e-6)
    assert identity["kind"] == "directory" and identity["path"] == str(saved_directory)
    assert sorted(identity["files"]) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    for name, digest in identity["files"].items():
        assert digest == hashlib.sha256((saved_directory / name).read_bytes()).hexdigest()


def test_do_normalize_false_feeds_the_waveform_as_it_is(saved_directory, tmp_path, waveform):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((saved_directory / name).read_bytes())
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(tmp_path)
    encoder, _ = wav2vec2.build(settings_with(weights=str(tmp_path)))
    assert encoder.do_normalize is False
    with torch.inference_mode():
        expected = encoder.model(torch.from_numpy(waveform)[None]).last_hidden_state[0].numpy()
    np.testing.assert_allclose(wav2vec2.encode_frames(waveform, encoder), expected, rtol=1e-5, atol=1e-6)


def test_directories_missing_preprocessing_or_weights_are_refused_with_the_fix(saved_directory, tmp_path):
    (tmp_path / "config.json").write_bytes((saved_directory / "config.json").read_bytes())
    with pytest.raises(UserError, match="no \\*.safetensors or \\*.bin weights"):
        wav2vec2.build(settings_with(weights=str(tmp_path)))
    (tmp_path / "model.safetensors").write_bytes((saved_directory / "model.safetensors").read_bytes())
    with pytest.raises(UserError, match="no preprocessor_config.json.*copy it from the release"):
        wav2vec2.build(settings_with(weights=str(tmp_path)))
    (tmp_path / "preprocessor_config.json").write_bytes((saved_directory / "preprocessor_config.json").read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    config["num_hidden_layers"] = 3  # a config that asks for a layer the weights do not hold
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"do not fit .*\(16 missing, e.g. \['encoder.layers.2"):
        wav2vec2.build(settings_with(weights=str(tmp_path)))
    with pytest.raises(UserError, match="has no config.json"):
        wav2vec2.build(settings_with(weights=str(tmp_path / "absent")))


def test_settings_round_trip_and_relations_the_schema_cannot_check():
    settings = settings_with()
    assert settings.to_dict() == {key: value for key, value in ENTRY.items() if key != "dtype"}
    assert wav2vec2.Settings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    hash(settings)
    with pytest.raises(UserError, match="multiple of num_attention_heads"):
        settings_with(random_config={**RANDOM_CONFIG, "num_attention_heads": 3})
    with pytest.raises(UserError, match="one entry per conv layer"):
        settings_with(random_config={**RANDOM_CONFIG, "conv_stride": [5, 2]})


def test_the_last_layer_of_a_stable_layer_norm_release_is_the_normed_output(tmp_path, waveform):
    # large-lv60 style: the encoder's final LayerNorm is applied after the last layer, and only
    # last_hidden_state carries it; layer -1 must be the model's output, not hidden_states[-1]
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(**RANDOM_CONFIG, do_stable_layer_norm=True, feat_extract_norm="layer")
    torch.manual_seed(0)
    Wav2Vec2Model(config).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp_path)
    settings = settings_with(weights=str(tmp_path))
    encoder, _ = wav2vec2.build(settings)
    row = wav2vec2.extract(AudioItem(waveform, RATE, {"punchline": (0.5, 0.9)}), encoder, settings).features[0]
    inputs = Wav2Vec2FeatureExtractor(do_normalize=True)(waveform, sampling_rate=RATE, return_tensors="pt")
    with torch.inference_mode():
        output = encoder.model(inputs["input_values"], output_hidden_states=True)
    frames = frames_with_centre_in(8000, 14400, 49)
    np.testing.assert_allclose(row, output.last_hidden_state[0].numpy()[frames].mean(axis=0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(row, output.hidden_states[-1][0].numpy()[frames].mean(axis=0), atol=1e-3)
