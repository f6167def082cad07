"""The contrastive objectives against direct computations written out term by term.

Each loss is checked against plain Python loops over exp and log of dot products, written
from the definitions (VideoCLIP's MMContraLoss: two cross-entropies summed; MIL-NCE as the
public codes compute it, positives in both halves of the denominator; VATT's video-audio
NCE: the same with one positive), then the properties the distributed step relies on.
"""

from __future__ import annotations

import math

import pytest
import torch

from mmfeat.errors import UserError
from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
from mmfeat.workflow_config import with_defaults
from pretraining_toys import OBJECTIVE_CASES, objectives_for

ROWS, CAPTIONS, SIZE = 5, 3, 4


def _embeddings(seed: int = 0, rows: int = ROWS, captions: int = CAPTIONS) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "video": torch.randn(rows, SIZE, generator=generator, dtype=torch.float64),
        "text": torch.randn(rows, captions, SIZE, generator=generator, dtype=torch.float64),
        "audio": torch.randn(rows, SIZE, generator=generator, dtype=torch.float64),
    }


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return sum(float(x) * float(y) for x, y in zip(a, b))


def _videoclip_loss_by_hand(video, text, scale: float) -> float:
    """mean_i -log softmax_j(s v_i.t_j)[i]  +  mean_i -log softmax_j(s t_i.v_j)[i]."""
    rows = len(video)

    def cross_entropy(queries, keys) -> float:
        return sum(
            -math.log(math.exp(scale * _dot(queries[i], keys[i]))
                      / sum(math.exp(scale * _dot(queries[i], keys[j])) for j in range(rows)))
            for i in range(rows)
        ) / rows

    return cross_entropy(video, text) + cross_entropy(text, video)


def _mil_nce_by_hand(video, positives, scale: float) -> float:
    """mean_i -log( sum_k e^{s v_i.p_ik} / (sum_{j,k} e^{s v_i.p_jk} + sum_{j,k} e^{s v_j.p_ik}) )."""
    rows, captions = positives.shape[:2]
    total = 0.0
    for i in range(rows):
        numerator = sum(math.exp(scale * _dot(video[i], positives[i, k])) for k in range(captions))
        denominator = sum(
            math.exp(scale * _dot(video[i], positives[j, k])) + math.exp(scale * _dot(video[j], positives[i, k]))
            for j in range(rows) for k in range(captions)
        )
        total += -math.log(numerator / denominator)
    return total / rows


@pytest.mark.parametrize("mode, scale", [("none", 1.0), ("fixed", 2.0)])  # fixed: temperature 0.5
def test_video_text_nce_is_videoclips_two_cross_entropies_summed(mode, scale):
    embeddings = _embeddings()
    objectives = objectives_for({"video_text_nce": 1.0}, temperature_mode=mode, temperature=0.5)
    losses = objectives(embeddings, embeddings)
    expected = _videoclip_loss_by_hand(embeddings["video"], embeddings["text"][:, 0], scale)
    assert float(losses["video_text_nce"]) == pytest.approx(expected, abs=1e-12)
    assert set(losses) == {"video_text_nce", "total"}


@pytest.mark.parametrize("mode, scale", [("none", 1.0), ("fixed", 2.0)])
def test_mil_nce_counts_every_caption_of_a_clip_as_a_positive(mode, scale):
    embeddings = _embeddings()
    objectives = objectives_for({"mil_nce": 1.0}, temperature_mode=mode, temperature=0.5)
    expected = _mil_nce_by_hand(embeddings["video"], embeddings["text"], scale)
    assert float(objectives(embeddings, embeddings)["mil_nce"]) == pytest.approx(expected, abs=1e-12)


def test_video_audio_nce_is_vatts_nce_with_the_clips_own_audio_as_positive():
    embeddings = _embeddings()
    objectives = objectives_for({"video_audio_nce": 1.0}, temperature_mode="fixed", temperature=0.5)
    expected = _mil_nce_by_hand(embeddings["video"], embeddings["audio"][:, None], 2.0)
    assert float(objectives(embeddings, embeddings)["video_audio_nce"]) == pytest.approx(expected, abs=1e-12)


