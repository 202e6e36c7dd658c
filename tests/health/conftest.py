"""Fixtures of the health tests."""

from __future__ import annotations

import pytest
from healthtools import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
