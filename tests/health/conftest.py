"""Fixtures of the health tests."""

from __future__ import annotations

import pytest
from calltools import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
