"""How a report names the weights a network ran with, one way for every report.

    describe_weights({"kind": "random", "seed": 0})   # "random initialisation, seed 0"
    random_features_warning(["audio (`wav2vec2`)"])   # the warning a report on a real dataset opens with
"""

from __future__ import annotations

import json


def describe_weights(identity: dict | str) -> str:
    """A weights identity as stored (file, random, pretrained) or as configured (a path), in words."""
    if isinstance(identity, str):
        return identity
    kind = identity.get("kind")
    if kind == "random":
        return f"random initialisation, seed {identity.get('seed')}"
    if kind == "file":
        return f"file `{identity.get('path')}` (sha256 {identity.get('sha256')})"
    if kind == "pretrained":
        return f"pretrained `{identity.get('name')}`"
    return json.dumps(identity, sort_keys=True)


def is_random(identity) -> bool:
    """Whether the identity is a seeded random initialisation (no trained weights)."""
    return isinstance(identity, dict) and identity.get("kind") == "random"


def random_features_warning(random_sources: list[str]) -> str:
    """The warning that opens a report on a real dataset when some of its features come from networks
    without trained weights; `random_sources` names them (feature sets, or modalities and extractors)."""
    return (f"> **Warning: random features.** The features of {', '.join(random_sources)} come from randomly "
            f"initialised networks (no `weights` configured for the extractor). Models trained on them learn from "
            f"random projections of their input, and the reference and published rows are not comparable.")
