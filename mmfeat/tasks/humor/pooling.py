"""One feature vector per sample and modality, from the rows an extractor stored for it.

    vector = segment_vector(store, "42")                         # text or audio: punchline ⊕ context
    vector = punchline_vector(store, "42", punchline=(3.1, 4.0))  # video: rows inside the punchline

Text and audio extractors store one row per named segment (`row_names`:
punchline, then context when the sample has one). A sample's vector is the
punchline row followed by the context row, zeros where a sample has no
context, so that every vector of a modality has one length and a classifier
sees the punchline and its context apart. Video extractors store rows at
frames; a sample's vector is the mean of the rows whose frame lies inside the
punchline's interval, or the row nearest its middle when none does (a
punchline shorter than the extractor's step).
"""

from __future__ import annotations

import numpy as np

from mmfeat.errors import UserError
from mmfeat.features.store import FeatureStore

SEGMENTS = ("punchline", "context")  # the rows of a text or audio item, in this order


def segment_vector(store: FeatureStore, sample_id: str) -> np.ndarray:
    """The punchline row, then the context row (zeros when the sample has none), as one vector."""
    rows = store.features(sample_id)
    names = store.provenance(sample_id).get("row_names")
    if names is None or names[:1] != ["punchline"]:
        raise UserError(f"{sample_id!r} in {store!r}: rows are not named segments (punchline, context); "
                        f"use a text or audio extractor's features for this modality")
    by_name = dict(zip(names, rows))
    return np.concatenate([by_name.get(name, np.zeros(rows.shape[1], np.float32)) for name in SEGMENTS])


def punchline_vector(store: FeatureStore, sample_id: str, punchline: tuple[float, float]) -> np.ndarray:
    """The mean of the rows whose frame time lies inside the punchline, else the row nearest its middle."""
    fps = store.provenance(sample_id).get("fps")
    if not fps:
        raise UserError(f"{sample_id!r} in {store!r} has no frame rate recorded; extract it from its video again")
    rows = store.features(sample_id)
    seconds = store.frame_indices(sample_id) / float(fps)
    start, end = punchline
    inside = (seconds >= start) & (seconds <= end)
    if inside.any():
        return rows[inside].mean(axis=0)
    return rows[int(np.argmin(np.abs(seconds - (start + end) / 2)))]
