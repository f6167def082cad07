"""Contrastive pretraining of video, text and audio towers on stored features (VideoCLIP, VATT).

    from mmfeat.tasks.pretraining.grad_cache import contrastive_step
    from mmfeat.tasks.pretraining.objectives import ContrastiveObjectives, ObjectiveSettings
    from mmfeat.tasks.pretraining.towers import PairEncoder

    encoder = PairEncoder(model)   # a model with embed_video, embed_text (and embed_audio)
    objectives = ContrastiveObjectives(ObjectiveSettings.from_config(settings["objectives"]))
    losses = contrastive_step(encoder, objectives, batch, chunk_size=64)   # grads accumulated

Modules, one concern each: `pairs` (a batch of clip pairs, sliced into chunks), `towers`
(one tower per modality behind one forward), `objectives` (the losses and their weights),
`negatives` (which negatives a step sees: every process's embeddings, gathered with their
gradient), `grad_cache` (one step in chunks with cached representation gradients, equal
to the whole batch's gradient) and `optimisation` (VideoCLIP's Adam, warmup then polynomial
decay, clipping). The settings' defaults are the workflow schema's `$defs/pretraining`
(`mmfeat.workflow_config.with_defaults("pretraining", entry, source)`).

Nothing is imported here, so that naming the package loads no torch.
"""
