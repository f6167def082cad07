"""Shared test fixtures.

The reference vectors the tests compare against are kept in the repository, in
`tests/data/` (see its README.md), so that a plain clone passes its own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`tests/data`: test vectors computed with the official ASFormer code."""
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
