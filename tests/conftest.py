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


@pytest.fixture()
def one_torch_thread():
    """torch on one thread for the test, restored after (`pytest.mark.usefixtures("one_torch_thread")`)."""
    import torch  # here: most tests need no torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