def test_total_is_the_weighted_sum_and_a_zero_weight_leaves_an_objective_and_its_modality_out():
    embeddings = _embeddings()
    weights = {"video_text_nce": 1.0, "mil_nce": 0.5, "video_audio_nce": 0.25}
    losses = objectives_for(weights)(embeddings, embeddings)
    weighted = sum(weight * float(losses[name]) for name, weight in weights.items())
    assert float(losses["total"]) == pytest.approx(weighted, abs=1e-12)
    text_only = objectives_for({"video_text_nce": 1.0, "mil_nce": 0.0, "video_audio_nce": 0.0})
    assert text_only.modalities == ("video", "text")
    assert set(text_only({"video": embeddings["video"], "text": embeddings["text"]},
                         {"video": embeddings["video"], "text": embeddings["text"]})) == {"video_text_nce", "total"}
    assert objectives_for({"video_audio_nce": 1.0}).modalities == ("video", "audio")


def test_cosine_similarity_ignores_the_embeddings_lengths_and_dot_does_not():
    embeddings = _embeddings()
    stretched = {name: value * 3.0 for name, value in embeddings.items()}
    for similarity, unchanged in (("cosine", True), ("dot", False)):
        objectives = objectives_for(OBJECTIVE_CASES["all_learned_temperature"]["weights"], similarity=similarity)
        before = float(objectives(embeddings, embeddings)["total"])
        after = float(objectives(stretched, stretched)["total"])
        assert (abs(before - after) < 1e-12) is unchanged


def test_a_learned_temperature_starts_at_its_value_gets_a_gradient_and_stops_at_001():
    embeddings = _embeddings()
    objectives = objectives_for({"video_text_nce": 1.0}, temperature_mode="learnable", temperature=0.5)
    assert [name for name, _ in objectives.named_parameters()] == ["log_scale"]
    assert float(objectives.scale().detach()) == pytest.approx(2.0)
    objectives(embeddings, embeddings)["total"].backward()
    assert objectives.log_scale.grad is not None and float(objectives.log_scale.grad) != 0.0
    with torch.no_grad():
        objectives.log_scale.fill_(math.log(1e4))
    assert float(objectives.scale().detach()) == pytest.approx(100.0)
    fixed = objectives_for({"video_text_nce": 1.0}, temperature_mode="fixed", temperature=0.5)
    assert list(fixed.parameters()) == [] and float(fixed.scale()) == pytest.approx(2.0)
    assert objectives_for({"video_text_nce": 1.0}).scale() is None


@pytest.mark.parametrize("case", sorted(OBJECTIVE_CASES))
def test_local_rows_against_global_columns_average_to_the_whole_batch_loss(case):
    """What the distributed step relies on: two halves' losses, each over its rows against every
    column, averaged, are the whole batch's loss, and so are their gradients."""
    embeddings = {name: value.requires_grad_() for name, value in _embeddings(rows=6).items()}
    objectives = objectives_for(**OBJECTIVE_CASES[case])
    whole = objectives(embeddings, embeddings)
    halves = [
        objectives({name: value[first:first + 3] for name, value in embeddings.items()}, embeddings, first)
        for first in (0, 3)
    ]
    for name in whole:
        halves_mean = (float(halves[0][name].detach()) + float(halves[1][name].detach())) / 2
        assert float(whole[name].detach()) == pytest.approx(halves_mean, abs=1e-12)
    whole_gradient = torch.autograd.grad(whole["total"], embeddings["video"])[0]
    halves_gradient = torch.autograd.grad((halves[0]["total"] + halves[1]["total"]) / 2, embeddings["video"])[0]
    torch.testing.assert_close(halves_gradient, whole_gradient, atol=1e-12, rtol=0)


def test_the_schema_defaults_are_videoclips_loss():
    entry = with_defaults("pretraining", {}, "test")["objectives"]
    settings = ObjectiveSettings.from_config(entry)
    assert settings == ObjectiveSettings(weights={"video_text_nce": 1.0, "mil_nce": 0.0, "video_audio_nce": 0.0},
                                         similarity="dot", temperature_mode="none", temperature=0.07)
    objectives = ContrastiveObjectives(settings)
    assert objectives.modalities == ("video", "text") and objectives.scale() is None


def test_settings_that_leave_nothing_to_train_or_name_an_unknown_objective_are_refused():
    with pytest.raises(UserError, match="every weight is 0"):
        objectives_for({"video_text_nce": 0.0, "mil_nce": 0.0})
    with pytest.raises(UserError, match="unknown objective"):
        objectives_for({"video_text": 1.0})
    with pytest.raises(UserError, match=r"pretraining\.objectives\.temperature\.mode"):
        objectives_for({"mil_nce": 1.0}, temperature_mode="warm")
