"""Transfer of a VideoCLIP to action segmentation: zero-shot from class names, and fine-tuning (issue #15).

    from mmfeat.tasks.transfer.starts import load_start
    from mmfeat.tasks.transfer.windows import sliding_windows, average_over_windows
    model, identity = load_start("results/demo-howto/pretrain/videoclip-demo/model.pt", model_entry)

Modules, one concern each: `starts` (where a row's weights come from: a pretrain output, the release, or
seeded random towers), `windows` (the video tower's sliding windows over a video's feature rows and the
average of per-row outputs where windows overlap), `zero_shot` (class names scored against each row's
video token state, VideoCLIP's background rule), and fine-tuning's `heads` (linear or class-name texts),
`finetuned_model` (towers and head as one module and one file) and `finetune` (training on a split and
scoring its test videos). A feature row is VideoCLIP's "second": one S3D `video_embedding` row.

Nothing is imported here, so that naming the package loads no torch.
"""
