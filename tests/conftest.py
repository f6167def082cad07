"""Shared test fixtures.

The reference vectors live outside the repo, in `../shared/reference` beside the
checkout (CI clones the repo with `shared/` beside it). MMFEAT_SHARED_REFERENCE
points elsewhere when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    override = os.environ.get("MMFEAT_SHARED_REFERENCE")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference`: test vectors computed with the official ASFormer code."""
    path = _reference_dir()
    if not path.is_dir():
        pytest.fail(f"reference vectors not found at {path}; set MMFEAT_SHARED_REFERENCE")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
