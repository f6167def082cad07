"""How a report names the weights a network ran with, one way for every report.

    describe_weights({"kind": "random", "seed": 0})   # "random initialisation, seed 0"
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
