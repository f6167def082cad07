"""Zero-shot segmentation: each row takes the class whose prompt embeds closest to it (VideoCLIP-style transfer).

    from mmfeat.tasks.segmentation.zero_shot import class_prompts, zero_shot_row_labels
    prompts = class_prompts(dataset.class_names(), template="a person is {label}")
    text_embeddings = model.embed_text(prompts).numpy()              # (C, 512)
    row_labels = zero_shot_row_labels(video_embeddings, text_embeddings, excluded={background_index})

No training: the video rows and the class names are embedded in one joint
space (S3D's `video_embedding` and `embed_text`), and a row's label is the
class of highest cosine similarity among the classes not excluded (e.g. a
background class that no prompt can describe).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from mmfeat.errors import UserError

NORM_FLOOR = 1e-12  # keeps an all-zero embedding from dividing by zero; it then scores 0 with every class


def class_prompts(class_names: Sequence[str], template: str = "{label}") -> list[str]:
    """One sentence per class: its name, underscores as spaces (`cut_tomato` -> "cut tomato"), put into `template`."""
    if "{label}" not in template:
        raise UserError(f"the prompt template {template!r} has no {{label}} to put the class name in")
    return [template.format(label=" ".join(name.replace("_", " ").split())) for name in class_names]


def zero_shot_row_labels(
    video_embeddings: np.ndarray, text_embeddings: np.ndarray, excluded: Iterable[int] = frozenset()
) -> np.ndarray:
    """(T,) int64: per row of `video_embeddings` (T, E), the allowed class of `text_embeddings` (C, E) nearest it.

    Similarity is cosine; classes in `excluded` are never chosen. Ties go to
    the lowest class index.
    """
    video_embeddings = np.asarray(video_embeddings, dtype=np.float64)
    text_embeddings = np.asarray(text_embeddings, dtype=np.float64)
    if video_embeddings.ndim != 2 or text_embeddings.ndim != 2 or video_embeddings.shape[1] != text_embeddings.shape[1]:
        raise ValueError(
            f"expected video (T, E) and text (C, E) embeddings of one size E; got {video_embeddings.shape} "
            f"and {text_embeddings.shape}"
        )
    class_count = text_embeddings.shape[0]
    if class_count == 0:
        raise UserError("zero-shot labelling needs at least one class prompt; got none")
    excluded = set(excluded)
    outside = sorted(index for index in excluded if not 0 <= index < class_count)
    if outside:
        raise UserError(
            f"excluded classes {outside} do not exist; there are {class_count} classes (0..{class_count - 1})"
        )
    if len(excluded) == class_count:
        raise UserError(f"all {class_count} classes are excluded from zero-shot labelling; leave at least one")
    similarity = _unit_rows(video_embeddings) @ _unit_rows(text_embeddings).T
    similarity[:, sorted(excluded)] = -np.inf
    return similarity.argmax(axis=1).astype(np.int64)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), NORM_FLOOR)
